"""The SIF-50K record (docs/method.md): its fields, reading record files and checking records.

A *grounded item* has everything but the assistant trace (what a source or the synthetic world yields); a *SIF
record* also has the assistant turn, a trace that must parse. Our extra fields (``id``, ``choices``,
``question_type``, ``answer_type``, ``depth_path``, ``scene_id``, ``split``) are optional and checked when present.
The record as a typed structure is :class:`sifthinker.rows.SIFRecord`; the user turn's wording is
:func:`sifthinker.prompts.user_content`.

>>> rec = {"dataset": "synth", "image": "a.png", "depth_image": "a_depth.png", "problem": "Is it red?",
...        "normalized_solution_round": {"bbox_3d": [[0.1, 0.1, 0.5, 0.5]], "illegal_content": False},
...        "response": "yes", "images": ["a.png", "a_depth.png"],
...        "messages": [{"role": "user", "content": USER_PREFIX + "Is it red?"}]}
>>> check_record(rec, require_trace=False) is None
True
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .answers import LETTERS  # noqa: F401 - importable from here, as before
from .boxes import validate_box
from .io import DEFAULT_MAX_LINE_BYTES, JsonInputError, iter_jsonl_lines, loads_json

# The user-turn wording lives in sifthinker.prompts; these names stay importable from here for the record builders.
from .prompts import DEFAULT_INSTRUCTION, USER_PREFIX, USER_PREFIX_RGB_ONLY, format_question, user_content
from .trace import Trace, TraceFormatError, parse_trace

__all__ = [
    "USER_PREFIX",
    "USER_PREFIX_RGB_ONLY",
    "DEFAULT_INSTRUCTION",
    "format_question",
    "user_content",
    "RecordError",
    "check_record",
    "gt_boxes",
    "record_id",
    "assistant_text",
    "iter_json_records",
]

REQUIRED = (
    "dataset",
    "image",
    "depth_image",
    "problem",
    "normalized_solution_round",
    "response",
    "messages",
    "images",
)


class RecordError(ValueError):
    """A record that breaks the schema: ``field`` says which field, the message what was expected."""

    def __init__(self, field: str, message: str, *, record_id: str | None = None):
        self.field = field
        self.record_id = record_id
        where = f"record {record_id!r}, " if record_id is not None else ""
        super().__init__(f"{where}field {field!r}: {message}")


def record_id(rec: dict, index: int | None = None) -> str:
    """The record's ``id`` if it has one, else ``#index`` (its position in the file)."""
    rid = rec.get("id") if isinstance(rec, dict) else None
    if isinstance(rid, (str, int)) and not isinstance(rid, bool):
        return str(rid)
    return f"#{index}" if index is not None else "?"


def gt_boxes(rec: dict) -> list[tuple[float, float, float, float]]:
    """The ground-truth boxes of a record (``normalized_solution_round.bbox_3d``, 2-D despite its name), checked."""
    sol = rec.get("normalized_solution_round")
    if not isinstance(sol, dict) or "bbox_3d" not in sol:
        raise RecordError("normalized_solution_round", 'expected {"bbox_3d": [[x1, y1, x2, y2], ...], ...}')
    boxes = sol["bbox_3d"]
    if not isinstance(boxes, list):
        raise RecordError("normalized_solution_round.bbox_3d", f"expected a list of boxes, got {type(boxes).__name__}")
    out = []
    for i, b in enumerate(boxes):
        try:
            out.append(validate_box(b, what=f"box {i}"))
        except ValueError as e:
            raise RecordError("normalized_solution_round.bbox_3d", str(e)) from None
    return out


def assistant_text(rec: dict) -> str | None:
    """The content of the last assistant turn of ``messages``, or None when there is none."""
    msgs = rec.get("messages")
    if not isinstance(msgs, list):
        return None
    for m in reversed(msgs):
        if isinstance(m, dict) and m.get("role") == "assistant":
            c = m.get("content")
            return c if isinstance(c, str) else None
    return None


def _nonempty_str(rec: dict, key: str) -> str:
    v = rec.get(key)
    if not isinstance(v, str) or not v.strip():
        raise RecordError(key, f"expected a non-empty string, got {v!r}"[:200])
    return v


def check_record(
    rec: Any, *, require_trace: bool = True, index: int | None = None, check_trace: bool = True
) -> Trace | None:
    """Check one record against the schema; return its parsed trace (None if absent and not required).

    With ``check_trace=False`` (and ``require_trace=False``) an assistant turn is not parsed: for targets that are
    deliberately not SIF traces, such as an answers-only baseline.

    Raises :class:`RecordError` naming the record and field, or :class:`~sifthinker.trace.TraceFormatError`
    (wrapped in a ``RecordError`` on field ``messages``) when the assistant trace breaks the grammar.
    """
    rid = record_id(rec, index) if isinstance(rec, dict) else (f"#{index}" if index is not None else None)
    try:
        return _check(rec, require_trace, check_trace or require_trace)
    except RecordError as e:
        if e.record_id is None:
            e.record_id = rid
            e.args = (f"record {rid!r}, {e.args[0]}",)
        raise


def _check(rec: Any, require_trace: bool, check_trace: bool = True) -> Trace | None:
    if not isinstance(rec, dict):
        raise RecordError("<record>", f"expected a JSON object, got {type(rec).__name__}")
    missing = [k for k in REQUIRED if k not in rec]
    if missing:
        raise RecordError(missing[0], f"missing (required fields: {', '.join(REQUIRED)})")
    for key in ("dataset", "image", "depth_image", "problem"):
        _nonempty_str(rec, key)
    if not isinstance(rec["response"], (str, int, float)) or isinstance(rec["response"], bool):
        raise RecordError("response", f"expected the ground-truth answer as a string, got {rec['response']!r}")
    if not str(rec["response"]).strip():
        raise RecordError("response", "is empty")
    sol = rec["normalized_solution_round"]
    if not isinstance(sol, dict):
        raise RecordError("normalized_solution_round", f"expected an object, got {type(sol).__name__}")
    if "illegal_content" in sol and not isinstance(sol["illegal_content"], bool):
        raise RecordError("normalized_solution_round.illegal_content", "expected true or false")
    gt_boxes(rec)
    images = rec["images"]
    if not isinstance(images, list) or len(images) not in (1, 2) or not all(isinstance(p, str) for p in images):
        raise RecordError("images", f"expected [rgb_path, depth_path], got {images!r}"[:200])
    if images[0] != rec["image"] or (len(images) == 2 and images[1] != rec["depth_image"]):
        raise RecordError("images", "must be [image, depth_image] in that order")
    msgs = rec["messages"]
    if not isinstance(msgs, list) or not msgs:
        raise RecordError("messages", "expected a non-empty list of {role, content} turns")
    for i, m in enumerate(msgs):
        if not isinstance(m, dict) or m.get("role") not in ("system", "user", "assistant"):
            raise RecordError("messages", f"turn {i}: expected {{'role': system|user|assistant, 'content': ...}}")
        if not isinstance(m.get("content"), str):
            raise RecordError("messages", f"turn {i}: content must be a string")
    users = [m for m in msgs if m["role"] == "user"]
    if not users:
        raise RecordError("messages", "no user turn")
    n_placeholders = users[0]["content"].count("<image>")
    if n_placeholders != len(images):
        raise RecordError(
            "messages", f"the user turn has {n_placeholders} <image> placeholders but `images` lists {len(images)}"
        )
    if "choices" in rec and rec["choices"] is not None:
        ch = rec["choices"]
        if not isinstance(ch, list) or len(ch) < 2 or not all(isinstance(c, str) and c.strip() for c in ch):
            raise RecordError("choices", "expected a list of at least two non-empty option strings")
    for key in ("id", "question_type", "answer_type", "depth_path", "scene_id", "split"):
        if key in rec and rec[key] is not None and not isinstance(rec[key], str):
            raise RecordError(key, f"expected a string, got {type(rec[key]).__name__}")
    text = assistant_text(rec)
    if text is None:
        if require_trace:
            raise RecordError("messages", "no assistant turn holding the trace")
        return None
    if not check_trace:
        return None
    try:
        return parse_trace(text)
    except TraceFormatError as e:
        raise RecordError("messages", f"assistant trace: {e}") from e


def iter_json_records(
    path: str | os.PathLike, *, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES
) -> Iterator[tuple[int, Any]]:
    """Yield ``(index, object)`` from a ``.jsonl`` file (one object a line) or a ``.json`` file (a list).

    A JSONL line that cannot be read (not JSON, invalid UTF-8, an integer of more than 4,300 digits, brackets nested
    too deeply, longer than ``max_line_bytes``) yields a :class:`RecordError` naming its line in place of the
    record, so a caller can report it and go on; blank lines are skipped. A ``.json`` list is one value: if it
    cannot be read, :class:`RecordError` with field ``<file>`` is raised.
    """
    path = Path(path)
    with open(path, "rb") as f:
        head = f.read(4096).lstrip(b" \t\r\n\xef\xbb\xbf")
        f.seek(0)
        if path.suffix.lower() == ".json" or head.startswith(b"["):
            try:
                data = loads_json(f.read().removeprefix(b"\xef\xbb\xbf"))
            except JsonInputError as e:
                raise RecordError("<file>", f"{path}: {e}") from None
            if isinstance(data, dict):
                data = data.get("records", data.get("data", [data]))
            if not isinstance(data, list):
                raise RecordError("<file>", f"{path}: expected a JSON list of records")
            yield from enumerate(data)
            return
        for i, obj in iter_jsonl_lines(f, max_line_bytes):
            yield i, RecordError("<line>", str(obj)) if isinstance(obj, JsonInputError) else obj

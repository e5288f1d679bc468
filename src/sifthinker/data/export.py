"""Exports of kept SIF records: the SIF-50K JSON, LLaMA-Factory (SFT) and a Hugging Face parquet (SFT / GRPO-SIF).

Every function takes an iterable of records in the SIF-50K schema (docs/method.md) plus our optional extras (``id``,
``choices``, ``question_type``, ``answer_type``, ``depth_path``, ...), checks each with
:func:`sifthinker.records.check_record` (a record that fails raises :class:`~sifthinker.records.RecordError`
naming it; nothing is written then) and writes atomically (temporary file, then rename).

* :func:`export_sif50k` — a JSON list with exactly the eight SIF-50K fields in their order (``keep_extras=True``
  appends ours after them).
* :func:`export_llamafactory` — LLaMA-Factory's sharegpt/openai-style file ``<name>.json``
  (``{"messages": [{"role", "content"}, ...], "images": [rgb, depth]}``; the user turn's ``<image>`` placeholders
  match ``images`` one to one) and its ``dataset_info.json`` entry (merged into an existing file). Image paths are
  absolute by default; ``paths="relative"`` writes them relative to the export folder, which LLaMA-Factory resolves
  against its ``media_dir`` (by default its ``dataset_dir``: point ``dataset_dir`` at the export folder).
* :func:`export_hf` — ``<name>.parquet`` written with ``datasets.Dataset.to_parquet`` (load it back with
  ``Dataset.from_parquet`` or ``load_dataset("parquet", data_files=...)``). Columns: ``id``, ``dataset``,
  ``prompt`` (conversational: the user turn as ``[{"type": "image"}, {"type": "image"}, {"type": "text", ...}]``
  — one image part per placeholder, then the text after the last placeholder: question, options, instruction;
  Arrow stores the parts as structs, so an image part reads back with ``"text": None``), ``completion``
  (``[{"role": "assistant", "content": trace}]``), ``images`` (absolute ``[rgb, colourised depth]`` paths),
  ``gt_boxes``, ``depth_path`` (absolute path of the lossless map, None when a record has none), ``answer``,
  ``choices`` (None unless multiple choice), ``answer_type``, ``question_type``, ``problem``, ``progress_key`` —
  the rows SFT and GRPO train on (:func:`sifthinker.rows.record_row`: the same prompt, the same reward columns) —
  then ``image`` (absolute RGB path) and ``depth_image`` (absolute). The prompt is built from the record's question
  and options with the default instruction, as training builds it (not copied from the stored user turn). Images
  are stored as **paths, not bytes**, so the file stays small; a trainer opens them when it builds a batch.

Relative paths in records are relative to ``image_root`` (default: the current directory); ``depth_path`` to
``depth_root`` (default: ``image_root``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from ..io import atomic_write_text, record_files, temp_path
from ..prompts import IMAGE_PLACEHOLDER as IMAGE_TOKEN
from ..records import REQUIRED, RecordError, check_record, iter_json_records, record_id
from ..rows import record_row, row_features

__all__ = [
    "SIF50K_FIELDS",
    "LLAMAFACTORY_TAGS",
    "export_sif50k",
    "export_llamafactory",
    "llamafactory_entry",
    "export_hf",
    "hf_row",
    "hf_features",
    "load_sif_records",
    "iter_sif_records",
]

SIF50K_FIELDS: tuple[str, ...] = REQUIRED  # dataset, image, depth_image, problem, normalized_solution_round,
#                                            response, messages, images — the authors' order
LLAMAFACTORY_TAGS = {
    "role_tag": "role",
    "content_tag": "content",
    "user_tag": "user",
    "assistant_tag": "assistant",
    "system_tag": "system",
}


# ------------------------------------------------------------------------------------------------------ helpers


def _write_json_list(path: Path, rows: Iterable[dict]) -> int:
    """Write ``rows`` as one JSON list, a row per line, to a temporary sibling renamed over ``path`` once all are
    written (an exception while producing them leaves the old file and no temporary); returns the count."""
    tmp = temp_path(path)
    n = 0
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write("[")
            for row in rows:
                f.write(("\n" if n == 0 else ",\n") + json.dumps(row, ensure_ascii=False))
                n += 1
            f.write("\n]\n" if n else "]\n")
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return n


def _check_placeholders(rec: dict, i: int, n_tokens: int, n_images: int) -> None:
    if n_tokens != n_images:
        raise RecordError(
            "messages", f"{n_tokens} {IMAGE_TOKEN} placeholders for {n_images} images", record_id=record_id(rec, i)
        )


def _checked(records: Iterable[dict], check: bool) -> Iterator[tuple[int, dict]]:
    for i, rec in enumerate(records):
        if check:
            check_record(rec, require_trace=True, index=i)
        yield i, rec


def _abs(root: str | os.PathLike | None, path: str) -> str:
    if os.path.isabs(path):
        return os.path.normpath(path)
    return os.path.normpath(os.path.join(os.path.abspath(root if root is not None else os.curdir), path))


def _turns(rec: dict, i: int) -> list[dict]:
    """The record's turns as ``{"role", "content"}``: an optional system turn, then user/assistant alternating,
    ending with the assistant (the trace)."""
    msgs = [{"role": m["role"], "content": m["content"]} for m in rec["messages"]]
    body = msgs[1:] if msgs and msgs[0]["role"] == "system" else msgs
    want = ["user", "assistant"] * ((len(body) + 1) // 2)
    if not body or [m["role"] for m in body] != want[: len(body)] or body[-1]["role"] != "assistant":
        roles = [m["role"] for m in msgs]
        raise RecordError(
            "messages",
            f"expected [system], user, assistant, ... alternating and ending with the assistant, got {roles}",
            record_id=record_id(rec, i),
        )
    return msgs


def iter_sif_records(path: str | os.PathLike) -> Iterator[dict]:
    """Records of a ``.json`` (list) or ``.jsonl`` file, or of a data-engine build folder (its ``records.jsonl`` or
    all its shards, :func:`sifthinker.io.record_files`), one by one; a line that is not JSON raises
    :class:`RecordError` naming it."""
    try:
        files = record_files(path)
    except FileNotFoundError as e:
        raise RecordError("<file>", str(e)) from None
    for f in files:
        for _i, obj in iter_json_records(f):
            if isinstance(obj, RecordError):
                raise RecordError(obj.field, f"{f}: {obj}")
            yield obj


def load_sif_records(path: str | os.PathLike) -> list[dict]:
    """All records of a ``.json`` (list) or ``.jsonl`` file or a build folder (e.g. an export, or a build's
    output)."""
    return list(iter_sif_records(path))


# ----------------------------------------------------------------------------------------------------- SIF-50K


def export_sif50k(
    records: Iterable[dict], out_path: str | os.PathLike, *, keep_extras: bool = False, check: bool = True
) -> int:
    """Write the SIF-50K JSON: a list of records with exactly the §6 fields in the §6 order; returns the count.

    ``keep_extras=True`` keeps our other fields after those eight (in the record's order). One record per line,
    inside one JSON list; written atomically.
    """
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)

    def rows() -> Iterator[dict]:
        for _i, rec in _checked(records, check):
            row = {k: rec[k] for k in SIF50K_FIELDS}
            if keep_extras:
                row.update((k, v) for k, v in rec.items() if k not in row)
            yield row

    return _write_json_list(out, rows())


# ------------------------------------------------------------------------------------------------ LLaMA-Factory


def llamafactory_entry(file_name: str) -> dict[str, Any]:
    """The ``dataset_info.json`` entry of an exported file (sharegpt formatting, openai-style role tags).

    >>> llamafactory_entry("sif.json")["columns"]
    {'messages': 'messages', 'images': 'images'}
    """
    return {
        "file_name": file_name,
        "formatting": "sharegpt",
        "columns": {"messages": "messages", "images": "images"},
        "tags": dict(LLAMAFACTORY_TAGS),
    }


def export_llamafactory(
    records: Iterable[dict],
    out_dir: str | os.PathLike,
    name: str = "sif",
    *,
    image_root: str | os.PathLike | None = None,
    paths: str = "absolute",
    check: bool = True,
) -> dict[str, Any]:
    """Write ``out_dir/<name>.json`` (LLaMA-Factory sharegpt, ``role``/``content`` messages, ``images`` =
    ``[rgb, colourised depth]``) and register it as ``name`` in ``out_dir/dataset_info.json``.

    ``paths``: ``"absolute"`` (default) or ``"relative"`` (to ``out_dir``). Raises :class:`RecordError` for a
    record whose turns do not alternate user/assistant or whose ``<image>`` placeholders do not match its images.
    Returns ``{"file": ..., "dataset_info": ..., "count": n}``.
    """
    if paths not in ("absolute", "relative"):
        raise ValueError(f"paths must be 'absolute' or 'relative', got {paths!r}")
    if not isinstance(name, str) or not name or "/" in name or os.sep in name:
        raise ValueError(f"bad dataset name {name!r}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    out_abs = os.path.abspath(out)
    data_path = out / f"{name}.json"

    def rows() -> Iterator[dict]:
        for i, rec in _checked(records, check):
            msgs = _turns(rec, i)
            images = [_abs(image_root, p) for p in rec["images"]]
            if paths == "relative":
                images = [os.path.relpath(p, out_abs).replace(os.sep, "/") for p in images]
            _check_placeholders(rec, i, sum(m["content"].count(IMAGE_TOKEN) for m in msgs), len(images))
            yield {"messages": msgs, "images": images}

    n = _write_json_list(data_path, rows())

    info_path = out / "dataset_info.json"
    info: dict[str, Any] = {}
    if info_path.exists():
        info = json.loads(info_path.read_text(encoding="utf-8"))
        if not isinstance(info, dict):
            raise ValueError(f"{info_path}: expected a JSON object of dataset entries")
    info[name] = llamafactory_entry(data_path.name)
    atomic_write_text(info_path, json.dumps(info, indent=2, ensure_ascii=False) + "\n")
    return {"file": os.fspath(data_path), "dataset_info": os.fspath(info_path), "count": n}


# ----------------------------------------------------------------------------------------------- Hugging Face


def hf_features():
    """The ``datasets.Features`` of :func:`export_hf`'s columns: the :class:`~sifthinker.rows.Row` columns, then
    ``image`` and ``depth_image``."""
    from datasets import Features, Value

    return Features({**row_features(), "image": Value("string"), "depth_image": Value("string")})


def hf_row(
    rec: dict,
    index: int = 0,
    *,
    image_root: str | os.PathLike | None = None,
    depth_root: str | os.PathLike | None = None,
) -> dict[str, Any]:
    """One :func:`export_hf` row of a (checked) record: :func:`sifthinker.rows.record_row` (the rows training
    reads) with absolute paths, plus the RGB and depth image paths on their own (columns a training row leaves out:
    TRL would take an ``image`` column for a picture)."""
    row = dict(record_row(rec, index, image_root=image_root or os.curdir, depth_root=depth_root))
    row["image"], row["depth_image"] = row["images"][0], row["images"][1]
    return row


def export_hf(
    records: Iterable[dict],
    out_dir: str | os.PathLike,
    *,
    name: str = "sif",
    image_root: str | os.PathLike | None = None,
    depth_root: str | os.PathLike | None = None,
    check: bool = True,
) -> Path:
    """Write ``out_dir/<name>.parquet`` (``datasets.Dataset.to_parquet``) with the columns of the module docstring;
    returns its path. Image paths are made absolute (``image_root``; ``depth_path`` against ``depth_root``)."""
    from datasets import Dataset

    if not isinstance(name, str) or not name or "/" in name or os.sep in name:
        raise ValueError(f"bad dataset name {name!r}")
    rows = [hf_row(rec, i, image_root=image_root, depth_root=depth_root) for i, rec in _checked(records, check)]
    seen: set[str] = set()
    for r in rows:
        if r["id"] in seen:
            raise RecordError("id", "duplicate id in the export", record_id=r["id"])
        seen.add(r["id"])
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{name}.parquet"
    features = hf_features()
    ds = Dataset.from_dict({k: [r[k] for r in rows] for k in features}, features=features)
    tmp = temp_path(path)
    try:
        ds.to_parquet(os.fspath(tmp))
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path

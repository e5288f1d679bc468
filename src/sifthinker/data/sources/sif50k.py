"""The authors' released SIF-50K records (docs/method.md), read as they are, and a one-time depth import.

A SIF-50K file is a JSON list (or JSONL) of records with ``dataset``, ``image``, ``depth_image`` (the colourised
``Spectral_r`` PNG), ``problem``, ``normalized_solution_round`` (``{"bbox_3d": [[x1, y1, x2, y2], ...], ...}``),
``response``, ``messages`` (user turn, assistant trace) and ``images``. Paths are relative to the image root
(default: the file's folder).

:class:`Sif50kSource` yields items with ``trace`` = the assistant text and ``depth_image`` = the colourised PNG;
``depth_path`` too once the records went through :func:`import_sif50k`, which decodes every colourised PNG **once**
(:func:`sifthinker.depth.decode_colourised`, 256 levels) into a lossless ``.npy`` and writes the records with our
``depth_path`` added — and ``id`` (the rule of :mod:`sifthinker.data.ids`: ``<id_prefix>-<hash of the file name,
problem and image>``, the id :class:`Sif50kSource` gives it too) when a record has none (or a null or empty one).
Nothing else of a record changes, so ``export_sif50k`` of the imported records gives back the input.

Layout of ``out_dir``::

    records.jsonl     the imported records (append-only; a rerun skips ids already there)
    failures.jsonl    one row per record that could not be imported: {"id", "stage", "reason"}
    depth/<path of the colourised image inside the image root>.npy   the decoded maps (existing ones are reused)

``depth_path`` is written relative to the image root when ``out_dir`` lies inside it (then the records read back
with the same ``image_root``), else as an absolute path: read those with ``Sif50kSource(..., depth_root=out_dir)``.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from ...depth import decode_colourised, save_depth
from ...io import JsonlAppender, PathOutsideRoot, done_ids, path_inside
from ...records import REQUIRED, RecordError, assistant_text, check_record, gt_boxes
from ..ids import content_id
from ..types import GroundedItem, ItemError, resolve_inside
from ._common import Ctx, FileSource, SourceFileError, id_text, labelled_records, record_error_text, record_problem

__all__ = ["Sif50kSource", "import_sif50k", "RECORDS_FILE", "FAILURES_FILE"]

logger = logging.getLogger(__name__)

RECORDS_FILE = "records.jsonl"
FAILURES_FILE = "failures.jsonl"
_MAPPED = set(REQUIRED) | {"id", "choices", "answer_type", "question_type", "depth_path"}


def _check(rec: dict, *, strict_trace: bool, require_trace: bool) -> None:
    """Schema check; the assistant trace is parsed only when ``strict_trace`` (the authors' traces are kept as
    written otherwise: the engine validates them)."""
    if strict_trace:
        check_record(rec, require_trace=require_trace)
        return
    msgs = rec.get("messages")
    if require_trace and assistant_text(rec) is None:
        raise RecordError("messages", "no assistant turn holding the trace")
    if isinstance(msgs, list):
        rec = dict(rec, messages=[m for m in msgs if not (isinstance(m, dict) and m.get("role") == "assistant")])
    check_record(rec, require_trace=False)


def _default_id(rec: dict, file: str | os.PathLike, prefix: str) -> str:
    """The record's own id, else the id rule's hash of (source, file name, problem, image)."""
    own = id_text(rec.get("id"))
    if own is not None:
        return own
    return content_id(prefix, source=Sif50kSource.name, file=file, question=rec.get("problem"), image=rec.get("image"))


class Sif50kSource(FileSource):
    """SIF-50K records → :class:`GroundedItem` with the trace (see the module docstring).

    Options: ``depth_root`` (where ``depth_path`` values live; default the image root), ``require_trace`` (a record
    without an assistant turn is an item error; default True), ``strict_trace`` (a trace breaking the grammar of
    docs/method.md is an item error; default False: kept as written for the engine to judge), ``id_prefix``.
    """

    name = "sif50k"

    def __init__(
        self,
        input: str | os.PathLike,
        image_root: str | os.PathLike | None = None,
        *,
        depth_root: str | os.PathLike | None = None,
        require_trace: bool = True,
        strict_trace: bool = False,
        id_prefix: str = "sif50k",
    ):
        super().__init__(input, image_root)
        self.depth_root = Path(depth_root) if depth_root is not None else self.image_root
        self.require_trace = bool(require_trace)
        self.strict_trace = bool(strict_trace)
        if not isinstance(id_prefix, str) or not id_prefix:
            raise ValueError(f"sif50k source: id_prefix must be a non-empty string, got {id_prefix!r}")
        self.id_prefix = id_prefix

    def _item(self, ctx: Ctx, rec: dict) -> GroundedItem:
        try:
            _check(rec, strict_trace=self.strict_trace, require_trace=self.require_trace)
            boxes = gt_boxes(rec)
        except RecordError as e:
            raise ctx.error(record_error_text(e), e.field) from None
        if not boxes:
            raise ctx.error("no ground-truth boxes", "normalized_solution_round.bbox_3d")
        ctx.inside(self.image_root, rec["image"], "image")
        ctx.inside(self.image_root, rec["depth_image"], "depth_image")
        depth_path = rec.get("depth_path")
        if depth_path is not None:
            ctx.inside(self.depth_root, depth_path, "depth_path")
        extra: dict[str, Any] = {k: v for k, v in rec.items() if k not in _MAPPED}
        return GroundedItem(
            id=_default_id(rec, ctx.source, self.id_prefix),
            dataset=rec["dataset"],
            image=rec["image"],
            question=rec["problem"],
            answer=str(rec["response"]).strip(),
            gt_boxes=list(boxes),
            choices=list(rec["choices"]) if rec.get("choices") else None,
            answer_type=rec.get("answer_type"),
            question_type=rec.get("question_type"),
            depth_path=depth_path,
            depth_image=rec["depth_image"],
            trace=assistant_text(rec),
            extra=extra,
        )


# ---------------------------------------------------------------------------------------------------- import


def import_sif50k(
    input: str | os.PathLike,
    image_root: str | os.PathLike | None,
    out_dir: str | os.PathLike,
    *,
    id_prefix: str = "sif50k",
    strict_trace: bool = False,
    progress: bool = False,
) -> dict[str, Any]:
    """Import SIF-50K records: decode each colourised depth PNG once into ``out_dir/depth/…npy`` and append the
    records with ``depth_path`` (and ``id`` where missing) to ``out_dir/records.jsonl``; see the module docstring.

    Resumable: records whose id is already in ``records.jsonl`` are skipped, maps already decoded are reused, and
    records that failed before are tried again (``failures.jsonl`` is a log). Returns counts: ``written``,
    ``skipped`` (already imported), ``failed``, ``decoded`` (maps decoded now), ``reused`` (maps found on disk).
    """
    input = Path(input)
    if not input.is_file():
        raise SourceFileError(f"import_sif50k: input {os.fspath(input)!r} is not a file")
    root = Path(image_root) if image_root is not None else input.parent
    if not root.is_dir():
        raise SourceFileError(f"import_sif50k: image root {os.fspath(root)!r} is not a folder")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    root_real = os.path.realpath(root)
    depth_dir = out / "depth"
    records_path = out / RECORDS_FILE
    done = set(done_ids(records_path))  # an unreadable line is not a done id: that record is imported again
    counts = {"written": 0, "skipped": 0, "failed": 0, "decoded": 0, "reused": 0}

    from tqdm import tqdm

    with JsonlAppender(records_path, fsync=False) as rec_f, JsonlAppender(out / FAILURES_FILE, fsync=False) as fail_f:

        def fail(rid: str, stage: str, reason: str) -> None:
            fail_f.add({"id": rid, "stage": stage, "reason": reason[:500]})
            counts["failed"] += 1

        records = labelled_records(input, "import_sif50k")
        for label, _index, rec in tqdm(records, disable=not progress, unit="rec", desc="sif50k"):
            problem = record_problem(rec)
            if problem is not None:
                fail(label, "read", problem[0])
                continue
            rid = _default_id(rec, input, id_prefix)
            if rid in done:
                counts["skipped"] += 1
                continue
            try:
                _check(rec, strict_trace=strict_trace, require_trace=True)
            except RecordError as e:
                fail(rid, "check", f"field {e.field!r}: {record_error_text(e)}")
                continue
            try:
                resolve_inside(root, rec["image"], field="image", record=rid)
                src = resolve_inside(root, rec["depth_image"], field="depth_image", record=rid)
            except ItemError as e:
                fail(rid, "path", str(e))
                continue
            rel = Path(os.path.relpath(src, root_real))
            npy = depth_dir / rel.with_name(rel.name + ".npy")
            if npy.exists():
                counts["reused"] += 1
            else:
                try:
                    save_depth(decode_colourised(src), npy)
                except (OSError, ValueError) as e:
                    fail(rid, "depth", f"{rec['depth_image']}: {type(e).__name__}: {e}")
                    continue
                counts["decoded"] += 1
            try:
                depth_path = os.path.relpath(path_inside(root_real, npy), root_real).replace(os.sep, "/")
            except PathOutsideRoot:
                depth_path = os.path.realpath(npy)
            new = dict(rec)
            if id_text(rec.get("id")) is None:  # no usable id of its own (absent, null, empty): the one we gave it
                new["id"] = rid
            new["depth_path"] = depth_path
            rec_f.add(new)
            done.add(rid)
            counts["written"] += 1
    logger.info("import_sif50k %s → %s: %s", input, out, counts)
    return {"out_dir": os.fspath(out), "records": os.fspath(records_path), **counts}

"""What every source shares: reading a JSON/JSONL file record by record, naming bad records, checking paths and boxes.

A source yields :class:`~sifthinker.data.types.ItemError` for a bad record (never raises mid-iteration) and raises
only when the input file as a whole cannot be read. Box helpers turn pixel, 0–1000 or normalised boxes into our
normalised ``(x1, y1, x2, y2)``, clipping float overshoots of at most :data:`BOX_EPS` and refusing anything beyond.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ...answers import ANSWER_TYPES
from ...boxes import from_1000, from_pixels, validate_box
from ...records import RecordError, iter_json_records
from ..ids import content_id, id_text
from ..types import GroundedItem, ItemError, resolve_inside

__all__ = [
    "BOX_EPS",
    "ANSWER_TYPES",
    "SourceFileError",
    "Ctx",
    "FileSource",
    "is_json_list_file",
    "labelled_records",
    "record_problem",
    "id_text",
    "check_unique",
    "numbers4",
    "normalised_box",
    "pixel_box",
    "convert_box",
    "ImageSizes",
    "record_error_text",
]

BOX_EPS = 1e-6
BOX_UNITS = ("normalized", "pixels", "1000")
BOX_FORMATS = ("xyxy", "xywh")


class SourceFileError(ValueError):
    """The input file as a whole cannot be used (missing, unreadable, not JSON, wrong layout)."""


class Ctx:
    """Where a record came from (file and record label), to build :class:`ItemError` objects naming both."""

    __slots__ = ("source", "record", "index", "position")

    def __init__(self, source: str, record: str, index: int = -1, position: str | None = None):
        self.source = source
        self.record = record
        self.index = index  # position in the file: line index (JSONL, 0-based) or list index (JSON)
        self.position = position or record  # the place as a label: ``line N`` (JSONL) or ``#index`` (JSON list)

    def error(self, message: str, field: str | None = None) -> ItemError:
        return ItemError(message, source=self.source, record=self.record, field=field, position=self.position)

    def inside(self, root: str | os.PathLike, path: Any, field: str) -> Path:
        """``resolve_inside`` with this record's file and label in the error."""
        try:
            return resolve_inside(root, path, field="", record=None)
        except ItemError as e:
            raise self.error(str(e), field) from None


def is_json_list_file(path: str | os.PathLike) -> bool:
    """The rule :func:`sifthinker.records.iter_json_records` uses: ``.json`` suffix or a body starting with ``[``."""
    path = Path(path)
    if path.suffix.lower() == ".json":
        return True
    with open(path, "rb") as f:
        return f.read(4096).lstrip(b" \t\r\n\xef\xbb\xbf").startswith(b"[")


def labelled_records(path: str | os.PathLike, who: str) -> Iterator[tuple[str, int, Any]]:
    """``(label, index, record)`` for each record of a JSON list or JSONL file: the label is ``#index`` (a list) or
    ``line N`` (JSONL), and a corrupt JSONL line gives a :class:`RecordError` in place of its record. A file that
    cannot be read as a whole raises :class:`SourceFileError` starting with ``who``."""
    src = os.fspath(path)
    try:
        list_mode = is_json_list_file(path)
        for i, obj in iter_json_records(path):
            yield (f"#{i}" if list_mode else f"line {i + 1}"), i, obj
    except RecordError as e:
        if e.field == "<file>":
            raise SourceFileError(f"{who}: cannot read {src}: {e}") from None
        raise
    except (OSError, UnicodeDecodeError) as e:
        raise SourceFileError(f"{who}: cannot read {src}: {e}") from None


def record_problem(rec: Any) -> tuple[str, str] | None:
    """Why a record read by :func:`labelled_records` is not a JSON object, as ``(message, field)``; None if it is."""
    if isinstance(rec, RecordError):
        return record_error_text(rec), "<line>"
    if not isinstance(rec, dict):
        return f"expected a JSON object, got {type(rec).__name__}", "<record>"
    return None


class FileSource:
    """Base of the file-backed sources: ``Source(input_path, image_root=None, **options)``, iterable.

    Subclasses set ``name`` and implement :meth:`_item` (one record → item, raising :class:`ItemError` for a bad
    one). ``image_root`` defaults to the input file's folder; every path in an item is relative to it (or absolute
    inside it).
    """

    name = "file"
    _id_key = "id"  # the record field whose value names a record in errors

    def __init__(self, input: str | os.PathLike, image_root: str | os.PathLike | None = None):
        self.input = Path(input)
        if not self.input.exists():
            raise SourceFileError(f"{self.name} source: input {os.fspath(input)!r} does not exist")
        if not self.input.is_file():
            raise SourceFileError(f"{self.name} source: input {os.fspath(input)!r} is not a file")
        self.image_root = Path(image_root) if image_root is not None else self.input.parent
        if not self.image_root.is_dir():
            raise SourceFileError(f"{self.name} source: image root {os.fspath(self.image_root)!r} is not a folder")

    def __repr__(self) -> str:
        return f"{type(self).__name__}({os.fspath(self.input)!r}, image_root={os.fspath(self.image_root)!r})"

    def _records(self, path: Path | None = None) -> Iterator[tuple[Ctx, Any]]:
        """``(ctx, record)`` for each record, labelled by its id when it has one; a corrupt JSONL line gives
        ``(ctx, RecordError)``."""
        path = path or self.input
        src = os.fspath(path)
        for position, i, obj in labelled_records(path, f"{self.name} source"):
            label = (id_text(obj.get(self._id_key)) if isinstance(obj, dict) else None) or position
            yield Ctx(src, label, i, position), obj

    def _content_id(self, prefix: str, ctx: Ctx, question: str, image: str) -> str:
        """The id of a record without one of its own (:func:`sifthinker.data.ids.content_id`)."""
        return content_id(prefix, source=self.name, file=ctx.source, question=question, image=image)

    def _item(self, ctx: Ctx, rec: dict) -> GroundedItem | None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _iter_path(
        self, path: Path | None = None, seen: dict[str, str] | None = None
    ) -> Iterator[GroundedItem | ItemError]:
        """Items of one file; an id already yielded (``seen``: id → where) makes the later record an error."""
        seen = {} if seen is None else seen
        for ctx, rec in self._records(path):
            item = self._checked_item(ctx, rec)
            if isinstance(item, GroundedItem):
                item = check_unique(ctx, item, seen)
            if item is not None:
                yield item

    def _checked_item(self, ctx: Ctx, rec: Any) -> GroundedItem | ItemError | None:
        """One record → its item, or the error naming what is wrong with it (None: a record the source skips)."""
        problem = record_problem(rec)
        if problem is not None:
            return ctx.error(*problem)
        try:
            return self._item(ctx, rec)
        except ItemError as e:
            return e

    def __iter__(self) -> Iterator[GroundedItem | ItemError]:
        return self._iter_path()


def check_unique(ctx: Ctx, item: GroundedItem, seen: dict[str, str]) -> GroundedItem | ItemError:
    """``item``, or — when an earlier record already gave its id (``seen``: id → where) — an error naming both."""
    if item.id in seen:
        return ctx.error(f"duplicate id {item.id!r} (first at {seen[item.id]})", "id")
    seen[item.id] = f"{ctx.source} {ctx.position}"
    return item


# ------------------------------------------------------------------------------------------------ field helpers


def record_error_text(e: RecordError) -> str:
    """The message of a :class:`RecordError` without its ``record …, field …:`` prefix."""
    s = str(e)
    prefix = f"field {e.field!r}: "
    return s.split(prefix, 1)[1] if prefix in s else s


def get_str(ctx: Ctx, rec: dict, key: str, field: str | None = None, *, required: bool = True) -> str | None:
    """A non-empty string field (stripped); numbers are accepted for answers and ids by the caller, not here."""
    field = field or key
    if key not in rec or rec[key] is None:
        if required:
            raise ctx.error("missing", field)
        return None
    v = rec[key]
    if not isinstance(v, str):
        raise ctx.error(f"expected a string, got {type(v).__name__}", field)
    if not v.strip():
        raise ctx.error("is empty", field)
    return v


def get_answer(ctx: Ctx, rec: dict, key: str, field: str | None = None) -> str:
    """The ground-truth answer as a non-empty string (integers and finite numbers are written as text)."""
    field = field or key
    if key not in rec or rec[key] is None:
        raise ctx.error("missing", field)
    v = rec[key]
    if isinstance(v, bool) or not isinstance(v, (str, int, float)):
        raise ctx.error(f"expected a string or a number, got {type(v).__name__}", field)
    if isinstance(v, float):
        if not math.isfinite(v):
            raise ctx.error(f"expected a finite number, got {v!r}", field)
        v = str(int(v)) if v.is_integer() else repr(v)
    s = str(v).strip()
    if not s:
        raise ctx.error("is empty", field)
    return s


def get_choices(ctx: Ctx, rec: dict, key: str, field: str | None = None) -> list[str] | None:
    field = field or key
    v = rec.get(key)
    if v is None:
        return None
    if not isinstance(v, list) or len(v) < 2 or not all(isinstance(c, str) and c.strip() for c in v):
        raise ctx.error("expected a list of at least two non-empty option strings", field)
    return list(v)


def get_answer_type(ctx: Ctx, rec: dict, key: str, field: str | None = None) -> str | None:
    field = field or key
    v = rec.get(key)
    if v is None:
        return None
    if v not in ANSWER_TYPES:
        raise ctx.error(f"expected one of {', '.join(ANSWER_TYPES)}, got {v!r}", field)
    return v


def get_opt_str(ctx: Ctx, rec: dict, key: str, field: str | None = None) -> str | None:
    v = rec.get(key)
    if v is None:
        return None
    if not isinstance(v, str) or not v.strip():
        raise ctx.error(f"expected a non-empty string, got {v!r}"[:200], field or key)
    return v


# -------------------------------------------------------------------------------------------------- boxes


def numbers4(ctx: Ctx, b: Any, field: str) -> tuple[float, float, float, float]:
    """Four finite numbers (not booleans, not strings) or an :class:`ItemError` naming ``field``."""
    if isinstance(b, (str, bytes, dict)) or not isinstance(b, Sequence) or len(b) != 4:
        raise ctx.error(f"expected four numbers, got {b!r}"[:200], field)
    out = []
    for v in b:
        if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
            raise ctx.error(f"expected numbers, got {b!r}"[:200], field)
        if not math.isfinite(v):
            raise ctx.error(f"coordinates must be finite, got {b!r}"[:200], field)
        out.append(float(v))
    return out[0], out[1], out[2], out[3]


def normalised_box(ctx: Ctx, b: Sequence[float], field: str, *, eps: float = BOX_EPS, shown: Any = None):
    """Check a normalised box: in [0, 1] (overshoots ≤ ``eps`` clipped), ``x1 < x2``, ``y1 < y2``."""
    vals = []
    for v in b:
        if -eps <= v < 0.0:
            v = 0.0
        elif 1.0 < v <= 1.0 + eps:
            v = 1.0
        vals.append(v)
    try:
        return validate_box(vals, what="box")
    except ValueError as e:
        msg = str(e)
        if shown is not None:
            msg = f"{msg} (given as {shown!r})"[:300]
        raise ctx.error(msg, field) from None


def pixel_box(b: Sequence[float], fmt: str) -> tuple[float, float, float, float]:
    """``xyxy`` as is, ``xywh`` → ``xyxy``."""
    if fmt == "xywh":
        return b[0], b[1], b[0] + b[2], b[1] + b[3]
    return b[0], b[1], b[2], b[3]


def convert_box(
    ctx: Ctx,
    raw: Any,
    field: str,
    *,
    units: str,
    fmt: str = "xyxy",
    size: tuple[int, int] | None = None,
) -> tuple[float, float, float, float]:
    """One box in ``units`` (``normalized`` | ``pixels`` | ``1000``) and ``fmt`` → our normalised xyxy, checked."""
    b = pixel_box(numbers4(ctx, raw, field), fmt)
    if units == "pixels":
        if size is None:  # pragma: no cover - callers pass the size
            raise ctx.error("pixel boxes need the image width and height", field)
        b = from_pixels(b, size[0], size[1])
    elif units == "1000":
        b = from_1000(b)
    elif units != "normalized":
        raise ctx.error(f"unknown box units {units!r}; expected one of {', '.join(BOX_UNITS)}", field)
    return normalised_box(ctx, b, field, shown=raw)


class ImageSizes:
    """Image ``(width, height)`` read lazily from the file header with Pillow, cached per path."""

    def __init__(self):
        self._cache: dict[str, tuple[int, int]] = {}

    def __call__(self, ctx: Ctx, path: Path, field: str = "image") -> tuple[int, int]:
        key = os.fspath(path)
        got = self._cache.get(key)
        if got is not None:
            return got
        from ...images import ImageTooLarge, image_size

        try:
            size = image_size(path)  # the header only: nothing is decoded
        except ImageTooLarge as e:
            raise ctx.error(f"the image is too large to read its size: {e}", field) from None
        except Exception as e:  # Pillow raises many types for corrupt files
            raise ctx.error(
                f"cannot read the image to get its size ({type(e).__name__}: {e}); give width and height in the "
                "record",
                field,
            ) from None
        if len(self._cache) > 100_000:
            self._cache.clear()
        self._cache[key] = size
        return size


def record_size(ctx: Ctx, rec: dict, wkey: str = "width", hkey: str = "height") -> tuple[int, int] | None:
    """``(width, height)`` from the record when both are present (positive integers), else None."""
    w, h = rec.get(wkey), rec.get(hkey)
    if w is None and h is None:
        return None
    for key, v in ((wkey, w), (hkey, h)):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0:
            raise ctx.error(f"expected a positive image size in pixels, got {v!r}", key)
        if isinstance(v, float) and not v.is_integer():
            raise ctx.error(f"expected an integer image size in pixels, got {v!r}", key)
    return int(w), int(h)

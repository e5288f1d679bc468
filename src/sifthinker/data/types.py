"""The data engine's contracts: a grounded item (what a source yields), frames, write requests and writers.

Sources turn any grounded-VQA format into :class:`GroundedItem` objects; the engine adds depth, builds the focus path
by reverse expansion (:class:`Frame` list), asks a :class:`Writer` for the trace text, validates it and keeps it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from ..io import PathOutsideRoot, path_inside
from ..trace import Region

__all__ = ["DEPTH_SOURCES", "GroundedItem", "ItemError", "Frame", "WriteRequest", "Writer", "Source", "resolve_inside"]

Box = tuple[float, float, float, float]

# Where a build takes an item's depth map from: the source's when it has one, else the model (``auto``); always
# the source's (``oracle``); always the model (``model``). Not the inference engine's depth modes (sifthinker.infer).
DEPTH_SOURCES = ("auto", "oracle", "model")


@dataclass
class GroundedItem:
    """One grounded VQA item, the unit every stage of the data engine works on.

    Paths (``image``, ``depth_path``, ``depth_image``) are relative to the source's image root (or absolute paths
    inside it); :func:`resolve_inside` turns them into real paths and refuses any that escape the root.
    """

    id: str
    dataset: str  # source subset name (a Visual-CoT subset, "tallyqa", "synth", ...)
    image: str
    question: str
    answer: str
    gt_boxes: list[Box]  # normalised [0, 1], x1 < x2, y1 < y2; several for counting
    choices: list[str] | None = None
    answer_type: str | None = None  # "mc" | "yesno" | "number" | "text"; inferred when None
    question_type: str | None = None
    depth_path: str | None = None  # a lossless map the source provides (synthetic world, imported SIF-50K)
    depth_image: str | None = None  # its colourised image, when the source provides one
    objects: list[dict[str, Any]] | None = None  # scene objects (synthetic): colour, shape, box, depth, ...
    trace: str | None = None  # an assistant trace the source already has (imported SIF-50K records)
    extra: dict[str, Any] = field(default_factory=dict)  # passthrough fields kept on the output record


class ItemError(ValueError):
    """A bad input item: which file, which record, which field, what was expected.

    Sources *yield* these (the build records a failure row and goes on) rather than raising them. ``record`` is
    the record's label (its own id when it has one, else its place); ``position`` is always its place in the file
    (``line N`` or ``#index``): the build names a failure row by it when the label is an id another record holds.
    """

    def __init__(
        self,
        message: str,
        *,
        source: str = "",
        record: str | None = None,
        field: str | None = None,
        position: str | None = None,
    ):
        self.source = source
        self.record = record
        self.field = field
        self.position = position
        where = ", ".join(
            p
            for p in (
                source and f"file {source}",
                record is not None and f"record {record}",
                field and f"field {field!r}",
            )
            if p
        )
        super().__init__(f"{where}: {message}" if where else message)


def resolve_inside(root: str | os.PathLike, path: str, *, field: str = "image", record: str | None = None) -> Path:
    """The real path of ``path`` (relative to ``root`` or absolute), refusing one that resolves outside ``root``:
    :func:`sifthinker.io.path_inside` with its refusal (or an empty path) as an :class:`ItemError`."""
    if not isinstance(path, str) or not path:
        raise ItemError(f"expected a non-empty path, got {path!r}", record=record, field=field)
    try:
        return path_inside(root, path)
    except PathOutsideRoot:
        raise ItemError(
            f"path {path!r} resolves outside the image root {os.fspath(root)!r}", record=record, field=field
        ) from None


@dataclass
class Frame:
    """One step of the focus path: its regions (box + box-mean depth, 3 decimals) and its role.

    ``role`` is one of ``full`` (the whole image), ``distractor`` (the wrong focus to correct), ``enclosing`` (the
    box around several first-expansion boxes), ``expansion`` (the first expansion of the GT boxes) and ``gt``.
    ``image_png`` is the frame drawn for a multimodal writer (boxes in green on the RGB image), PNG bytes.
    """

    regions: list[Region]
    role: str
    image_png: bytes | None = None


@dataclass
class WriteRequest:
    """What a writer gets: the item, the frames in forward order and the attempt number (0 first)."""

    item: GroundedItem
    frames: list[Frame]
    attempt: int = 0


@runtime_checkable
class Writer(Protocol):
    """Writes the text of a SIF trace for a request; returns the whole completion (``<think>…</answer>``).

    The engine validates every reply (same areas, boxes and depths; right answer) and retries rejected ones.
    """

    name: str

    async def write(self, request: WriteRequest) -> str: ...


@runtime_checkable
class Source(Protocol):
    """A reader of one grounded-VQA format; iterating yields items, or :class:`ItemError` for bad records."""

    name: str
    image_root: Path  # where the items' paths resolve

    def __iter__(self) -> Iterator[GroundedItem | ItemError]: ...

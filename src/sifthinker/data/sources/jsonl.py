"""A generic grounded-VQA file: one JSON object per line (or a JSON list), field names configurable.

Fields (our names; ``fields={"question": "problem", ...}`` maps them to yours, so a file needs no rewriting):

==================  ========  ==================================================================================
``id``              optional  unique per file; default ``<dataset_name>-<hash of file name, question, image>``
``image``           required  image path, relative to the image root (default: the file's folder)
``question``        required  non-empty text
``answer``          required  text or a number (written as text)
``boxes``           required  list of ``[x1, y1, x2, y2]`` (``box_format="xywh"``: ``[x, y, w, h]``), at least one
``choices``         optional  list of ≥ 2 option texts (multiple choice; the answer is then the letter or option)
``answer_type``     optional  ``mc`` | ``yesno`` | ``number`` | ``text`` (inferred downstream when absent)
``question_type``   optional  free text (e.g. ``counting``)
``width``/``height`` optional  image size in pixels (pixel boxes only; read from the image header when absent)
``dataset``         optional  subset name; default the ``dataset_name`` option (default: the file's stem)
``depth_path``      optional  a lossless depth map (``.npy`` / 16-bit ``.png``) you already have
``depth_image``     optional  its colourised image
``box_units``       optional  per-record override of the ``box_units`` option
==================  ========  ==================================================================================

``box_units``: ``normalized`` ([0, 1] by width/height), ``pixels`` (needs the image size) or ``1000`` (Qwen2-VL's
0–1000 grid). Names listed in ``extra_fields`` are passed through into ``GroundedItem.extra``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

from ..types import GroundedItem
from ._common import (
    BOX_FORMATS,
    BOX_UNITS,
    Ctx,
    FileSource,
    ImageSizes,
    convert_box,
    get_answer,
    get_answer_type,
    get_choices,
    get_opt_str,
    get_str,
    record_size,
)

__all__ = ["JsonlSource", "FIELDS"]

FIELDS = (
    "id",
    "image",
    "question",
    "answer",
    "boxes",
    "choices",
    "answer_type",
    "question_type",
    "width",
    "height",
    "dataset",
    "depth_path",
    "depth_image",
    "box_units",
)


class JsonlSource(FileSource):
    """Generic grounded-VQA JSONL → :class:`GroundedItem` (see the module docstring for fields and options)."""

    name = "jsonl"

    def __init__(
        self,
        input: str | os.PathLike,
        image_root: str | os.PathLike | None = None,
        *,
        box_units: str = "normalized",
        box_format: str = "xyxy",
        fields: dict[str, str] | None = None,
        dataset_name: str | None = None,
        extra_fields: Iterable[str] = (),
    ):
        super().__init__(input, image_root)
        if box_units not in BOX_UNITS:
            raise ValueError(f"jsonl source: box_units must be one of {', '.join(BOX_UNITS)}, got {box_units!r}")
        if box_format not in BOX_FORMATS:
            raise ValueError(f"jsonl source: box_format must be one of {', '.join(BOX_FORMATS)}, got {box_format!r}")
        fields = dict(fields or {})
        unknown = sorted(k for k in fields if k not in FIELDS)
        if unknown:
            raise ValueError(f"jsonl source: unknown field(s) {unknown} in `fields`; known: {', '.join(FIELDS)}")
        if not all(isinstance(v, str) and v for v in fields.values()):
            raise ValueError(f"jsonl source: `fields` must map our names to your field names, got {fields!r}")
        self.fields = {k: fields.get(k, k) for k in FIELDS}
        self._id_key = self.fields["id"]
        self.box_units = box_units
        self.box_format = box_format
        self.dataset_name = dataset_name or self.input.stem
        self.extra_fields = tuple(extra_fields)
        self._sizes = ImageSizes()

    def _item(self, ctx: Ctx, rec: dict) -> GroundedItem:
        f = self.fields
        image = get_str(ctx, rec, f["image"])
        real = ctx.inside(self.image_root, image, f["image"])
        question = get_str(ctx, rec, f["question"]).strip()
        answer = get_answer(ctx, rec, f["answer"])
        choices = get_choices(ctx, rec, f["choices"])
        answer_type = get_answer_type(ctx, rec, f["answer_type"])
        question_type = get_opt_str(ctx, rec, f["question_type"])

        units = rec.get(f["box_units"], self.box_units)
        if units not in BOX_UNITS:
            raise ctx.error(f"unknown box units {units!r}; expected one of {', '.join(BOX_UNITS)}", f["box_units"])
        raw = rec.get(f["boxes"])
        if raw is None:
            raise ctx.error("missing (the ground-truth boxes)", f["boxes"])
        if not isinstance(raw, list):
            raise ctx.error(f"expected a list of boxes, got {type(raw).__name__}", f["boxes"])
        if not raw:
            raise ctx.error("no boxes: a grounded item needs at least one ground-truth region", f["boxes"])
        size = record_size(ctx, rec, f["width"], f["height"])
        if units == "pixels" and size is None:
            size = self._sizes(ctx, real, f["image"])
        boxes = [
            convert_box(ctx, b, f"{f['boxes']}[{i}]", units=units, fmt=self.box_format, size=size)
            for i, b in enumerate(raw)
        ]

        depth_path = get_opt_str(ctx, rec, f["depth_path"])
        if depth_path is not None:
            ctx.inside(self.image_root, depth_path, f["depth_path"])
        depth_image = get_opt_str(ctx, rec, f["depth_image"])
        if depth_image is not None:
            ctx.inside(self.image_root, depth_image, f["depth_image"])
        dataset = get_opt_str(ctx, rec, f["dataset"]) or self.dataset_name

        rid = rec.get(f["id"])
        if rid is None:
            item_id = self._content_id(self.dataset_name, ctx, question, image)
        elif isinstance(rid, (str, int)) and not isinstance(rid, bool) and str(rid).strip():
            item_id = str(rid)
        else:
            raise ctx.error(f"expected a non-empty string or integer id, got {rid!r}"[:200], f["id"])
        extra: dict[str, Any] = {k: rec[k] for k in self.extra_fields if k in rec}
        if size is not None:
            extra.setdefault("image_size", [size[0], size[1]])
        return GroundedItem(
            id=item_id,
            dataset=dataset,
            image=image,
            question=question,
            answer=answer,
            gt_boxes=boxes,
            choices=choices,
            answer_type=answer_type,
            question_type=question_type,
            depth_path=depth_path,
            depth_image=depth_image,
            extra=extra,
        )

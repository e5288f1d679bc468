"""TallyQA counting items with boxes, in the GRIT data format the SIFThinker authors read (docs/method.md).

One JSON object per line (``.jsonl``) or a JSON list (``.json``), e.g. (GRIT's ``relationReasoningDataset.py``
documents this shape; the SIFThinker authors' ``produce_tallyqa.py`` reads ``question``, ``answer``, ``image``,
``bboxs`` and ``dataset`` and divides x by the width and y by the height)::

    {"question": "How many dogs are there?", "answer": 2, "image": "tallyqa/1234.jpg", "width": 640,
     "height": 480, "bboxs": [[10.5, 20, 110, 200], [300, 40, 420, 260]], "dataset": "tallyqa", "split": "train"}

* boxes in **pixels**, ``x1, y1, x2, y2`` by default (``box_format="xywh"`` for ``x, y, w, h``); the field is
  ``bboxs`` (GRIT) or ``boxes`` (``boxes_field`` picks another);
* ``width``/``height`` are optional: when absent they are read from the image header (Pillow, lazily, cached);
* ``answer`` is a non-negative integer (``2``, ``2.0`` or ``"2"``), written as text; ``answer_type`` is ``number``
  and ``question_type`` ``counting``;
* at least one box (reverse expansion needs a ground-truth region): a count of 0 with no boxes is an item error;
  ``require_count_match=True`` also refuses items whose count differs from the number of boxes;
* the id is ``id``, else ``tallyqa-<question_id>``, else a hash of the file name, question and image
  (:mod:`sifthinker.data.ids`): never a line number, so two files built into one folder do not collide.
"""

from __future__ import annotations

import math
import os
from typing import Any

from ..types import GroundedItem
from ._common import BOX_FORMATS, Ctx, FileSource, ImageSizes, convert_box, get_str, id_text, record_size

__all__ = ["TallyQASource"]


def _count(ctx: Ctx, v: Any, field: str) -> int:
    if isinstance(v, bool):
        raise ctx.error(f"expected a count (a non-negative integer), got {v!r}", field)
    if isinstance(v, int):
        n = v
    elif isinstance(v, float) and math.isfinite(v) and v.is_integer():
        n = int(v)
    elif isinstance(v, str) and v.strip().isdigit():
        n = int(v.strip())
    elif v is None:
        raise ctx.error("missing", field)
    else:
        raise ctx.error(f"expected a count (a non-negative integer), got {v!r}"[:200], field)
    if n < 0:
        raise ctx.error(f"expected a count (a non-negative integer), got {v!r}", field)
    return n


class TallyQASource(FileSource):
    """TallyQA/GRIT counting records → :class:`GroundedItem` with normalised boxes (see the module docstring)."""

    name = "tallyqa"

    def __init__(
        self,
        input: str | os.PathLike,
        image_root: str | os.PathLike | None = None,
        *,
        box_format: str = "xyxy",
        boxes_field: str | None = None,
        dataset_name: str = "tallyqa",
        require_count_match: bool = False,
    ):
        super().__init__(input, image_root)
        if box_format not in BOX_FORMATS:
            raise ValueError(f"tallyqa source: box_format must be one of {', '.join(BOX_FORMATS)}, got {box_format!r}")
        if not isinstance(dataset_name, str) or not dataset_name:
            raise ValueError(f"tallyqa source: dataset_name must be a non-empty string, got {dataset_name!r}")
        self.box_format = box_format
        self.boxes_field = boxes_field
        self.dataset_name = dataset_name
        self.require_count_match = bool(require_count_match)
        self._sizes = ImageSizes()

    def _item(self, ctx: Ctx, rec: dict) -> GroundedItem:
        image = get_str(ctx, rec, "image")
        real = ctx.inside(self.image_root, image, "image")
        question = get_str(ctx, rec, "question").strip()
        count = _count(ctx, rec.get("answer"), "answer")

        if self.boxes_field is not None:
            bkey = self.boxes_field
        else:
            bkey = "bboxs" if "bboxs" in rec else "boxes"
        raw = rec.get(bkey)
        if raw is None:
            raise ctx.error("missing (the pixel boxes of the counted objects)", bkey)
        if not isinstance(raw, list):
            raise ctx.error(f"expected a list of boxes, got {type(raw).__name__}", bkey)
        if not raw:
            raise ctx.error("no boxes: a grounded item needs at least one ground-truth region", bkey)
        if self.require_count_match and len(raw) != count:
            raise ctx.error(f"{len(raw)} boxes for a count of {count}", bkey)
        size = record_size(ctx, rec) or self._sizes(ctx, real, "image")
        boxes = [
            convert_box(ctx, b, f"{bkey}[{i}]", units="pixels", fmt=self.box_format, size=size)
            for i, b in enumerate(raw)
        ]

        dataset = rec.get("dataset")
        if not isinstance(dataset, str) or not dataset.strip():
            dataset = self.dataset_name
        rid, qid = id_text(rec.get("id")), rec.get("question_id")
        if rid is not None:
            item_id = rid
        elif id_text(qid) is not None:
            item_id = f"{self.dataset_name}-{qid}"
        else:
            item_id = self._content_id(self.dataset_name, ctx, question, image)
        extra: dict[str, Any] = {"image_size": [size[0], size[1]]}
        if isinstance(qid, (str, int)) and not isinstance(qid, bool):
            extra["question_id"] = qid
        split = rec.get("split")
        if isinstance(split, str) and split:
            extra["split"] = split
        return GroundedItem(
            id=item_id,
            dataset=dataset,
            image=image,
            question=question,
            answer=str(count),
            gt_boxes=boxes,
            answer_type="number",
            question_type="counting",
            extra=extra,
        )

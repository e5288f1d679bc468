"""What every RefCOCO layout shares: the question wording, pixel → normalised boxes, and the grounding item."""

from __future__ import annotations

import os

from ...types import EvalItem

NAME = "refcoco"
QUESTION = "Please provide the bounding box of the region this sentence describes: {sentence}"

__all__ = ["NAME", "QUESTION", "coco_box_to_normalised", "xyxy_to_normalised", "rec_item"]


def _clip01(v: float) -> float:
    return min(max(v, 0.0), 1.0)


def coco_box_to_normalised(bbox, width: float, height: float) -> tuple[float, float, float, float]:
    """COCO pixel ``[x, y, w, h]`` → normalised ``(x1, y1, x2, y2)``, clipped to the image.

    >>> coco_box_to_normalised([160, 120, 320, 240], 640, 480)
    (0.25, 0.25, 0.75, 0.75)
    """
    x, y, w, h = (float(v) for v in bbox)
    return xyxy_to_normalised((x, y, x + w, y + h), width, height)


def xyxy_to_normalised(bbox, width: float, height: float) -> tuple[float, float, float, float]:
    """Pixel ``[x1, y1, x2, y2]`` → normalised, clipped to the image.

    >>> xyxy_to_normalised([64, 48, 384, 288], 640, 480)
    (0.1, 0.1, 0.6, 0.6)
    """
    if width <= 0 or height <= 0:
        raise ValueError(f"image size must be positive, got {width}x{height}")
    x1, y1, x2, y2 = (float(v) for v in bbox)
    return (_clip01(x1 / width), _clip01(y1 / height), _clip01(x2 / width), _clip01(y2 / height))


def rec_item(iid: str, image: str | os.PathLike, sentence: str, box, category: str, meta: dict) -> EvalItem:
    """One referring-expression item: the sentence asked as :data:`QUESTION`, the box as the ground truth."""
    return EvalItem(
        id=str(iid),
        benchmark=NAME,
        images=[os.fspath(image)],
        question=QUESTION.format(sentence=sentence),
        answer="",
        answer_type="box",
        category=category,
        gt_boxes=[box],
        meta={"sentence": sentence, **meta},
    )

"""What SIFThinker claims about focus, measured: does the model's *last* area land closer to the evidence than its
*first*, and at what cost (areas per trace, tokens per answer, seconds per item)?

Per item (items with ground-truth boxes): ``first_iou`` and ``last_iou`` are the IoU of the first and the last usable
``<area>`` with the evidence — one ground-truth box: the area's box (the enclosing box of several regions); several
ground-truth boxes: the hierarchical IoU ``H(area, G)`` of docs/method.md. A completion without a usable area scores
0 for both. The **correction gain** is ``last_iou − first_iou``: positive when the trace refines its focus.

>>> from sifthinker.trace import Region
>>> area_iou((Region((0.0, 0.0, 0.5, 0.5), 0.3),), [(0.0, 0.0, 0.5, 0.5)])
1.0
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from ..boxes import clip, enclosing, hierarchical_iou, iou

__all__ = ["area_iou", "focus_block", "FOCUS_DENOMINATORS"]

FOCUS_DENOMINATORS = {
    "first_iou": "evaluated items with ground-truth boxes; a completion without an area scores 0",
    "last_iou": "evaluated items with ground-truth boxes; a completion without an area scores 0",
    "correction_gain": "mean of last_iou − first_iou over the same items",
    "areas_per_trace": "evaluated items",
    "tokens_per_answer": "evaluated items whose predictor reported a token count (n_with_tokens)",
    "seconds_per_item": "evaluated items whose predictor reported a time (n_with_seconds)",
}


def area_iou(regions: Sequence, gt_boxes: Sequence[Sequence[float]]) -> float:
    """IoU of one area (its regions) with the ground truth: one box → the area's (enclosing) box against it; several
    boxes → the hierarchical IoU. Boxes are clipped to the image first."""
    boxes = [clip(r.box) for r in regions]
    if not boxes or not gt_boxes:
        return 0.0
    if len(gt_boxes) == 1:
        box = boxes[0] if len(boxes) == 1 else enclosing(boxes)
        return iou(box, tuple(gt_boxes[0]))
    return hierarchical_iou(boxes, [tuple(b) for b in gt_boxes])


def _mean(vals: list[float], digits: int = 6) -> float | None:
    return round(sum(vals) / len(vals), digits) if vals else None


def focus_block(scores: Iterable) -> dict:
    """First vs last focus over evaluated items with boxes, the correction gain, and the cost of a trace."""
    ev = [s for s in scores if s.evaluated]
    boxed = [s for s in ev if s.has_boxes]
    first = [s.first_iou or 0.0 for s in boxed]
    last = [s.last_iou or 0.0 for s in boxed]
    gains = [b - a for a, b in zip(first, last)]
    tokens = [s.tokens for s in ev if s.tokens is not None]
    seconds = [s.seconds for s in ev if s.seconds is not None]
    return {
        "n_with_boxes": len(boxed),
        "first_iou": _mean(first),
        "last_iou": _mean(last),
        "correction_gain": _mean(gains),
        "improved": sum(g > 1e-9 for g in gains),
        "worsened": sum(g < -1e-9 for g in gains),
        "areas_per_trace": _mean([s.n_areas or 0 for s in ev], 4),
        "n_with_tokens": len(tokens),
        "tokens_per_answer": _mean(tokens, 2),
        "n_with_seconds": len(seconds),
        "seconds_per_item": _mean(seconds, 4),
    }

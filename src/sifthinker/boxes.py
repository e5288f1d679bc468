"""Box geometry: IoU, exact areas of unions of rectangles, matched IoU and the hierarchical IoU of docs/method.md.

Conventions
-----------
Ours is **normalised** ``(x1, y1, x2, y2)`` in ``[0, 1]`` by image width/height, ``x1 < x2`` and ``y1 < y2``.
Converters go to and from pixels, the 0–1000 grid of Qwen2-VL, and the absolute pixel coordinates of
Qwen2.5-VL on its *resized* grid (sides multiples of 28 within a pixel budget, see :func:`smart_resize`); they live
in :mod:`sifthinker.boxes_coords` and the exact union area in :mod:`sifthinker.boxes_union`, both importable from
here.

Every function here takes plain sequences of four numbers; nothing requires numpy arrays.

>>> iou((0, 0, 0.5, 1), (0.25, 0, 0.75, 1))
0.3333333333333333
>>> hierarchical_iou([(0, 0, 1, 1)], [(0, 0, 1, 1)])
1.0
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from itertools import permutations

import numpy as np

from .boxes_coords import (  # re-exported: every name of the coordinate module is ours too
    QWEN_FACTOR,  # noqa: F401
    QWEN_MAX_PIXELS,  # noqa: F401
    QWEN_MIN_PIXELS,  # noqa: F401
    Box,
    clip,
    from_1000,
    from_pixels,
    from_qwen_abs,
    smart_resize,
    to_1000,
    to_pixels,
    to_qwen_abs,
)
from .boxes_union import _nondegenerate, _union_area_any, union_area

FULL_IMAGE: Box = (0.0, 0.0, 1.0, 1.0)

__all__ = [
    "Box",
    "FULL_IMAGE",
    "area",
    "intersection",
    "iou",
    "union_area",
    "union_iou",
    "matched_iou",
    "hierarchical_iou",
    "validate_box",
    "is_valid_box",
    "expand",
    "enclosing",
    "merge_overlapping",
    "overlaps",
    "clip",
    "to_pixels",
    "from_pixels",
    "to_1000",
    "from_1000",
    "smart_resize",
    "to_qwen_abs",
    "from_qwen_abs",
]


# --------------------------------------------------------------------------------------------- basic measures


def area(b: Sequence[float]) -> float:
    """Area of a box; 0 for a degenerate or inverted one.

    >>> area((0.1, 0.1, 0.5, 0.6))
    0.2
    """
    w = b[2] - b[0]
    h = b[3] - b[1]
    return w * h if w > 0 and h > 0 else 0.0


def intersection(a: Sequence[float], b: Sequence[float]) -> float:
    """Area of the intersection of two boxes."""
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    return w * h if w > 0 and h > 0 else 0.0


def iou(a: Sequence[float], b: Sequence[float]) -> float:
    """Intersection over union of two boxes; 0 when the union has no area.

    >>> iou((0, 0, 1, 1), (0, 0, 1, 1))
    1.0
    >>> iou((0, 0, 0.1, 0.1), (0.5, 0.5, 0.6, 0.6))
    0.0
    """
    inter = intersection(a, b)
    if not (0.0 < inter < math.inf):
        return 0.0
    union = area(a) + area(b) - inter
    return inter / union if 0.0 < union < math.inf else 0.0


def overlaps(a: Sequence[float], b: Sequence[float]) -> bool:
    """True if the two boxes share a region of positive area."""
    return intersection(a, b) > 0.0


# ------------------------------------------------------------------------------------------ unions of rectangles


def union_iou(pred: Sequence[Sequence[float]], gt: Sequence[Sequence[float]]) -> float:
    """IoU of the union of ``pred`` with the union of ``gt``: 1 if both are empty, 0 if exactly one is.

    ``area(∪P ∩ ∪G) = area(∪P) + area(∪G) − area(∪P ∪ ∪G)``, so three exact union areas suffice.

    >>> union_iou([(0, 0, 0.5, 1), (0.5, 0, 1, 1)], [(0, 0, 1, 1)])
    1.0
    """
    if len(pred) == 0 and len(gt) == 0:
        return 1.0
    if len(pred) == 0 or len(gt) == 0:
        return 0.0
    if len(pred) == 1 and len(gt) == 1:
        return iou(pred[0], gt[0])
    p = _nondegenerate(pred)
    g = _nondegenerate(gt)
    both = _union_area_any(p + g)
    if not (0.0 < both < math.inf):
        return 0.0
    inter = _union_area_any(p) + _union_area_any(g) - both
    r = inter / both
    return max(0.0, min(1.0, r)) if r == r else 0.0


def matched_iou(pred: Sequence[Sequence[float]], gt: Sequence[Sequence[float]]) -> float:
    """Mean IoU of the one-to-one matching that maximises total IoU, divided by ``min(|P|, |G|)``.

    1 if both sets are empty, 0 if exactly one is (docs/method.md, second term).

    >>> matched_iou([(0, 0, 0.5, 0.5), (0.5, 0.5, 1, 1)], [(0.5, 0.5, 1, 1), (0, 0, 0.5, 0.5)])
    1.0
    """
    n_p, n_g = len(pred), len(gt)
    if n_p == 0 and n_g == 0:
        return 1.0
    if n_p == 0 or n_g == 0:
        return 0.0
    if n_p == 1 and n_g == 1:
        return iou(pred[0], gt[0])
    if n_p == 1:
        return max(iou(pred[0], g) for g in gt)
    if n_g == 1:
        return max(iou(p, gt[0]) for p in pred)
    if max(n_p, n_g) <= 4:
        # At most 4!/0! = 24 one-to-one assignments: exhaustive search in Python beats scipy's call overhead.
        m = [[iou(p, g) for g in gt] for p in pred]
        if n_p <= n_g:
            best = max(sum(m[i][j] for i, j in enumerate(perm)) for perm in permutations(range(n_g), n_p))
        else:
            best = max(sum(m[i][j] for j, i in enumerate(perm)) for perm in permutations(range(n_p), n_g))
        return best / min(n_p, n_g)
    from scipy.optimize import linear_sum_assignment

    m = _iou_matrix(np.asarray(pred, dtype=np.float64).reshape(-1, 4), np.asarray(gt, dtype=np.float64).reshape(-1, 4))
    rows, cols = linear_sum_assignment(m, maximize=True)
    return float(m[rows, cols].sum()) / min(n_p, n_g)


def _iou_matrix(p: np.ndarray, g: np.ndarray) -> np.ndarray:
    iw = np.minimum(p[:, None, 2], g[None, :, 2]) - np.maximum(p[:, None, 0], g[None, :, 0])
    ih = np.minimum(p[:, None, 3], g[None, :, 3]) - np.maximum(p[:, None, 1], g[None, :, 1])
    inter = np.clip(iw, 0, None) * np.clip(ih, 0, None)
    ap = np.clip(p[:, 2] - p[:, 0], 0, None) * np.clip(p[:, 3] - p[:, 1], 0, None)
    ag = np.clip(g[:, 2] - g[:, 0], 0, None) * np.clip(g[:, 3] - g[:, 1], 0, None)
    union = ap[:, None] + ag[None, :] - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where((union > 0) & (inter > 0), inter / np.where(union > 0, union, 1.0), 0.0)
    return out


def hierarchical_iou(pred_boxes: Sequence[Sequence[float]], gt_boxes: Sequence[Sequence[float]]) -> float:
    """Hierarchical IoU ``H(P, G) = ½·[IoU(∪P, ∪G) + matched_iou(P, G)]`` of docs/method.md.

    Each term is 1 when both sets are empty and 0 when exactly one is, so ``H([], []) == 1``.

    >>> hierarchical_iou([(0, 0, 0.5, 0.5)], [(0, 0, 0.5, 0.5), (0.5, 0.5, 1, 1)])
    0.75
    >>> hierarchical_iou([], [(0, 0, 1, 1)])
    0.0
    """
    pred = list(pred_boxes)
    gt = list(gt_boxes)
    return 0.5 * (union_iou(pred, gt) + matched_iou(pred, gt))


# ------------------------------------------------------------------------------------------ validation & edits


def is_valid_box(b: Sequence[float]) -> bool:
    """True for a normalised box: four finite numbers in [0, 1] with ``x1 < x2`` and ``y1 < y2``.

    The same check as :func:`validate_box`, as a predicate.

    >>> is_valid_box((0.1, 0.2, 0.3, 0.4)), is_valid_box(("0", "0", "1", "1")), is_valid_box((0.5, 0, 0.5, 1))
    (True, False, False)
    """
    try:
        validate_box(b)
    except (TypeError, ValueError):
        return False
    return True


def validate_box(b, what: str = "box") -> Box:
    """Return ``b`` as a tuple of floats or raise ``ValueError`` saying what is wrong with it.

    >>> validate_box([0, 0, 1, 1])
    (0.0, 0.0, 1.0, 1.0)
    >>> validate_box([0.5, 0, 0.2, 1])
    Traceback (most recent call last):
    ValueError: box [0.5, 0, 0.2, 1]: expected x1 < x2 and y1 < y2
    """
    if isinstance(b, (str, bytes)) or not hasattr(b, "__len__") or len(b) != 4:
        raise ValueError(f"{what} {b!r}: expected four numbers [x1, y1, x2, y2]")
    vals = []
    for v in b:
        if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
            raise ValueError(f"{what} {b!r}: expected numbers, got {type(v).__name__}")
        if not math.isfinite(v):
            raise ValueError(f"{what} {b!r}: coordinates must be finite")
        vals.append(float(v))
    x1, y1, x2, y2 = vals
    if not (0.0 <= min(vals) and max(vals) <= 1.0):
        raise ValueError(f"{what} {b!r}: normalised coordinates must lie in [0, 1]")
    if not (x1 < x2 and y1 < y2):
        raise ValueError(f"{what} {b!r}: expected x1 < x2 and y1 < y2")
    return (x1, y1, x2, y2)


def expand(b: Sequence[float], ratio: float, *, clip_to_image: bool = True) -> Box:
    """Scale a box about its centre by ``1 + ratio`` on each side length (``ratio=0.2`` → 20 % larger).

    >>> expand((0.4, 0.4, 0.6, 0.6), 1.0)
    (0.3, 0.3, 0.7, 0.7)
    """
    cx, cy = (b[0] + b[2]) / 2, (b[1] + b[3]) / 2
    hw, hh = (b[2] - b[0]) * (1 + ratio) / 2, (b[3] - b[1]) * (1 + ratio) / 2
    out = (cx - hw, cy - hh, cx + hw, cy + hh)
    out = tuple(round(v, 12) for v in out)
    return clip(out) if clip_to_image else out  # type: ignore[return-value]


def enclosing(boxes: Iterable[Sequence[float]]) -> Box:
    """The smallest box containing all ``boxes``.

    >>> enclosing([(0.1, 0.2, 0.3, 0.4), (0.5, 0.1, 0.6, 0.3)])
    (0.1, 0.1, 0.6, 0.4)
    """
    bl = list(boxes)
    if not bl:
        raise ValueError("enclosing(): no boxes given")
    return (
        float(min(b[0] for b in bl)),
        float(min(b[1] for b in bl)),
        float(max(b[2] for b in bl)),
        float(max(b[3] for b in bl)),
    )


def merge_overlapping(boxes: Iterable[Sequence[float]]) -> list[Box]:
    """Replace every group of overlapping boxes by its enclosing box, until no two boxes overlap.

    Order follows the first box of each group.

    >>> merge_overlapping([(0, 0, 0.5, 0.5), (0.4, 0.4, 0.6, 0.6), (0.8, 0.8, 0.9, 0.9)])
    [(0.0, 0.0, 0.6, 0.6), (0.8, 0.8, 0.9, 0.9)]
    """
    out: list[Box] = [tuple(float(v) for v in b) for b in boxes]  # type: ignore[misc]
    changed = True
    while changed:
        changed = False
        merged: list[Box] = []
        for b in out:
            for i, m in enumerate(merged):
                if overlaps(b, m):
                    merged[i] = enclosing([m, b])
                    changed = True
                    break
            else:
                merged.append(b)
        out = merged
    return out

"""Box geometry: IoU, exact areas of unions of rectangles, matched IoU and the hierarchical IoU of docs/method.md.

Conventions
-----------
Ours is **normalised** ``(x1, y1, x2, y2)`` in ``[0, 1]`` by image width/height, ``x1 < x2`` and ``y1 < y2``.
Converters below go to and from pixels, the 0–1000 grid of Qwen2-VL, and the absolute pixel coordinates of
Qwen2.5-VL on its *resized* grid (sides multiples of 28 within a pixel budget, see :func:`smart_resize`).

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

Box = tuple[float, float, float, float]

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
    "clip",
    "expand",
    "enclosing",
    "merge_overlapping",
    "overlaps",
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


def _union_area_array(arr: np.ndarray) -> float:
    """Exact area of the union of the (non-degenerate) rows of ``arr``: a sweep over the x slabs of the compressed
    coordinates, all slabs at once (in chunks), measuring each slab's union of y intervals with a running maximum."""
    n = len(arr)
    if n == 0:
        return 0.0
    if n == 1:
        r = arr[0]
        return float((r[2] - r[0]) * (r[3] - r[1]))
    xs = np.unique(arr[:, [0, 2]])
    mids = (xs[:-1] + xs[1:]) * 0.5
    widths = np.diff(xs)
    a = arr[np.argsort(arr[:, 1], kind="stable")]
    x1, y1, x2, y2 = a[:, 0], a[:, 1], a[:, 2], a[:, 3]
    chunk = max(1, 1_000_000 // n)
    total = 0.0
    with np.errstate(invalid="ignore"):
        for s in range(0, len(mids), chunk):
            m = mids[s : s + chunk, None]
            active = (x1 <= m) & (m <= x2)  # slabs × boxes, boxes sorted by y1
            reach = np.maximum.accumulate(np.where(active, y2, -np.inf), axis=1)
            prev = np.empty_like(reach)
            prev[:, 0] = -np.inf
            prev[:, 1:] = reach[:, :-1]
            # interval i adds what it covers beyond everything that starts before it
            gain = np.where(active, np.maximum(0.0, reach - np.maximum(y1, prev)), 0.0)
            total += float(widths[s : s + chunk] @ gain.sum(axis=1))
    return total


def _nondegenerate(boxes: Iterable[Sequence[float]]) -> list[tuple[float, float, float, float]]:
    out = []
    for b in boxes:
        x1, y1, x2, y2 = float(b[0]), float(b[1]), float(b[2]), float(b[3])
        if x2 > x1 and y2 > y1:
            out.append((x1, y1, x2, y2))
    return out


def _union_area_small(bs: list[tuple[float, float, float, float]]) -> float:
    """Pure-Python sweep for a handful of boxes (cheaper than numpy's per-call overhead)."""
    if not bs:
        return 0.0
    if len(bs) == 1:
        b = bs[0]
        return (b[2] - b[0]) * (b[3] - b[1])
    xs = sorted({v for b in bs for v in (b[0], b[2])})
    total = 0.0
    for x0, x1 in zip(xs, xs[1:]):
        mid = (x0 + x1) * 0.5
        ivs = sorted((b[1], b[3]) for b in bs if b[0] <= mid <= b[2])
        if not ivs:
            continue
        length = 0.0
        cs, ce = ivs[0]
        for s, e in ivs[1:]:
            if s > ce:
                length += ce - cs
                cs, ce = s, e
            elif e > ce:
                ce = e
        length += ce - cs
        total += (x1 - x0) * length
    return total


def _union_area_sweep(bs: list[tuple[float, float, float, float]]) -> float:
    """Exact area of the union in O(n log n): a sweep over x events with a segment tree over the compressed y
    coordinates holding, per node, how many boxes cover its whole span and the covered length below it.

    The slab sweep above does work ∝ slabs × boxes, quadratic in the number of boxes: a completion with a few
    hundred distinct regions in one area took 15 ms at 615 regions, 117 ms at 2,000 (here 4 ms and 17 ms)."""
    bs = list(dict.fromkeys(bs))  # box spam repeats boxes: each counts once
    ys = sorted({v for b in bs for v in (b[1], b[3])})
    index = {y: i for i, y in enumerate(ys)}
    size = 1
    while size < len(ys) - 1:
        size *= 2
    full = [0.0] * (2 * size)  # the y length each node spans
    for i in range(len(ys) - 1):
        full[size + i] = ys[i + 1] - ys[i]
    for i in range(size - 1, 0, -1):
        full[i] = full[2 * i] + full[2 * i + 1]
    cnt = [0] * (2 * size)
    cov = [0.0] * (2 * size)
    events = sorted(
        [(b[0], 1, index[b[1]], index[b[3]]) for b in bs] + [(b[2], -1, index[b[1]], index[b[3]]) for b in bs]
    )
    total = 0.0
    prev_x = events[0][0]
    for x, v, lo, hi in events:
        total += cov[1] * (x - prev_x)
        prev_x = x
        left, right = lo + size, hi + size
        first, last = left >> 1, (right - 1) >> 1
        while left < right:  # the O(log n) nodes that tile [lo, hi)
            if left & 1:
                cnt[left] += v
                cov[left] = full[left] if cnt[left] else (cov[2 * left] + cov[2 * left + 1] if left < size else 0.0)
                left += 1
            if right & 1:
                right -= 1
                cnt[right] += v
                cov[right] = (
                    full[right] if cnt[right] else (cov[2 * right] + cov[2 * right + 1] if right < size else 0.0)
                )
            left >>= 1
            right >>= 1
        for i in (first, last):  # then their ancestors, bottom-up
            while i:
                cov[i] = full[i] if cnt[i] else cov[2 * i] + cov[2 * i + 1]
                i >>= 1
    return total


_SMALL = 8
_SWEEP = 96  # above this many boxes the O(n log n) sweep beats the vectorised slab sweep


def _union_area_any(bs: list[tuple[float, float, float, float]]) -> float:
    if len(bs) <= _SMALL:
        return _union_area_small(bs)
    if len(bs) > _SWEEP:
        return _union_area_sweep(bs)
    return _union_area_array(np.asarray(bs, dtype=np.float64))


def union_area(boxes: Iterable[Sequence[float]]) -> float:
    """Exact area of the union of a set of boxes (degenerate boxes contribute nothing).

    >>> union_area([(0, 0, 0.5, 0.5), (0.25, 0.25, 0.75, 0.75)])
    0.4375
    >>> union_area([])
    0.0
    """
    return _union_area_any(_nondegenerate(boxes))


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


def clip(b: Sequence[float], lo: float = 0.0, hi: float = 1.0) -> Box:
    """Clip a box to ``[lo, hi]`` on both axes.

    >>> clip((-0.2, 0.5, 1.3, 0.9))
    (0.0, 0.5, 1.0, 0.9)
    """
    return (
        min(max(float(b[0]), lo), hi),
        min(max(float(b[1]), lo), hi),
        min(max(float(b[2]), lo), hi),
        min(max(float(b[3]), lo), hi),
    )


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


# ------------------------------------------------------------------------------------------ coordinate systems


def to_pixels(b: Sequence[float], width: int, height: int) -> Box:
    """Normalised → pixel coordinates (floats; round as your consumer needs).

    >>> to_pixels((0.25, 0.5, 0.75, 1.0), 640, 480)
    (160.0, 240.0, 480.0, 480.0)
    """
    return (b[0] * width, b[1] * height, b[2] * width, b[3] * height)


def from_pixels(b: Sequence[float], width: int, height: int) -> Box:
    """Pixel → normalised coordinates.

    >>> from_pixels((160, 240, 480, 480), 640, 480)
    (0.25, 0.5, 0.75, 1.0)
    """
    if width <= 0 or height <= 0:
        raise ValueError(f"image size must be positive, got {width}×{height}")
    return (b[0] / width, b[1] / height, b[2] / width, b[3] / height)


def to_1000(b: Sequence[float]) -> tuple[int, int, int, int]:
    """Normalised → Qwen2-VL's integer 0–1000 grid.

    >>> to_1000((0.1234, 0, 1, 0.5))
    (123, 0, 1000, 500)
    """
    return tuple(int(round(v * 1000)) for v in b)  # type: ignore[return-value]


def from_1000(b: Sequence[float]) -> Box:
    """Qwen2-VL's 0–1000 grid → normalised.

    >>> from_1000((123, 0, 1000, 500))
    (0.123, 0.0, 1.0, 0.5)
    """
    return (b[0] / 1000, b[1] / 1000, b[2] / 1000, b[3] / 1000)


QWEN_FACTOR = 28
QWEN_MIN_PIXELS = 56 * 56
QWEN_MAX_PIXELS = 28 * 28 * 1280


def smart_resize(
    height: int,
    width: int,
    factor: int = QWEN_FACTOR,
    min_pixels: int = QWEN_MIN_PIXELS,
    max_pixels: int = QWEN_MAX_PIXELS,
) -> tuple[int, int]:
    """The ``(height, width)`` Qwen2/2.5-VL resizes an image to: sides multiples of ``factor``, area within budget.

    >>> smart_resize(480, 640)
    (476, 644)
    >>> smart_resize(2000, 3000)
    (812, 1204)
    """
    if height <= 0 or width <= 0:
        raise ValueError(f"image size must be positive, got {width}×{height}")
    if max(height, width) / min(height, width) > 200:
        raise ValueError(f"aspect ratio of {width}×{height} exceeds 200, which Qwen2.5-VL does not accept")
    h = max(factor, round(height / factor) * factor)
    w = max(factor, round(width / factor) * factor)
    if h * w > max_pixels:
        beta = math.sqrt(height * width / max_pixels)
        h = max(factor, math.floor(height / beta / factor) * factor)
        w = max(factor, math.floor(width / beta / factor) * factor)
    elif h * w < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h = math.ceil(height * beta / factor) * factor
        w = math.ceil(width * beta / factor) * factor
    return h, w


def to_qwen_abs(
    b: Sequence[float],
    width: int,
    height: int,
    *,
    factor: int = QWEN_FACTOR,
    min_pixels: int = QWEN_MIN_PIXELS,
    max_pixels: int = QWEN_MAX_PIXELS,
) -> tuple[int, int, int, int]:
    """Normalised → Qwen2.5-VL absolute integer coordinates on the resized grid of a ``width``×``height`` image.

    >>> to_qwen_abs((0.5, 0.5, 1.0, 1.0), 640, 480)
    (322, 238, 644, 476)
    """
    rh, rw = smart_resize(height, width, factor, min_pixels, max_pixels)
    return (round(b[0] * rw), round(b[1] * rh), round(b[2] * rw), round(b[3] * rh))


def from_qwen_abs(
    b: Sequence[float],
    width: int,
    height: int,
    *,
    factor: int = QWEN_FACTOR,
    min_pixels: int = QWEN_MIN_PIXELS,
    max_pixels: int = QWEN_MAX_PIXELS,
) -> Box:
    """Qwen2.5-VL absolute coordinates on the resized grid → normalised (clipped to [0, 1]).

    >>> from_qwen_abs((322, 238, 644, 476), 640, 480)
    (0.5, 0.5, 1.0, 1.0)
    """
    rh, rw = smart_resize(height, width, factor, min_pixels, max_pixels)
    return clip((b[0] / rw, b[1] / rh, b[2] / rw, b[3] / rh))

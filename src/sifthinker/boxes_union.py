"""The exact area of a union of axis-aligned rectangles, fast at every size (:func:`union_area`).

Three exact algorithms, chosen by the number of boxes: a pure-Python slab sweep for a handful (numpy's per-call
overhead dominates there), a vectorised numpy slab sweep up to ~100, and above that an O(n log n) sweep with a
segment tree over the y coordinates (the slab sweeps are quadratic, which box spam in a completion would exploit).
:mod:`sifthinker.boxes` re-exports :func:`union_area` and builds its union IoU on these.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

__all__ = ["union_area"]


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

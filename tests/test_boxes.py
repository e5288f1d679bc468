"""Box geometry: IoU, exact union areas, matching, hierarchical IoU (docs/method.md) and coordinate systems."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from strategies import boxes, float_boxes

from sifthinker import boxes as B


def raster_area(bs, n=400):
    """Reference: area on an n×n raster whose grid lines hit every 1/n (exact for boxes on that grid)."""
    grid = np.zeros((n, n), dtype=bool)
    for x1, y1, x2, y2 in bs:
        grid[round(y1 * n) : round(y2 * n), round(x1 * n) : round(x2 * n)] = True
    return grid.sum() / n / n


def test_iou_cases():
    assert B.iou((0, 0, 1, 1), (0, 0, 1, 1)) == 1.0
    assert B.iou((0, 0, 0.5, 1), (0.5, 0, 1, 1)) == 0.0  # touching edges share no area
    assert B.iou((0, 0, 0.5, 0.5), (0.25, 0.25, 0.75, 0.75)) == pytest.approx(1 / 7)
    assert B.iou((0.2, 0.2, 0.2, 0.8), (0, 0, 1, 1)) == 0.0  # degenerate
    assert B.iou((0.5, 0.5, 0.2, 0.2), (0, 0, 1, 1)) == 0.0  # inverted


def test_union_area_cases():
    assert B.union_area([]) == 0.0
    assert B.union_area([(0, 0, 0.5, 0.5)] * 3) == pytest.approx(0.25)
    assert B.union_area([(0, 0, 0.5, 1), (0.5, 0, 1, 1)]) == pytest.approx(1.0)
    assert B.union_area([(0, 0, 1, 1), (0.2, 0.2, 0.4, 0.4)]) == pytest.approx(1.0)
    # a cross: two bars overlapping in the middle square
    assert B.union_area([(0.4, 0, 0.6, 1), (0, 0.4, 1, 0.6)]) == pytest.approx(0.2 + 0.2 - 0.04)


@pytest.mark.parametrize("n", [2, 5, 47, 49, 120])
def test_union_area_matches_raster(n):
    rng = np.random.default_rng(n)
    pts = rng.integers(0, 401, size=(n, 4))
    bs = []
    for x1, y1, x2, y2 in pts:
        if x1 == x2 or y1 == y2:
            continue
        bs.append((min(x1, x2) / 400, min(y1, y2) / 400, max(x1, x2) / 400, max(y1, y2) / 400))
    assert B.union_area(bs) == pytest.approx(raster_area(bs), abs=1e-12)


def test_union_iou_and_edge_cases():
    assert B.union_iou([], []) == 1.0
    assert B.union_iou([(0, 0, 1, 1)], []) == 0.0
    assert B.union_iou([], [(0, 0, 1, 1)]) == 0.0
    halves = [(0, 0, 0.5, 1), (0.5, 0, 1, 1)]
    assert B.union_iou(halves, [(0, 0, 1, 1)]) == pytest.approx(1.0)
    assert B.union_iou([(0, 0, 0.5, 1)], halves) == pytest.approx(0.5)


def test_matched_iou_is_one_to_one():
    gt = [(0, 0, 0.5, 0.5), (0.5, 0.5, 1, 1)]
    # two predictions on the same GT box cannot both match it
    pred = [(0, 0, 0.5, 0.5), (0, 0, 0.5, 0.5)]
    assert B.matched_iou(pred, gt) == pytest.approx(0.5)
    assert B.matched_iou(list(reversed(gt)), gt) == pytest.approx(1.0)
    # divisor is min(|P|, |G|): one perfect prediction of two GT boxes scores 1 on this term
    assert B.matched_iou([gt[0]], gt) == pytest.approx(1.0)
    assert B.matched_iou([], []) == 1.0 and B.matched_iou([], gt) == 0.0 and B.matched_iou(gt, []) == 0.0


def test_matched_iou_beats_greedy():
    # greedy (take the best pair first) would pair p0-g0 (0.5) and leave p1-g1 poor; the optimum crosses them
    g0, g1 = (0.0, 0.0, 0.4, 1.0), (0.4, 0.0, 0.8, 1.0)
    p0, p1 = (0.2, 0.0, 0.6, 1.0), (0.0, 0.0, 0.3, 1.0)
    brute = max(B.iou(p0, a) + B.iou(p1, b) for a, b in itertools.permutations([g0, g1])) / 2
    assert B.matched_iou([p0, p1], [g0, g1]) == pytest.approx(brute)


def test_hierarchical_iou_formula_and_edges():
    gt = [(0, 0, 0.5, 0.5), (0.5, 0.5, 1, 1)]
    pred = [(0, 0, 0.5, 0.5)]
    # union IoU 0.125/0.25... = 0.5, matching term 1 → H = 0.75
    assert B.hierarchical_iou(pred, gt) == pytest.approx(0.75)
    assert B.hierarchical_iou([], []) == 1.0
    assert B.hierarchical_iou([], gt) == 0.0
    assert B.hierarchical_iou(pred, []) == 0.0
    assert B.hierarchical_iou([(0, 0, 1, 1)], [(0.25, 0.25, 0.75, 0.75)]) == pytest.approx(0.25)


@given(boxes(), boxes())
def test_iou_symmetric_in_unit_interval(a, b):
    v = B.iou(a, b)
    assert 0.0 <= v <= 1.0 and v == B.iou(b, a)


@given(boxes())
def test_iou_self_is_one(a):
    assert B.iou(a, a) == pytest.approx(1.0)


@given(st.lists(boxes(), min_size=1, max_size=6))
def test_h_of_a_set_with_itself_is_one(ps):
    assert B.hierarchical_iou(ps, ps) == pytest.approx(1.0)


@given(st.lists(boxes(), max_size=6), st.lists(boxes(), max_size=6))
def test_h_symmetric_and_in_range(ps, gs):
    h = B.hierarchical_iou(ps, gs)
    assert 0.0 <= h <= 1.0 + 1e-12
    assert h == pytest.approx(B.hierarchical_iou(gs, ps), abs=1e-12)


@given(st.lists(float_boxes, max_size=60))
def test_union_area_bounds(bs):
    u = B.union_area(bs)
    assert u <= sum(B.area(b) for b in bs) + 1e-12
    assert u >= max((B.area(b) for b in bs), default=0.0) - 1e-12
    assert u <= 1.0 + 1e-12


@given(st.lists(boxes(min_size=1), min_size=1, max_size=8))
def test_union_area_exact_on_grid(bs):
    # boxes on a 1/1000 grid: compare with inclusion-exclusion by rasterising at 1000
    assume(len(bs) <= 8)
    assert B.union_area(bs) == pytest.approx(raster_area(bs, n=1000), abs=1e-9)


@given(boxes(), st.integers(1, 4000), st.integers(1, 4000))
def test_pixel_round_trip(b, w, h):
    back = B.from_pixels(B.to_pixels(b, w, h), w, h)
    assert all(math.isclose(u, v, abs_tol=1e-12) for u, v in zip(back, b))


@given(boxes())
def test_1000_round_trip(b):
    assert B.from_1000(B.to_1000(b)) == pytest.approx(b)


@given(st.integers(10, 5000), st.integers(10, 5000))
def test_smart_resize_invariants(h, w):
    assume(max(h, w) / min(h, w) <= 200)
    rh, rw = B.smart_resize(h, w)
    assert rh % 28 == 0 and rw % 28 == 0
    assert B.QWEN_MIN_PIXELS <= rh * rw <= B.QWEN_MAX_PIXELS


def test_smart_resize_errors():
    with pytest.raises(ValueError, match="aspect ratio"):
        B.smart_resize(10, 3000)
    with pytest.raises(ValueError, match="positive"):
        B.smart_resize(0, 10)


@given(boxes(min_size=5), st.integers(56, 3000), st.integers(56, 3000))
def test_qwen_abs_round_trip(b, w, h):
    assume(max(h, w) / min(h, w) <= 200)
    rh, rw = B.smart_resize(h, w)
    back = B.from_qwen_abs(B.to_qwen_abs(b, w, h), w, h)
    # integer grid of the resized image: within half a resized pixel
    assert all(abs(u - v) <= 0.5 / s + 1e-12 for u, v, s in zip(back, b, (rw, rh, rw, rh)))


def test_validate_box_messages():
    assert B.validate_box((0, 0, 1, 1)) == (0.0, 0.0, 1.0, 1.0)
    for bad, msg in [
        ([0, 0, 1], "four numbers"),
        ("0,0,1,1", "four numbers"),
        ([0, 0, 1, 1.2], r"\[0, 1\]"),
        ([0, 0, float("nan"), 1], "finite"),
        ([0, 0, True, 1], "numbers"),
        ([0.5, 0, 0.5, 1], "x1 < x2"),
    ]:
        with pytest.raises(ValueError, match=msg):
            B.validate_box(bad)


def test_edit_helpers():
    assert B.clip((-1, 0.5, 2, 0.7)) == (0.0, 0.5, 1.0, 0.7)
    assert B.expand((0.4, 0.4, 0.6, 0.6), 0.2) == pytest.approx((0.38, 0.38, 0.62, 0.62))
    assert B.expand((0.0, 0.0, 0.2, 0.2), 1.0) == pytest.approx((0.0, 0.0, 0.3, 0.3))
    assert B.enclosing([(0.1, 0.5, 0.2, 0.6), (0.3, 0.1, 0.4, 0.2)]) == (0.1, 0.1, 0.4, 0.6)
    with pytest.raises(ValueError):
        B.enclosing([])
    # a chain a-b, b-c merges into one box even though a and c do not overlap
    merged = B.merge_overlapping([(0, 0, 0.3, 0.3), (0.6, 0.6, 0.9, 0.9), (0.2, 0.2, 0.7, 0.7)])
    assert merged == [(0.0, 0.0, 0.9, 0.9)]


@given(st.lists(boxes(), max_size=8))
def test_merge_overlapping_leaves_disjoint_boxes_covering_input(bs):
    merged = B.merge_overlapping(bs)
    for a, b in itertools.combinations(merged, 2):
        assert not B.overlaps(a, b)
    for b in bs:
        assert any(m[0] <= b[0] and m[1] <= b[1] and m[2] >= b[2] and m[3] >= b[3] for m in merged)


@given(st.lists(boxes(), min_size=1, max_size=7), st.lists(boxes(), min_size=1, max_size=7))
def test_matched_iou_equals_scipy_assignment(ps, gs):
    from scipy.optimize import linear_sum_assignment

    m = np.array([[B.iou(p, g) for g in gs] for p in ps])
    r, c = linear_sum_assignment(m, maximize=True)
    assert B.matched_iou(ps, gs) == pytest.approx(m[r, c].sum() / min(len(ps), len(gs)), abs=1e-12)

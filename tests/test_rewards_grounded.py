"""The grounded depth reward: what it pays for, what it never pays for, and where the official one is gamed."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from strategies import boxes, traces

from sifthinker import rewards as R
from sifthinker.depth import box_mean
from sifthinker.trace import Region, Step, Trace, render


def chain(*areas, answer="A"):
    body = "".join(
        "<area>" + json.dumps([{"bbox_2d": list(b), "depth": d} for b, d in a]) + f"</area><text>step {i}</text>"
        for i, a in enumerate(areas)
    )
    return f"<think>{body}</think><answer>{answer}</answer>"


def scene():
    """A far background (0.9) with two near objects at different depths."""
    d = np.full((100, 100), 0.9, dtype=np.float32)
    d[20:40, 10:30] = 0.2
    d[60:90, 50:80] = 0.45
    return d, [(0.1, 0.2, 0.3, 0.4), (0.5, 0.6, 0.8, 0.9)]


def test_full_image_then_exact_evidence_with_true_depths_scores_one():
    d, gt = scene()
    full = ((0, 0, 1, 1), round(float(d.mean()), 3))
    text = chain([full], [(gt[0], 0.2), (gt[1], 0.45)])
    assert R.depth_grounded_score(text, d, gt) == pytest.approx(1.0)
    parts = R.depth_grounded_parts(text, d, gt)
    assert parts["matched"] == 2 and parts["evidence_error"] == pytest.approx(0.0, abs=1e-6)


def test_background_boxes_with_far_depths_earn_nothing_but_pass_the_official_check():
    d, gt = scene()
    text = chain([((0, 0, 1, 1), 0.8)], [((0.0, 0.0, 0.08, 0.15), 0.9), ((0.85, 0.0, 1.0, 0.5), 0.9)])
    assert R.depth_grounded_score(text, d, gt) == 0.0
    assert R.depth_score(text, d) == 1.0  # the known hole of the self-referential reward: fully paid


def test_right_boxes_wrong_depth_score_less_and_error_is_reported():
    d, gt = scene()
    right = chain([(gt[0], 0.2), (gt[1], 0.45)])
    const = chain([(gt[0], 0.9), (gt[1], 0.9)])
    half = chain([(gt[0], 0.25), (gt[1], 0.45)])  # 0.05 off on one: closeness 1 − 0.045/0.1
    assert R.depth_grounded_score(const, d, gt) == 0.0
    assert R.depth_grounded_score(half, d, gt) == pytest.approx((1 + 0.55) / 2, abs=1e-6)
    assert R.depth_grounded_score(right, d, gt) == pytest.approx(1.0)
    assert R.depth_grounded_parts(const, d, gt)["evidence_error"] == pytest.approx((0.7 + 0.45) / 2, abs=1e-6)


def test_extra_boxes_dilute_and_only_the_last_area_counts():
    d, gt = scene()
    spam = [(gt[0], 0.2), (gt[1], 0.45)] + [((0.0, 0.0, 0.05, 0.05), 0.9)] * 8
    assert R.depth_grounded_score(chain(spam), d, gt) == pytest.approx(2 / 10)
    early_right = chain([(gt[0], 0.2), (gt[1], 0.45)], [((0, 0, 1, 1), 0.8)])
    assert R.depth_grounded_score(early_right, d, gt) < 0.2


def test_no_area_bad_config_and_bad_truth():
    d, gt = scene()
    assert R.depth_grounded_score("<answer>A</answer>", d, gt) == 0.0
    with pytest.raises(ValueError, match="tolerance"):
        R.depth_grounded_score("x", d, gt, tol=0)
    with pytest.raises(ValueError):
        R.depth_grounded_score("x", d, [[0.5, 0.5, 0.2, 0.2]])
    with pytest.raises(ValueError, match="tol"):
        R.get_reward("depth_grounded", tol=-1)


def test_trl_function_reads_depth_and_boxes_and_logs_comparable_metrics(tmp_path):
    from sifthinker.depth import save_depth

    d, gt = scene()
    path = tmp_path / "d.npy"
    save_depth(d, path)
    fn = R.get_reward("depth_grounded")
    assert fn.__name__ == "depth_grounded"
    logged = {}
    texts = [chain([(gt[0], 0.2), (gt[1], 0.45)]), chain([((0.85, 0.0, 1.0, 0.5), 0.9)])]
    out = fn([[{"role": "assistant", "content": t}] for t in texts], depth_path=[str(path)] * 2,
             gt_boxes=[gt, gt], log_metric=lambda k, v: logged.__setitem__(k, v))  # fmt: skip
    assert out == pytest.approx([1.0, 0.0])
    for key in ("depth_grounded/evidence_error", "depth_grounded/abs_error", "depth_grounded/mean_stated"):
        assert key in logged
    assert logged["depth_grounded/mean_stated"] == pytest.approx((0.325 + 0.9) / 2)
    with pytest.raises(ValueError, match="gt_boxes"):
        fn(texts, depth_path=[str(path)] * 2)


# --------------------------------------------------------------------------------------------- properties

DEPTH = np.linspace(0, 1, 400, dtype=np.float32).reshape(20, 20) ** 2


def _with_depths(t: Trace, depth_of) -> str:
    last = t.steps[-1]
    regions = tuple(Region(r.box, depth_of(r)) for r in last.regions)
    return render(Trace(t.steps[:-1] + (Step(regions, last.text),), t.answer))


def _target(box, gt) -> float | None:
    """The true depth of the evidence pixels inside ``box`` (a plain numpy reference)."""
    from sifthinker.depth import box_pixel_rect

    h, w = DEPTH.shape
    mask = np.zeros((h, w), dtype=bool)
    for g in gt:
        c0, r0, c1, r1 = box_pixel_rect(g, w, h)
        mask[r0:r1, c0:c1] = True
    c0, r0, c1, r1 = box_pixel_rect(box, w, h)
    inside = mask[r0:r1, c0:c1]
    return round(float(DEPTH[r0:r1, c0:c1][inside].mean()), 3) if inside.any() else None


@given(traces, st.lists(boxes(min_size=50), min_size=1, max_size=3), st.integers(0, 1000))
def test_true_depths_beat_any_constant(t, gt, c):
    truth = _with_depths(t, lambda r: _target(r.box, gt) if _target(r.box, gt) is not None else 0.5)
    constant = _with_depths(t, lambda r: c / 1000)
    s_true = R.depth_grounded_score(truth, DEPTH, gt)
    assert 0.0 <= s_true <= 1.0
    assert R.depth_grounded_score(constant, DEPTH, gt) <= s_true + 1e-9


@given(st.lists(boxes(min_size=50), min_size=1, max_size=3, unique=True))
def test_exact_evidence_with_true_depths_scores_one(gt):
    depths = [round(box_mean(DEPTH, g), 3) for g in gt]
    assert depths == [_target(g, gt) for g in gt]  # a GT box lies inside the evidence: its target is its mean
    text = chain([((0, 0, 1, 1), 0.5)], list(zip(gt, depths)))
    assert R.depth_grounded_score(text, DEPTH, gt) == pytest.approx(1.0, abs=1e-6)


@given(st.text(max_size=300) | traces.map(render), st.lists(boxes(), min_size=1, max_size=3))
def test_in_range_for_any_text(text, gt):
    assert 0.0 <= R.depth_grounded_score(text, DEPTH, gt) <= 1.0

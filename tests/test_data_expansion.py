"""Reverse expansion (docs/method.md): both step rules, selection, distractor, ordering, determinism."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from strategies import boxes

from sifthinker.boxes import iou
from sifthinker.data.expansion import ExpansionConfig, expand_steps, focus_path, item_seed, make_distractor, round_box


def test_official_step_rule_as_written():
    # s = max((1 − max x1 − min x2)·W/k, (1 − max y1 − min y2)·H/k, 1) pixels, on all four sides
    (b,) = expand_steps([(0.4, 0.4, 0.5, 0.5)], 100, 100, ExpansionConfig(rule="official", steps=5))[0]
    assert b == pytest.approx((0.38, 0.38, 0.52, 0.52))  # s = (1 − 0.4 − 0.5)·100/5 = 2 px
    (b,) = expand_steps([(0.7, 0.7, 0.8, 0.9)], 640, 480, ExpansionConfig(rule="official"))[0]
    # the authors' rule collapses to 1 px for a box in the bottom-right half
    assert b == pytest.approx((0.7 - 1 / 640, 0.7 - 1 / 480, 0.8 + 1 / 640, 0.9 + 1 / 480))


def test_fixed_rule_moves_each_side_a_fraction_of_its_distance():
    steps = expand_steps([(0.5, 0.2, 0.6, 0.4)], 100, 100, ExpansionConfig(rule="fixed", steps=4))
    assert steps[0][0] == pytest.approx((0.5 - 0.5 / 4, 0.2 - 0.2 / 4, 0.6 + 0.4 / 4, 0.4 + 0.6 / 4))
    assert steps[-1] == [pytest.approx((0.0, 0.0, 1.0, 1.0))]  # the last step reaches the border


def test_overlapping_boxes_merge_after_a_step():
    steps = expand_steps([(0.1, 0.1, 0.2, 0.2), (0.22, 0.1, 0.3, 0.2)], 100, 100, ExpansionConfig())
    assert len(steps[0]) == 1  # they touch after growing: one enclosing box
    far = expand_steps([(0.05, 0.05, 0.1, 0.1), (0.9, 0.9, 0.95, 0.95)], 100, 100, ExpansionConfig())
    assert len(far[0]) == 2 and len(far[-1]) == 1


def test_focus_path_order_and_roles():
    cfg = ExpansionConfig(distractor_prob=1.0)
    frames = focus_path([(0.05, 0.1, 0.15, 0.2), (0.8, 0.7, 0.9, 0.95)], 200, 100, cfg, seed=3)
    roles = [f.role for f in frames]
    assert roles[0] == "full" and roles[-1] == "gt"
    assert roles[-2] == "expansion" and "enclosing" in roles  # two first-expansion boxes → their enclosing box
    assert frames[-1].boxes == [(0.05, 0.1, 0.15, 0.2), (0.8, 0.7, 0.9, 0.95)]
    assert 3 <= len(frames) <= 5
    # without a distractor and with one GT box: full → expansion → GT
    assert [f.role for f in focus_path([(0.4, 0.4, 0.5, 0.5)], 100, 100, ExpansionConfig(distractor_prob=0))] == [
        "full",
        "expansion",
        "gt",
    ]


def test_keep_more_expansions_outermost_first():
    frames = focus_path([(0.45, 0.45, 0.55, 0.55)], 100, 100, ExpansionConfig(keep_expansions=3, distractor_prob=0))
    exps = [f.boxes[0] for f in frames if f.role == "expansion"]
    assert len(exps) == 3
    widths = [b[2] - b[0] for b in exps]
    assert widths == sorted(widths, reverse=True)


def test_gt_covering_the_image_gives_a_single_area():
    frames = focus_path([(0, 0, 1, 1)], 100, 100, ExpansionConfig(distractor_prob=0))
    assert [(f.role, f.boxes) for f in frames] == [("gt", [(0.0, 0.0, 1.0, 1.0)])]


def test_distractor_probability_is_respected():
    cfg = ExpansionConfig(distractor_prob=0.5)
    n = sum(
        any(f.role == "distractor" for f in focus_path([(0.4, 0.4, 0.5, 0.5)], 100, 100, cfg, seed=s))
        for s in range(400)
    )
    assert 150 < n < 250


@given(boxes(min_size=10), st.integers(0, 2**32 - 1))
def test_distractor_never_overlaps_the_focus(m, seed):
    import numpy as np

    d = make_distractor(m, np.random.default_rng(seed), ExpansionConfig())
    if d is not None:
        assert iou(d, m) < 0.001
        assert 0 <= d[0] < d[2] <= 1 and 0 <= d[1] < d[3] <= 1


@given(st.lists(boxes(min_size=2), min_size=1, max_size=4), st.sampled_from(["fixed", "official"]), st.integers(0, 99))
def test_every_frame_is_a_valid_area(gt, rule, seed):
    frames = focus_path(gt, 320, 240, ExpansionConfig(rule=rule, distractor_prob=0.5), seed=seed)
    assert frames[-1].boxes == [round_box(b) for b in gt]
    assert frames[0].boxes == [(0.0, 0.0, 1.0, 1.0)]
    for f in frames:
        for b in f.boxes:
            assert 0 <= b[0] < b[2] <= 1 and 0 <= b[1] < b[3] <= 1
            assert all(round(v, 3) == v for v in b)
    for a, b in zip(frames, frames[1:]):
        assert a.boxes != b.boxes


def test_deterministic_per_item_seed():
    cfg = ExpansionConfig(distractor_prob=0.5)
    a = focus_path([(0.3, 0.3, 0.4, 0.5)], 100, 100, cfg, seed=item_seed(0, "x"))
    b = focus_path([(0.3, 0.3, 0.4, 0.5)], 100, 100, cfg, seed=item_seed(0, "x"))
    assert [(f.role, f.boxes) for f in a] == [(f.role, f.boxes) for f in b]
    assert item_seed(0, "x") != item_seed(0, "y") and item_seed(0, "x") != item_seed(1, "x")


@pytest.mark.parametrize(
    "kw, msg",
    [
        ({"rule": "linear"}, "rule"),
        ({"steps": 0}, "steps"),
        ({"keep_expansions": 9}, "keep_expansions"),
        ({"distractor_prob": 1.5}, "distractor_prob"),
        ({"distractor_scale": (1.3, 0.7)}, "distractor_scale"),
    ],
)
def test_bad_config(kw, msg):
    with pytest.raises(ValueError, match=msg):
        ExpansionConfig(**kw)


def test_round_box_keeps_tiny_boxes_valid():
    assert round_box((0.9999, 0.5, 1.0, 0.5004)) == (0.999, 0.5, 1.0, 0.501)

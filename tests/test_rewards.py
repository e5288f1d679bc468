"""The four GRPO-SIF rewards (docs/method.md): formulas, edge cases, TRL functions, registry, progress memory."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from strategies import boxes, traces

from sifthinker import rewards as R
from sifthinker.boxes import hierarchical_iou
from sifthinker.depth import DepthMap, save_depth
from sifthinker.trace import render


def area(*regions):
    return "<area>" + json.dumps([{"bbox_2d": list(b), "depth": d} for b, d in regions]) + "</area>"


def trace(*areas, answer="B", texts=None):
    texts = texts or [f"step {i}" for i in range(len(areas))]
    body = "".join(f"{a}\n<text>{t}</text>\n" for a, t in zip(areas, texts))
    return f"<think>\n{body}</think>\n<answer>{answer}</answer>"


FULL = ((0, 0, 1, 1), 0.5)
GT = [(0.1, 0.1, 0.3, 0.3)]
DISTRACTOR = ((0.6, 0.6, 0.8, 0.8), 0.4)
EXPANSION = ((0.05, 0.05, 0.4, 0.4), 0.3)


# --------------------------------------------------------------------------------------------------- format


def test_format_score():
    assert R.format_score(trace(area(FULL), area((GT[0], 0.2)))) == 1.0
    assert R.format_score(trace(area(FULL)).replace("<think>", "")) == 0.0
    assert R.format_score([{"role": "assistant", "content": trace(area(FULL))}]) == 1.0
    assert R.format_score(None) == 0.0


# ------------------------------------------------------------------------------------------------------ box


def test_box_reward_plain_chain_gets_no_bonus():
    text = trace(area(FULL), area(EXPANSION), area((GT[0], 0.2)))
    # start = the first area that is not the full image = the expansion; end = GT
    h_start = hierarchical_iou([EXPANSION[0]], GT)
    p = R.box_parts(text, GT)
    assert p["h_end"] == pytest.approx(1.0) and p["h_start"] == pytest.approx(h_start)
    assert R.box_score(text, GT) == pytest.approx(1.0 + (1.0 - h_start))
    assert R.box_score_plain(text, GT) == pytest.approx(1.0)


def test_box_reward_correction_bonus_after_a_wrong_region():
    text = trace(area(FULL), area(DISTRACTOR), area((GT[0], 0.2)))
    assert R.box_score(text, GT) == pytest.approx(2.0)


def test_box_reward_start_defaults_to_full_image():
    text = trace(area(FULL), area(FULL))  # never leaves the full image
    h = hierarchical_iou([(0, 0, 1, 1)], GT)
    assert R.box_score(text, GT) == pytest.approx(h)
    # only the GT area: start = end, no bonus
    assert R.box_score(trace(area((GT[0], 0.2))), GT) == pytest.approx(1.0)


def test_box_reward_full_image_with_another_region_is_a_start():
    text = trace(area(FULL, DISTRACTOR), area((GT[0], 0.2)))
    h_start = hierarchical_iou([(0, 0, 1, 1), DISTRACTOR[0]], GT)
    assert R.box_score(text, GT) == pytest.approx(1.0 + 1.0 - h_start)


def test_box_reward_worse_end_gets_no_negative_bonus():
    text = trace(area(FULL), area((GT[0], 0.2)), area(DISTRACTOR))
    assert R.box_score(text, GT) == pytest.approx(0.0)


def test_box_reward_multi_box_counting():
    gt = [(0.0, 0.0, 0.2, 0.2), (0.5, 0.5, 0.7, 0.7), (0.8, 0.1, 0.9, 0.3)]
    text = trace(area(FULL), area(*[(b, 0.3) for b in gt[:2]]))
    expected = hierarchical_iou(gt[:2], gt)
    assert R.box_score_plain(text, gt) == pytest.approx(expected)
    assert 0 < expected < 1


def test_box_reward_no_area_and_lenient():
    assert R.box_score("<answer>B</answer>", GT) == 0.0
    # malformed completion: its parseable areas still count, the garbage one is skipped
    text = "I think " + area(FULL) + "<area>oops</area>" + area((GT[0], 0.2)) + " so B"
    assert R.box_score(text, GT) == pytest.approx(1.0)
    # out-of-image coordinates are clipped to the image
    assert R.box_score(area(((-0.5, -0.5, 1.5, 1.5), 0.5)), [(0, 0, 1, 1)]) == pytest.approx(1.0)


def test_box_reward_takes_boxes_and_a_single_box_not_the_sif_solution():
    text = trace(area((GT[0], 0.2)))
    with pytest.raises(ValueError, match="expected a list"):  # rows carry gt_boxes, normalised once
        R.box_score(text, {"bbox_3d": [list(GT[0])], "illegal_content": False})
    assert R.box_score(text, [list(GT[0])]) == 1.0
    assert R.box_score(text, list(GT[0])) == 1.0


@pytest.mark.parametrize("bad", [[[0, 0, 1.5, 1]], [[0.5, 0, 0.2, 1]], "0,0,1,1", [[0, 0, 1]], None, [["a", 0, 1, 1]]])
def test_box_reward_bad_ground_truth_raises(bad):
    with pytest.raises(ValueError):
        R.box_score(trace(area(FULL)), bad)


def test_search_reward():
    gt = GT
    assert R.search_score(trace(area(FULL), area(EXPANSION), area((gt[0], 0.2))), gt) == 1.0
    assert R.search_score(trace(area(FULL), area(DISTRACTOR), area((gt[0], 0.2))), gt) == 0.0  # dips
    assert R.search_score(trace(area((gt[0], 0.2)), area((gt[0], 0.2))), gt) == 0.0  # constant
    assert R.search_score(trace(area(FULL)), gt) == 0.0


# ---------------------------------------------------------------------------------------------------- depth


def ramp(h=100, w=100):
    """Depth grows left to right: column c has depth c/(w-1)."""
    return np.tile(np.linspace(0, 1, w, dtype=np.float32), (h, 1))


def test_depth_reward_fraction_and_tolerance():
    d = ramp()
    right = (0.5, 0.0, 1.0, 1.0)
    true = float(d[:, 50:].mean())
    regions = [(right, round(true, 3)), (right, round(true * 1.09, 3)), (right, round(true * 1.12, 3))]
    text = trace(area(*regions))
    assert R.depth_score(text, d) == pytest.approx(2 / 3)
    assert R.depth_score(text, d, tol=0.2) == 1.0
    assert R.depth_score(text, DepthMap(d)) == pytest.approx(2 / 3)


def test_depth_reward_boundary_is_inclusive():
    d = np.full((10, 10), 0.5, dtype=np.float32)
    assert R.depth_score(trace(area(((0, 0, 1, 1), 0.55))), d) == 1.0
    assert R.depth_score(trace(area(((0, 0, 1, 1), 0.45))), d) == 1.0
    assert R.depth_score(trace(area(((0, 0, 1, 1), 0.551))), d) == 0.0


def test_depth_reward_zero_mean_region_fails():
    d = ramp()
    # the first column has depth 0: D̄ = 0 fails whatever is stated
    assert R.depth_score(trace(area(((0.0, 0.0, 0.005, 1.0), 0.0))), d) == 0.0


def test_depth_reward_counts_all_regions_of_all_areas():
    d = np.full((10, 10), 0.5, dtype=np.float32)
    text = trace(area(((0, 0, 1, 1), 0.5)), area(((0, 0, 0.5, 0.5), 0.5), ((0.5, 0.5, 1, 1), 0.9)))
    p = R.depth_parts(text, d)
    assert p["n_regions"] == 3 and p["n_ok"] == 2 and p["reward"] == pytest.approx(2 / 3)
    assert p["abs_error"] == pytest.approx(0.4 / 3) and p["mean_stated"] == pytest.approx(1.9 / 3)


def test_depth_reward_no_region_and_bad_map():
    d = np.full((4, 4), 0.5, dtype=np.float32)
    assert R.depth_score("<answer>1</answer>", d) == 0.0
    with pytest.raises(ValueError):
        R.depth_score("x", np.full((4, 4), np.nan))
    with pytest.raises(ValueError):
        R.depth_score("x", np.zeros((4, 4, 3)))
    with pytest.raises(ValueError, match="tolerance"):
        R.depth_score("x", d, tol=-0.1)


def test_depth_reward_can_be_gamed_and_metrics_show_it():
    # docs/method.md: stating ~0.9 everywhere passes on far regions; abs_error exposes it on near ones
    d = ramp()
    far, near = (0.85, 0, 0.95, 1), (0.05, 0, 0.15, 1)
    p = R.depth_parts(trace(area((far, 0.9), (near, 0.9))), d)
    assert p["reward"] == 0.5 and p["abs_error"] > 0.35 and p["mean_stated"] == pytest.approx(0.9)


# --------------------------------------------------------------------------------------------------- answer


def test_answer_score_and_progress_adjust():
    assert R.answer_score(trace(area(FULL), answer="(B)"), "B", choices=["x", "y"]) == 1.0
    assert R.answer_score("no tags", "yes") == 0.0
    assert R.progress_adjust(1.0, 0.5) == 1.5 and R.progress_adjust(0.5, 0.5) == 0.5
    assert R.progress_adjust(0.0, 0.5) == 0.0 and R.progress_adjust(1.0, None) == 1.0


def test_answer_score_with_judge():
    assert R.answer_score("<answer>crimson</answer>", "red", judge=lambda p, a: 0.8) == 0.8
    assert R.answer_score("<answer>x</answer>", "red", judge=lambda p, a: 7) == 1.0
    assert R.answer_score("no answer", "red", judge=lambda p, a: 1 / 0) == 0.0  # not asked
    with pytest.raises(ZeroDivisionError):
        R.answer_score("<answer>x</answer>", "red", judge=lambda p, a: 1 / 0)


def test_answer_reward_progress_memory_over_visits():
    fn = R.get_reward("accuracy_w_progress")
    cols = {"answer": ["yes"] * 4, "progress_key": [R.progress_key("Is it red?", "a.png")] * 4}
    right, wrong = "<answer>yes</answer>", "<answer>no</answer>"
    first = fn([right, wrong, wrong, wrong], **cols)
    assert first == [1.0, 0.0, 0.0, 0.0]  # no memory yet
    second = fn([right, right, wrong, wrong], **cols)
    # p = 0.25: right → 1 + (1 − 0.25) = 1.75; wrong (0 < p) → 0
    assert second == [1.75, 1.75, 0.0, 0.0]
    third = fn([right, wrong, wrong, wrong], **cols)  # p = 0.5
    assert third == [1.5, 0.0, 0.0, 0.0]
    # another image is another key
    other = fn([right], answer=["yes"], progress_key=[R.progress_key("Is it red?", "b.png")])
    assert other == [1.0]


def test_answer_progress_keys_come_from_their_one_column():
    # each (question, image) is its own key; the reward reads the key column and nothing else
    fn = R.AnswerReward(progress=True)
    keys = [R.progress_key("Is it red?", "a.png"), R.progress_key("Is it blue?", "a.png")]
    prompts = [[{"role": "user", "content": "Is it red?"}], [{"role": "user", "content": "Is it blue?"}]]
    cols = {"answer": ["yes", "yes"], "prompts": prompts, "progress_key": keys}
    right = "<answer>yes</answer>"
    assert fn([right, "<answer>no</answer>"], **cols) == [1.0, 0.0]
    assert fn([right, right], **cols) == [1.0, 2.0]  # p = 1 for the first prompt, p = 0 for the second
    with pytest.raises(ValueError, match="needs the dataset column 'progress_key'"):  # no guessing from the prompts
        fn([right], answer=["yes"], prompts=prompts[:1], problem=["Is it red?"], image=["a.png"])


def test_progress_memory_survives_checkpoint(tmp_path):
    fn = R.AnswerReward(progress=True)
    cols = {"answer": ["3"] * 2, "progress_key": [R.progress_key("How many?", "x.png")] * 2}
    fn(["<answer>3</answer>", "<answer>2</answer>"], **cols)
    path = fn.memory.save(tmp_path / "progress.json")
    resumed = R.AnswerReward(progress=True, memory=R.ProgressMemory.load(path))
    fresh = R.AnswerReward(progress=True)
    again = ["<answer>3</answer>", "<answer>3</answer>"]
    assert resumed(again, **cols) == [1.5, 1.5]
    assert fresh(again, **cols) == [1.0, 1.0]
    with pytest.raises(ValueError):
        R.ProgressMemory().load_state_dict({"version": 99})
    with pytest.raises(ValueError):
        R.ProgressMemory().load_state_dict({"version": 1, "memory": {"k": float("nan")}})


def test_answer_reward_plain_reads_the_answer_column_and_choices():
    fn = R.get_reward("accuracy")
    texts = ["<answer>B</answer>", "<answer>blue</answer>", "<answer>A</answer>", "<answer>2</answer>"]
    choices = [["red", "blue"], ["red", "blue"], ["red", "blue"], None]
    out = fn(texts, answer=["B", "B", "B", "two"], choices=choices)
    assert out == [1.0, 1.0, 0.0, 1.0]
    with pytest.raises(ValueError, match="needs the dataset column 'answer'"):  # the record's name is not guessed
        fn(texts, response=["B", "B", "B", "two"], choices=choices)


def test_answer_reward_judge_failures_are_reported_not_zero(caplog):
    calls = []

    def judge(pred, ans):
        calls.append(pred)
        if pred == "boom":
            raise TimeoutError("judge timed out")
        return 1.0

    fn = R.AnswerReward(progress=False, judge=judge)
    logged = {}
    out = fn(["<answer>ok</answer>", "<answer>boom</answer>"], answer=["x", "x"], log_metric=logged.__setitem__)
    assert out == [1.0, None]
    assert fn.last_metrics["judge_errors"] == 1.0 and logged["answer_plain/judge_errors"] == 1.0
    assert "judge timed out" in caplog.text


def test_missing_column_is_a_configuration_error():
    with pytest.raises(ValueError, match="needs the dataset column 'gt_boxes'"):
        R.get_reward("box")(["x"], answer=["B"])
    with pytest.raises(ValueError, match="needs the dataset column 'gt_boxes'"):  # nor SIF-50K's name for it
        R.get_reward("box")(["x"], normalized_solution_round=[{"bbox_3d": [[0, 0, 1, 1]]}])
    with pytest.raises(ValueError, match="has 1 values for 2"):
        R.get_reward("box")(["x", "y"], gt_boxes=[[[0, 0, 1, 1]]])
    assert R.get_reward("format")(["x"]) == [0.0]  # format needs no column


def test_trl_functions_on_chat_completions_and_metrics(tmp_path):
    d = ramp(20, 20)
    path = tmp_path / "d.npy"
    save_depth(d, path)
    text = trace(area(FULL), area(DISTRACTOR), area((GT[0], 0.2)))
    completions = [[{"role": "assistant", "content": text}], [{"role": "assistant", "content": "garbage"}]]
    cols = {
        "gt_boxes": [GT, GT],
        "depth_path": [str(path), str(path)],
        "answer": ["B", "B"],
        "progress_key": [R.progress_key("q", "i")] * 2,
    }
    logged = {}
    fns = R.get_reward_funcs(["format", "accuracy_w_progress", "bboxaccuracy_w_progress", "depth_consistency"])
    scores = {f.__name__: f(completions, log_metric=logged.__setitem__, **cols) for f in fns}
    assert scores["format"] == [1.0, 0.0]
    assert scores["answer"] == [1.0, 0.0]
    assert scores["box"] == [pytest.approx(2.0), 0.0]
    assert scores["depth"][1] == 0.0 and 0.0 <= scores["depth"][0] <= 1.0
    assert scores["depth"][0] == pytest.approx(R.depth_score(text, d))
    for key in (
        "format/valid_rate",
        "format/mean_areas",
        "box/h_end",
        "box/bonus",
        "depth/abs_error",
        "answer/raw_mean",
    ):
        assert key in logged
    assert logged["format/valid_rate"] == 0.5 and logged["format/mean_areas"] == 1.5


def test_depth_reward_missing_file_is_clear(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        R.get_reward("depth")(["x"], depth_path=[str(tmp_path / "nope.npy")])


def test_registry():
    assert set(R.reward_names()) >= {
        "format", "accuracy", "accuracy_w_progress", "bboxaccuracy", "bboxaccuracy_w_progress", "depth_consistency"
    }  # fmt: skip
    with pytest.raises(ValueError, match="known: format"):
        R.get_reward("fromat")
    with pytest.raises(ValueError, match="bad options"):
        R.get_reward("depth", tolerance=0.2)
    with pytest.raises(ValueError, match="tol"):
        R.get_reward("depth", tol=-1)
    assert R.get_reward("depth", tol=0.2).tol == 0.2
    assert R.get_reward("sifthinker.rewards.format_score") is R.format_score
    with pytest.raises(ValueError, match="cannot import"):
        R.get_reward("no.such.module")
    with pytest.raises(ValueError, match="not in the list"):
        R.get_reward_funcs(["format"], options={"depth": {"tol": 0.2}})
    assert R.check_reward_weights(["a", "b"], [1, 0.5]) == [1.0, 0.5]
    for bad in ([1], [1, float("nan")], [1, "2"]):
        with pytest.raises(ValueError):
            R.check_reward_weights(["a", "b"], bad)


def test_reward_functions_pickle():
    for name in ("format", "answer", "box", "depth", "search"):
        fn = R.get_reward(name)
        clone = pickle.loads(pickle.dumps(fn))
        assert clone.__name__ == fn.__name__


# --------------------------------------------------------------------------------------------- properties

ANY_TEXT = st.one_of(
    st.text(max_size=400),
    traces.map(render),
    traces.map(render).flatmap(lambda s: st.integers(0, len(s)).map(lambda i: s[:i])),  # truncated
    st.lists(st.sampled_from(["<think>", "</think>", "<area>", "</area>", "<text>", "</text>", "<answer>",
                              "</answer>", "[", "]", "{", "}", '"bbox_2d"', '"depth"', ":", ",", "0.5", "1e308",
                              "-3", "x"]), max_size=60).map("".join),
)  # fmt: skip


@given(ANY_TEXT, st.lists(boxes(), min_size=1, max_size=3))
def test_every_reward_in_range_for_any_text(text, gt):
    d = np.linspace(0, 1, 64, dtype=np.float32).reshape(8, 8)
    assert R.format_score(text) in (0.0, 1.0)
    assert 0.0 <= R.box_score(text, gt) <= 2.0
    assert 0.0 <= R.box_score_plain(text, gt) <= 1.0
    assert 0.0 <= R.depth_score(text, d) <= 1.0
    assert R.answer_score(text, "B", choices=["x", "y"]) in (0.0, 1.0)
    assert R.search_score(text, gt) in (0.0, 1.0)


@given(traces, st.lists(boxes(), min_size=1, max_size=3))
def test_box_reward_matches_formula_on_valid_traces(t, gt):
    text = render(t)
    end = [r.box for r in t.steps[-1].regions]
    start = next(
        ([r.box for r in s.regions] for s in t.steps if [r.box for r in s.regions] != [(0.0, 0.0, 1.0, 1.0)]),
        [(0.0, 0.0, 1.0, 1.0)],
    )
    h_end, h_start = hierarchical_iou(end, gt), hierarchical_iou(start, gt)
    assert R.box_score(text, gt) == pytest.approx(h_end + max(0.0, h_end - h_start))

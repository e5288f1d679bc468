"""The SIF-50K record schema (docs/method.md) and file reading."""

from __future__ import annotations

import copy
import json

import pytest

from sifthinker.records import (
    USER_PREFIX,
    RecordError,
    assistant_text,
    check_record,
    format_question,
    gt_boxes,
    iter_json_records,
    record_id,
    user_content,
)

TRACE = (
    '<think>\n<area>[{"bbox_2d": [0, 0, 1, 1], "depth": 0.5}]</area>\n<text>The scene.</text>\n'
    '<area>[{"bbox_2d": [0.1, 0.2, 0.3, 0.4], "depth": 0.2}]</area>\n<text>The cube.</text>\n</think>\n'
    "<answer>yes</answer>"
)


def record(**over):
    rec = {
        "id": "r1",
        "dataset": "gqa",
        "image": "img/1.jpg",
        "depth_image": "depth/1.png",
        "problem": "Is there a cube?",
        "normalized_solution_round": {"bbox_3d": [[0.1, 0.2, 0.3, 0.4]], "illegal_content": False},
        "response": "yes",
        "messages": [
            {"role": "user", "content": user_content("Is there a cube?")},
            {"role": "assistant", "content": TRACE},
        ],
        "images": ["img/1.jpg", "depth/1.png"],
    }
    rec.update(over)
    return rec


def test_valid_record_returns_trace():
    t = check_record(record())
    assert t is not None and t.answer == "yes" and len(t.steps) == 2


def test_user_content_and_question_format():
    c = user_content("Which?", ["a", "b"], instruction="")
    assert c == USER_PREFIX + "Which?\nOptions:\n(A) a\n(B) b"
    assert user_content("Q", with_depth=False).startswith("Original image: <image>\nQ\n")
    assert format_question("Q") == "Q"


@pytest.mark.parametrize(
    "mutate, field",
    [
        (lambda r: r.pop("problem"), "problem"),
        (lambda r: r.update(problem="  "), "problem"),
        (lambda r: r.update(response=""), "response"),
        (lambda r: r.update(normalized_solution_round=[[0, 0, 1, 1]]), "normalized_solution_round"),
        (
            lambda r: r["normalized_solution_round"].update(bbox_3d=[[0, 0, 1.2, 1]]),
            "normalized_solution_round.bbox_3d",
        ),
        (
            lambda r: r["normalized_solution_round"].update(bbox_3d=[[0.5, 0, 0.2, 1]]),
            "normalized_solution_round.bbox_3d",
        ),
        (
            lambda r: r["normalized_solution_round"].update(illegal_content="no"),
            "normalized_solution_round.illegal_content",
        ),
        (lambda r: r.update(images=["img/1.jpg"]), "messages"),  # two <image> placeholders for one image
        (lambda r: r.update(images=["depth/1.png", "img/1.jpg"]), "images"),
        (lambda r: r.update(messages=[]), "messages"),
        (lambda r: r.update(messages=[{"role": "bot", "content": "x"}]), "messages"),
        (lambda r: r["messages"].pop(), "messages"),
        (lambda r: r["messages"][1].update(content=TRACE.replace("</think>", "")), "messages"),
        (lambda r: r.update(choices=["only"]), "choices"),
        (lambda r: r.update(split=3), "split"),
    ],
)
def test_schema_errors_name_record_and_field(mutate, field):
    rec = record()
    mutate(rec)
    with pytest.raises(RecordError) as ei:
        check_record(rec, index=7)
    assert ei.value.field == field
    assert "record 'r1'" in str(ei.value) and f"field {field!r}" in str(ei.value)


def test_grounded_item_without_trace():
    rec = record()
    rec["messages"].pop()
    assert check_record(rec, require_trace=False) is None
    assert assistant_text(rec) is None


def test_trace_error_is_reported_with_rule():
    rec = record()
    rec["messages"][1]["content"] = TRACE.replace('"depth": 0.2', '"depth": 0.2222')
    with pytest.raises(RecordError, match=r"\[decimals\]"):
        check_record(rec)


def test_record_id_and_gt_boxes():
    assert record_id({"id": 5}) == "5" and record_id({}, 3) == "#3" and record_id({"id": True}, 1) == "#1"
    assert gt_boxes(record()) == [(0.1, 0.2, 0.3, 0.4)]
    with pytest.raises(RecordError):
        gt_boxes({})


def test_not_a_dict():
    with pytest.raises(RecordError, match="JSON object"):
        check_record(["x"], index=0)


def test_iter_json_records(tmp_path):
    good = record()
    p = tmp_path / "a.jsonl"
    p.write_text(json.dumps(good) + "\n\n{broken\n" + json.dumps(copy.deepcopy(good)) + "\n")
    items = list(iter_json_records(p))
    assert [i for i, _ in items] == [0, 2, 3]
    assert isinstance(items[1][1], RecordError) and "line 3" in str(items[1][1])
    q = tmp_path / "a.json"
    q.write_text(json.dumps([good, good]))
    assert len(list(iter_json_records(q))) == 2
    q.write_text("[{")
    with pytest.raises(RecordError, match="not valid JSON"):
        list(iter_json_records(q))

"""The evaluation browser: a self-contained page from a run folder (results.json + scores.jsonl) with every item,
its parsed focus path and the filters' data; a compare page with disagreements first; clear errors for bad input."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from PIL import Image

from sifthinker.eval.browse import read_run, write_browse_page, write_compare_page
from sifthinker.trace import parse_trace

GOOD = (
    '<think><area>[{"bbox_2d": [0.1, 0.2, 0.5, 0.6], "depth": 0.3}]</area><text>The red cube.</text>'
    '<area>[{"bbox_2d": [0.5, 0.5, 0.9, 0.9], "depth": 0.7}, {"bbox_2d": [0, 0, 0.2, 0.2], "depth": 0.9}]</area>'
    "<text>Both balls.</text></think><answer>B</answer>"
)
BAD = 'junk <area>[{"bbox_2d": [0.2, 0.2, 0.4, 0.4], "depth": 0.5}]</area> <answer>A</answer>'
PROTOCOL = {"prompt_sha256": "abc123", "model": "runs/m", "decoding": {"do_sample": False, "max_new_tokens": 64}}


def make_run(root: Path, rows: list[tuple[str, str, str | None, str]], *, n_images: int = 2) -> Path:
    """A run folder: ``rows`` are ``(id, status, completion, category)``; images shared round-robin."""
    root.mkdir(parents=True)
    imgs = []
    for k in range(n_images):
        p = root / "images" / f"im{k}.png"
        p.parent.mkdir(exist_ok=True)
        Image.new("RGB", (320, 240), (40 * k, 120, 200)).save(p)
        imgs.append(str(p))
    (root / "results.json").write_text(json.dumps({"benchmark": "synthetic", "protocol": PROTOCOL}))
    lines = []
    for i, (rid, status, completion, cat) in enumerate(rows):
        item = {
            "id": rid, "benchmark": "synthetic", "images": [imgs[i % n_images]], "question": f"Question {rid}?",
            "choices": ["the cube", "the ball"], "answer": "B", "answer_type": "mc", "category": cat,
            "subcategory": None, "gt_boxes": [[0.1, 0.2, 0.5, 0.6]], "depth_path": None,
        }  # fmt: skip
        score = {
            "id": rid, "category": cat, "status": status, "skipped": "no_image" if status == "skipped" else None,
            "correct": status == "correct", "pred": "B" if status == "correct" else "A", "iou": 0.5 + i / 100,
            "first_iou": 0.1, "last_iou": 0.5, "n_areas": 2, "depth_abs_error": 0.05, "tokens": 40, "seconds": 0.2,
            "error": None,
        }  # fmt: skip
        lines.append(json.dumps({"item": item, "score": score, "completion": completion}))
    (root / "scores.jsonl").write_text("\n".join(lines) + "\n")
    return root


def page_data(path: Path) -> dict:
    html = path.read_text(encoding="utf-8")
    m = re.search(r'<script type="application/json" id="data">(.*?)</script>', html, re.S)
    assert m, "the page embeds its data"
    return json.loads(m.group(1))


ROWS = [
    ("a1", "correct", GOOD, "depth_order"),
    ("a2", "wrong", GOOD, "counting"),
    ("a3", "missing", BAD, "counting"),
    ("a4", "invalid", "no tags at all", "existence"),
    ("a5", "skipped", None, "depth_order"),
]


def test_browse_page_is_self_contained_and_embeds_every_item(tmp_path):
    run = make_run(tmp_path / "run", ROWS)
    out = write_browse_page(run)
    assert out == run / "browse.html"
    html = out.read_text(encoding="utf-8")
    # offline: no external script, stylesheet, image or link
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", html, re.I)
    assert "url(http" not in html and "@import" not in html
    data = page_data(out)
    assert [it["id"] for it in data["items"]] == ["a1", "a2", "a3", "a4", "a5"]
    assert data["runs"][0]["protocol"] == PROTOCOL and html.count("abc123") == 1  # protocol once, in the data
    assert data["runs"][0]["counts"] == {"correct": 1, "wrong": 1, "missing": 1, "invalid": 1, "skipped": 1}
    # the filters' data: a category and a status on every item, and the page's grouping of statuses
    assert {it["cat"] for it in data["items"]} == {"depth_order", "counting", "existence"}
    assert [it["r"][0]["st"] for it in data["items"]] == ["correct", "wrong", "missing", "invalid", "skipped"]
    assert 'missing: "malformed", invalid: "malformed"' in html
    a1 = data["items"][0]
    assert a1["q"] == "Question a1?" and a1["gt"] == "B" and a1["ch"] == ["the cube", "the ball"]
    assert a1["r"][0]["pred"] == "B" and a1["r"][0]["iou"] == 0.5 and a1["r"][0]["derr"] == 0.05
    # the focus path: the parsed trace's steps, boxes with their stated depth and the step text
    t = parse_trace(GOOD)
    assert a1["r"][0]["steps"] == [[[[*r.box, r.depth] for r in s.regions], s.text] for s in t.steps]
    assert a1["r"][0]["valid"] is True and a1["r"][0]["perr"] is None
    # a malformed trace keeps its parse error and its leniently read area (no step text)
    a3 = data["items"][2]["r"][0]
    assert a3["valid"] is False and a3["perr"].startswith("[outside]")
    assert a3["steps"] == [[[[0.2, 0.2, 0.4, 0.4, 0.5]], None]]
    assert data["items"][3]["r"][0]["steps"] == [] and data["items"][4]["r"][0]["perr"] == "no completion"
    # thumbnails: small JPEGs, one per distinct image
    assert len(data["thumbs"]) == 2 and {it["th"] for it in data["items"]} == {0, 1}
    assert all(u.startswith("data:image/jpeg;base64,") for u in data["thumbs"])
    assert all(max(s) <= 160 for s in data["sizes"])


def test_script_cannot_be_closed_by_a_completion(tmp_path):
    evil = GOOD.replace("The red cube.", "</script><script>alert(1)</script>")
    run = make_run(tmp_path / "run", [("x", "correct", evil, "c")])
    html = write_browse_page(run).read_text(encoding="utf-8")
    assert "alert(1)</script>" not in html
    assert page_data(run / "browse.html")["items"][0]["r"][0]["comp"] == evil


def test_compare_page_orders_disagreements_first(tmp_path):
    same = [("i1", "correct", GOOD, "c"), ("i2", "wrong", GOOD, "c")]
    a = make_run(tmp_path / "A", [*same, ("i3", "correct", GOOD, "c")])
    b = make_run(tmp_path / "B", [*same, ("i3", "missing", BAD, "c"), ("i4", "wrong", GOOD, "d")])
    out = write_compare_page(a, b, tmp_path / "cmp.html")
    data = page_data(out)
    assert data["mode"] == "compare" and [r["name"] for r in data["runs"]] == ["A", "B"]
    ids = [it["id"] for it in data["items"]]
    assert ids == ["i3", "i4", "i1", "i2"]  # disagreements (i3; i4 only in B) first, then A's order
    assert [it["dis"] for it in data["items"]] == [True, True, False, False]
    i3 = data["items"][0]
    assert i3["r"][0]["st"] == "correct" and i3["r"][1]["st"] == "missing" and i3["r"][1]["perr"]
    assert data["items"][1]["r"][0] is None  # absent from A


def test_bad_input_names_file_line_and_field(tmp_path):
    with pytest.raises(FileNotFoundError, match="results.json"):
        write_browse_page(tmp_path)
    run = make_run(tmp_path / "run", ROWS[:2])
    with open(run / "scores.jsonl", "a") as f:
        f.write(json.dumps({"item": {"id": "z"}, "score": {"status": "great"}}) + "\n")
    with pytest.raises(ValueError, match=r"scores.jsonl:3: item 'z': score.status 'great'"):
        read_run(run)
    (run / "scores.jsonl").write_text('{"item": {"id": "q"}, "score": {"status": "wrong"}}\n{not json\n')
    with pytest.raises(ValueError, match="line 2"):
        read_run(run)
    (run / "scores.jsonl").write_text('{"score": {"status": "wrong"}}\n')
    with pytest.raises(ValueError, match=r":1: field 'item'"):
        read_run(run)
    (run / "results.json").write_text('{"protocol": [1]}')
    with pytest.raises(ValueError, match="'protocol' must be an object"):
        read_run(run)


def test_missing_image_gives_no_thumbnail_not_a_failure(tmp_path):
    run = make_run(tmp_path / "run", ROWS[:1])
    for p in (run / "images").iterdir():
        p.unlink()
    data = page_data(write_browse_page(run, out=tmp_path / "elsewhere.html"))
    assert data["thumbs"] == [] and data["items"][0]["th"] is None

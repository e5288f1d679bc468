"""Sources: each format on small real files (JSON/JSONL + PNG/JPEG images) — good records, bad records, registry."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from data_helpers import simple_trace
from PIL import Image

from sifthinker.data.ids import content_id
from sifthinker.data.sources import (
    SOURCES,
    JsonlSource,
    Sif50kSource,
    SourceFileError,
    SyntheticSource,
    TallyQASource,
    VisualCoTSource,
    get_source,
    import_sif50k,
)
from sifthinker.data.sources.sif50k import FAILURES_FILE, RECORDS_FILE
from sifthinker.data.types import GroundedItem, ItemError
from sifthinker.depth import load_depth
from sifthinker.records import REQUIRED, check_record
from sifthinker.synth.config import SynthConfig
from sifthinker.synth.dataset import generate_dataset
from sifthinker.visual_cot_format import from_padded_square, parse_box_string, strip_question

REQUEST = "Please provide the bounding box coordinate of the region that can help you answer the question better."


# ------------------------------------------------------------------------------------------------------ helpers


def make_image(path: Path, w: int, h: int, fmt: str | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(w * 1000 + h)
    Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(path, format=fmt)
    return path


def write_jsonl(path: Path, rows: list, raw_lines: dict[int, str] | None = None) -> Path:
    """Rows as JSONL; ``raw_lines`` puts a literal (e.g. corrupt) line at a position."""
    lines = [json.dumps(r) for r in rows]
    for pos, text in sorted((raw_lines or {}).items()):
        lines.insert(pos, text)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def split_results(source):
    out = list(source)
    items = [x for x in out if isinstance(x, GroundedItem)]
    errors = [x for x in out if isinstance(x, ItemError)]
    assert len(items) + len(errors) == len(out)
    return items, errors


def error_for(errors: list[ItemError], record: str) -> ItemError:
    found = [e for e in errors if e.record == record]
    assert len(found) == 1, f"expected one error for record {record!r}, got {[str(e) for e in errors]}"
    return found[0]


@pytest.fixture(scope="module")
def synth_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("synth")
    generate_dataset(root, n=4, seed=0, config=SynthConfig(image_size=(64, 64)))
    return root


def synth_records(root: Path) -> list[dict]:
    recs = []
    for split in ("train", "test"):
        p = root / f"{split}.jsonl"
        if p.exists():
            recs += [json.loads(line) for line in p.read_text().splitlines() if line.strip()]
    return recs


def authors_record(rec: dict) -> dict:
    """A synthetic record as the authors release SIF-50K records: the eight fields, a trace, no extras."""
    boxes = rec["normalized_solution_round"]["bbox_3d"]
    out = {k: rec[k] for k in REQUIRED if k != "messages"}
    out["messages"] = [
        {"content": rec["messages"][0]["content"], "role": "user"},
        {"content": simple_trace(boxes, rec["response"]), "role": "assistant"},
    ]
    return {k: out[k] for k in REQUIRED}


# ------------------------------------------------------------------------------------------------------ registry


def test_registry_lists_every_source_and_rejects_unknown_names(tmp_path):
    assert set(SOURCES) == {"visual_cot", "tallyqa", "jsonl", "synthetic", "sif50k"}
    for name, cls in SOURCES.items():
        assert cls.name == name
    with pytest.raises(ValueError) as e:
        get_source("coco", tmp_path / "x.jsonl")
    for name in SOURCES:
        assert name in str(e.value)
    p = write_jsonl(tmp_path / "a.jsonl", [])
    src = get_source("jsonl", p, box_units="pixels")
    assert isinstance(src, JsonlSource) and src.box_units == "pixels" and src.image_root == tmp_path


def test_missing_or_unreadable_input_raises_a_clear_error(tmp_path):
    with pytest.raises(SourceFileError, match="does not exist"):
        JsonlSource(tmp_path / "nope.jsonl")
    bad = tmp_path / "broken.json"
    bad.write_text('[{"id": 1}', encoding="utf-8")
    with pytest.raises(SourceFileError, match="broken.json"):
        list(VisualCoTSource(bad))
    with pytest.raises(SourceFileError, match="not a folder"):
        SyntheticSource(bad)


# ----------------------------------------------------------------------------------------------------- Visual-CoT


def viscot_record(qid, subset, path, question, box_string, pixel_box=None, answer="No", split="train"):
    image = [path] + ([f"{path}###{pixel_box}"] if pixel_box is not None else [])
    return {
        "dataset": subset,
        "split": split,
        "question_id": qid,
        "image": image,
        "conversations": [
            {"from": "human", "value": f"<image>\n{question} {REQUEST}"},
            {"from": "gpt", "value": box_string},
            {"from": "human", "value": "<image>"},
            {"from": "gpt", "value": answer},
        ],
    }


@pytest.fixture
def viscot(tmp_path):
    # the real CUB record: pixels [172, 95, 445, 314] of a 500×394 image ↔ "[0.344, 0.296, 0.890, 0.734]" on the
    # padded 500×500 square (pad (500 − 394) // 2 = 53 rows on top)
    make_image(tmp_path / "cot/cub/gull.jpg", 500, 394, "JPEG")
    make_image(tmp_path / "cot/gqa/tall.png", 300, 600)
    make_image(tmp_path / "cot/textvqa/sign.png", 64, 64)
    q = "Does the bird in the picture have broad-wings wing and purple leg?"
    recs = [
        viscot_record(1430, "cub", "cot/cub/gull.jpg", q, "[0.344, 0.296, 0.890, 0.734]", "[172, 95, 445, 314]"),
        # no pixel box: the string is converted out of the padded square (tall image: pad (600 − 300) // 2 = 150)
        viscot_record(7, "gqa", "cot/gqa/tall.png", "What is on the table?", "[0.5, 0.25, 0.6, 0.5]", answer="A cup"),
        viscot_record(
            8, "textvqa", "cot/textvqa/sign.png", "What does it say?", "[0.1, 0.1, 0.9, 0.9]", "[6, 6, 58, 58]"
        ),
    ]
    path = tmp_path / "viscot_363k.json"
    path.write_text(json.dumps(recs), encoding="utf-8")
    return path, recs


def test_visual_cot_good_records_give_exact_boxes_and_stripped_questions(viscot):
    path, _ = viscot
    items, errors = split_results(VisualCoTSource(path))
    assert errors == []
    assert [i.id for i in items] == ["viscot-cub-1430", "viscot-gqa-7"]  # textvqa excluded by default
    cub, gqa = items
    assert cub.question == "Does the bird in the picture have broad-wings wing and purple leg?"
    assert cub.answer == "No" and cub.dataset == "cub" and cub.image == "cot/cub/gull.jpg"
    assert cub.gt_boxes == [(172 / 500, 95 / 394, 445 / 500, 314 / 394)]
    assert cub.extra["question_id"] == 1430 and cub.extra["split"] == "train" and cub.extra["image_size"] == [500, 394]
    # 0.5·600 − 150 = 150 px of 300; 0.25·600 = 150 px of 600
    assert gqa.gt_boxes[0] == pytest.approx((0.5, 0.25, 0.7, 0.5), abs=1e-12)
    assert gqa.answer == "A cup"


def test_visual_cot_released_mode_uses_the_string_and_reads_no_image(tmp_path):
    rec = viscot_record(1, "flickr30k", "cot/flickr30k/missing.jpg", "Who is there?", "[0.1, 0.2, 0.3, 0.4]")
    path = tmp_path / "v.json"
    path.write_text(json.dumps([rec]), encoding="utf-8")
    items, errors = split_results(VisualCoTSource(path, box_mode="released"))
    assert errors == [] and items[0].gt_boxes == [(0.1, 0.2, 0.3, 0.4)]
    # exact mode needs the image size: a missing image is an error naming the image field
    _, errors = split_results(VisualCoTSource(path))
    assert len(errors) == 1 and errors[0].field == "image[0]" and "cannot read the image" in str(errors[0])


def test_visual_cot_subset_filters_and_per_subset_cap_keep_file_order(tmp_path):
    recs = []
    for k in range(4):
        for subset in ("gqa", "vsr", "docvqa"):
            recs.append(viscot_record(k, subset, f"cot/{subset}/{k}.jpg", f"Q{k}?", "[0.1, 0.1, 0.5, 0.5]"))
    recs.insert(0, viscot_record(99, "gqa", "cot/gqa/x.jpg", "", "[0.1, 0.1, 0.5, 0.5]"))  # bad: empty question
    path = tmp_path / "v.json"
    path.write_text(json.dumps(recs), encoding="utf-8")
    items, errors = split_results(VisualCoTSource(path, box_mode="released", max_per_subset=2))
    assert [(i.dataset, i.extra["question_id"]) for i in items] == [("gqa", 0), ("vsr", 0), ("gqa", 1), ("vsr", 1)]
    assert len(errors) == 1  # the bad record did not use up gqa's cap
    items, _ = split_results(VisualCoTSource(path, box_mode="released", subsets=["docvqa"], exclude_subsets=()))
    assert {i.dataset for i in items} == {"docvqa"} and len(items) == 4
    with pytest.raises(ValueError, match="excluded"):
        VisualCoTSource(path, subsets=["docvqa"])
    with pytest.raises(ValueError, match="max_per_subset"):
        VisualCoTSource(path, max_per_subset=-1)
    with pytest.raises(ValueError, match="box_mode"):
        VisualCoTSource(path, box_mode="pixels")


def test_visual_cot_bad_records_are_named_and_iteration_goes_on(viscot, tmp_path):
    path, good = viscot
    q = "Is it red?"
    bad = [
        viscot_record(
            1, "cub", "cot/cub/gull.jpg", q, "[0.5, 0.296, 0.890, 0.734]", "[172, 95, 445, 314]"
        ),  # mismatch
        viscot_record(2, "cub", "cot/cub/gull.jpg", q, "[0.344, 0.296, 0.890, 0.734]", "[172, 95, 600, 314]"),  # x2>W
        viscot_record(3, "cub", "cot/cub/gull.jpg", "", "[0.344, 0.296, 0.890, 0.734]"),  # question only the request
        viscot_record(4, "cub", "../outside.jpg", q, "[0.1, 0.1, 0.2, 0.2]"),  # escapes the root
        viscot_record(5, "cub", "cot/cub/gull.jpg", q, "somewhere on the left"),  # no box
        {"dataset": "cub", "question_id": 6, "image": ["cot/cub/gull.jpg"]},  # no conversations
        {"question_id": 7, "image": ["cot/cub/gull.jpg"], "conversations": []},  # no subset
    ]
    recs = [good[0]] + bad + [good[1]]
    path.write_text(json.dumps(recs), encoding="utf-8")
    items, errors = split_results(VisualCoTSource(path))
    assert [i.id for i in items] == ["viscot-cub-1430", "viscot-gqa-7"]
    fields = {e.record: e.field for e in errors}
    assert fields == {
        "#1": "conversations[1].value",
        "#2": "image[1]",
        "#3": "conversations[0].value",
        "#4": "image[0]",
        "#5": "conversations[1].value",
        "#6": "conversations",
        "#7": "dataset",
    }
    for e in errors:
        assert str(path) in str(e) and e.source == str(path)
    assert "disagrees" in str(error_for(errors, "#1"))
    assert "outside the image root" in str(error_for(errors, "#4"))
    # the consistency check can be turned off: then the pixel box wins
    items, errors = split_results(VisualCoTSource(path, consistency_tol=None))
    assert "#1" not in {e.record for e in errors}
    assert items[1].gt_boxes == [(172 / 500, 95 / 394, 445 / 500, 314 / 394)]


def test_visual_cot_rewrite_prefix_maps_released_paths_to_the_unpacked_archive(tmp_path):
    make_image(tmp_path / "cot_image_data/vsr/a.png", 40, 20)
    rec = viscot_record(
        1, "vsr", "cot/vsr/a.png", "Is the cat left of the dog?", "[0, 0.25, 1, 0.75]", "[0, 0, 40, 20]"
    )
    path = tmp_path / "v.json"
    path.write_text(json.dumps([rec]), encoding="utf-8")
    items, errors = split_results(VisualCoTSource(path, rewrite_prefix={"cot/": "cot_image_data/"}))
    assert errors == [] and items[0].image == "cot_image_data/vsr/a.png"
    assert items[0].gt_boxes == [(0.0, 0.0, 1.0, 1.0)]


def test_strip_question_and_box_string_parsing():
    assert strip_question(f"<image>\nHow many?  {REQUEST}") == "How many?"
    assert strip_question(f"<image>\nHow many? {REQUEST.upper()}") == "How many?"
    assert strip_question("<image>\nWhere is it? Please provide the bounding boxes of the relevant region.") == (
        "Where is it?"
    )
    assert strip_question("Plain question?") == "Plain question?"
    assert strip_question(f"<image>\n{REQUEST}") == ""
    assert parse_box_string("[0.1, 0.2, 0.3, 0.4]") == [(0.1, 0.2, 0.3, 0.4)]
    assert parse_box_string("[0.1, 0.2, 0.3]") is None
    assert parse_box_string("[1, 2, 3, 4] and more") is None
    # square image: no padding, the string is the box
    assert from_padded_square((0.1, 0.2, 0.3, 0.4), 50, 50) == pytest.approx((0.1, 0.2, 0.3, 0.4))


# -------------------------------------------------------------------------------------------------------- TallyQA


def test_tallyqa_grit_records_give_normalised_pixel_boxes(tmp_path):
    make_image(tmp_path / "images/a.jpg", 200, 100, "JPEG")
    rows = [
        {"question": "How many dogs are there?", "answer": 2, "image": "images/a.jpg", "width": 200, "height": 100,
         "bboxs": [[10, 20, 50, 60], [100.5, 0, 200, 100]], "dataset": "tallyqa", "split": "train"},
        # no size: read from the image header; answer as a string; question_id gives the id
        {"question": "How many cats?", "answer": "1", "image": "images/a.jpg", "bboxs": [[0, 0, 20, 10]],
         "question_id": 77},
    ]  # fmt: skip
    items, errors = split_results(TallyQASource(write_jsonl(tmp_path / "tally.jsonl", rows)))
    assert errors == []
    a, b = items
    assert a.gt_boxes == [(10 / 200, 20 / 100, 50 / 200, 60 / 100), (100.5 / 200, 0.0, 1.0, 1.0)]
    assert (a.answer, a.answer_type, a.question_type, a.dataset) == ("2", "number", "counting", "tallyqa")
    # no id of its own: the id rule's content hash (never the line number); a question_id names the item
    assert a.id == content_id(
        "tallyqa", source="tallyqa", file="tally.jsonl", question="How many dogs are there?", image="images/a.jpg"
    )
    assert b.id == "tallyqa-77"
    assert b.gt_boxes == [(0.0, 0.0, 0.1, 0.1)] and b.extra["image_size"] == [200, 100]


def test_tallyqa_xywh_boxes(tmp_path):
    rows = [{"question": "How many?", "answer": 1, "image": "x.jpg", "width": 100, "height": 50,
             "bboxs": [[10, 5, 20, 10]]}]  # fmt: skip
    items, _ = split_results(TallyQASource(write_jsonl(tmp_path / "t.jsonl", rows), box_format="xywh"))
    assert items[0].gt_boxes == [(0.1, 0.1, 0.3, 0.3)]


def test_tallyqa_bad_records_name_record_and_field(tmp_path):
    base = {"question": "How many?", "image": "x.jpg", "width": 100, "height": 50}
    rows = [
        dict(base, id="ok", answer=1, bboxs=[[0, 0, 10, 10]]),
        dict(base, id="outside", answer=2, bboxs=[[0, 0, 10, 10], [50, 10, 101, 20]]),
        dict(base, id="word", answer="two", bboxs=[[0, 0, 10, 10]]),
        dict(base, id="nobox", answer=0, bboxs=[]),
        dict(base, id="nan", answer=1, bboxs=[[0, 0, float("nan"), 10]]),
        dict(base, id="escape", answer=1, image="/etc/hostname", bboxs=[[0, 0, 10, 10]]),
        dict(base, id="inverted", answer=1, bboxs=[[20, 0, 10, 10]]),
        dict(base, id="noq", question="  ", answer=1, bboxs=[[0, 0, 10, 10]]),
        dict(base, id="last", answer=3, bboxs=[[0, 0, 10, 10]]),
    ]
    path = write_jsonl(tmp_path / "t.jsonl", rows, raw_lines={2: '{"question": "How many?", "answer": '})
    items, errors = split_results(TallyQASource(path))
    assert [i.id for i in items] == ["ok", "last"]
    assert {e.record: e.field for e in errors} == {
        "outside": "bboxs[1]",
        "line 3": "<line>",
        "word": "answer",
        "nobox": "bboxs",
        "nan": "bboxs[0]",
        "escape": "image",
        "inverted": "bboxs[0]",
        "noq": "question",
    }
    assert "[0, 1]" in str(error_for(errors, "outside")) and "not valid JSON" in str(error_for(errors, "line 3"))
    # the count check is opt-in
    _, errors = split_results(TallyQASource(path, require_count_match=True))
    assert error_for(errors, "last").field == "bboxs"


# ---------------------------------------------------------------------------------------------------------- JSONL


def test_jsonl_units_field_mapping_and_optional_fields(tmp_path):
    make_image(tmp_path / "img/p.png", 80, 40)
    rows = [
        {"id": "n", "image": "img/p.png", "problem": "Which is closer?", "answer": "A", "bbox": [[0.1, 0.2, 0.3, 0.4]],
         "choices": ["the cube", "the ball"], "answer_type": "mc", "question_type": "depth_order", "note": "x"},
        # pixels without width/height: size from the image header (80×40)
        {"id": "p", "image": "img/p.png", "problem": "How many?", "answer": 3, "bbox": [[8, 4, 40, 40]],
         "box_units": "pixels"},
        {"id": "k", "image": "img/p.png", "problem": "Is it red?", "answer": "yes", "bbox": [[100, 0, 1000, 500]],
         "box_units": "1000", "dataset": "mine"},
        # tiny float overshoot past 1 is clipped
        {"id": "eps", "image": "img/p.png", "problem": "Q?", "answer": "no", "bbox": [[-5e-7, 0.5, 1 + 5e-7, 1.0]]},
    ]  # fmt: skip
    src = JsonlSource(
        write_jsonl(tmp_path / "mine.jsonl", rows),
        fields={"question": "problem", "boxes": "bbox"},
        extra_fields=["note"],
    )
    items, errors = split_results(src)
    assert errors == []
    n, p, k, eps = items
    assert n.gt_boxes == [(0.1, 0.2, 0.3, 0.4)] and n.choices == ["the cube", "the ball"]
    assert (n.answer_type, n.question_type, n.dataset, n.extra) == ("mc", "depth_order", "mine", {"note": "x"})
    assert p.gt_boxes == [(8 / 80, 4 / 40, 40 / 80, 40 / 40)] and p.answer == "3"
    assert k.gt_boxes == [(0.1, 0.0, 1.0, 0.5)] and k.dataset == "mine"
    assert eps.gt_boxes == [(0.0, 0.5, 1.0, 1.0)]


def test_jsonl_bad_records_and_bad_options(tmp_path):
    base = {"image": "a.png", "question": "Q?", "answer": "yes", "boxes": [[0.1, 0.1, 0.2, 0.2]]}
    rows = [
        dict(base, id="ok"),
        dict(base, id="units", box_units="inches"),
        dict(base, id="over", boxes=[[0.1, 0.1, 1.001, 0.2]]),
        dict(base, id="under", boxes=[[-0.002, 0.1, 0.2, 0.2]]),
        dict(base, id="empty_q", question=""),
        {k: v for k, v in dict(base, id="no_answer").items() if k != "answer"},
        dict(base, id="escape", image="../../etc/passwd"),
        dict(base, id="three", boxes=[[0.1, 0.1, 0.2]]),
        dict(base, id="choices", choices=["only one"]),
        dict(base, id="atype", answer_type="free"),
        dict(base, id="pix_nosize", box_units="pixels", image="missing.png"),
        dict(base, id="ok"),  # duplicate id
        dict(base, id="ok2"),
    ]
    items, errors = split_results(JsonlSource(write_jsonl(tmp_path / "d.jsonl", rows, raw_lines={3: "{oops"})))
    assert [i.id for i in items] == ["ok", "ok2"]
    got = [(e.record, e.field) for e in errors]
    assert got == [
        ("units", "box_units"),
        ("over", "boxes[0]"),
        ("line 4", "<line>"),
        ("under", "boxes[0]"),
        ("empty_q", "question"),
        ("no_answer", "answer"),
        ("escape", "image"),
        ("three", "boxes[0]"),
        ("choices", "choices"),
        ("atype", "answer_type"),
        ("pix_nosize", "image"),
        ("ok", "id"),
    ]
    assert "inches" in str(errors[0]) and "duplicate id" in str(errors[-1])
    with pytest.raises(ValueError, match="box_units"):
        JsonlSource(tmp_path / "d.jsonl", box_units="inches")
    with pytest.raises(ValueError, match="unknown field"):
        JsonlSource(tmp_path / "d.jsonl", fields={"prompt": "problem"})


def test_jsonl_accepts_a_json_list_and_names_records_by_index(tmp_path):
    path = tmp_path / "d.json"
    path.write_text(json.dumps([{"image": "a.png", "question": "Q?", "answer": "x", "boxes": [[0, 0, 1, 1]]},
                                {"image": "a.png", "question": "Q?", "answer": "x"}]), encoding="utf-8")  # fmt: skip
    items, errors = split_results(JsonlSource(path))
    assert items[0].id == content_id("d", source="jsonl", file=path, question="Q?", image="a.png")
    assert errors[0].record == "#1" and errors[0].field == "boxes"


# ------------------------------------------------------------------------------------------------------ synthetic


def test_synthetic_source_maps_every_record_with_oracle_depth(synth_dir):
    recs = synth_records(synth_dir)
    items, errors = split_results(SyntheticSource(synth_dir))
    assert errors == [] and len(items) == len(recs) > 0
    by_id = {r["id"]: r for r in recs}
    for it in items:
        rec = by_id[it.id]
        assert it.question == rec["problem"] and it.answer == rec["response"] and it.dataset == "synth"
        assert it.gt_boxes == [tuple(b) for b in rec["normalized_solution_round"]["bbox_3d"]]
        assert (it.depth_path, it.depth_image, it.image) == (rec["depth_path"], rec["depth_image"], rec["image"])
        assert it.objects == rec["objects"] and it.choices == rec.get("choices")
        assert (it.answer_type, it.question_type) == (rec["answer_type"], rec["question_type"])
        assert it.extra["scene_id"] == rec["scene_id"] and it.extra["split"] == rec["split"]
        assert it.extra["answer_text"] == rec["answer_text"] and it.extra["image_size"] == [64, 64]
        depth = load_depth(synth_dir / it.depth_path)
        assert depth.shape == (64, 64)
    train_only, _ = split_results(SyntheticSource(synth_dir, splits=["train"]))
    assert {i.extra["split"] for i in train_only} == {"train"}
    assert len(train_only) == sum(r["split"] == "train" for r in recs)
    with pytest.raises(SourceFileError, match="val.jsonl"):
        SyntheticSource(synth_dir, splits=["val"])


def test_synthetic_source_reports_a_broken_record(synth_dir, tmp_path):
    recs = synth_records(synth_dir)
    bad = dict(recs[0], id="broken", depth_path="../../x.npy")
    missing = {k: v for k, v in dict(recs[0], id="nosol").items() if k != "normalized_solution_round"}
    write_jsonl(tmp_path / "train.jsonl", [recs[0], bad, missing])
    items, errors = split_results(SyntheticSource(tmp_path, image_root=synth_dir))
    assert [i.id for i in items] == [recs[0]["id"]]
    assert {(e.record, e.field) for e in errors} == {("broken", "depth_path"), ("nosol", "normalized_solution_round")}


# ------------------------------------------------------------------------------------------------------- SIF-50K


@pytest.fixture
def sif50k_file(synth_dir, tmp_path):
    recs = [authors_record(r) for r in synth_records(synth_dir)]
    path = synth_dir / f"sif50k_{tmp_path.name}.json"
    path.write_text(json.dumps(recs, indent=4), encoding="utf-8")
    yield path, recs
    path.unlink()


def test_sif50k_source_yields_items_with_the_trace(sif50k_file, synth_dir):
    path, recs = sif50k_file
    items, errors = split_results(Sif50kSource(path))
    assert errors == [] and len(items) == len(recs)
    for it, rec in zip(items, recs):
        assert it.id == content_id("sif50k", source="sif50k", file=path, question=rec["problem"], image=rec["image"])
        assert it.trace == rec["messages"][1]["content"] and it.depth_image == rec["depth_image"]
        assert it.depth_path is None and it.question == rec["problem"]
        assert it.gt_boxes == [tuple(b) for b in rec["normalized_solution_round"]["bbox_3d"]]


def test_sif50k_source_bad_records(tmp_path, synth_dir):
    rec = authors_record(synth_records(synth_dir)[0])
    # each its own question: the same question on the same image in one file is one id (a duplicate)
    no_trace = dict(rec, problem="q2?", messages=rec["messages"][:1])
    bad_msgs = [rec["messages"][0], {"role": "assistant", "content": "<answer>x</answer>"}]
    bad_trace = dict(rec, problem="q3?", messages=bad_msgs)
    escape = dict(rec, problem="q4?", depth_image="../elsewhere.png", images=[rec["image"], "../elsewhere.png"])
    path = tmp_path / "s.jsonl"
    write_jsonl(path, [rec, no_trace, bad_trace, escape])
    items, errors = split_results(Sif50kSource(path, image_root=synth_dir))
    assert len(items) == 2  # the malformed trace is kept as written by default
    assert {(e.record, e.field) for e in errors} == {("line 2", "messages"), ("line 4", "depth_image")}
    _, errors = split_results(Sif50kSource(path, image_root=synth_dir, strict_trace=True))
    assert ("line 3", "messages") in {(e.record, e.field) for e in errors}


def test_import_sif50k_decodes_depth_once_and_resumes(sif50k_file, synth_dir, tmp_path):
    path, recs = sif50k_file
    out = tmp_path / "imported"
    summary = import_sif50k(path, synth_dir, out)
    n_maps = len({r["depth_image"] for r in recs})
    assert (summary["written"], summary["failed"], summary["decoded"]) == (len(recs), 0, n_maps)
    assert summary["reused"] == len(recs) - n_maps  # several questions share a scene: decoded once
    lines = (out / RECORDS_FILE).read_text().splitlines()
    imported = [json.loads(x) for x in lines]
    originals = {r["id"]: r for r in synth_records(synth_dir)}
    source_ids = [it.id for it in Sif50kSource(path)]  # the import gives the id the source itself gives
    for k, (new, old) in enumerate(zip(imported, recs)):
        assert {key: v for key, v in new.items() if key not in ("id", "depth_path")} == old
        assert list(new)[: len(REQUIRED)] == list(REQUIRED)
        assert new["id"] == source_ids[k] == content_id(
            "sif50k", source="sif50k", file=path, question=old["problem"], image=old["image"]
        )
        npy = Path(new["depth_path"])
        assert npy.is_absolute() and npy.suffix == ".npy"  # out_dir is outside the image root
        check_record(new)
        # the lossless map decoded from the colourised PNG is within half a palette step of the true map
        truth = next(load_depth(synth_dir / o["depth_path"]) for o in originals.values()
                     if o["depth_image"] == new["depth_image"])  # fmt: skip
        assert np.abs(load_depth(npy) - truth).max() <= 0.5 / 255 + 1e-6
    # rerun: nothing written twice, nothing decoded again
    mtimes = {p: p.stat().st_mtime_ns for p in (out / "depth").rglob("*.npy")}
    again = import_sif50k(path, synth_dir, out)
    assert (again["written"], again["skipped"], again["decoded"]) == (0, len(recs), 0)
    assert (out / RECORDS_FILE).read_text().splitlines() == lines
    assert {p: p.stat().st_mtime_ns for p in (out / "depth").rglob("*.npy")} == mtimes
    # an interrupted append (partial last line) is cut and that record imported again
    (out / RECORDS_FILE).write_text("\n".join(lines[:-1]) + "\n" + lines[-1][:25], encoding="utf-8")
    third = import_sif50k(path, synth_dir, out)
    assert third["written"] == 1 and (out / RECORDS_FILE).read_text().splitlines() == lines
    # the imported records read back with their depth maps
    items, errors = split_results(Sif50kSource(out / RECORDS_FILE, image_root=synth_dir, depth_root=out))
    assert errors == [] and all(it.depth_path for it in items) and len(items) == len(recs)


def test_import_sif50k_inside_the_image_root_writes_relative_depth_paths(sif50k_file, synth_dir):
    path, recs = sif50k_file
    out = synth_dir / f"imp_{path.stem}"
    try:
        import_sif50k(path, synth_dir, out)
        imported = [json.loads(x) for x in (out / RECORDS_FILE).read_text().splitlines()]
        assert all(not os.path.isabs(r["depth_path"]) for r in imported)
        items, errors = split_results(Sif50kSource(out / RECORDS_FILE, image_root=synth_dir))
        assert errors == [] and all((synth_dir / it.depth_path).is_file() for it in items)
    finally:
        import shutil

        shutil.rmtree(out)


def test_import_sif50k_records_failures_and_goes_on(synth_dir, tmp_path):
    rec = authors_record(synth_records(synth_dir)[0])
    rec["id"] = "good"
    missing = dict(rec, id="missing", depth_image="depth_vis/none.png", images=[rec["image"], "depth_vis/none.png"])
    escape = dict(rec, id="escape", image="../../x.png", images=["../../x.png", rec["depth_image"]])
    schema = {k: v for k, v in dict(rec, id="schema").items() if k != "problem"}
    path = write_jsonl(tmp_path / "in.jsonl", [rec, missing, escape, schema], raw_lines={4: "not json"})
    out = tmp_path / "out"
    summary = import_sif50k(path, synth_dir, out)
    assert (summary["written"], summary["failed"]) == (1, 4)
    failures = [json.loads(x) for x in (out / FAILURES_FILE).read_text().splitlines()]
    assert [(f["id"], f["stage"]) for f in failures] == [
        ("missing", "depth"),
        ("escape", "path"),
        ("schema", "check"),
        ("line 5", "read"),
    ]
    assert "problem" in failures[2]["reason"]
    assert [json.loads(x)["id"] for x in (out / RECORDS_FILE).read_text().splitlines()] == ["good"]


def test_import_sif50k_gives_null_or_empty_ids_its_own_and_resumes_them(synth_dir, tmp_path):
    recs = [authors_record(r) for r in synth_records(synth_dir)[:2]]
    recs[0]["id"], recs[1]["id"] = None, ""
    path = tmp_path / "in.json"
    path.write_text(json.dumps(recs), encoding="utf-8")
    out = tmp_path / "out"
    assert import_sif50k(path, synth_dir, out)["written"] == 2
    again = import_sif50k(path, synth_dir, out)
    assert (again["written"], again["skipped"]) == (0, 2)  # not imported a second time
    ids = [json.loads(x)["id"] for x in (out / RECORDS_FILE).read_text().splitlines()]
    rule = [content_id("sif50k", source="sif50k", file=path, question=r["problem"], image=r["image"]) for r in recs]
    assert ids == rule
    assert len(set(ids)) == 2
    items, errors = split_results(Sif50kSource(out / RECORDS_FILE, image_root=synth_dir, depth_root=out))
    assert errors == [] and [i.id for i in items] == ids

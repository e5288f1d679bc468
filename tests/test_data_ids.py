"""The one id rule (sifthinker.data.ids) through real sources and real builds: ids stable across files and reruns,
repeated ids one failure row each (never renamed, never dropped silently)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sifthinker.data.build import BuildConfig, build, output_paths, read_ids
from sifthinker.data.depth_stage import DepthCache, image_digest
from sifthinker.data.ids import content_id
from sifthinker.data.sources import JsonlSource, TallyQASource, VisualCoTSource
from sifthinker.data.types import GroundedItem, ItemError
from sifthinker.data.writers.template import TemplateWriter

REQUEST = "Please provide the bounding box coordinate of the region that can help you answer the question better."


def image_with_depth(root: Path, name: str, out: Path, w: int = 64, h: int = 48) -> str:
    """A real image under ``root`` and its depth map in ``out``'s depth cache (as the model would leave it), so a
    build with ``depth=auto`` needs no depth model."""
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(len(name))
    Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(path)
    ramp = np.tile(np.linspace(0.1, 0.9, w, dtype=np.float32), (h, 1))
    DepthCache(out / "depth_cache").put(image_digest(path), ramp)
    return name


def tally_rows(images: list[str]) -> list[dict]:
    return [
        {"question": f"How many boxes in picture {k}?", "answer": 1, "image": im, "width": 64, "height": 48,
         "bboxs": [[8, 6, 40, 30]]}
        for k, im in enumerate(images)
    ]  # fmt: skip


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def cfg(out: Path, root: Path, **kw) -> BuildConfig:
    return BuildConfig(out=out, image_root=root, progress=False, **kw)


def failures(out: Path) -> dict[str, dict]:
    rows = [json.loads(x) for x in output_paths(out, (0, 1))["failures"].read_text().splitlines()]
    return {r["id"]: r for r in rows}


def test_two_tallyqa_files_built_into_one_folder_do_not_collide(tmp_path):
    out = tmp_path / "out"
    images = [image_with_depth(tmp_path, f"img/{k}.png", out) for k in range(2)]
    # the same line positions in both files, no ids of their own: line numbers would give both files the same ids
    train = write_jsonl(tmp_path / "train.jsonl", tally_rows(images))
    val = write_jsonl(tmp_path / "val.jsonl", tally_rows(images))
    s1 = build(TallyQASource(train), TemplateWriter(), cfg(out, tmp_path))
    s2 = build(TallyQASource(val), TemplateWriter(), cfg(out, tmp_path))
    assert (s1["kept"], s2["kept"], s2["skipped_done"], s2["failed"]) == (2, 2, 0, 0)
    ids = read_ids(output_paths(out, (0, 1))["records"])
    assert len(ids) == len(set(ids)) == 4
    expected = {
        content_id("tallyqa", source="tallyqa", file=f.name, question=r["question"], image=r["image"])
        for f in (train, val)
        for r in tally_rows(images)
    }
    assert set(ids) == expected
    # a rerun of both gives the same ids: everything is found done, nothing is built twice
    again = [build(TallyQASource(f), TemplateWriter(), cfg(out, tmp_path)) for f in (train, val)]
    assert [(s["kept"], s["skipped_done"]) for s in again] == [(0, 2), (0, 2)]
    assert read_ids(output_paths(out, (0, 1))["records"]) == ids


def test_ids_do_not_depend_on_the_order_or_the_folder_of_the_file(tmp_path):
    rows = tally_rows(["a.png", "b.png", "c.png"])  # width and height given: no image is read
    a = write_jsonl(tmp_path / "t.jsonl", rows)
    (tmp_path / "moved").mkdir()
    b = write_jsonl(tmp_path / "moved" / "t.jsonl", rows[::-1])
    ids_a = [it.id for it in TallyQASource(a)]
    ids_b = [it.id for it in TallyQASource(b)]
    assert ids_a == ids_b[::-1] and len(set(ids_a)) == 3
    assert ids_a == [it.id for it in TallyQASource(a)]  # a rerun reads the same ids
    assert not any(i.endswith(("-l1", "-l2", "-l3", "-0", "-1", "-2")) for i in ids_a)
    # the generic JSONL source follows the same rule
    g = write_jsonl(tmp_path / "g.jsonl", [dict(r, boxes=[[0.1, 0.1, 0.5, 0.5]]) for r in rows])
    rule = [content_id("g", source="jsonl", file="g.jsonl", question=r["question"], image=r["image"]) for r in rows]
    assert [it.id for it in JsonlSource(g)] == rule


def viscot_record(qid, path: str, question: str) -> dict:
    return {
        "dataset": "gqa",
        "split": "train",
        "question_id": qid,
        "image": [path],
        "conversations": [
            {"from": "human", "value": f"<image>\n{question} {REQUEST}"},
            {"from": "gpt", "value": "[0.1, 0.2, 0.6, 0.7]"},
            {"from": "human", "value": "<image>"},
            {"from": "gpt", "value": "A cup"},
        ],
    }


def test_visual_cot_repeated_id_is_a_failure_row_never_renamed(tmp_path):
    out = tmp_path / "out"
    im = image_with_depth(tmp_path, "cot/gqa/a.png", out, 64, 64)
    recs = [viscot_record(7, im, "What is on the table?"), viscot_record(7, im, "What is under the table?"),
            viscot_record(8, im, "What is left of the cup?")]  # fmt: skip
    path = tmp_path / "viscot.json"
    path.write_text(json.dumps(recs), encoding="utf-8")
    got = list(VisualCoTSource(path, box_mode="released"))
    items = [x for x in got if isinstance(x, GroundedItem)]
    errors = [x for x in got if isinstance(x, ItemError)]
    assert [i.id for i in items] == ["viscot-gqa-7", "viscot-gqa-8"]  # the repeat is not renamed into a new item
    assert len(errors) == 1 and errors[0].field == "id" and errors[0].position == "#1"
    assert "duplicate id 'viscot-gqa-7'" in str(errors[0]) and "#0" in str(errors[0])

    s = build(VisualCoTSource(path, box_mode="released"), TemplateWriter(), cfg(out, tmp_path))
    assert (s["kept"], s["failed"], s["failed_by"]) == (2, 1, {"source/id": 1})
    (row,) = failures(out).values()
    assert row["id"] == "#1" and "duplicate id" in row["detail"]
    again = build(VisualCoTSource(path, box_mode="released"), TemplateWriter(), cfg(out, tmp_path))
    assert (again["kept"], again["failed"]) == (0, 0)  # the repeat's row is found done: not written twice


def test_jsonl_repeated_own_id_gives_one_failure_row_each(tmp_path):
    out = tmp_path / "out"
    im = image_with_depth(tmp_path, "x.png", out)
    base = {"image": im, "question": "Is it red?", "answer": "yes", "boxes": [[0.1, 0.1, 0.5, 0.5]]}
    rows = [dict(base, id="ok"), dict(base, id="ok", question="Is it blue?"), dict(base, id="ok"), dict(base, id="b")]
    src = write_jsonl(tmp_path / "d.jsonl", rows)
    s = build(JsonlSource(src), TemplateWriter(), cfg(out, tmp_path))
    assert (s["kept"], s["failed"]) == (2, 2)
    assert read_ids(output_paths(out, (0, 1))["records"]) == ["ok", "b"]
    rows_by_id = failures(out)
    # named by the repeat's own line, so they never take the kept record's id (nor each other's)
    assert sorted(rows_by_id) == ["ok (line 2)", "ok (line 3)"]
    assert all(r["reason"] == "id" and "first at" in r["detail"] for r in rows_by_id.values())
    again = build(JsonlSource(src), TemplateWriter(), cfg(out, tmp_path))
    assert (again["kept"], again["failed"], again["skipped_done"]) == (0, 0, 2)
    assert len(failures(out)) == 2
    # another file into the same folder: a bad record whose id a kept record holds still gets its own row
    other = write_jsonl(tmp_path / "e.jsonl", [{k: v for k, v in dict(base, id="ok").items() if k != "boxes"}])
    s = build(JsonlSource(other), TemplateWriter(), cfg(out, tmp_path))
    assert s["failed"] == 1 and failures(out)["ok (line 1)"]["reason"] == "boxes"


@pytest.mark.parametrize("shards", [1, 3])
def test_repeated_items_in_a_plain_list_get_failure_rows_in_every_shard_layout(tmp_path, shards):
    out = tmp_path / "out"
    im = image_with_depth(tmp_path, "x.png", out)
    items = [GroundedItem(f"i{k}", "d", im, f"q{k}?", "yes", [(0.1, 0.1, 0.5, 0.5)]) for k in range(4)]
    stream = [*items, items[1], items[3], items[1]]
    for i in range(shards):
        build(stream, TemplateWriter(), cfg(out, tmp_path, shard=(i, shards)))
    kept, failed = [], {}
    for i in range(shards):
        kept += read_ids(output_paths(out, (i, shards))["records"])
        p = output_paths(out, (i, shards))["failures"]
        failed.update({r["id"]: r for r in map(json.loads, p.read_text().splitlines())} if p.exists() else {})
    assert sorted(kept) == ["i0", "i1", "i2", "i3"]
    assert sorted(failed) == ["i1 (#4)", "i1 (#6)", "i3 (#5)"]
    assert {r["reason"] for r in failed.values()} == {"duplicate_id"}
    assert "repeats the id 'i1' of record #1" in failed["i1 (#4)"]["detail"]

"""The benchmark files people download, each in a small file the test writes from the published description:
RefCOCO as Visual-CoT/Shikra REC jsonl, VLM-R1 json/jsonl and lmms-lab Parquet; CV-Bench's Parquet when the jsonl's
images are absent; Visual-CoT's images under playground/data/; SAT's left-out rows in results.json."""

from __future__ import annotations

import io
import json

import pytest
from eval_helpers import ScriptedPredictor, trace, write_png
from PIL import Image

from sifthinker.eval import run_eval
from sifthinker.eval.benchmarks import get_benchmark
from sifthinker.eval.benchmarks._common import BenchmarkFileError


def _png(size=(20, 10), colour=(0, 128, 0)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, colour).save(buf, format="PNG")
    return buf.getvalue()


# ----------------------------------------------------------------------------------------------------- RefCOCO


def test_refcoco_visual_cot_rec_jsonl(tmp_path):
    coco = tmp_path / "coco" / "train2014"
    write_png(coco / "COCO_train2014_000000000001.jpg", size=(640, 480))
    lines = [
        {"img_path": "COCO_train2014_000000000001.jpg", "expression": "man on the left", "bbox": [64, 48, 384, 288],
         "dataset_name": "refcoco", "height": 480, "width": 640},
        {"img_path": "COCO_train2014_000000000009.jpg", "expression": "red car", "bbox": [0, 0, 50, 100],
         "dataset_name": "refcoco", "height": 200, "width": 100},
    ]  # fmt: skip
    f = tmp_path / "REC_refcoco_unc_val.jsonl"
    f.write_text("".join(json.dumps(r) + "\n" for r in lines))
    bench = get_benchmark("refcoco")
    items = bench.load(tmp_path)  # the folder: the val file is found, train2014 next to it
    assert [it.id for it in items] == ["refcoco-val-0", "refcoco-val-1"] and items[0].category == "refcoco_val"
    assert items[0].gt_boxes == [(0.1, 0.1, 0.6, 0.6)]  # pixel x1, y1, x2, y2 / (640, 480)
    assert items[1].gt_boxes == [(0.0, 0.0, 0.5, 0.5)] and items[1].missing_images()  # size stored: kept, skipped
    assert "man on the left" in items[0].question and bench.load(f, limit=1)[0].id == "refcoco-val-0"
    res = bench.score(items, {items[0].id: trace(None, [((0.1, 0.1, 0.6, 0.6), 0.5)])})
    assert res["metrics"]["acc_at_0.5"] == 50.0
    with pytest.raises(BenchmarkFileError, match="split 'testA'"):
        bench.load(tmp_path, split="testA")


def test_refcoco_vlm_r1_json_and_jsonl(tmp_path):
    root = tmp_path / "rec_jsons_processed"
    root.mkdir()
    train = tmp_path / "train2014"
    write_png(train / "COCO_train2014_000000000002.jpg", size=(200, 100))
    recs = [
        {"image": "COCO_train2014_000000000002.jpg", "problem": "Please provide the bounding box coordinate of the "
         "region this sentence describes: dog on the sofa.", "normal_caption": "dog on the sofa",
         "solution": [50, 25, 150, 75]},
        {"image": "COCO_train2014_000000000404.jpg", "problem": "...: cat", "normal_caption": "cat",
         "solution": [0, 0, 1, 1]},  # no image on disk: no size, so left out and counted
    ]  # fmt: skip
    (root / "refcoco_val.json").write_text(json.dumps(recs))
    (root / "refcocog_val.json").write_text(json.dumps(recs[:1]))
    bench = get_benchmark("refcoco")
    with pytest.raises(BenchmarkFileError, match="dataset=refcoco"):  # two val files in the folder
        bench.load(root)
    items = bench.load(root, dataset="refcoco")
    assert len(items) == 1 and items.left_out == {"image_missing": 1}
    assert items[0].gt_boxes == [(0.25, 0.25, 0.75, 0.75)] and items[0].meta["sentence"] == "dog on the sofa"
    conv = {"id": 7, "image": "COCO_train2014_000000000002.jpg", "conversations": [
        {"from": "human", "value": "<image>Please provide the bounding box coordinate of the region this sentence "
         "describes: dog on the sofa."}, {"from": "gpt", "value": "[50, 25, 150, 75]"}]}  # fmt: skip
    jl = tmp_path / "refcoco_testA.jsonl"
    jl.write_text(json.dumps(conv) + "\n")
    (it,) = bench.load(jl, image_root=train)
    assert it.id == "refcoco-testA-7" and it.gt_boxes == items[0].gt_boxes
    assert it.meta["sentence"] == "dog on the sofa."
    res = run_eval("refcoco", root, ScriptedPredictor(lambda i: trace(None, [(i.gt_boxes[0], 0.5)])), tmp_path / "run",
                   bench_kwargs={"dataset": "refcoco"}, progress=False)  # fmt: skip
    assert res["left_out"] == {"image_missing": 1} and res["counts"]["left_out"] == 1
    assert res["metrics"]["acc_at_0.5"] == 100.0


def test_refcoco_lmms_lab_parquet(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    data = tmp_path / "RefCOCO" / "data"
    data.mkdir(parents=True)
    img = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
    schema = pa.schema([("question_id", pa.string()), ("image", img), ("question", pa.string()),
                        ("answer", pa.list_(pa.string())), ("segmentation", pa.list_(pa.float32())),
                        ("bbox", pa.list_(pa.float32())), ("iscrowd", pa.int8()),
                        ("file_name", pa.string())])  # fmt: skip
    rows = {
        "question_id": ["100", "101"],
        "image": [{"bytes": _png((200, 100)), "path": None}, {"bytes": _png((100, 100)), "path": None}],
        "question": ["Please carefully observe the area circled in the image and come up with a caption."] * 2,
        "answer": [["left dog", "brown dog"], ["tree"]],
        "segmentation": [[0.0] * 6, [0.0] * 6],
        "bbox": [[50, 25, 100, 50], [0, 0, 50, 50]],
        "iscrowd": [0, 0],
        "file_name": ["COCO_train2014_000000000002.jpg", "COCO_train2014_000000000003.jpg"],
    }
    pq.write_table(pa.table(rows, schema=schema), data / "val-00000-of-00001.parquet")
    pq.write_table(pa.table(rows, schema=schema).slice(1), data / "testA-00000-of-00001.parquet")
    bench = get_benchmark("refcoco")
    items = bench.load(tmp_path / "RefCOCO")
    assert [it.id for it in items] == ["refcoco-val-100-0", "refcoco-val-100-1", "refcoco-val-101-0"]
    assert items[0].gt_boxes == [(0.25, 0.25, 0.75, 0.75)] and items[2].gt_boxes == [(0.0, 0.0, 0.5, 0.5)]
    assert not any(it.missing_images() for it in items) and "brown dog" in items[1].question
    assert [it.id for it in bench.load(tmp_path / "RefCOCO", split="testA")] == ["refcoco-testA-101-0"]


def test_refcoco_unknown_file_lists_the_accepted_layouts(tmp_path):
    f = tmp_path / "refcoco_val.jsonl"
    f.write_text(json.dumps({"question": "where?", "box": [1, 2, 3, 4]}) + "\n")
    with pytest.raises(BenchmarkFileError) as e:
        get_benchmark("refcoco").load(f, image_root=tmp_path)
    for needle in ("refs(unc).p", "REC_refcoco_unc_val.jsonl", "refcoco_val.json", "val-00000-of-00004.parquet"):
        assert needle in str(e.value)


# ----------------------------------------------------------------------------------------------------- CV-Bench


def _cv_rows(n=3):
    return [{"idx": i, "type": "2D", "task": "Count", "question": f"How many? {i}", "choices": ["1", "2", "3"],
             "answer": "(B)", "prompt": "...", "filename": f"img/2D/count/ade20k_{i}.png", "source": "ADE20K"}
            for i in range(n)]  # fmt: skip


def test_cv_bench_reads_the_parquet_when_the_jsonl_images_are_absent(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = _cv_rows()
    (tmp_path / "test_2d.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))  # no img/ folder
    table = {k: [r[k] for r in rows] for k in rows[0]}
    table["image"] = [{"bytes": _png((30, 20)), "path": None} for _ in rows]
    pq.write_table(pa.table(table), tmp_path / "test_2d.parquet")
    bench = get_benchmark("cv_bench")
    items = bench.load(tmp_path)
    assert [it.id for it in items] == ["cvbench-0", "cvbench-1", "cvbench-2"] and items[0].answer == "B"
    assert not any(it.missing_images() for it in items)  # extracted from the parquet
    assert items.missing_files == ["test_3d.parquet"]  # only the 2D half was downloaded
    with Image.open(items[0].images[0]) as im:
        assert im.size == (30, 20)
    (tmp_path / "test_2d.parquet").unlink()
    with pytest.raises(BenchmarkFileError, match="test_2d.parquet"):
        bench.load(tmp_path)


# --------------------------------------------------------------------------------------------------- Visual-CoT


def _viscot_record(qid, rel):
    return {"question_id": qid, "image": [rel, f"{rel}###[50, 25, 150, 75]"],
            "conversations": [{"from": "human", "value": "<image>\nIs the bird red? Please provide the bounding box "
                               "coordinate of the region that can help you answer the question better."},
                              {"from": "gpt", "value": "[0.25, 0.375, 0.75, 0.625]"},
                              {"from": "human", "value": "<image>"}, {"from": "gpt", "value": "No"}]}  # fmt: skip


def test_viscot_images_resolve_under_playground_data_or_the_error_names_the_flag(tmp_path):
    bench_dir = tmp_path / "Visual-CoT" / "viscot_benchmark" / "benchmark"
    bench_dir.mkdir(parents=True)
    (bench_dir / "cub.json").write_text(json.dumps([_viscot_record(1, "cot/cub/bird.jpg")]))
    bench = get_benchmark("viscot")
    with pytest.raises(BenchmarkFileError, match="image_root="):
        bench.load(bench_dir)
    write_png(tmp_path / "Visual-CoT" / "playground" / "data" / "cot" / "cub" / "bird.jpg", size=(200, 100))
    (item,) = bench.load(bench_dir)
    assert not item.missing_images() and "playground/data/cot/cub" in item.images[0]
    assert item.gt_boxes == [(0.25, 0.25, 0.75, 0.75)]


# ---------------------------------------------------------------------------------------------------------- SAT


def test_sat_multi_image_rows_are_counted_in_results(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    one = [{"bytes": _png(), "path": None}]
    rows = {"image_bytes": [one, one + one, one + one], "question": ["Left?", "Moved?", "Turned?"],
            "answers": [["left", "right"]] * 3, "question_type": ["obj_rel", "ego", "ego"],
            "correct_answer": ["left", "right", "left"]}  # fmt: skip
    pq.write_table(pa.table(rows), tmp_path / "SAT_static.parquet")
    res = run_eval("sat", tmp_path, ScriptedPredictor(lambda it: trace("left")), tmp_path / "run", progress=False)
    assert res["left_out"] == {"multi_image": 2} and res["counts"]["loaded"] == 1
    on_disk = json.loads((tmp_path / "run" / "results.json").read_text())
    assert on_disk["left_out"] == {"multi_image": 2}
    assert "multi_image 2" in (tmp_path / "run" / "results.md").read_text()


def test_missing_task_files_are_named_in_results(tmp_path):
    reach = [{"image": f"reach/{i}.jpg", "question": "Can the arm reach the cup?", "answer": a}
             for i, a in enumerate(["Yes", "No"])]  # fmt: skip
    (tmp_path / "reach.json").write_text(json.dumps(reach))
    for r in reach:
        write_png(tmp_path / r["image"])
    res = run_eval("spatialbench", tmp_path, ScriptedPredictor(lambda it: trace(it.answer)), tmp_path / "run",
                   progress=False)  # fmt: skip
    assert res["missing_files"] == ["positional.json", "existence.json", "counting.json", "size.json"]
    assert "Published files not found: positional.json" in (tmp_path / "run" / "results.md").read_text()

"""The data contract: one converter from records to rows (the same prompt and reward columns for SFT, GRPO and the
Hugging Face export), each reward reading its one named column, and training reading a sharded build."""

from __future__ import annotations

import json
import os
import typing

import pytest
from train_fixtures import records, sif_data_dir

from sifthinker import rewards as R
from sifthinker.data.export import export_hf, load_sif_records
from sifthinker.prompts import build_prompt, render_plain
from sifthinker.rows import GRPO_COLUMNS, ROW_COLUMNS, RewardColumns, Row, record_row
from sifthinker.train import data as tdata


def _parts(prompt: list[dict]) -> list[tuple]:
    # Arrow gives every content part both keys ("text": None on an image part); compare what they say.
    return [(m["role"], [(p["type"], p.get("text")) for p in m["content"]]) for m in prompt]


def test_one_converter_gives_the_same_prompt_for_sft_grpo_and_export(tmp_path):
    from datasets import Dataset

    recs = records()
    sft = tdata.sft_dataset(recs)
    grpo = tdata.grpo_dataset(recs)
    export = Dataset.from_parquet(str(export_hf(recs, tmp_path)), cache_dir=str(tmp_path / "cache"))
    for i, rec in enumerate(recs):
        expected = _parts(build_prompt(rec["problem"], rec.get("choices")))
        assert _parts(sft[i]["prompt"]) == _parts(grpo[i]["prompt"]) == _parts(export[i]["prompt"]) == expected
        # and it is, word for word, the user turn the data engine stored in the record
        assert render_plain(grpo[i]["prompt"]) == rec["messages"][0]["content"]
        for col in ("answer", "choices", "answer_type", "progress_key", "gt_boxes"):
            assert grpo[i][col] == export[i][col], col
        assert os.path.abspath(grpo[i]["depth_path"]) == export[i]["depth_path"]
        assert sft[i]["completion"] == export[i]["completion"] == [
            {"role": "assistant", "content": rec["messages"][-1]["content"]}
        ]
    assert tuple(grpo.column_names) == GRPO_COLUMNS and set(ROW_COLUMNS) <= set(export.column_names)


def test_record_row_normalises_the_record_once(tmp_path):
    rec = {**records()[0], "response": 3, "depth_path": "maps/d.npy", "image": "a.png", "depth_image": "a_d.png"}
    rec["images"] = ["a.png", "a_d.png"]
    row = record_row(rec, image_root=tmp_path, depth_root=tmp_path / "depth")
    assert set(row) == set(ROW_COLUMNS) == set(typing.get_type_hints(Row))
    assert row["answer"] == "3"  # the ground truth as text, whatever JSON type the record used
    assert row["gt_boxes"] == [list(b) for b in rec["normalized_solution_round"]["bbox_3d"]]
    assert row["images"] == [str(tmp_path / "a.png"), str(tmp_path / "a_d.png")]
    assert row["depth_path"] == str(tmp_path / "depth" / "maps" / "d.npy")
    assert row["progress_key"] == R.progress_key(rec["problem"], "a.png")  # the path as written: stable
    assert record_row({k: v for k, v in rec.items() if k != "id"}, 7)["id"] == "#7"
    bare = {k: v for k, v in rec.items() if k not in ("depth_path", "choices", "answer_type")}
    bare["messages"] = bare["messages"][:1]
    row = record_row(bare)
    assert (row["depth_path"], row["choices"], row["answer_type"], row["completion"]) == (None, None, None, None)
    with pytest.raises(ValueError, match="depth_path"):
        tdata.grpo_example(bare)
    with pytest.raises(ValueError, match="no assistant turn"):
        tdata.sft_example(bare)


def test_every_reward_reads_only_reward_columns():
    allowed = set(typing.get_type_hints(RewardColumns))
    for name in R.REWARDS:
        fn = R.get_reward(name)
        assert set(fn.columns) | set(fn.optional_columns) <= allowed, name
        assert fn.columns or name == "format", name  # the format reward reads the completion alone
    # the GRPO rows hold every column of every reward, so the check at construction passes
    R.get_reward_funcs(list(R.REWARDS), columns=list(GRPO_COLUMNS))


def test_a_row_without_a_reward_column_is_a_config_error_at_construction():
    columns = [c for c in GRPO_COLUMNS if c != "gt_boxes"]
    with pytest.raises(ValueError, match=r"reward 'box' reads the dataset column\(s\) \['gt_boxes'\]"):
        R.get_reward_funcs(["format", "bboxaccuracy_w_progress"], columns=columns)
    with pytest.raises(ValueError, match="progress_key"):
        R.get_reward_funcs(["accuracy_w_progress"], columns=["prompt", "answer"])
    assert [f.__name__ for f in R.get_reward_funcs(["accuracy"], columns=["prompt", "answer"])] == ["answer_plain"]
    # at call time too, and never on the model's text: any completion scores in range
    fn = R.get_reward("depth_grounded")
    with pytest.raises(ValueError, match="needs the dataset column 'depth_path'"):
        fn(["<answer>A</answer>"], gt_boxes=[[[0, 0, 1, 1]]])


def test_training_and_export_read_a_sharded_build(tmp_path):
    lines = (sif_data_dir() / "records.jsonl").read_text().splitlines()
    half = len(lines) // 2
    build = tmp_path / "build"
    build.mkdir()
    (build / "records.shard-00001-of-00002.jsonl").write_text("\n".join(lines[half:]) + "\n")
    (build / "records.shard-00000-of-00002.jsonl").write_text("\n".join(lines[:half]) + "\n")
    ids = [json.loads(line)["id"] for line in lines]
    assert [r["id"] for r in tdata.load_records(build)] == ids  # shard order, every record
    assert [r["id"] for r in load_sif_records(build)] == ids
    assert len(tdata.load_records(build, limit=half + 1)) == half + 1
    (build / "records.shard-00001-of-00002.jsonl").write_text(lines[half][:-5] + "\n")
    with pytest.raises(ValueError, match="shard-00001"):  # a bad line names its shard
        tdata.load_records(build)
    with pytest.raises(ValueError, match="does not exist"):
        tdata.load_records(tmp_path / "nowhere")

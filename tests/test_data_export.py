"""Exports: SIF-50K JSON (exact schema, round trip through the import), LLaMA-Factory (its documented format rules)
and the Hugging Face parquet (loads back with the right columns and types)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from data_helpers import simple_trace

from sifthinker.data.export import (
    LLAMAFACTORY_TAGS,
    SIF50K_FIELDS,
    export_hf,
    export_llamafactory,
    export_sif50k,
    load_sif_records,
)
from sifthinker.data.sources import import_sif50k
from sifthinker.depth import load_depth
from sifthinker.prompts import build_prompt
from sifthinker.records import USER_PREFIX, RecordError, check_record, format_question, user_content
from sifthinker.synth.config import SynthConfig
from sifthinker.synth.dataset import generate_dataset
from sifthinker.trace import parse_trace


@pytest.fixture(scope="module")
def synth_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("synth_export")
    generate_dataset(root, n=4, seed=1, config=SynthConfig(image_size=(64, 64)))
    return root


@pytest.fixture
def records(synth_dir) -> list[dict]:
    """Kept SIF records as the build writes them: the SIF-50K fields, a trace, our extras; paths relative to the
    synthetic folder."""
    out = []
    for split in ("train", "test"):
        p = synth_dir / f"{split}.jsonl"
        if not p.exists():
            continue
        for line in p.read_text().splitlines():
            rec = json.loads(line)
            boxes = rec["normalized_solution_round"]["bbox_3d"]
            rec["messages"] = rec["messages"] + [
                {"role": "assistant", "content": simple_trace(boxes, rec["response"])}
            ]
            for k in ("objects", "evidence", "question_meta"):
                rec.pop(k, None)
            check_record(rec)
            out.append(rec)
    assert len(out) >= 4 and any(r.get("choices") for r in out) and any(not r.get("choices") for r in out)
    return out


# ------------------------------------------------------------------------------------------------------ SIF-50K


def test_export_sif50k_writes_exactly_the_schema_in_order(records, tmp_path):
    out = tmp_path / "sif50k.json"
    assert export_sif50k(records, out) == len(records)
    data = json.loads(out.read_text(encoding="utf-8"))
    assert isinstance(data, list) and len(data) == len(records)
    for row, rec in zip(data, records):
        assert list(row) == list(SIF50K_FIELDS) == [
            "dataset", "image", "depth_image", "problem", "normalized_solution_round", "response", "messages",
            "images",
        ]  # fmt: skip
        assert all(row[k] == rec[k] for k in SIF50K_FIELDS)
        check_record(row)
    extras = tmp_path / "with_extras.json"
    export_sif50k(records, extras, keep_extras=True)
    for row, rec in zip(json.loads(extras.read_text()), records):
        assert row == rec and list(row)[:8] == list(SIF50K_FIELDS)
    assert load_sif_records(extras) == json.loads(extras.read_text())


def test_export_sif50k_refuses_a_bad_record_and_leaves_the_old_file(records, tmp_path):
    out = tmp_path / "sif50k.json"
    export_sif50k(records[:1], out)
    before = out.read_bytes()
    bad = dict(records[1], messages=records[1]["messages"][:1])  # no trace
    with pytest.raises(RecordError) as e:
        export_sif50k([records[0], bad], out)
    assert e.value.field == "messages" and records[1]["id"] in str(e.value)
    assert out.read_bytes() == before and not list(tmp_path.glob(".*tmp*"))
    assert export_sif50k([], tmp_path / "empty.json") == 0 and json.loads((tmp_path / "empty.json").read_text()) == []


def test_sif50k_export_import_export_round_trip_is_identical(records, synth_dir, tmp_path):
    exported = tmp_path / "sif50k.json"
    export_sif50k(records, exported)
    summary = import_sif50k(exported, synth_dir, tmp_path / "imported")
    assert summary["written"] == len(records) and summary["failed"] == 0
    imported = load_sif_records(tmp_path / "imported" / "records.jsonl")
    originals = json.loads(exported.read_text())
    for new, old, rec in zip(imported, originals, records):
        assert {k: v for k, v in new.items() if k not in ("id", "depth_path")} == old
        # the decoded map matches the exact one within half a palette step
        diff = np.abs(load_depth(new["depth_path"]) - load_depth(synth_dir / rec["depth_path"]))
        assert diff.max() <= 0.5 / 255 + 1e-6
    again = tmp_path / "again.json"
    export_sif50k(imported, again)
    assert again.read_bytes() == exported.read_bytes()


def test_records_with_ids_keep_them_through_the_import(records, synth_dir, tmp_path):
    exported = tmp_path / "with_ids.json"
    export_sif50k(records, exported, keep_extras=True)
    import_sif50k(exported, synth_dir, tmp_path / "imp")
    imported = load_sif_records(tmp_path / "imp" / "records.jsonl")
    for new, rec in zip(imported, records):
        assert new["id"] == rec["id"]
        assert {k: v for k, v in new.items() if k != "depth_path"} == {
            k: v for k, v in rec.items() if k != "depth_path"
        }


# ------------------------------------------------------------------------------------------------ LLaMA-Factory


def check_llamafactory_rules(rows: list[dict], base: Path) -> None:
    """LLaMA-Factory's documented rules for a multimodal sharegpt/openai-style dataset."""
    for row in rows:
        assert set(row) == {"messages", "images"}
        msgs = row["messages"]
        body = msgs[1:] if msgs[0]["role"] == "system" else msgs
        assert [m["role"] for m in body] == ["user", "assistant"] * (len(body) // 2) and len(body) % 2 == 0
        assert all(set(m) == {"role", "content"} and isinstance(m["content"], str) for m in msgs)
        # the number of images equals the number of <image> tokens in the conversation
        assert sum(m["content"].count("<image>") for m in msgs) == len(row["images"])
        for p in row["images"]:
            full = p if os.path.isabs(p) else os.path.join(base, p)
            assert os.path.isfile(full), p


def test_export_llamafactory_follows_the_format_rules(records, synth_dir, tmp_path):
    out = tmp_path / "lf"
    res = export_llamafactory(records, out, name="sif_synth", image_root=synth_dir)
    assert res["count"] == len(records)
    rows = json.loads((out / "sif_synth.json").read_text())
    check_llamafactory_rules(rows, out)
    for row, rec in zip(rows, records):
        assert row["images"] == [str(synth_dir / rec["image"]), str(synth_dir / rec["depth_image"])]
        assert row["messages"][0]["content"].startswith(USER_PREFIX)
        assert row["messages"][-1]["content"] == rec["messages"][-1]["content"]
        parse_trace(row["messages"][-1]["content"])
    info = json.loads((out / "dataset_info.json").read_text())
    assert info["sif_synth"] == {
        "file_name": "sif_synth.json",
        "formatting": "sharegpt",
        "columns": {"messages": "messages", "images": "images"},
        "tags": {"role_tag": "role", "content_tag": "content", "user_tag": "user", "assistant_tag": "assistant",
                 "system_tag": "system"},
    }  # fmt: skip
    assert info["sif_synth"]["tags"] == LLAMAFACTORY_TAGS


def test_export_llamafactory_relative_paths_and_merged_dataset_info(records, synth_dir, tmp_path):
    out = synth_dir.parent / f"lf_{tmp_path.name}"
    out.mkdir()
    (out / "dataset_info.json").write_text(json.dumps({"other": {"file_name": "other.json"}}))
    export_llamafactory(records, out, image_root=synth_dir, paths="relative")
    rows = json.loads((out / "sif.json").read_text())
    assert all(not os.path.isabs(p) and p.startswith("../") for r in rows for p in r["images"])
    check_llamafactory_rules(rows, out)
    info = json.loads((out / "dataset_info.json").read_text())
    assert set(info) == {"other", "sif"} and info["other"] == {"file_name": "other.json"}


def test_export_llamafactory_refuses_broken_turns(records, synth_dir, tmp_path):
    rec = records[0]
    swapped = dict(rec, messages=[rec["messages"][1], rec["messages"][0]])
    with pytest.raises(RecordError, match="alternating"):
        export_llamafactory([swapped], tmp_path, image_root=synth_dir, check=False)
    extra_image = dict(rec, messages=[dict(rec["messages"][0], content=rec["messages"][0]["content"] + "<image>"),
                                      rec["messages"][1]])  # fmt: skip
    with pytest.raises(RecordError, match="placeholders"):
        export_llamafactory([extra_image], tmp_path, image_root=synth_dir, check=False)
    assert not (tmp_path / "sif.json").exists()


# ------------------------------------------------------------------------------------------------- Hugging Face


def test_export_hf_parquet_loads_back_with_the_columns_and_types(records, synth_dir, tmp_path):
    from datasets import Dataset, load_dataset

    path = export_hf(records, tmp_path / "hf", image_root=synth_dir)
    assert path == tmp_path / "hf" / "sif.parquet" and path.is_file()
    ds = Dataset.from_parquet(str(path), cache_dir=str(tmp_path / "cache"))
    assert len(ds) == len(records)
    assert set(ds.column_names) == {
        "id", "dataset", "prompt", "completion", "images", "gt_boxes", "depth_path", "answer", "choices",
        "answer_type", "question_type", "problem", "progress_key", "image", "depth_image",
    }  # fmt: skip
    assert ds.features["gt_boxes"].feature.feature.dtype == "float64"
    assert ds.features["images"].feature.dtype == "string"
    for row, rec in zip(ds, records):
        assert row["id"] == rec["id"] and row["answer"] == rec["response"] and row["problem"] == rec["problem"]
        (user,) = row["prompt"]
        assert user["role"] == "user"
        parts = user["content"]
        assert [p["type"] for p in parts] == ["text", "image", "text", "image", "text"]
        # exactly the prompt the trainer and inference build (labels included)
        expected = build_prompt(rec["problem"], rec.get("choices"))[0]["content"]
        assert [p.get("text") for p in parts] == [p.get("text") for p in expected]
        assert parts[4]["text"] == "\n" + user_content(rec["problem"], rec.get("choices"))[len(USER_PREFIX) :]
        assert parts[4]["text"].startswith("\n" + format_question(rec["problem"], rec.get("choices")))
        assert row["completion"] == [{"role": "assistant", "content": rec["messages"][-1]["content"]}]
        assert row["images"] == [str(synth_dir / rec["image"]), str(synth_dir / rec["depth_image"])]
        assert all(os.path.isabs(p) and os.path.isfile(p) for p in row["images"])
        assert row["image"] == row["images"][0] and row["depth_image"] == row["images"][1]
        assert row["gt_boxes"] == rec["normalized_solution_round"]["bbox_3d"]
        assert os.path.isabs(row["depth_path"]) and load_depth(row["depth_path"]).shape == (64, 64)
        assert row["choices"] == rec.get("choices")
        assert (row["answer_type"], row["question_type"]) == (rec["answer_type"], rec["question_type"])
    assert any(r["choices"] is None for r in ds) and any(r["choices"] for r in ds)
    via_loader = load_dataset("parquet", data_files=str(path), split="train", cache_dir=str(tmp_path / "cache2"))
    assert via_loader.column_names == ds.column_names and via_loader[0]["id"] == ds[0]["id"]


def test_export_hf_without_extras_uses_nulls(records, synth_dir, tmp_path):
    from datasets import Dataset

    bare = [{k: r[k] for k in SIF50K_FIELDS} for r in records[:2]]
    path = export_hf(bare, tmp_path, name="bare", image_root=synth_dir)
    ds = Dataset.from_parquet(str(path), cache_dir=str(tmp_path / "cache"))
    assert ds["id"] == ["#0", "#1"]
    assert ds["depth_path"] == [None, None] and ds["choices"][0] is None and ds["answer_type"] == [None, None]


def test_load_sif_records_reads_jsonl_and_names_a_corrupt_line(records, tmp_path):
    p = tmp_path / "r.jsonl"
    p.write_text("".join(json.dumps(r) + "\n" for r in records[:2]))
    assert load_sif_records(p) == records[:2]
    p.write_text(json.dumps(records[0]) + "\n{broken\n")
    with pytest.raises(RecordError, match="line 2"):
        load_sif_records(p)

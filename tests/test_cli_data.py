"""`sifthinker data build|export` through the real CLI, on a real synthetic set."""

from __future__ import annotations

import json

import pytest
from data_helpers import make_synth

from sifthinker.cli.main import main
from sifthinker.records import check_record


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    return make_synth(tmp_path_factory.mktemp("synth"), n=6, size=64)


def test_build_defaults_then_exports(synth, tmp_path, capsys):
    out = tmp_path / "sif"
    assert main(["data", "build", "--source", "synthetic", "--input", str(synth), "--out", str(out), "--quiet"]) == 0
    printed = capsys.readouterr().out
    recs = [json.loads(line) for line in (out / "records.jsonl").read_text().splitlines()]
    assert recs and f"kept {len(recs)} new" in printed
    for r in recs:
        check_record(r)
    # a rerun resumes: nothing new
    assert main(["data", "build", "--source", "synthetic", "--input", str(synth), "--out", str(out), "--quiet"]) == 0
    assert "kept 0 new" in capsys.readouterr().out
    assert main(["validate", str(out / "records.jsonl")]) == 0

    assert (
        main(["data", "export", "--input", str(out), "--format", "sif50k", "--out", str(tmp_path / "sif.json")]) == 0
    )
    exported = json.loads((tmp_path / "sif.json").read_text())
    assert len(exported) == len(recs)
    assert list(exported[0]) == [
        "dataset", "image", "depth_image", "problem", "normalized_solution_round", "response", "messages", "images",
    ]  # fmt: skip
    assert (
        main(["data", "export", "--input", str(out), "--format", "llamafactory", "--out", str(tmp_path / "lf")]) == 0
    )
    info = json.loads((tmp_path / "lf" / "dataset_info.json").read_text())
    assert info["sif"]["formatting"] == "sharegpt"
    assert main(["data", "export", "--input", str(out), "--format", "hf", "--out", str(tmp_path / "hf")]) == 0
    assert list((tmp_path / "hf").rglob("*.parquet"))


def test_build_options_and_errors(synth, tmp_path, capsys):
    out = tmp_path / "sif"
    args = ["data", "build", "--source", "synthetic", "--input", str(synth), "--out", str(out), "--quiet"]
    assert main([*args, "--rule", "official", "--distractor-prob", "1", "--shard", "0/2", "--limit", "4"]) == 0
    assert (out / "records.shard-00000-of-00002.jsonl").exists()
    rows = [json.loads(line) for line in (out / "records.shard-00000-of-00002.jsonl").read_text().splitlines()]
    # a distractor whenever one fits (not when the focus box is too large for a 1.2× copy beside it)
    assert 0 < len(rows) <= 4 and any("distractor" in r["chain_roles"] for r in rows)
    assert main(["data", "build", "--source", "nope", "--input", str(synth), "--out", str(out)]) == 2
    assert "known" in capsys.readouterr().err
    assert (
        main(["data", "build", "--source", "synthetic", "--input", str(tmp_path / "missing"), "--out", str(out)]) == 2
    )
    with pytest.raises(SystemExit):
        main([*args, "--shard", "3/2"])
    assert main(["data", "build", *args[2:], "--writer", "api"]) == 2
    assert "--api-config" in capsys.readouterr().err
    assert main(["data", "export", "--input", str(tmp_path / "nothing"), "--format", "hf", "--out", str(out)]) == 2
    # --source-option KEY=VALUE: read by sifthinker.overrides (a YAML list here) and passed to the source
    capsys.readouterr()
    assert main([*args, "--source-option", "splits=[nope]"]) == 2
    assert "nope.jsonl" in capsys.readouterr().err
    assert main([*args, "--out", str(tmp_path / "train"), "--source-option", "splits=[train]"]) == 0
    rows = [json.loads(x) for x in (tmp_path / "train" / "records.jsonl").read_text().splitlines()]
    assert rows and {r["split"] for r in rows} == {"train"}
    with pytest.raises(SystemExit):
        main([*args, "--source-option", "no-equals-sign"])

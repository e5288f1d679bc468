"""`sifthinker demo --quick`: the whole pipeline end to end on the CPU, its report, and resumption."""

from __future__ import annotations

import json
import re
import time

import pytest

from sifthinker.cli.main import main
from sifthinker.demo.config import DemoConfig
from sifthinker.demo.pipeline import MODELS


@pytest.fixture(scope="module")
def base_model(tmp_path_factory):
    """A few pretraining steps of a small base (the shipped one is tested in test_models_shipped)."""
    from test_pretrain import SMALL

    from sifthinker.pretrain import load_pretrain_config
    from sifthinker.pretrain.loop import pretrain

    out = tmp_path_factory.mktemp("base")
    cfg = load_pretrain_config("recipes/tiny/pretrain/config.yaml", [*SMALL, "image_size=112", f"output_dir={out}"])
    pretrain(cfg, progress=False)
    return out / "model"


def test_quick_demo_end_to_end_and_resume(tmp_path, capsys, base_model):
    out = tmp_path / "demo"
    argv = ["demo", "--quick", "--out", str(out), "--base-model", str(base_model)]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "report:" in printed and "SFT + GRPO-SIF" in printed and "[13/13]" in printed
    assert "{'loss'" not in printed and "'train_runtime'" not in printed  # the trainers' dictionaries went to the log
    assert "'loss'" in (out / "demo.log").read_text()
    stages = json.loads((out / "stages.json").read_text())
    assert {"synth", "data", "sft", "sft_answers", "grpo", "grpo_official", "focus"} <= set(stages)
    assert sum(k.startswith("eval_") for k in stages) == len(MODELS)
    for sub in ("models/sft", "models/answers_only", "models/grpo", "models/grpo_official"):
        assert (out / sub / "config.json").is_file()
    for run in ("base", "answers_only", "sft", "grpo", "grpo_official"):
        res = json.loads((out / "eval" / run / "results.json").read_text())
        assert res["counts"]["loaded"] == 8 and 0.0 <= res["metrics"]["accuracy"] <= 100.0
    # the answers-only baseline saw as many samples as the SIF model
    sft, ao = stages["sft"]["log_history"][-1], stages["sft_answers"]["log_history"][-1]
    assert sft["step"] == ao["step"] == 6

    html = (out / "report.html").read_text()
    assert "answers only (SFT)" in html and "SFT + GRPO-SIF" in html and "spatial types" in html
    assert "What each stage bought" in html and "class='ci'" in html and "The targets, measured" in html
    assert "data:image/png;base64," in html
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html)  # opens offline: no external asset
    summary = json.loads((out / "demo_summary.json").read_text())
    assert set(summary["accuracy"]) == set(MODELS)

    # a rerun into the same folder resumes: every stage is skipped
    t0 = time.perf_counter()
    assert main(argv) == 0
    again = capsys.readouterr().out
    assert again.count("done in an earlier run") == 13 and time.perf_counter() - t0 < 30
    assert json.loads((out / "demo_summary.json").read_text())["accuracy"] == summary["accuracy"]


def test_demo_recipe_keys_are_checked(tmp_path):
    (tmp_path / "demo.yaml").write_text("scenes: 3\nsecnes: 4\n")
    with pytest.raises(ValueError, match="secnes"):
        DemoConfig.from_recipe(tmp_path)
    with pytest.raises(ValueError, match="demo.yaml not found"):
        DemoConfig.from_recipe(tmp_path / "none")
    cfg = DemoConfig.from_recipe(quick=True, out=tmp_path, seed=3)
    assert cfg.seed == 3 and cfg.eval_limit == 8 and cfg.stage_overrides["grpo"]["max_completion_length"] == 48

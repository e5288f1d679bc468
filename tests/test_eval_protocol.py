"""The protocol card, the per-item scores file, the focus metrics, runs that evaluate nothing, and `compare`
refusing (or flagging) runs measured differently while showing a base model next to its fine-tune."""

from __future__ import annotations

import argparse
import json

import pytest
from eval_helpers import ScriptedPredictor, right_answer, trace, write_synthetic

from sifthinker.cli import eval as cli_eval
from sifthinker.eval import compare, read_predictions, run_eval
from sifthinker.eval.predictions import read_prediction_records
from sifthinker.eval.protocol import prompt_template
from sifthinker.eval.report import ProtocolMismatch
from sifthinker.eval.runner import NothingEvaluated


def _cli(argv: list[str]) -> int:
    p = argparse.ArgumentParser()
    cli_eval.add_arguments(p)
    return cli_eval.run(p.parse_args(argv))


class CardPredictor(ScriptedPredictor):
    """A scripted predictor that describes itself like a real one (model and decoding)."""

    def __init__(self, script, model="base", temperature=0.0):
        super().__init__(script)
        self.model, self.temperature = model, temperature

    def protocol(self):
        return {"backend": "custom", "prompt": prompt_template(True),
                "model": {"name": self.model, "path": self.model},
                "decoding": {"max_new_tokens": 64, "temperature": self.temperature}}  # fmt: skip


def test_scores_file_and_focus_metrics(tmp_path):
    data = write_synthetic(tmp_path / "data", n=4)  # evidence box (0.25, 0.25, 0.75, 0.75)
    full, gt = ((0, 0, 1, 1), 0.5), ((0.25, 0.25, 0.75, 0.75), 0.5)
    script = {"synth-0": trace("yes", [full], [gt]), "synth-1": trace("no", [gt], [full]),
              "synth-2": trace("yes", [gt]), "synth-3": trace(None, [full])}  # fmt: skip
    res = run_eval("synthetic", data, CardPredictor(script), tmp_path / "run", batch_size=2, progress=False)
    f = res["focus"]
    # first IoUs 0.25, 1, 1, 0.25; last 1, 0.25, 1, 0.25: gains +0.75, -0.75, 0, 0
    assert (f["first_iou"], f["last_iou"], f["correction_gain"]) == (0.625, 0.625, 0.0)
    assert (f["improved"], f["worsened"], f["areas_per_trace"]) == (1, 1, 1.5)
    assert f["n_with_seconds"] == 4 and f["seconds_per_item"] >= 0 and f["n_with_tokens"] == 0
    rows = [json.loads(x) for x in (tmp_path / "run" / "scores.jsonl").read_text().splitlines()]
    assert [r["item"]["id"] for r in rows] == [f"synth-{i}" for i in range(4)]
    s0 = rows[0]["score"]
    assert (s0["first_iou"], s0["last_iou"], s0["n_areas"], s0["status"]) == (0.25, 1.0, 2, "correct")
    assert rows[3]["score"]["status"] == "missing" and rows[3]["completion"] == script["synth-3"]
    assert rows[0]["item"]["gt_boxes"] == [[0.25, 0.25, 0.75, 0.75]] and rows[0]["score"]["seconds"] is not None
    assert {"first_iou", "last_iou", "n_areas", "tokens", "seconds", "error"} <= set(s0)


def test_the_protocol_card_is_complete(tmp_path):
    data = write_synthetic(tmp_path / "data", n=2)
    res = run_eval("synthetic", data, CardPredictor(right_answer), tmp_path / "run", seed=5, progress=False)
    p = res["protocol"]
    for key in ("prompt", "image_pixels", "decoding", "answer_parser", "judge", "model", "package_version", "seed",
                "backend", "items"):  # fmt: skip
        assert key in p, key
    assert p["seed"] == 5 and p["judge"] is None and "<answer>" in p["answer_parser"] and p["items"]["n"] == 2
    assert "{question}" in p["prompt"]["template"] and len(p["prompt"]["sha256"]) == 64
    assert "## Protocol" in (tmp_path / "run" / "results.md").read_text()
    rescored = run_eval("synthetic", data, None, tmp_path / "run", mode="score", progress=False)
    assert rescored["protocol"]["model"] == p["model"]  # a score-only run keeps the predicting run's card
    with pytest.raises(ValueError, match="another protocol"):  # resuming under other decoding is refused
        run_eval("synthetic", data, CardPredictor(right_answer, temperature=0.7), tmp_path / "run", progress=False)


def test_in_process_model_with_depth_none_through_the_cli(tmp_path, capsys):
    data = write_synthetic(tmp_path / "data", n=2)
    argv = ["--bench", "synthetic", "--data", str(data), "--out", str(tmp_path / "run"), "--model", "sif-tiny-base",
            "--model-arg", "depth=none", "--model-arg", "max_new_tokens=8", "--quiet"]  # fmt: skip
    assert _cli(argv) == 0, capsys.readouterr().err
    p = json.loads((tmp_path / "run" / "results.json").read_text())["protocol"]
    assert p["backend"] == "hf" and p["depth_mode"] == "none"
    assert p["prompt"]["sha256"] == prompt_template(False)["sha256"] and "Depth image" not in p["prompt"]["template"]
    assert p["decoding"]["max_new_tokens"] == 8 and p["decoding"]["do_sample"] is False
    assert len(p["model"]["hash"]) == 64 and p["model"]["path"]  # the shipped folder's config + weights
    assert p["image_pixels"]["max_pixels"] is not None


def test_a_run_that_evaluates_nothing_fails_with_the_reason(tmp_path, capsys):
    data = write_synthetic(tmp_path / "data", n=2)
    for png in (data / "images").rglob("*.png"):
        png.unlink()
    with pytest.raises(NothingEvaluated, match="image_missing 2"):
        run_eval("synthetic", data, ScriptedPredictor(right_answer), tmp_path / "run", progress=False)
    assert json.loads((tmp_path / "run" / "results.json").read_text())["counts"]["evaluated"] == 0
    preds = tmp_path / "p.jsonl"
    preds.write_text(json.dumps({"id": "other", "completion": "x"}) + "\n")
    base = ["--bench", "synthetic", "--data", str(data), "--out", str(tmp_path / "run2"), "--quiet"]
    assert _cli([*base, "--mode", "score", "--predictions", str(preds)]) == 1
    assert "nothing was evaluated" in capsys.readouterr().err


def test_a_later_completion_wins_over_an_earlier_error(tmp_path):
    p = tmp_path / "p.jsonl"
    p.write_text("".join(json.dumps(r) + "\n" for r in [
        {"id": "a", "completion": None, "error": "APIConnectionError: refused"},
        {"id": "b", "completion": None, "error": "InternalServerError: 500"},
        {"id": "a", "completion": "done", "tokens": 3, "seconds": 0.5},
        {"id": "c", "completion": None}]))  # fmt: skip
    recs = read_prediction_records(p)
    assert recs.completions == {"a": "done"} and recs.errors == {"b": "InternalServerError: 500"}
    assert recs.extras["a"] == {"tokens": 3, "seconds": 0.5} and recs.stats["bad_lines"] == 1  # null, no error
    assert read_predictions(p) == {"a": "done"}


def test_compare_base_next_to_fine_tune_and_refuse_other_protocols(tmp_path, capsys):
    data = write_synthetic(tmp_path / "data", n=4)
    run_eval("synthetic", data, CardPredictor(lambda it: trace(None), "Qwen-base"), tmp_path / "base", progress=False)
    run_eval("synthetic", data, CardPredictor(right_answer, "Qwen-sif"), tmp_path / "tuned", progress=False)
    md = compare([tmp_path / "base", tmp_path / "tuned"])
    rows = {line.split("|")[1].strip(): [c.strip() for c in line.split("|")[2:-1]] for line in md.splitlines()
            if line.startswith("| ")}  # fmt: skip
    assert rows["model"] == ["Qwen-base", "Qwen-sif"] and rows["accuracy"] == ["0.00", "100.00"]
    assert "focus: last_iou" in rows and "⚠" not in md
    run_eval("synthetic", data, CardPredictor(right_answer, "Qwen-sif", 0.9), tmp_path / "hot", progress=False)
    with pytest.raises(ProtocolMismatch, match="decoding"):
        compare([tmp_path / "base", tmp_path / "hot"])
    flagged = compare([tmp_path / "base", tmp_path / "hot"], allow_mismatch=True)
    assert "protocols differ" in flagged and "| decoding |" in flagged
    assert _cli(["compare", str(tmp_path / "base"), str(tmp_path / "hot")]) == 2
    assert "--allow-mismatch" in capsys.readouterr().err
    assert _cli(["compare", str(tmp_path / "base"), str(tmp_path / "hot"), "--allow-mismatch"]) == 0

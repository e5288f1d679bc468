"""The runner: outputs, resumption after a real SIGKILL, partial-line repair, score-only mode, compare, and the CLI."""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
import types
from pathlib import Path

import pytest
from eval_helpers import ScriptedPredictor, right_answer, trace, write_synthetic
from PIL import Image

from sifthinker.cli import eval as cli_eval
from sifthinker.eval import compare, read_predictions, run_eval

HERE = Path(__file__).resolve().parent


def _ids(path: Path) -> list[str]:
    return [json.loads(line)["id"] for line in path.read_text().splitlines()]


def test_outputs_exist_and_agree(tmp_path):
    data = write_synthetic(tmp_path / "data", n=6)
    script = {f"synth-{i}": trace("yes" if i % 2 == 0 else "no") for i in range(4)}
    script |= {"synth-4": trace(None), "synth-5": trace("A B")}  # no answer: wrong; a non-yes/no answer: wrong
    res = run_eval("synthetic", data, ScriptedPredictor(script), tmp_path / "run", batch_size=4, progress=False)
    out = tmp_path / "run"
    on_disk = json.loads((out / "results.json").read_text())
    assert on_disk["metrics"] == res["metrics"] and res["metrics"]["accuracy"] == pytest.approx(400 / 6, abs=1e-3)
    assert on_disk["counts"]["missing_answer"] == 1 and on_disk["counts"]["invalid_answer"] == 1
    assert on_disk["trace"]["depth_consistency"] == 100.0  # every trace states 0.5 on a map of 0.5
    md = (out / "results.md").read_text()
    assert f"**accuracy: {res['metrics']['accuracy']:.2f}**" in md and "| existence |" in md
    assert on_disk["config"]["benchmark"] == "synthetic" and on_disk["config"]["seed"] == 0
    with Image.open(out / "accuracy_by_category.png") as im:
        assert im.format == "PNG" and im.size[0] > 100
    assert sorted(_ids(out / "predictions.jsonl")) == sorted(script)
    page = (out / "browse.html").read_text(encoding="utf-8")  # the evaluation browser, written with the results
    assert all(f'"{i}"' in page for i in script) and "http://" not in page and "https://" not in page


def test_kill_9_mid_run_then_rerun_loses_and_duplicates_nothing(tmp_path):
    data = write_synthetic(tmp_path / "data", n=12)
    out = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), *sys.path])}
    proc = subprocess.Popen([sys.executable, str(HERE / "eval_helpers.py"), str(data), str(out), "0.15"], env=env)
    pred = out / "predictions.jsonl"
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and (not pred.is_file() or len(pred.read_text().splitlines()) < 4):
            time.sleep(0.02)
            assert proc.poll() is None, "the slow run ended before it could be killed"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL
    first = _ids(pred)
    assert 4 <= len(first) < 12  # killed mid-run
    with open(pred, "a") as f:  # and as if the kill had landed in the middle of a write
        f.write('{"id": "synth-11", "compl')
    rerun = ScriptedPredictor(right_answer)
    res = run_eval("synthetic", data, rerun, out, batch_size=3, progress=False)
    ids = _ids(pred)
    assert sorted(ids) == sorted(f"synth-{i}" for i in range(12)) and len(ids) == len(set(ids)) == 12
    assert not set(rerun.calls) & set(first)  # nothing predicted twice
    assert res["counts"]["evaluated"] == 12 and res["metrics"]["accuracy"] == 100.0


def test_missing_image_is_skipped_and_counted_then_scored_from_a_file(tmp_path):
    data = write_synthetic(tmp_path / "data", n=4, missing_image=2)
    pred = ScriptedPredictor(right_answer)
    res = run_eval("synthetic", data, pred, tmp_path / "run", progress=False)
    assert "synth-2" not in pred.calls
    assert res["skipped"]["by_reason"] == {"image_missing": 1} and res["metrics"]["accuracy"] == 75.0
    assert res["metrics"]["accuracy_evaluated"] == 100.0
    # score-only, from another predictions file holding a duplicate and an unknown id
    other = tmp_path / "preds.jsonl"
    other.write_text("".join(json.dumps(r) + "\n" for r in [
        {"id": "synth-0", "completion": trace("no")}, {"id": "synth-0", "completion": trace("yes")},
        {"id": "nope", "completion": trace("yes")}]))  # fmt: skip
    res2 = run_eval("synthetic", data, None, tmp_path / "run2", mode="score", predictions_file=other, progress=False)
    assert res2["counts"]["correct"] == 0 and res2["counts"]["evaluated"] == 1  # the first line of synth-0 wins
    assert res2["skipped"]["by_reason"] == {"image_missing": 1, "no_prediction": 2}
    assert res2["predictions_file"]["duplicates"] == 1 and res2["predictions_file"]["unknown_ids"] == 1


def test_infer_only_then_score_only_and_guards(tmp_path):
    data = write_synthetic(tmp_path / "data", n=3)
    out = tmp_path / "run"
    summary = run_eval("synthetic", data, ScriptedPredictor(right_answer), out, mode="infer", progress=False)
    assert summary["inference"]["predicted"] == 3 and not (out / "results.json").exists()
    again = run_eval("synthetic", data, ScriptedPredictor(right_answer), out, mode="infer", progress=False)
    assert again["inference"] == {**again["inference"], "already_done": 3, "predicted": 0}
    assert run_eval("synthetic", data, None, out, mode="score", progress=False)["metrics"]["accuracy"] == 100.0
    other = write_synthetic(tmp_path / "other", n=3)
    with pytest.raises(ValueError, match="holds a run of data"):  # two datasets never mix in one folder
        run_eval("synthetic", other, ScriptedPredictor(right_answer), out, mode="infer", progress=False)
    with pytest.raises(ValueError, match="mode"):
        run_eval("synthetic", data, None, out, mode="guess")
    with pytest.raises(ValueError, match="needs a predictor"):
        run_eval("synthetic", data, None, out, mode="all")


def test_read_predictions_ignores_a_partial_last_line_without_touching_the_file(tmp_path):
    p = tmp_path / "p.jsonl"
    p.write_text('{"id": "a", "completion": "x"}\nnot json\n{"id": "b", "compl')
    stats: dict = {}
    assert read_predictions(p, stats) == {"a": "x"}
    assert stats["partial"] == 1 and stats["bad_lines"] == 1 and p.read_text().endswith('"compl')


def test_compare_two_runs(tmp_path):
    data = write_synthetic(tmp_path / "data", n=4)
    run_eval("synthetic", data, ScriptedPredictor(right_answer), tmp_path / "good", progress=False)
    run_eval("synthetic", data, ScriptedPredictor(lambda it: trace(None)), tmp_path / "bad", progress=False)
    md = compare([tmp_path / "good", tmp_path / "bad"])
    rows = {line.split("|")[1].strip(): [c.strip() for c in line.split("|")[2:-1]] for line in md.splitlines()
            if line.startswith("| ")}  # fmt: skip
    assert rows[""] == ["good", "bad"]
    assert rows["accuracy"] == ["100.00", "0.00"] and rows["count: missing_answer"] == ["0", "4"]
    assert rows["headline"] == ["accuracy = 100.00", "accuracy = 0.00"]
    with pytest.raises(FileNotFoundError, match="results.json"):
        compare([tmp_path / "data"])


# --------------------------------------------------------------------------------------------------------- CLI


def test_cli_compare_of_two_runs_writes_their_side_by_side_page(tmp_path, capsys):
    data = write_synthetic(tmp_path / "data", n=4)
    run_eval("synthetic", data, ScriptedPredictor(right_answer), tmp_path / "good", progress=False)
    flip = {"synth-1"}  # one item where the runs disagree
    run_eval("synthetic", data, ScriptedPredictor(lambda it: trace(None) if it.id in flip else right_answer(it)),
             tmp_path / "one_off", progress=False)  # fmt: skip
    page = tmp_path / "cmp.html"
    assert _cli(["compare", str(tmp_path / "good"), str(tmp_path / "one_off"), "--browse", str(page)]) == 0
    assert str(page) in capsys.readouterr().err
    text = page.read_text(encoding="utf-8")
    marker = '<script type="application/json" id="data">'
    embedded = json.loads(text.split(marker, 1)[1].split("</script>", 1)[0])
    assert [it["id"] for it in embedded["items"] if it["dis"]] == ["synth-1"]
    assert embedded["items"][0]["id"] == "synth-1"  # disagreements first
    assert _cli(["compare", str(tmp_path / "good"), str(tmp_path / "one_off")]) == 0  # default place
    assert (tmp_path / "good" / "compare-one_off.html").is_file()



def _cli(argv: list[str]) -> int:
    p = argparse.ArgumentParser()
    cli_eval.add_arguments(p)
    return cli_eval.run(p.parse_args(argv))


def test_cli_infer_without_inference_module_fails_clearly_score_still_works(tmp_path, monkeypatch, capsys):
    data = write_synthetic(tmp_path / "data", n=2)
    monkeypatch.setitem(sys.modules, "sifthinker.infer", None)  # as if sifthinker.infer did not exist
    base = ["--bench", "synthetic", "--data", str(data), "--out", str(tmp_path / "run"), "--quiet"]
    assert _cli([*base, "--mode", "all", "--model", "some/model"]) == 2
    assert "inference is not available yet" in capsys.readouterr().err
    preds = tmp_path / "preds.jsonl"
    preds.write_text(json.dumps({"id": "synth-0", "completion": trace("yes")}) + "\n")
    assert _cli([*base, "--mode", "score", "--predictions", str(preds)]) == 0
    res = json.loads((tmp_path / "run" / "results.json").read_text())
    assert res["metrics"]["accuracy"] == 50.0 and res["skipped"]["total"] == 1
    assert _cli(["compare", str(tmp_path / "run")]) == 0 and "Runs compared" in capsys.readouterr().out
    assert _cli(["--bench", "nope", "--data", str(data), "--out", str(tmp_path / "x")]) == 2
    assert "choose one of" in capsys.readouterr().err


def test_cli_delegates_model_loading_to_load_predictor(tmp_path, monkeypatch):
    data = write_synthetic(tmp_path / "data", n=2)
    calls = []

    def load_predictor(model, **kw):
        calls.append((model, kw))
        return ScriptedPredictor(right_answer)

    monkeypatch.setitem(sys.modules, "sifthinker.infer", types.SimpleNamespace(load_predictor=load_predictor))
    argv = ["--bench", "synthetic", "--data", str(data), "--out", str(tmp_path / "run"), "--model", "ckpt",
            "--seed", "7", "--batch-size", "2", "--model-arg", "max_new_tokens=64", "--quiet"]  # fmt: skip
    assert _cli(argv) == 0
    assert calls == [("ckpt", {"seed": 7, "batch_size": 2, "max_new_tokens": 64})]
    assert json.loads((tmp_path / "run" / "results.json").read_text())["config"]["model"] == "ckpt"

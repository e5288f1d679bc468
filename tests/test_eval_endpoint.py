"""Evaluation through an OpenAI-compatible server: a real ``sifthinker serve`` of the shipped tiny model started as a
subprocess on 127.0.0.1 (end to end, the CLI, resumption, the protocol card), and the scriptable loopback server for
what a real server does not do on demand (the exact request, 429/500s, bounded concurrency, the API key)."""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from eval_helpers import write_synthetic
from fake_openai_server import Action, FakeOpenAIServer

from sifthinker.cli import eval as cli_eval
from sifthinker.eval import load_items, run_eval
from sifthinker.eval.endpoint import EndpointPredictor, item_messages
from sifthinker.eval.protocol import prompt_template
from sifthinker.prompts import build_prompt

SERVE = [str(Path(sys.executable).parent / "sifthinker"), "serve"]


@pytest.fixture(scope="module")
def served():
    """``sifthinker serve --model sif-tiny-base --port 0``; yields its API root once it prints that it serves."""
    proc = subprocess.Popen(
        [*SERVE, "--model", "sif-tiny-base", "--host", "127.0.0.1", "--port", "0", "--max-new-tokens", "16"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        line = ""
        while time.monotonic() < deadline and proc.poll() is None:
            line = proc.stdout.readline()
            m = re.match(r"serving (\S+) on (http://127\.0\.0\.1:\d+)", line)
            if m:
                yield m.group(2) + "/v1"
                break
        else:
            pytest.fail(f"sifthinker serve did not start (exit {proc.poll()}, last line {line!r})")
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _cli(argv: list[str]) -> int:
    p = argparse.ArgumentParser()
    cli_eval.add_arguments(p)
    return cli_eval.run(p.parse_args(argv))


def test_real_server_end_to_end_resumes_and_records_the_protocol(served, tmp_path):
    data = write_synthetic(tmp_path / "data", n=4)
    out = tmp_path / "run"
    pred = EndpointPredictor(served, "sif-tiny-base", concurrency=3, max_new_tokens=16)
    res = run_eval("synthetic", data, pred, out, batch_size=4, progress=False)
    assert res["counts"]["evaluated"] == 4 and res["counts"]["skipped"] == 0  # every request answered
    lines = [json.loads(x) for x in (out / "predictions.jsonl").read_text().splitlines()]
    assert all(isinstance(r["completion"], str) and 0 < r["tokens"] <= 16 and r["seconds"] > 0 for r in lines)
    p = res["protocol"]
    assert p["backend"] == "endpoint" and p["model"]["name"] == "sif-tiny-base" and p["model"]["endpoint"] == served
    assert p["prompt"]["sha256"] == prompt_template(True)["sha256"]  # the in-process prompt, with the depth image
    assert p["decoding"] == {"max_new_tokens": 16, "do_sample": False, "temperature": 0.0, "top_p": 1.0}
    assert res["focus"]["n_with_tokens"] == 4 and res["focus"]["tokens_per_answer"] > 0
    scores = [json.loads(x) for x in (out / "scores.jsonl").read_text().splitlines()]
    assert [s["item"]["id"] for s in scores] == [f"synth-{i}" for i in range(4)]
    assert all(s["completion"] == r["completion"] and s["score"]["tokens"] == r["tokens"]
               for s, r in zip(scores, lines))  # fmt: skip
    again = run_eval("synthetic", data, pred, out, batch_size=4, progress=False, mode="infer")
    assert again["inference"]["already_done"] == 4 and again["inference"]["predicted"] == 0
    pred.close()


def test_real_server_through_the_cli_never_shows_the_key(served, tmp_path, monkeypatch, capsys):
    data = write_synthetic(tmp_path / "data", n=3)
    secret = "sk-test-" + "7" * 24
    monkeypatch.setenv("SIF_EVAL_KEY", secret)
    argv = ["--bench", "synthetic", "--data", str(data), "--out", str(tmp_path / "run"), "--endpoint", served,
            "--served-model", "sif-tiny-base", "--concurrency", "2", "--api-key-env", "SIF_EVAL_KEY",
            "--model-arg", "max_new_tokens=8", "--model-arg", "depth=none", "--quiet"]  # fmt: skip
    assert _cli(argv) == 0
    io = capsys.readouterr()
    assert "synthetic: accuracy" in io.out and secret not in io.out + io.err
    for f in (tmp_path / "run").iterdir():
        assert secret not in f.read_text(errors="replace"), f.name
    res = json.loads((tmp_path / "run" / "results.json").read_text())
    assert res["protocol"]["prompt"]["sha256"] == prompt_template(False)["sha256"]  # depth=none: RGB-only prompt
    assert res["config"]["model"] == "sif-tiny-base" and res["counts"]["evaluated"] == 3
    monkeypatch.delenv("SIF_EVAL_KEY")
    assert _cli([*argv[:-1], "--out", str(tmp_path / "run2"), "--quiet"]) == 2
    assert "SIF_EVAL_KEY" in capsys.readouterr().err  # names the variable, not a value


def test_the_request_is_the_in_process_prompt_with_data_urls(tmp_path):
    data = write_synthetic(tmp_path / "data", n=1)
    from sifthinker.eval.benchmarks import get_benchmark

    (item,) = get_benchmark("synthetic").load(data)
    with FakeOpenAIServer(lambda body: "<think></think><answer>yes</answer>") as srv:
        pred = EndpointPredictor(srv.base_url, "m", concurrency=1, max_new_tokens=7)
        (p,) = pred.predict([item])
        body = srv.requests[0].body
    assert p.completion == "<think></think><answer>yes</answer>" and p.error is None
    assert body["model"] == "m" and body["max_tokens"] == 7 and body["temperature"] == 0.0
    parts = body["messages"][0]["content"]
    expected = build_prompt(item.question, item.choices, with_depth=True)[0]["content"]
    texts = [q["text"] for q in expected if q["type"] == "text"]
    assert [q.get("text") for q in parts if q["type"] == "text"] == texts
    urls = [q["image_url"]["url"] for q in parts if q["type"] == "image_url"]
    assert len(urls) == 2 and urls[0].startswith("data:image/png;base64,")
    assert base64.b64decode(urls[0].split(",", 1)[1]) == Path(item.images[0]).read_bytes()  # the file's own bytes
    assert item_messages(item, depth="none")[0]["content"][1]["type"] == "image_url"  # RGB only: one image
    pred.close()


def test_failed_requests_are_recorded_counted_and_retried_on_the_next_run(tmp_path):
    data = write_synthetic(tmp_path / "data", n=3)
    out = tmp_path / "run"
    with FakeOpenAIServer(lambda body: "<think></think><answer>yes</answer>") as srv:
        srv.queue(Action.error(429, "slow down", retry_after=0), Action(), Action.error(500, "boom"),
                  Action.error(500, "boom"))  # fmt: skip
        pred = EndpointPredictor(srv.base_url, "m", concurrency=1, max_retries=1)
        res = run_eval("synthetic", data, pred, out, batch_size=3, progress=False)
        hits_first = srv.hits
        # item 0: 429 then 200 (the SDK's retry); item 1: 500, 500 -> out of retries, an error; item 2: fine
        assert hits_first == 5
        assert res["skipped"]["by_reason"] == {"request_error": 1} and res["counts"]["evaluated"] == 2
        assert "boom" in res["request_errors"]["examples"]["synth-1"]
        assert res["metrics"]["accuracy"] == pytest.approx(200 / 3, abs=1e-3)  # the failed item counts as wrong
        rec = [json.loads(x) for x in (out / "predictions.jsonl").read_text().splitlines()]
        assert rec[1] == {**rec[1], "id": "synth-1", "completion": None} and "500" in rec[1]["error"]
        scores = [json.loads(x) for x in (out / "scores.jsonl").read_text().splitlines()]
        assert scores[1]["score"]["skipped"] == "request_error" and "boom" in scores[1]["score"]["error"]
        again = run_eval("synthetic", data, pred, out, batch_size=3, progress=False)
        assert srv.hits == hits_first + 1  # only the failed item is asked again
        assert again["counts"]["evaluated"] == 3 and again["skipped"]["total"] == 0
        pred.close()


def test_concurrency_is_bounded(tmp_path):
    data = write_synthetic(tmp_path / "data", n=9)
    with FakeOpenAIServer(lambda body: "x", delay=0.15) as srv:
        pred = EndpointPredictor(srv.base_url, "m", concurrency=3)
        t0 = time.perf_counter()
        run_eval("synthetic", data, pred, tmp_path / "run", batch_size=9, progress=False)
        took = time.perf_counter() - t0
        assert srv.max_in_flight == 3 and took < 9 * 0.15  # three at a time, never more
        pred.close()


def test_the_api_key_is_sent_and_a_wrong_one_is_an_item_error(tmp_path, monkeypatch, caplog):
    data = write_synthetic(tmp_path / "data", n=2)
    secret = "sk-live-" + "x" * 30
    monkeypatch.setenv("MY_KEY", secret)
    with FakeOpenAIServer(lambda body: "ok", expected_key=secret) as srv:
        pred = EndpointPredictor(srv.base_url, "m", api_key_env="MY_KEY", max_retries=0)
        assert secret not in repr(pred)
        res = run_eval("synthetic", data, pred, tmp_path / "run", progress=False)
        assert res["counts"]["evaluated"] == 2 and srv.requests[0].headers["authorization"] == f"Bearer {secret}"
        monkeypatch.setenv("MY_KEY", "wrong")
        bad = EndpointPredictor(srv.base_url, "m", api_key_env="MY_KEY", max_retries=0)
        (p,) = bad.predict(load_items("synthetic", data)[1][:1])
        assert p.completion is None and "401" in p.error
    assert secret not in caplog.text
    with pytest.raises(ValueError, match="NOT_SET_ANYWHERE"):
        EndpointPredictor("http://127.0.0.1:9/v1", "m", api_key_env="NOT_SET_ANYWHERE")
    assert os.environ.get("NOT_SET_ANYWHERE") is None

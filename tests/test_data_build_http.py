"""A whole build with the API writer over real HTTP: a loopback OpenAI-compatible server whose responder is an
offline writer, with injected 429s, 5xx, timeouts and malformed replies — the run ends with the right records and
failure rows, and a rerun is served from the reply cache."""

from __future__ import annotations

import json

import yaml
from data_helpers import make_synth
from fake_openai_server import Action, FakeOpenAIServer, fast_sdk_backoff
from test_data_writer_api import echo_writer

from sifthinker.cli.main import main
from sifthinker.data.build import read_ids
from sifthinker.records import check_record


def test_build_with_api_writer_survives_faults(tmp_path, capsys, monkeypatch):
    synth = make_synth(tmp_path / "synth", n=6, size=64)
    n_items = sum(len((synth / f).read_text().splitlines()) for f in ("train.jsonl", "test.jsonl"))
    poisoned = {"n": 0}

    def responder(body):
        text = "\n".join(
            p.get("text", "")
            for m in body["messages"]
            for p in (m["content"] if isinstance(m["content"], list) else [])
        )
        if "How many" in text and poisoned["n"] < 100:  # every counting item: a reply that never parses
            poisoned["n"] += 1
            return "Sure! The answer is 2."
        return echo_writer(body)

    monkeypatch.setenv("SIF_TEST_KEY", "sk-test-secret-123")
    fast_sdk_backoff(monkeypatch)
    with FakeOpenAIServer(responder, expected_key="sk-test-secret-123") as server:
        for action in [
            Action.error(429, "slow down", retry_after=0),
            Action.error(500, "boom"),
            Action.slow(2.0),  # longer than the client timeout
            Action.malformed("not_json"),
            Action.malformed("no_choices"),
            Action.error(503, "busy"),
        ]:
            server.queue(action)
        cfg = {
            "base_url": server.base_url,
            "model": "writer-vlm",
            "api_key_env": "SIF_TEST_KEY",
            "timeout_s": 0.5,
            "max_retries": 4,
            "max_concurrency": 4,
            "cache_dir": str(tmp_path / "cache"),
        }
        (tmp_path / "api.yaml").write_text(yaml.safe_dump(cfg))
        out = tmp_path / "sif"
        api = ["--writer", "api", "--api-config", str(tmp_path / "api.yaml"), "--max-attempts", "2", "--quiet"]
        args = ["data", "build", "--source", "synthetic", "--input", str(synth), "--out", str(out), *api]
        assert main(args) == 0
        hits_first = server.hits
        printed = capsys.readouterr().out
        assert "sk-test-secret-123" not in printed

        kept = [json.loads(line) for line in (out / "records.jsonl").read_text().splitlines()]
        fails = [json.loads(line) for line in (out / "failures.jsonl").read_text().splitlines()]
        lines = [line for f in ("train.jsonl", "test.jsonl") for line in (synth / f).read_text().splitlines()]
        n_counting = sum("How many" in json.loads(line)["problem"] for line in lines)
        assert len(kept) == n_items - n_counting and len(fails) == n_counting
        assert all(f["stage"] == "validate" and f["reason"] == "format" for f in fails)
        for r in kept:
            check_record(r)
            assert r["writer"] == "api:writer-vlm"
        summary = json.loads((out / "summary.json").read_text())
        stats = summary["writer_stats"]
        assert stats["retries"] >= 6 and stats["failures"]  # every injected fault was retried, and counted
        assert "sk-test-secret-123" not in json.dumps(summary)
        assert all("sk-test-secret-123" not in p.read_text() for p in (tmp_path / "cache").rglob("*") if p.is_file())

        # a fresh build into a new folder asks nothing again: every reply comes from the on-disk cache
        out2 = tmp_path / "sif2"
        assert main([*args[:7], str(out2), *args[8:]]) == 0
        assert server.hits == hits_first
        assert sorted(read_ids(out2 / "records.jsonl")) == sorted(r["id"] for r in kept)

"""Evaluation throughput through an OpenAI-compatible endpoint vs in-process HF generation, in one run (CPU).

    .venv/bin/python benchmarks/bench_eval_endpoint.py [--items 48] [--new-tokens 32] [--server-batch 16]

On the synthetic benchmark (``sifthinker synth`` test split) with the shipped ``sif-tiny-base``: ``sifthinker eval``'s
runner with (1) the in-process predictor (``load_predictor``) at batch 1, 4 and 16, and (2) the endpoint predictor
against a real ``sifthinker serve`` subprocess on 127.0.0.1 at concurrency 1, 4 and 16 — same prompt, greedy, the
same number of new tokens. Items/s include scoring and the reports; the model loads and a 4-item warm-up run per
configuration are not counted.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MODEL = "sif-tiny-base"


def _serve(new_tokens: int, batch: int) -> tuple[subprocess.Popen, str]:
    exe = str(Path(sys.executable).parent / "sifthinker")
    cmd = [exe, "serve", "--model", MODEL, "--host", "127.0.0.1", "--port", "0", "--max-new-tokens", str(new_tokens),
           "--batch-size", str(batch), "--queue-size", "256"]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        m = re.match(r"serving \S+ on (http://127\.0\.0\.1:\d+)", line)
        if m:
            return proc, m.group(1) + "/v1"
        if proc.poll() is not None:
            break
    proc.kill()
    raise RuntimeError("sifthinker serve did not start")


def _timed(n: int, *args, **kw) -> tuple[float, dict]:
    """Items/s of one ``run_eval(*args, **kw)`` over ``n`` items, and its results; a 4-item warm-up run into a
    scratch folder first (imports, the first generation, the first chart are not counted)."""
    from sifthinker.eval.runner import run_eval

    bench, data, pred, out = args[:4]
    run_eval(bench, data, pred, Path(f"{out}-warmup"), limit=4, **kw)
    t0 = time.perf_counter()
    res = run_eval(*args, **kw)
    return n / (time.perf_counter() - t0), res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--items", type=int, default=48)
    ap.add_argument("--new-tokens", type=int, default=32)
    ap.add_argument("--server-batch", type=int, default=16, help="the server's --batch-size")
    args = ap.parse_args()

    from sifthinker.eval.endpoint import EndpointPredictor
    from sifthinker.infer import load_predictor
    from sifthinker.synth import SynthConfig, generate_dataset

    with tempfile.TemporaryDirectory() as tmp:
        synth = Path(tmp) / "synth"
        generate_dataset(synth, n=args.items, seed=0, split="test", config=SynthConfig(image_size=(112, 112)))
        n = len((synth / "test.jsonl").read_text().splitlines())
        print(f"{n} synthetic test items (112 px), {MODEL}, {args.new_tokens} new tokens, greedy, CPU", flush=True)
        rows = []
        for bs in (1, 4, 16):
            pred = load_predictor(MODEL, batch_size=bs, max_new_tokens=args.new_tokens)
            ips, res = _timed(n, "synthetic", synth, pred, Path(tmp) / f"hf{bs}", batch_size=bs, progress=False)
            rows.append((f"in-process HF, batch {bs}", ips, res["focus"]["tokens_per_answer"]))
            print(f"  {rows[-1][0]}: {ips:.2f} items/s", flush=True)
            del pred
        proc, url = _serve(args.new_tokens, args.server_batch)
        try:
            for c in (1, 4, 16):
                pred = EndpointPredictor(url, MODEL, concurrency=c, max_new_tokens=args.new_tokens)
                ips, res = _timed(n, "synthetic", synth, pred, Path(tmp) / f"ep{c}", batch_size=4 * c, progress=False)
                assert res["counts"]["skipped"] == 0, res["skipped"]
                rows.append((f"endpoint, concurrency {c} (server batch {args.server_batch})", ips,
                             res["focus"]["tokens_per_answer"]))  # fmt: skip
                print(f"  {rows[-1][0]}: {ips:.2f} items/s", flush=True)
                pred.close()
        finally:
            proc.terminate()
            proc.wait(timeout=30)
        width = max(len(r[0]) for r in rows)
        print(f"{'':{width}}  items/s  tokens/answer")
        for name, ips, tok in rows:
            print(f"{name:{width}}  {ips:7.2f}  {tok if tok is not None else '–':>13}")


if __name__ == "__main__":
    main()

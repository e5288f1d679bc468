"""Inference-side throughput with the offline tiny model (CPU).

    .venv/bin/python benchmarks/bench_serve_eval.py [--new-tokens 32]

1. evaluation throughput (items/s) on a synthetic test split, batched (8) vs one by one;
2. the OpenAI-compatible server on loopback: latency and throughput at concurrency 1, 4 and 16.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image


def bench_eval(tiny: str, new_tokens: int) -> None:
    from sifthinker.eval.runner import run_eval
    from sifthinker.infer import load_predictor
    from sifthinker.synth import SynthConfig, generate_dataset

    with tempfile.TemporaryDirectory() as tmp:
        synth = Path(tmp) / "synth"
        generate_dataset(synth, n=240, seed=0, config=SynthConfig(image_size=(112, 112)), test_fraction=0.25)
        n = len((synth / "test.jsonl").read_text().splitlines())
        print(f"\n1. evaluation on {n} synthetic test items (112 px, {new_tokens} new tokens, greedy)")
        for bs in (1, 8):
            pred = load_predictor(tiny, batch_size=bs, max_new_tokens=new_tokens)
            t0 = time.perf_counter()
            run_eval("synthetic", synth, pred, Path(tmp) / f"run{bs}", batch_size=bs, progress=False)
            dt = time.perf_counter() - t0
            print(f"   batch {bs}: {n / dt:6.1f} items/s ({dt:.1f} s, scoring and reports included)")


async def _load(client, msgs, n: int, new_tokens: int) -> tuple[float, list[float]]:
    async def one(i: int) -> float:
        t0 = time.perf_counter()
        await client.chat(msgs, salt=i, use_cache=False, temperature=0.0, max_tokens=new_tokens)
        return time.perf_counter() - t0

    await one(-1)  # warm up
    t0 = time.perf_counter()
    lat = await asyncio.gather(*(one(i) for i in range(n)))
    return time.perf_counter() - t0, list(lat)


def bench_server(tiny: str, new_tokens: int) -> None:
    from sifthinker.backends.openai_compat import OpenAICompatClient, OpenAICompatConfig, image_part
    from sifthinker.infer import DecodingConfig, SIFThinker
    from sifthinker.infer.server import ServeConfig, SIFServer

    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (112, 112, 3), dtype=np.uint8)).save(buf, "PNG")
    msgs = [{"role": "user", "content": [image_part(buf.getvalue()), {"type": "text", "text": "How many cubes?"}]}]
    thinker = SIFThinker(tiny, depth="none", generation=DecodingConfig(max_new_tokens=new_tokens))
    print(f"\n2. server on loopback ({new_tokens} new tokens, one image of 112 px, batch up to 8)")
    with SIFServer(thinker, ServeConfig(port=0, batch_size=8, max_new_tokens=new_tokens)) as srv:
        for k in (1, 4, 16):
            client = OpenAICompatClient(
                OpenAICompatConfig(base_url=srv.base_url, model="sif", api_key_env=None, max_concurrency=k)
            )
            n = 8 * k
            total, lat = client.run_sync(_load(client, msgs, n, new_tokens))
            med, p90 = statistics.median(lat) * 1e3, sorted(lat)[int(0.9 * len(lat))] * 1e3
            lat_text = f"latency incl. client queueing: median {med:5.0f} ms, p90 {p90:5.0f} ms"
            print(f"   concurrency {k:2d}: {n / total:6.1f} req/s; {lat_text}")
            client.close()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--new-tokens", type=int, default=32)
    args = p.parse_args()
    from sifthinker.models.tiny import tiny_model_path

    tiny = str(tiny_model_path())
    bench_eval(tiny, args.new_tokens)
    bench_server(tiny, args.new_tokens)


if __name__ == "__main__":
    main()

"""API writer throughput against the loopback OpenAI-compatible server with a fixed per-request service time.

    .venv/bin/python benchmarks/bench_api_writer.py [--delay 0.05] [--waves 16] [--concurrency 1 4 16]

Each request is a full writer request (system prompt, 4 frames with their PNG images, ~10 KB of JSON); the server
parses it, waits ``--delay`` seconds and answers with a valid trace copying the frames. Concurrency k sends
``waves·k`` requests (the same number of service times at every level, so connection set-up weighs the same).
Prints requests/s at each concurrency and the ratio to the sequential rate (goal: ≥ 0.7·k at concurrency k).
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import re
import sys
import time

from PIL import Image, ImageDraw

sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[1] / "tests"))
from fake_openai_server import FakeOpenAIServer  # noqa: E402  (the test double lives under tests/)

from sifthinker.backends.openai_compat import OpenAICompatClient, OpenAICompatConfig
from sifthinker.data.types import Frame, GroundedItem, WriteRequest
from sifthinker.data.writers.api import APIWriter
from sifthinker.trace import Region, Step, Trace, parse_trace, render

_DECODER = json.JSONDecoder()


def echo_writer(body: dict) -> str:
    """The server's reply: a valid trace copying every region list of the user message."""
    user = body["messages"][-1]["content"]
    texts = [p["text"] for p in user if p.get("type") == "text"]
    steps = []
    for t in texts:
        i = t.find('[{"bbox_2d"')
        if i >= 0:
            regions, _ = _DECODER.raw_decode(t, i)
            steps.append(Step(tuple(Region(tuple(r["bbox_2d"]), r["depth"]) for r in regions), "A region."))
    answer = re.search(r"Correct answer: (.*)", "\n".join(texts)).group(1).strip()
    return render(Trace(tuple(steps), answer))


def make_request(i: int) -> WriteRequest:
    path = [
        ("full", [Region((0.0, 0.0, 1.0, 1.0), 0.5)]),
        ("distractor", [Region((0.05, 0.1, 0.2, 0.35), 0.874)]),
        ("expansion", [Region((0.25, 0.4, 0.8, 0.85), 0.43)]),
        ("gt", [Region((0.35, 0.5, 0.45, 0.62), 0.418)]),
    ]
    frames = []
    for role, regs in path:
        img = Image.new("RGB", (128, 128), (i % 256, 80, 80))
        d = ImageDraw.Draw(img)
        for r in regs:
            d.rectangle([round(v * 127) for v in r.box], outline=(0, 255, 0), width=2)
        buf = io.BytesIO()
        img.save(buf, format="PNG")
        frames.append(Frame(regs, role, buf.getvalue()))
    item = GroundedItem(f"b{i}", "bench", "a.png", "How many cups?", str(i % 5), [path[-1][1][0].box])
    return WriteRequest(item, frames)


async def run_batch(writer: APIWriter, requests: list[WriteRequest]) -> float:
    t0 = time.perf_counter()
    replies = await asyncio.gather(*(writer.write(r) for r in requests))
    elapsed = time.perf_counter() - t0
    for r, reply in zip(requests, replies):
        if parse_trace(reply).answer != r.item.answer:
            raise SystemExit(f"wrong reply for {r.item.id}")
    await writer.client.aclose()
    return elapsed


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--delay", type=float, default=0.05, help="server service time per request, seconds")
    ap.add_argument("--waves", type=int, default=16, help="requests per concurrency level = waves × concurrency")
    ap.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 16])
    args = ap.parse_args(argv)
    requests = [make_request(i) for i in range(args.waves * max(args.concurrency))]
    size = len(json.dumps(APIWriter(None).build_messages(requests[0])))
    print(f"loopback server, {args.delay * 1000:.0f} ms per request, {args.waves}·k writer requests of {size} B each")
    base = None
    ok = True
    with FakeOpenAIServer(echo_writer, delay=args.delay) as srv:
        # Warm up (imports, first connection) outside the timings.
        warm = OpenAICompatClient(OpenAICompatConfig(base_url=srv.base_url, model="bench", api_key_env=None))
        asyncio.run(run_batch(APIWriter(warm), requests[:2]))
        for k in args.concurrency:
            cfg = OpenAICompatConfig(base_url=srv.base_url, model="bench", api_key_env=None, max_concurrency=k)
            client = OpenAICompatClient(cfg)
            srv.reset()
            n = args.waves * k
            elapsed = asyncio.run(run_batch(APIWriter(client), requests[:n]))
            rate = n / elapsed
            base = base or rate
            ratio = rate / base
            goal = 0.7 * k
            ok &= ratio >= goal
            print(
                f"concurrency {k:3d}: {rate:7.1f} req/s  ({n} in {elapsed:5.2f} s)  ×{ratio:5.2f} sequential  "
                f"(goal ≥ ×{goal:.1f}: {'ok' if ratio >= goal else 'MISSED'})  max in flight {srv.max_in_flight}"
            )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

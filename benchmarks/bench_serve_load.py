"""The server under load and abuse, on loopback only, bounded in count and time (it stops by itself).

    .venv/bin/python benchmarks/bench_serve_load.py [--clients 200] [--idle 300] [--malformed 20] [--new-tokens 8]

It starts ``sifthinker serve --model sif-tiny-base --port 0`` as a child process and, while ``--idle`` connections
sit open without sending a byte, sends ``--clients`` chat requests at once, then ``--malformed`` requests of each
malformed kind. It reports requests served, replies and errors by kind, p50/p99 latency, and the server's threads
and resident memory before, under load, and after; the idle connections the server closed by itself are counted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import resource
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

HI = {"messages": [{"role": "user", "content": "How many cubes?"}]}
MALFORMED: dict[str, bytes] = {
    "non-UTF-8": b'{"messages": [{"role": "user", "content": "\xff\xfe"}]}',
    "nesting 50k": b'{"messages": ' + b"[" * 50_000 + b"]" * 50_000 + b"}",
    "5000-digit int": b'{"messages": [{"role": "user", "content": "hi"}], "max_tokens": 1' + b"0" * 5000 + b"}",
    "not JSON": b"{not json",
    "wrong types": b'{"messages": [{"role": "user", "content": 5}], "temperature": "hot"}',
    "too big (33 MB)": b" " * (33 * 2**20),
}


def proc_stats(pid: int) -> tuple[int, float]:
    """(threads, RSS in MiB) of a process, from /proc."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return int(fields["Threads"]), int(fields["VmRSS"].split()[0]) / 1024


async def chat(port: int, body: bytes, deadline: float) -> tuple[object, float]:
    """One request on its own connection: (status or error kind, seconds)."""
    t0 = time.perf_counter()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"POST /v1/chat/completions HTTP/1.1\r\nHost: b\r\nConnection: close\r\n"
                     b"Content-Length: %d\r\n\r\n" % len(body) + body)  # fmt: skip
        await writer.drain()
        data = await asyncio.wait_for(reader.read(), max(0.1, deadline - time.monotonic()))
        writer.close()
    except (OSError, TimeoutError) as e:
        return type(e).__name__, time.perf_counter() - t0
    status = data.split(b" ", 2)[1] if data.startswith(b"HTTP/1.1 ") else b"no reply"
    return int(status) if status.isdigit() else status.decode(), time.perf_counter() - t0


def pct(xs: list[float], q: float) -> float:
    return sorted(xs)[min(len(xs) - 1, int(q * len(xs)))] * 1e3 if xs else float("nan")


async def load(port: int, pid: int, args) -> None:
    deadline = time.monotonic() + args.time_limit
    idle = []
    for _ in range(args.idle):
        idle.append(await asyncio.open_connection("127.0.0.1", port))
    await asyncio.sleep(0.5)
    threads, rss = proc_stats(pid)
    print(f"   {args.idle} idle connections open: server threads {threads}, RSS {rss:.0f} MiB")

    body = json.dumps({**HI, "max_tokens": args.new_tokens}).encode()
    t0 = time.perf_counter()
    peak = [proc_stats(pid)]

    async def sample():
        while True:
            await asyncio.sleep(0.25)
            peak.append(proc_stats(pid))

    sampler = asyncio.create_task(sample())
    results = await asyncio.gather(*(chat(port, body, deadline) for _ in range(args.clients)))
    wall = time.perf_counter() - t0
    sampler.cancel()
    kinds = Counter(r[0] for r in results)
    served = [dt for status, dt in results if status == 200]
    print(f"\n2. {args.clients} concurrent chat requests ({args.new_tokens} new tokens): {wall:.1f} s")
    print(f"   replies by kind: {dict(kinds)}; served {len(served)} ({len(served) / wall:.1f} req/s)")
    print(f"   latency of served: p50 {pct(served, 0.5):.0f} ms, p99 {pct(served, 0.99):.0f} ms; "
          f"of all replies: p50 {pct([r[1] for r in results], 0.5):.0f} ms")  # fmt: skip
    print(f"   under load: server threads max {max(p[0] for p in peak)}, RSS max {max(p[1] for p in peak):.0f} MiB")

    print(f"\n3. malformed bodies, {args.malformed} of each kind at once")
    for name, bad in MALFORMED.items():
        t0 = time.perf_counter()
        res = await asyncio.gather(*(chat(port, bad, deadline) for _ in range(args.malformed)))
        lat = [r[1] for r in res]
        print(f"   {name:16s}: {dict(Counter(r[0] for r in res))}, p50 {pct(lat, 0.5):.0f} ms, "
              f"p99 {pct(lat, 0.99):.0f} ms")  # fmt: skip

    wait = max(0.0, min(12.0, deadline - time.monotonic()))
    await asyncio.sleep(wait)  # the header timeout (10 s) closes the idle connections
    closed = sum([await _closed(r) for r, _ in idle])
    for _, w in idle:
        w.close()
    print(f"\n4. idle connections the server closed by itself after {wait:.0f} s more: {closed} of {args.idle}")
    status, _ = await chat(port, body, time.monotonic() + 60)
    print(f"   one more request after all this: {status}")


async def _closed(reader: asyncio.StreamReader) -> bool:
    if reader.at_eof():
        return True
    try:
        return await asyncio.wait_for(reader.read(1), 0.05) == b""
    except TimeoutError:
        return False
    except OSError:
        return True


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--clients", type=int, default=200)
    p.add_argument("--idle", type=int, default=300)
    p.add_argument("--malformed", type=int, default=20)
    p.add_argument("--new-tokens", type=int, default=8)
    p.add_argument("--time-limit", type=float, default=180.0, help="seconds before every wait gives up")
    args = p.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, 4 * (args.clients + args.idle))), hard))
    cmd = [sys.executable, "-m", "sifthinker.cli.main", "serve", "--model", "sif-tiny-base", "--host", "127.0.0.1",
           "--port", "0", "--batch-size", "8", "--max-new-tokens", str(args.new_tokens)]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        line: list[str] = []
        reader = threading.Thread(target=lambda: line.append(proc.stdout.readline()), daemon=True)
        reader.start()
        reader.join(120)
        m = re.search(r":(\d+)$", line[0].strip()) if line else None
        if m is None:
            raise SystemExit(f"the server did not start: {line}")
        threads, rss = proc_stats(proc.pid)
        print(f"1. {line[0].strip()}: server threads {threads}, RSS {rss:.0f} MiB")
        asyncio.run(load(int(m.group(1)), proc.pid, args))
        threads, rss = proc_stats(proc.pid)
        print(f"\n5. after: server threads {threads}, RSS {rss:.0f} MiB")
    finally:
        proc.terminate()
        proc.wait(30)


if __name__ == "__main__":
    main()

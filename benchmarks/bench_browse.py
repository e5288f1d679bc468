"""The evaluation browser at scale: page size, write time and load time in Debian's headless chromium.

    .venv/bin/python benchmarks/bench_browse.py [--items 10000] [--images 2500] [--keep DIR]

Builds a run folder (results.json + scores.jsonl) of ``--items`` scored items over ``--images`` distinct images
(synthetic scenes, 224 px, varied per file), a sixth of the completions malformed; writes ``browse.html``; opens it
in chromium over the DevTools protocol and prints: the page size (total and thumbnails), the Python write time, the
time to DOMContentLoaded and to the load event, the rows rendered at load, the JS heap, the time of a filter
change, of expanding an item and of scrolling to the end of the list (rows rendered in chunks), and any console
error. :class:`Chromium` is also used by ``scripts/browser_check.sh``.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")


class Chromium:
    """Headless chromium driven over the DevTools protocol on a pipe (``--remote-debugging-pipe``: JSON messages
    separated by NUL on fds 3/4). A pipe needs no websocket client, which our dependencies do not include."""

    def __init__(self, width: int = 1400, height: int = 1000, binary: str = CHROMIUM):
        self._dir = tempfile.mkdtemp(prefix="sif-chromium-")
        cmd_r, self._cmd_w = os.pipe()
        self._resp_r, resp_w = os.pipe()

        def fds():  # in the child: commands on fd 3, responses on fd 4
            a, b = os.dup(cmd_r), os.dup(resp_w)
            os.dup2(a, 3)
            os.dup2(b, 4)

        self.proc = subprocess.Popen(
            [binary, "--headless", "--remote-debugging-pipe", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--disable-extensions", "--disable-background-networking", "--disable-component-update",
             "--disable-sync", "--disable-dev-shm-usage", f"--window-size={width},{height}",
             f"--user-data-dir={self._dir}", "about:blank"],
            preexec_fn=fds, pass_fds=(3, 4), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        os.close(cmd_r)
        os.close(resp_w)
        self.width, self.height = width, height
        self._id = 0
        self._waiting: dict[int, dict] = {}
        self._cv = threading.Condition()
        self.events: list[dict] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.session: str | None = None

    def _read(self) -> None:
        buf = b""
        while True:
            chunk = os.read(self._resp_r, 1 << 20)
            if not chunk:
                return
            buf += chunk
            *msgs, buf = buf.split(b"\0")
            with self._cv:
                for raw in msgs:
                    msg = json.loads(raw)
                    if "id" in msg:
                        self._waiting[msg["id"]] = msg
                    else:
                        self.events.append(msg)
                self._cv.notify_all()

    def send(self, method: str, params: dict | None = None, *, browser: bool = False, timeout: float = 60):
        with self._cv:
            self._id += 1
            mid = self._id
        msg = {"id": mid, "method": method, "params": params or {}}
        if not browser and self.session:
            msg["sessionId"] = self.session
        os.write(self._cmd_w, json.dumps(msg).encode() + b"\0")
        with self._cv:
            if not self._cv.wait_for(lambda: mid in self._waiting, timeout):
                raise TimeoutError(f"chromium: no answer to {method} in {timeout} s")
            resp = self._waiting.pop(mid)
        if "error" in resp:
            raise RuntimeError(f"chromium: {method}: {resp['error']}")
        return resp.get("result", {})

    def open(self, url: str, timeout: float = 60) -> float:
        """Open ``url`` in a fresh tab and wait for its load event; returns the wall seconds it took."""
        target = self.send("Target.createTarget", {"url": "about:blank"}, browser=True)["targetId"]
        self.session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True}, browser=True)[
            "sessionId"
        ]
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.send(f"{domain}.enable")
        self.send("Emulation.setDeviceMetricsOverride",
                  {"width": self.width, "height": self.height, "deviceScaleFactor": 1, "mobile": False})  # fmt: skip
        n = len(self.events)
        t = time.perf_counter()
        self.send("Page.navigate", {"url": url})
        self.wait_event("Page.loadEventFired", after=n, timeout=timeout)
        return time.perf_counter() - t

    def wait_event(self, method: str, *, after: int = 0, timeout: float = 60) -> dict:
        def found():
            return next((e for e in self.events[after:] if e.get("method") == method), None)

        with self._cv:
            if not self._cv.wait_for(lambda: found() is not None, timeout):
                raise TimeoutError(f"chromium: no {method} in {timeout} s")
            return found()

    def eval(self, expression: str, timeout: float = 60):
        r = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True, "awaitPromise": True},
                      timeout=timeout)  # fmt: skip
        if "exceptionDetails" in r:
            raise RuntimeError(f"chromium: {expression[:80]!r} threw: {r['exceptionDetails'].get('text')}")
        return r["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 60, poll: float = 0.1):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            v = self.eval(expression)
            if v:
                return v
            time.sleep(poll)
        raise TimeoutError(f"chromium: {expression!r} still false after {timeout} s")

    def screenshot(self, path: str | os.PathLike, *, full_page: bool = False) -> Path:
        params: dict = {"format": "png"}
        if full_page:
            h = self.eval("Math.min(document.documentElement.scrollHeight, 6000)")
            params.update(captureBeyondViewport=True, clip={"x": 0, "y": 0, "width": self.width, "height": h,
                                                            "scale": 1})  # fmt: skip
        data = self.send("Page.captureScreenshot", params)["data"]
        Path(path).write_bytes(base64.b64decode(data))
        return Path(path)

    def errors(self) -> list[str]:
        """Console errors, uncaught exceptions and failed loads seen so far."""
        out = []
        for e in self.events:
            m, p = e.get("method"), e.get("params", {})
            if m == "Runtime.exceptionThrown":
                d = p["exceptionDetails"]
                out.append(f"exception: {d.get('exception', {}).get('description') or d.get('text')}")
            elif m == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
                out.append("console." + p["type"] + ": " + " ".join(str(a.get("value", a.get("description")))
                                                                     for a in p.get("args", [])))  # fmt: skip
            elif m == "Log.entryAdded" and p["entry"].get("level") == "error":
                out.append(f"log: {p['entry'].get('text')} {p['entry'].get('url', '')}".strip())
        return out

    def requests(self) -> list[str]:
        """Every URL the page asked for (scripts, styles, images, fonts, fetches)."""
        return [e["params"]["request"]["url"] for e in self.events if e.get("method") == "Network.requestWillBeSent"]

    def close(self) -> None:
        try:
            self.send("Browser.close", browser=True, timeout=10)
        except (TimeoutError, RuntimeError, OSError):
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        os.close(self._cmd_w)
        shutil.rmtree(self._dir, ignore_errors=True)


CATEGORIES = ["depth_order", "relation_2d", "counting", "existence", "size_3d", "nearest_object", "attribute"]


def _completion(rng: random.Random) -> tuple[str, int]:
    steps = []
    for _ in range(rng.randint(1, 4)):
        regions = []
        for _ in range(rng.randint(1, 2)):
            x, y = rng.uniform(0, 0.6), rng.uniform(0, 0.6)
            box = [round(x, 2), round(y, 2), round(x + rng.uniform(0.1, 0.4), 2), round(y + rng.uniform(0.1, 0.4), 2)]
            regions.append(f'{{"bbox_2d": {box}, "depth": {round(rng.random(), 2)}}}')
        what = f"{rng.choice(['red', 'blue', 'green'])} {rng.choice(['cube', 'sphere', 'cone'])}"
        steps.append(f"<area>[{', '.join(regions)}]</area><text>The {what} is {rng.choice(['near', 'far'])}.</text>")
    text = f"<think>{''.join(steps)}</think><answer>{rng.choice('AB')}</answer>"
    return (text if rng.random() > 1 / 6 else "Let me look. " + text[: len(text) // 2]), len(steps)


def make_big_run(root: Path, n_items: int, n_images: int, seed: int = 0) -> Path:
    """A run folder of ``n_items`` items over ``n_images`` distinct image files (the scenes varied per file)."""
    import numpy as np
    from PIL import Image

    from sifthinker.synth import render_scene, world_config

    rng = random.Random(seed)
    cfg = world_config("close", image_size=(224, 224))
    scenes = [render_scene(cfg, (seed, k)).rgb for k in range(min(40, n_images))]
    (root / "images").mkdir(parents=True)
    images = []
    for k in range(n_images):
        arr = np.roll(scenes[k % len(scenes)], shift=(k // len(scenes)) * 3, axis=1)
        p = root / "images" / f"im{k:05d}.png"
        Image.fromarray(arr).save(p)
        images.append(str(p))
    protocol = {"prompt_sha256": "0" * 64, "model": "sif-tiny-base", "decoding": {"do_sample": False},
                "max_new_tokens": 400, "seed": seed}  # fmt: skip
    (root / "results.json").write_text(json.dumps({"benchmark": "synthetic", "protocol": protocol}))
    with open(root / "scores.jsonl", "w") as f:
        for i in range(n_items):
            comp, n = _completion(rng)
            status = rng.choices(["correct", "wrong", "missing", "invalid", "skipped"], [50, 30, 8, 7, 5])[0]
            cat = rng.choice(CATEGORIES)
            item = {"id": f"synthetic-{i:06d}", "benchmark": "synthetic", "images": [images[i % n_images]],
                    "question": f"Which object is closer to the camera, the red cube or the blue sphere? ({i})",
                    "choices": ["the red cube", "the blue sphere"], "answer": "A", "answer_type": "mc",
                    "category": cat, "subcategory": None, "gt_boxes": [[0.2, 0.3, 0.5, 0.7]], "depth_path": None}
            score = {"id": item["id"], "category": cat, "status": status, "correct": status == "correct",
                     "skipped": "no_image" if status == "skipped" else None, "pred": "A", "iou": rng.random(),
                     "first_iou": rng.random(), "last_iou": rng.random(), "n_areas": n,
                     "depth_abs_error": rng.random() / 5, "tokens": 120, "seconds": 0.3, "error": None}
            f.write(json.dumps({"item": item, "score": score,
                                "completion": None if status == "skipped" else comp}) + "\n")  # fmt: skip
    return root


def measure(page: Path) -> dict:
    """Load ``page`` in chromium and time what a reader does."""
    ch = Chromium()
    try:
        wall = ch.open(page.resolve().as_uri())
        nav = ch.eval("(() => { const n = performance.getEntriesByType('navigation')[0];"
                      " return {dcl: n.domContentLoadedEventEnd, load: n.loadEventEnd}; })()")  # fmt: skip
        rows = ch.eval("document.querySelectorAll('.row:not(.hdr)').length")
        heap = ch.send("Runtime.getHeapUsage")["usedSize"]
        filt = ch.eval("(() => { const t = performance.now(); const s = document.getElementById('cat');"
                       " s.value = 'counting'; s.dispatchEvent(new Event('input'));"
                       " return performance.now() - t; })()")  # fmt: skip
        expand = ch.eval("(() => { const t = performance.now(); document.querySelector('.row:not(.hdr)').click();"
                         " return performance.now() - t; })()")  # fmt: skip
        ch.eval("document.getElementById('cat').value = ''; document.getElementById('cat')"
                ".dispatchEvent(new Event('input'))")  # fmt: skip
        t = time.perf_counter()
        total = ch.eval("(async () => { while (shown < view.length) { window.scrollTo(0, document.body.scrollHeight);"
                        " await new Promise(r => setTimeout(r, 0)); more(); } return shown; })()", timeout=300)
        scroll = time.perf_counter() - t
        return {"wall_open_s": round(wall, 3), "dcl_ms": round(nav["dcl"]), "load_ms": round(nav["load"]),
                "rows_at_load": rows, "heap_mb": round(heap / 2**20, 1), "filter_ms": round(filt, 1),
                "expand_ms": round(expand, 1), "rows_after_scroll": total, "scroll_all_s": round(scroll, 2),
                "errors": ch.errors()}  # fmt: skip
    finally:
        ch.close()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--items", type=int, default=10_000)
    ap.add_argument("--images", type=int, default=2_500)
    ap.add_argument("--keep", type=Path, default=None, help="build the run folder here and keep it")
    args = ap.parse_args(argv)
    from sifthinker.eval.browse import write_browse_page

    tmp = Path(tempfile.mkdtemp(prefix="bench-browse-"))
    root = args.keep or tmp / "run"
    try:
        t = time.perf_counter()
        make_big_run(root, args.items, args.images)
        print(f"run folder: {args.items:,} items over {args.images:,} images in {time.perf_counter() - t:.1f} s")
        t = time.perf_counter()
        page = write_browse_page(root)
        write_s = time.perf_counter() - t
        html = page.read_text(encoding="utf-8")
        data = json.loads(html.split('id="data">', 1)[1].split("</script>", 1)[0])
        thumbs = sum(len(u) for u in data["thumbs"])
        print(f"browse.html: {len(html.encode()) / 1e6:.2f} MB ({thumbs / 1e6:.2f} MB thumbnails, "
              f"{len(data['thumbs']):,} distinct, {thumbs / max(1, len(data['thumbs'])) / 1e3:.1f} kB each); "
              f"written in {write_s:.2f} s")  # fmt: skip
        m = measure(page)
        print(json.dumps(m, indent=1))
        return 1 if m["errors"] else 0
    finally:
        if args.keep is None:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

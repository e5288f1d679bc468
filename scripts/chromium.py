"""Debian's headless chromium driven over the DevTools protocol on a pipe (no websocket library needed): open a page,
wait for it, run JavaScript, take screenshots, and collect console errors, uncaught exceptions, failed loads and
requests to anything but loopback, ``file:`` and ``data:``. Used by ``scripts/browser_check.sh`` and
``benchmarks/bench_browse.py``."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
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

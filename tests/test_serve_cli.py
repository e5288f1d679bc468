"""``sifthinker serve`` as a user (and other tools) run it: the shipped tiny base on a free port, one ``serving``
line on stdout once it accepts connections, the API key from the environment, a clean exit on SIGTERM."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request

KEY = "sk-cli-test-key-42"


def get(url: str, key: str | None = None, body: dict | None = None) -> tuple[int, dict]:
    headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {key}"} if key else {})}
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_serve_prints_one_line_and_serves_the_shipped_model():
    cmd = [sys.executable, "-m", "sifthinker.cli.main", "serve", "--model", "sif-tiny-base", "--host", "127.0.0.1",
           "--port", "0", "--max-new-tokens", "4"]  # fmt: skip
    env = {**os.environ, "SIFTHINKER_API_KEY": KEY}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    stderr: list[str] = []
    drain = threading.Thread(target=lambda: stderr.extend(proc.stderr), daemon=True)
    drain.start()
    try:
        first: list[str] = []
        reader = threading.Thread(target=lambda: first.append(proc.stdout.readline()), daemon=True)
        reader.start()
        reader.join(180)
        assert first and first[0], f"no 'serving' line; stderr:\n{''.join(stderr)[-3000:]}"
        m = re.fullmatch(r"serving sif-tiny-base on (http://127\.0\.0\.1:(\d+))\n", first[0])
        assert m and int(m.group(2)) > 0, first
        url = m.group(1)
        assert get(url + "/health")[0] == 200  # accepting as soon as the line is out
        code, doc = get(url + "/v1/models")
        assert code == 401 and doc["error"]["type"] == "authentication_error"
        msgs = [{"role": "user", "content": "How many cubes?"}]
        code, doc = get(url + "/v1/chat/completions", KEY, {"messages": msgs, "max_tokens": 3})
        assert code == 200 and 0 < doc["usage"]["completion_tokens"] <= 3 and doc["model"] == "sif-tiny-base"
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
    drain.join(10)
    assert proc.stdout.read() == ""  # that one line was all of stdout
    assert KEY not in "".join(stderr)

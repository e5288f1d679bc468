"""The server under hostile and careless clients, on loopback with the real tiny model: every malformed request gets
a 4xx JSON reply, slow or idle connections are cut off, a burst past the queue gets 503s (not resets), the API key is
checked and never logged, and each request is decoded with its own options."""

from __future__ import annotations

import asyncio
import http.client
import json
import logging
import re
import socket
import threading
import time
from collections import Counter

import pytest

from sifthinker.backends.openai_compat import OpenAICompatClient, OpenAICompatConfig
from sifthinker.infer import DecodingConfig, SIFThinker
from sifthinker.infer.server import ServeConfig, SIFServer, bind_warning, is_loopback
from sifthinker.models.tiny import tiny_model_path

TIMEOUT = 1.0  # header, body and keep-alive timeouts of the test server
QUEUE, BATCH = 4, 1
KEY = "sk-test-0123456789abcdef"
HI = {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 2}


class Gated:
    """The real engine behind a gate the burst test closes; it records the decoding options of each call."""

    def __init__(self, thinker: SIFThinker) -> None:
        self.thinker, self.open, self.fail, self.calls = thinker, threading.Event(), threading.Event(), []
        self.open.set()

    @property
    def generation(self) -> DecodingConfig:
        return self.thinker.generation

    def generate(self, prompts, images, **kw):
        self.calls.append(kw.get("generation"))
        assert self.open.wait(60), "the gate was never opened"
        if self.fail.is_set():
            raise RuntimeError("the accelerator fell over")
        return self.thinker.generate(prompts, images, **kw)


@pytest.fixture(scope="module")
def gated():
    thinker = SIFThinker(str(tiny_model_path()), depth="none", generation=DecodingConfig(max_new_tokens=8))
    return Gated(thinker)


@pytest.fixture(scope="module")
def server(gated):
    cfg = ServeConfig(port=0, model_name="sif-tiny", max_request_bytes=200_000, max_new_tokens=8, queue_size=QUEUE,
                      batch_size=BATCH, header_timeout_s=TIMEOUT, body_timeout_s=TIMEOUT, keep_alive_s=TIMEOUT,
                      request_timeout_s=60)  # fmt: skip
    with SIFServer(gated, cfg) as srv:
        yield srv


@pytest.fixture(scope="module")
def keyed(gated):
    with SIFServer(gated, ServeConfig(port=0, model_name="sif-tiny", max_new_tokens=8, api_key=KEY)) as srv:
        yield srv


def addr(srv: SIFServer) -> tuple[str, int]:
    host, port = srv.url.removeprefix("http://").rsplit(":", 1)
    return host, int(port)


def request(srv, method: str, path: str, body: bytes | dict | None = None, headers: dict | None = None):
    data = json.dumps(body).encode() if isinstance(body, dict) else body
    conn = http.client.HTTPConnection(*addr(srv), timeout=30)
    try:
        conn.request(method, path, body=data, headers={"Content-Type": "application/json", **(headers or {})})
        r = conn.getresponse()
        return r.status, dict(r.getheaders()), r.read()
    finally:
        conn.close()


def error_of(status: int, headers: dict, payload: bytes) -> str:
    """The message of a JSON error reply (asserting its shape)."""
    assert headers.get("content-type", "").startswith("application/json"), headers
    doc = json.loads(payload)
    assert doc["error"]["code"] == status and isinstance(doc["error"]["type"], str)
    return doc["error"]["message"]


def still_serving(srv) -> None:
    status, _, payload = request(srv, "POST", "/v1/chat/completions", HI)
    assert status == 200 and json.loads(payload)["object"] == "chat.completion"


def read_reply(sock: socket.socket) -> bytes:
    """Bytes until the server closes the connection (or 10 s pass)."""
    sock.settimeout(10)
    out = b""
    while chunk := sock.recv(65536):
        out += chunk
    return out


# --------------------------------------------------------------------------------------------- malformed bodies

NESTED = b'{"messages": [{"role": "user", "content": "hi"}], "x": ' + b"[" * 50_000 + b"]" * 50_000 + b"}"
HUGE_INT = b'{"messages": [{"role": "user", "content": "hi"}], "max_tokens": 1' + b"0" * 5000 + b"}"


@pytest.mark.parametrize(
    "body, status, needle",
    [
        (b'{"messages": [{"role": "user", "content": "\xff\xfe"}]}', 400, "UTF-8"),
        (NESTED, 400, "nested"),
        (HUGE_INT, 400, "digits"),
        (b"", 400, "not JSON"),
        (b"[1, 2]", 400, "JSON object"),
        ({"messages": "hi"}, 400, "non-empty list"),
        ({"messages": [{"role": "user", "content": 5}]}, 400, "content must be"),
        ({"messages": [{"role": "user", "content": [{"type": "text", "text": 5}]}]}, 400, "unsupported"),
        ({"messages": [{"role": "user", "content": [{"type": ["x"]}]}]}, 400, "unsupported"),
        ({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": 3}}]}]}, 400, "url"),
        ({**HI, "max_tokens": "8"}, 400, "max_tokens"),
        ({**HI, "max_tokens": True}, 400, "max_tokens"),
        ({**HI, "temperature": "hot"}, 400, "temperature"),
        ({**HI, "temperature": 3}, 400, "temperature"),
        ({**HI, "top_p": 0}, 400, "top_p"),
        ({**HI, "seed": -1}, 400, "seed"),
        ({**HI, "seed": 2**70}, 400, "seed"),
        ({**HI, "model": 5}, 400, "model"),
        (b'{"messages": [{"role": "user", "content": "hi"}], "temperature": NaN}', 400, "temperature"),
        ({"messages": [{"role": "user", "content": "hi"}], "stream": True}, 400, "stream"),
    ],
)
def test_malformed_bodies_get_a_4xx_json_error(server, body, status, needle):
    code, headers, payload = request(server, "POST", "/v1/chat/completions", body)
    assert code == status and needle in error_of(code, headers, payload)
    still_serving(server)


def test_malformed_http_gets_a_json_400(server):
    with socket.create_connection(addr(server)) as s:
        s.sendall(b"NOT HTTP AT ALL\r\n\r\n")
        reply = read_reply(s)
    head, _, payload = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400") and b"application/json" in head.lower()
    assert "not a valid HTTP request" in json.loads(payload)["error"]["message"]
    still_serving(server)


def test_a_body_far_over_the_cap_is_refused_unread(server):
    with socket.create_connection(addr(server)) as s:
        s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: t\r\nContent-Length: 1000000000000\r\n\r\n")
        reply = read_reply(s)  # the server answers and closes without waiting for a terabyte (not a 408)
    assert reply.startswith(b"HTTP/1.1 413") and b"exceeds" in reply and b"connection: close" in reply.lower()


def test_a_body_over_the_cap_gets_a_readable_413_even_with_connection_close(server):
    body = b'{"messages": "' + b"x" * 700_000 + b'"}'  # bigger than the socket buffers, under 4x the cap
    with socket.create_connection(addr(server)) as s:
        s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
                  b"Content-Length: %d\r\n\r\n" % len(body) + body)  # fmt: skip
        reply = read_reply(s)  # read, not reset: the server discarded the body before closing
    assert reply.startswith(b"HTTP/1.1 413") and b"exceeds" in reply


def test_unknown_route_and_method_are_json(server):
    code, headers, payload = request(server, "GET", "/v1/nothing")
    assert code == 404 and "no route /v1/nothing" in error_of(code, headers, payload)
    code, headers, payload = request(server, "GET", "/v1/chat/completions")
    assert code == 405 and "GET" in error_of(code, headers, payload)
    code, _, payload = request(server, "GET", "/health/")
    assert code == 200 and json.loads(payload)["model"] == "sif-tiny"


# ------------------------------------------------------------------------------------------------ slow clients


def test_an_idle_connection_is_closed_after_the_header_timeout(server):
    t0 = time.monotonic()
    with socket.create_connection(addr(server)) as s:
        assert read_reply(s) == b""  # closed by the server, nothing sent either way
    assert 0.8 * TIMEOUT <= time.monotonic() - t0 < TIMEOUT + 4


def test_a_trickled_request_head_does_not_extend_the_timeout(server):
    t0 = time.monotonic()
    with socket.create_connection(addr(server)) as s:
        s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: t\r\n")
        closed = False
        while time.monotonic() - t0 < TIMEOUT + 4:
            try:
                s.sendall(b"X")  # one header byte at a time, never the blank line
            except OSError:
                closed = True
                break
            s.settimeout(0.2)
            try:
                if s.recv(1024) == b"":
                    closed = True
                    break
            except TimeoutError:
                pass
    assert closed and time.monotonic() - t0 < TIMEOUT + 4


def test_a_half_sent_body_gets_408(server):
    with socket.create_connection(addr(server)) as s:
        s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: t\r\nContent-Length: 1000\r\n\r\n" + b'{"messages"')
        reply = read_reply(s)
    head, _, payload = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408")
    assert "did not arrive" in json.loads(payload)["error"]["message"]


def test_a_kept_alive_connection_is_closed_when_idle(server):
    with socket.create_connection(addr(server)) as s:
        s.sendall(b"GET /health HTTP/1.1\r\nHost: t\r\n\r\n")
        s.settimeout(10)
        first = b""
        while b"\r\n\r\n" not in first:  # the head may come in pieces
            first += s.recv(65536)
        head, _, body = first.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200")
        length = int(re.search(rb"(?i)content-length:\s*(\d+)", head).group(1))
        while len(body) < length:  # and the body after it
            body += s.recv(65536)
        assert json.loads(body[:length])["status"]
        t0 = time.monotonic()
        assert read_reply(s) == body[length:] == b""  # nothing more: the server closes the idle connection
    assert time.monotonic() - t0 < TIMEOUT + 4


# ---------------------------------------------------------------------------------------------------- bursts


async def _client(port: int, body: bytes) -> tuple:
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        head = b"POST /v1/chat/completions HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Length: %d\r\n\r\n"
        writer.write(head % len(body) + body)
        await writer.drain()
        data = await asyncio.wait_for(reader.read(), 90)
        writer.close()
    except (OSError, TimeoutError) as e:
        return type(e).__name__, b"", b""
    head, _, payload = data.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]) if head else "empty", head.lower(), payload


def test_a_burst_past_the_queue_gets_503_not_resets(server, gated):
    n, port, body = 200, addr(server)[1], json.dumps(HI).encode()

    async def burst():
        tasks = [asyncio.create_task(_client(port, body)) for _ in range(n)]
        deadline = time.monotonic() + 60
        while sum(t.done() for t in tasks) < n - QUEUE - BATCH and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        gated.open.set()  # the model was busy with the first one; now the queued ones are served
        return await asyncio.gather(*tasks)

    gated.open.clear()
    try:
        results = asyncio.run(burst())
    finally:
        gated.open.set()
    statuses = Counter(r[0] for r in results)
    assert set(statuses) <= {200, 503}, statuses  # every client got an HTTP reply: no reset, no timeout
    assert QUEUE <= statuses[200] <= QUEUE + BATCH and statuses[503] == n - statuses[200], statuses
    for status, head, payload in results:
        if status == 503:
            assert b"retry-after: 1" in head and json.loads(payload)["error"]["type"] == "server_busy"
    code, _, payload = request(server, "GET", "/health")
    assert code == 200 and json.loads(payload)["queued"] == 0
    assert server.stats["rejected_busy"] >= statuses[503]


# ------------------------------------------------------------------------------------------- per-call decoding


def test_each_request_is_decoded_with_its_own_options(server, gated):
    before = DecodingConfig(**vars(gated.thinker.generation))
    gated.calls.clear()
    bodies = [{**HI, "max_tokens": 2}, {**HI, "max_tokens": 6, "temperature": 0.7, "top_p": 0.9, "seed": 7}]
    with_results: list = [None, None]

    def go(i):
        with_results[i] = request(server, "POST", "/v1/chat/completions", bodies[i])

    threads = [threading.Thread(target=go, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    usage = [json.loads(r[2])["usage"]["completion_tokens"] for r in with_results]
    assert all(r[0] == 200 for r in with_results) and 0 < usage[0] <= 2 and 0 < usage[1] <= 6
    seen = sorted((g.max_new_tokens, g.do_sample, g.temperature, g.top_p, g.seed) for g in gated.calls)
    assert seen == [(2, False, 1.0, 1.0, 0), (6, True, 0.7, 0.9, 7)]
    assert gated.thinker.generation == before  # nothing shared was changed


def test_a_slow_generation_gets_504_and_a_failed_one_500(gated):
    cfg = ServeConfig(port=0, max_new_tokens=8, request_timeout_s=0.5, batch_size=1)
    with SIFServer(gated, cfg) as srv:
        gated.open.clear()
        try:
            code, headers, payload = request(srv, "POST", "/v1/chat/completions", HI)
        finally:
            gated.open.set()
        assert code == 504 and "timed out" in error_of(code, headers, payload)
        gated.fail.set()
        try:
            code, headers, payload = request(srv, "POST", "/v1/chat/completions", HI)
        finally:
            gated.fail.clear()
        assert code == 500 and "accelerator fell over" in error_of(code, headers, payload)
        assert srv.stats["server_errors"] == 2
        assert request(srv, "GET", "/health")[0] == 200  # and it goes on


# ---------------------------------------------------------------------------------------------------- API key


def test_api_key_is_required_and_never_logged(keyed, caplog):
    caplog.set_level(logging.DEBUG)
    code, headers, payload = request(keyed, "GET", "/v1/models")
    assert code == 401 and "API key" in error_of(code, headers, payload)
    assert headers.get("www-authenticate") == "Bearer"
    code, _, _ = request(keyed, "POST", "/v1/chat/completions", HI, {"Authorization": "Bearer " + KEY[:-1] + "X"})
    assert code == 401
    code, _, _ = request(keyed, "POST", "/v1/chat/completions", HI, {"Authorization": KEY})  # no scheme
    assert code == 401
    code, _, payload = request(keyed, "GET", "/v1/models", headers={"Authorization": f"Bearer {KEY}"})
    assert code == 200 and json.loads(payload)["data"][0]["id"] == "sif-tiny"
    assert request(keyed, "GET", "/health")[0] == 200  # probes need no key
    client = OpenAICompatClient(OpenAICompatConfig(base_url=keyed.base_url, model="sif-tiny", api_key_env=None,
                                                   max_retries=0), api_key=KEY)  # fmt: skip
    try:
        assert isinstance(client.chat_sync(HI["messages"], temperature=0.0, max_tokens=2, use_cache=False), str)
    finally:
        client.close()
    assert KEY not in caplog.text and KEY not in repr(keyed.cfg)


def test_config_refuses_bad_values_without_showing_the_key():
    with pytest.raises(ValueError, match="queue_size"):
        ServeConfig(queue_size=0)
    with pytest.raises(ValueError, match="header_timeout_s"):
        ServeConfig(header_timeout_s=0)
    with pytest.raises(ValueError, match="api_key") as ei:
        ServeConfig(api_key="   ")
    assert "   " not in str(ei.value).replace("api_key must", "")


# ------------------------------------------------------------------------------------------------------ binding


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "localhost", "LOCALHOST", "::1", "[::1]"])
def test_loopback_hosts_bind_quietly(host):
    assert is_loopback(host) and bind_warning(host, has_api_key=False) is None


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "", "192.168.1.5", "example.org"])
def test_other_hosts_get_a_warning(host):
    msg = bind_warning(host, has_api_key=False)
    assert msg is not None and repr(host) in msg and "other machines" in msg and "API key" in msg
    assert "API key" not in bind_warning(host, has_api_key=True)

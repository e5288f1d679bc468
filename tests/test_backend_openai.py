"""The OpenAI-compatible client against a real loopback HTTP server (no mocks of the client)."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import socket
import time
import traceback

import pytest
from fake_openai_server import Action, FakeOpenAIServer, fast_sdk_backoff

from sifthinker.backends.openai_compat import (
    DUMMY_API_KEY,
    BackendError,
    OpenAICompatClient,
    OpenAICompatConfig,
    cache_key,
    image_part,
)

KEY_ENV = "SIFTHINKER_TEST_API_KEY"
SECRET = "sk-test-7f3a9c1e5b2d4f6a8c0e1b3d5f7a9c1e"
MSGS = [{"role": "user", "content": "ping"}]


@pytest.fixture
def server():
    with FakeOpenAIServer(lambda body: "pong") as srv:
        yield srv


@pytest.fixture
def make_client(server, monkeypatch):
    monkeypatch.setenv(KEY_ENV, SECRET)
    fast_sdk_backoff(monkeypatch)
    made = []

    def make(**overrides) -> OpenAICompatClient:
        settings = dict(
            base_url=server.base_url,
            model="fake-vlm",
            api_key_env=KEY_ENV,
            timeout_s=2.0,
            max_retries=3,
            max_concurrency=4,
        )
        settings.update(overrides)
        c = OpenAICompatClient(OpenAICompatConfig(**settings))
        made.append(c)
        return c

    yield make
    for c in made:
        c.close()


def run(client: OpenAICompatClient, coro_fn):
    """Run ``coro_fn()`` in a fresh loop and close the client's HTTP pool of that loop."""

    async def main():
        try:
            return await coro_fn()
        finally:
            await client.aclose()

    return asyncio.run(main())


# ------------------------------------------------------------------------------------------------------- config


def test_config_from_dict_and_yaml(tmp_path):
    cfg = OpenAICompatConfig.from_dict({"base_url": "http://localhost:8000/v1", "model": "m", "api_key_env": None})
    assert cfg.max_retries == 5 and cfg.max_concurrency == 8 and cfg.temperature == 0.7 and cfg.api_key_env is None
    assert OpenAICompatConfig.from_dict(cfg.to_dict()) == cfg
    path = tmp_path / "b.yaml"
    path.write_text("writer:\n  base_url: https://api.example.com/v1\n  model: gpt-x\n  cache_dir: cache\n")
    y = OpenAICompatConfig.from_yaml(path, section="writer")
    assert y.model == "gpt-x" and y.api_key_env == "OPENAI_API_KEY" and y.cache_dir == "cache"


@pytest.mark.parametrize(
    "bad, needle",
    [
        ({"modle": "x"}, "valid:"),
        ({"api_key": "sk-1"}, "must not hold the API key"),
        ({"base_url": "ftp://x/v1"}, "http(s) URL"),
        ({"max_concurrency": 0}, "max_concurrency"),
        ({"max_retries": -1}, "max_retries"),
        ({"backoff_initial_s": 5.0, "backoff_max_s": 1.0}, "back off as the openai SDK does"),
        ({"timeout_s": 0}, "timeout_s"),
        ({"temperature": 3}, "temperature"),
        ({"api_key_env": ""}, "api_key_env"),
        ({"extra_body": [1]}, "extra_body"),
    ],
)
def test_config_rejects_bad_settings(bad, needle):
    d = {"base_url": "http://127.0.0.1:1/v1", "model": "m", **bad}
    with pytest.raises(ValueError) as ei:
        OpenAICompatConfig.from_dict(d)
    assert needle in str(ei.value)


def test_missing_key_is_a_clear_error(server, monkeypatch):
    monkeypatch.delenv(KEY_ENV, raising=False)
    cfg = OpenAICompatConfig(base_url=server.base_url, model="m", api_key_env=KEY_ENV)
    with pytest.raises(ValueError, match=KEY_ENV) as ei:
        OpenAICompatClient(cfg)
    assert "api_key_env: null" in str(ei.value)
    assert server.hits == 0


def test_keyless_local_server_gets_a_dummy_key(server):
    cfg = OpenAICompatConfig(base_url=server.base_url, model="m", api_key_env=None)
    with OpenAICompatClient(cfg) as c:
        assert c.chat_sync(MSGS) == "pong"
    assert server.requests[0].headers["authorization"] == f"Bearer {DUMMY_API_KEY}"


def test_explicit_key_overrides_env(server, monkeypatch):
    monkeypatch.delenv(KEY_ENV, raising=False)
    cfg = OpenAICompatConfig(base_url=server.base_url, model="m", api_key_env=KEY_ENV)
    with OpenAICompatClient(cfg, api_key="sk-explicit-123456") as c:
        assert c.chat_sync(MSGS) == "pong"
    assert server.requests[0].headers["authorization"] == "Bearer sk-explicit-123456"


# ------------------------------------------------------------------------------------------------------ secrets


def test_key_reaches_server_but_never_logs_errors_or_cache(server, make_client, tmp_path, caplog, monkeypatch):
    for name in (None, "openai", "httpx2", "httpcore2", "sifthinker"):
        caplog.set_level(logging.DEBUG, logger=name)
    server.expected_key = SECRET
    c = make_client(cache_dir=str(tmp_path / "cache"))
    server.queue(Action.error(429, "slow down", retry_after=0), Action.malformed("not_json"))
    assert c.chat_sync(MSGS) == "pong"
    assert {r.headers["authorization"] for r in server.requests} == {f"Bearer {SECRET}"}
    # A wrong key: the careless server echoes the key it got; it must not reach our message or logs.
    wrong = "sk-wrong-0123456789abcdef0123456789"
    monkeypatch.setenv(KEY_ENV, wrong)
    bad = make_client(cache_dir=str(tmp_path / "cache"))
    with pytest.raises(BackendError) as ei:
        bad.chat_sync([{"role": "user", "content": "other"}])
    err = ei.value
    assert err.status == 401 and "401" in str(err) and "Incorrect API key" in str(err)
    rendered = "".join(traceback.format_exception(err))
    for secret in (SECRET, wrong):
        assert secret not in str(err) and secret not in rendered
        assert secret not in caplog.text
        assert secret not in repr(c) and secret not in repr(c.config) and secret not in json.dumps(c.config.to_dict())
        for f in (tmp_path / "cache").rglob("*"):
            if f.is_file():
                assert secret not in f.read_text()
    assert "retrying" in caplog.text  # the logs did capture the client's activity


# ------------------------------------------------------------------------------------------------------ retries

FAILURES = [
    (Action.error(429, "rate limited", retry_after=0), "http_429"),
    (Action.error(500, "boom"), "http_500"),
    (Action.error(503, "overloaded"), "http_503"),
    (Action.error(408, "request timeout"), "http_408"),
    (Action.slow(1.5), "timeout"),
    (Action.malformed("not_json"), "not_json"),
    (Action.malformed("no_choices"), "no_choices"),
    (Action.malformed("empty_content"), "empty_content"),
    (Action.malformed("null_content"), "empty_content"),
    (Action.malformed("error_body"), "error_body"),
]


@pytest.mark.parametrize("action, reason", FAILURES, ids=[f"{i}-{r}" for i, (_, r) in enumerate(FAILURES)])
def test_retryable_failure_then_success(server, make_client, action, reason):
    c = make_client(timeout_s=0.5)
    server.queue(action)
    assert c.chat_sync(MSGS) == "pong"
    st = c.stats
    assert server.hits == 2
    assert st["requests"] == 2 and st["retries"] == 1 and st["errors"] == 0 and st["calls"] == 1
    assert st["failures"] == {reason: 1}


def test_all_failures_in_a_row_then_the_right_reply(server, make_client):
    c = make_client(timeout_s=0.5, max_retries=len(FAILURES))
    server.queue(*(a for a, _ in FAILURES))
    assert c.chat_sync(MSGS) == "pong"
    st = c.stats
    assert server.hits == len(FAILURES) + 1 and st["retries"] == len(FAILURES)
    assert sum(st["failures"].values()) == len(FAILURES) and st["failures"]["empty_content"] == 2


def test_gives_up_after_max_retries(server, make_client):
    c = make_client(max_retries=2)
    server.queue(*[Action.error(503, "still overloaded")] * 5)
    with pytest.raises(BackendError) as ei:
        c.chat_sync(MSGS)
    e = ei.value
    assert server.hits == 3 and e.attempts == 3 and e.reason == "http_503" and e.status == 503 and e.retryable
    assert "503" in str(e) and "still overloaded" in str(e)
    assert c.stats["errors"] == 1 and c.stats["retries"] == 2


def test_malformed_replies_give_up_with_the_reason(server, make_client):
    c = make_client(max_retries=1)
    server.queue(Action.malformed("no_choices"), Action.malformed("no_choices"), Action.malformed("no_choices"))
    with pytest.raises(BackendError, match="no choices") as ei:
        c.chat_sync(MSGS)
    assert ei.value.reason == "no_choices" and server.hits == 2


def test_timeouts_give_up(server, make_client):
    c = make_client(timeout_s=0.15, max_retries=1)
    server.queue(Action.slow(1.0), Action.slow(1.0))
    t0 = time.perf_counter()
    with pytest.raises(BackendError) as ei:
        c.chat_sync(MSGS)
    assert ei.value.reason == "timeout" and ei.value.status is None
    assert time.perf_counter() - t0 < 1.2  # the client's deadlines (2 × 0.15 s), not the server's delay (2 × 1 s)


def test_connection_errors_are_retried_then_raise(make_client):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed when the block ends: nothing listens there
    c = make_client(base_url=f"http://127.0.0.1:{port}/v1", max_retries=2)
    with pytest.raises(BackendError) as ei:
        c.chat_sync(MSGS)
    assert ei.value.reason == "connection" and ei.value.attempts == 3 and c.stats["failures"] == {"connection": 3}


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
def test_other_4xx_are_not_retried(server, make_client, status):
    c = make_client(max_retries=5)
    server.queue(Action.error(status, f"the server says no ({status})"))
    with pytest.raises(BackendError) as ei:
        c.chat_sync(MSGS)
    e = ei.value
    assert server.hits == 1 and e.status == status and not e.retryable and e.reason == f"http_{status}"
    assert f"HTTP {status}" in str(e) and f"the server says no ({status})" in str(e)
    assert c.stats["retries"] == 0 and c.stats["failures"] == {f"http_{status}": 1}


def test_retry_after_is_honoured(server, make_client):
    c = make_client()  # the SDK's backoff shrunk to ms: the 0.4 s gap is the server's Retry-After
    server.queue(Action.error(429, "wait", retry_after=0.4))
    t0 = time.perf_counter()
    assert c.chat_sync(MSGS) == "pong"
    assert time.perf_counter() - t0 >= 0.35
    gap = server.requests[1].received - server.requests[0].received
    assert gap >= 0.35


def test_the_sdk_does_the_retry_with_its_own_backoff(server, monkeypatch):
    """429 then 200: one success; the second request is the SDK's retry (its retry-count header says so), after
    the SDK's own first backoff (0.5 s less up to 25 % jitter; not shrunk here)."""
    monkeypatch.setenv(KEY_ENV, SECRET)
    server.queue(Action.error(429, "rate limited"))
    with OpenAICompatClient(OpenAICompatConfig(base_url=server.base_url, model="m", api_key_env=KEY_ENV)) as c:
        assert c.chat_sync(MSGS) == "pong"
        st = c.stats
    assert server.hits == 2 and st["calls"] == 1 and st["requests"] == 2 and st["retries"] == 1
    assert st["failures"] == {"http_429": 1} and st["errors"] == 0
    first, second = server.requests
    assert first.headers["x-stainless-retry-count"] == "0" and second.headers["x-stainless-retry-count"] == "1"
    assert 0.35 <= second.received - first.received < 2.0


def test_500s_beyond_max_retries_fail_that_item_alone(server, make_client):
    def poison(body):
        return Action.error(500, "this item breaks the server") if "poison" in json.dumps(body) else None

    server.action_for = poison
    c = make_client(max_retries=2, max_concurrency=2)
    items = ["a", "poison", "b", "c"]
    out = run(
        c,
        lambda: asyncio.gather(*(c.chat([{"role": "user", "content": t}]) for t in items), return_exceptions=True),
    )
    assert [o for i, o in enumerate(out) if i != 1] == ["pong"] * 3
    e = out[1]
    assert isinstance(e, BackendError) and e.reason == "http_500" and e.status == 500 and e.attempts == 3
    assert e.retryable and "gave up after 3 request(s)" in str(e) and "this item breaks the server" in str(e)
    poisoned = [r for r in server.requests if "poison" in json.dumps(r.body)]
    assert len(poisoned) == 3 and server.hits == 6
    assert c.stats["failures"] == {"http_500": 3} and c.stats["errors"] == 1


# -------------------------------------------------------------------------------------------------------- cache


def test_cache_serves_a_repeat_without_a_request(server, make_client, tmp_path):
    cache = tmp_path / "cache"
    c = make_client(cache_dir=str(cache))
    assert c.chat_sync(MSGS, salt=0) == "pong"
    assert c.chat_sync(MSGS, salt=0) == "pong"
    assert server.hits == 1 and c.stats["cache_hits"] == 1 and c.stats["cache_writes"] == 1
    # Anything in the key asks again: the salt, the temperature, max_tokens, the messages.
    c.chat_sync(MSGS, salt=1)
    c.chat_sync(MSGS, salt=0, temperature=0.0)
    c.chat_sync(MSGS, salt=0, max_tokens=7)
    c.chat_sync([{"role": "user", "content": "ping!"}], salt=0)
    assert server.hits == 5
    # A new client on the same cache (a rerun of the build) pays nothing.
    again = make_client(cache_dir=str(cache))
    assert again.chat_sync(MSGS, salt=0) == "pong" and server.hits == 5 and again.stats["cache_hits"] == 1
    files = [f for f in cache.rglob("*") if f.is_file()]
    assert len(files) == 5 and all(f.suffix == ".json" for f in files)  # no temp files left
    rec = json.loads(files[0].read_text())
    assert {"key", "model", "salt", "reply", "usage", "created"} <= set(rec) and rec["model"] == "fake-vlm"
    key = cache_key("fake-vlm", MSGS, 0.7, 2048, 0)
    assert (cache / key[:2] / f"{key}.json").is_file()


def test_failed_replies_are_not_cached_and_corrupt_files_are_misses(server, make_client, tmp_path, caplog):
    cache = tmp_path / "cache"
    c = make_client(cache_dir=str(cache), max_retries=0)
    server.queue(Action.malformed("empty_content"))
    with pytest.raises(BackendError):
        c.chat_sync(MSGS)
    assert not any(f.is_file() for f in cache.rglob("*"))
    assert c.chat_sync(MSGS) == "pong" and server.hits == 2
    (f,) = [f for f in cache.rglob("*.json")]
    f.write_text("{truncated")
    assert c.chat_sync(MSGS) == "pong" and server.hits == 3  # a miss, asked again, rewritten
    assert "unreadable cache file" in caplog.text
    assert json.loads(f.read_text())["reply"] == "pong"
    assert c.chat_sync(MSGS, use_cache=False) == "pong" and server.hits == 4


# -------------------------------------------------------------------------------------------------- concurrency


def test_concurrency_is_bounded(server, make_client):
    server.delay = 0.05
    c = make_client(max_concurrency=3)
    replies = run(c, lambda: asyncio.gather(*(c.chat([{"role": "user", "content": f"q{i}"}]) for i in range(12))))
    assert replies == ["pong"] * 12
    assert 2 <= server.max_in_flight <= 3 and server.hits == 12


def test_concurrent_requests_overlap(server, make_client):
    server.delay = 0.1
    n = 8

    def timed(k: int) -> float:
        c = make_client(max_concurrency=k)
        t0 = time.perf_counter()
        out = run(c, lambda: asyncio.gather(*(c.chat([{"role": "user", "content": f"{k}-{i}"}]) for i in range(n))))
        assert out == ["pong"] * n
        return time.perf_counter() - t0

    sequential = timed(1)
    concurrent = timed(4)
    assert sequential >= n * 0.1 * 0.9
    assert concurrent < 0.6 * sequential


def test_retries_do_not_hold_a_slot(server, make_client):
    """A request waiting out its backoff leaves its slot to others."""
    c = make_client(max_concurrency=1)
    server.queue(Action.error(429, "wait", retry_after=0.5))

    async def both():
        first = asyncio.ensure_future(c.chat([{"role": "user", "content": "a"}]))
        for _ in range(400):  # until the first request has had its 429 (bounded)
            if server.hits >= 1 and server.in_flight == 0:
                break
            await asyncio.sleep(0.005)
        second = await c.chat([{"role": "user", "content": "b"}])
        first_was_waiting = not first.done()
        return await first, second, first_was_waiting

    a, b, first_was_waiting = run(c, both)
    assert a == b == "pong" and first_was_waiting
    assert [r.body["messages"][0]["content"] for r in server.requests] == ["a", "b", "a"]


# ---------------------------------------------------------------------------------------------- sync and images


def test_sync_wrapper_inside_a_running_loop(server, make_client):
    c = make_client()

    async def inside():
        return c.chat_sync(MSGS)  # blocks this loop but must not deadlock or reuse its pool

    assert asyncio.run(inside()) == "pong"
    assert c.chat_sync(MSGS) == "pong"
    c.close()
    assert c.chat_sync(MSGS) == "pong"  # a closed client starts a new private loop on demand


def test_image_parts_reach_the_server(server, make_client):
    png = b"\x89PNG\r\n\x1a\nfake-image-bytes"
    part = image_part(png)
    assert part == {
        "type": "image_url",
        "image_url": {"url": "data:image/png;base64," + base64.b64encode(png).decode()},
    }
    c = make_client()
    msgs = [{"role": "user", "content": [{"type": "text", "text": "look"}, part]}]
    assert c.chat_sync(msgs) == "pong"
    body = server.requests[0].body
    assert body["model"] == "fake-vlm" and body["temperature"] == 0.7 and body["max_tokens"] == 2048
    sent = body["messages"][0]["content"][1]["image_url"]["url"]
    assert base64.b64decode(sent.split(",", 1)[1]) == png
    with pytest.raises(ValueError):
        image_part(b"")


def test_extra_body_is_sent(server, make_client):
    c = make_client(extra_body={"top_p": 0.9, "seed": 7})
    c.chat_sync(MSGS)
    body = server.requests[0].body
    assert body["top_p"] == 0.9 and body["seed"] == 7

"""Secrets of the OpenAI-compatible client (issue 13, item 5): no configured value echoed in an error, replies
scrubbed of the key before caching, credential headers redacted in the debug logs; against a real loopback server."""

from __future__ import annotations

import json
import logging
import socket

import pytest
from fake_openai_server import Action, FakeOpenAIServer, fast_sdk_backoff

from sifthinker.backends.openai_compat import BackendError, OpenAICompatClient, OpenAICompatConfig, cache_key

KEY_ENV = "SIFTHINKER_SECRETS_TEST_KEY"
SECRET = "sk-live-9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b4a"
MSGS = [{"role": "user", "content": "ping"}]
REDACTED = "[redacted]"


@pytest.fixture
def server():
    with FakeOpenAIServer(lambda body: "pong") as srv:
        yield srv


def files_text(root) -> str:
    return "".join(f.read_text() for f in root.rglob("*") if f.is_file())


# ------------------------------------------------------------------------------- a key pasted into api_key_env


@pytest.mark.parametrize(
    "pasted",
    [
        "sk-proj-Zx81QeLm2VbN7tYw4RcD0aKf",  # dashes: cannot be a variable's name, refused by the config
        "a3f9c1e5b2d4f6a8c0e1b3d5f7a9c1e5",  # a hex key that is a valid name: unset, reported without the value
        "ZxQeLmVbNtYwRcDaKfGhJkPqWs",  # mixed-case letters
        "x" * 80,  # longer than any variable name
    ],
)
def test_a_key_pasted_into_api_key_env_is_never_echoed(pasted, monkeypatch):
    monkeypatch.delenv(pasted, raising=False)
    settings = {"base_url": "http://127.0.0.1:9/v1", "model": "m", "api_key_env": pasted}
    with pytest.raises(ValueError) as ei:
        OpenAICompatClient(settings)
    message = str(ei.value)
    assert pasted not in message and pasted not in repr(ei.value)
    assert "api_key_env" in message and "character" in message  # what was wrong, and how long the value was


def test_a_name_that_looks_like_one_is_still_named(monkeypatch):
    monkeypatch.delenv("MY_WRITER_KEY", raising=False)
    with pytest.raises(ValueError, match="'MY_WRITER_KEY'"):
        OpenAICompatClient({"base_url": "http://127.0.0.1:9/v1", "model": "m", "api_key_env": "MY_WRITER_KEY"})


def test_credentials_in_the_base_url_are_never_echoed(monkeypatch, caplog):
    for name in (None, "httpx", "httpx2", "httpcore", "httpcore2", "openai"):
        caplog.set_level(logging.DEBUG, logger=name)
    fast_sdk_backoff(monkeypatch)
    with pytest.raises(ValueError) as ei:
        OpenAICompatConfig(base_url="ftp://bob:url-secret-77@example.com/v1", model="m", api_key_env=None)
    assert "url-secret-77" not in str(ei.value) and "ftp://[redacted]@example.com/v1" in str(ei.value)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens there once the block ends
    url = f"http://bob:url-secret-77@127.0.0.1:{port}/v1?token=query-secret-88"
    with OpenAICompatClient(OpenAICompatConfig(base_url=url, model="m", api_key_env=None, max_retries=1)) as c:
        assert "url-secret-77" not in repr(c)
        with pytest.raises(BackendError) as err:
            c.chat_sync(MSGS)
    assert err.value.reason == "connection"
    for secret in ("url-secret-77", "query-secret-88"):
        assert secret not in str(err.value)
    assert "url-secret-77" not in caplog.text and "127.0.0.1" in caplog.text  # the logs name the host, not the user


# ------------------------------------------------------------------------------- replies that repeat the key


def test_a_reply_echoing_the_key_is_scrubbed_before_caching(server, tmp_path, monkeypatch):
    monkeypatch.setenv(KEY_ENV, SECRET)
    server.expected_key = SECRET
    cache = tmp_path / "api_cache"
    cfg = OpenAICompatConfig(base_url=server.base_url, model="m", api_key_env=KEY_ENV, cache_dir=str(cache))
    server.queue(Action.echo("authorization"))  # the careless server repeats the Authorization header
    with OpenAICompatClient(cfg) as c:
        reply = c.chat_sync(MSGS)
    assert reply == f"Bearer {REDACTED}"
    assert server.requests[0].headers["authorization"] == f"Bearer {SECRET}"  # the key did reach the server
    text = files_text(cache)
    assert SECRET not in text and REDACTED in text
    with OpenAICompatClient(cfg) as rerun:  # a rerun is served the scrubbed reply from the cache
        assert rerun.chat_sync(MSGS) == reply and server.hits == 1


def test_the_cache_key_holds_no_key(server, tmp_path, monkeypatch):
    """Two keys, one prompt: the same cache entry (the key is not hashed into it), and no key in any file."""
    cache = tmp_path / "api_cache"
    replies = []
    for key in (SECRET, SECRET[::-1]):
        monkeypatch.setenv(KEY_ENV, key)
        cfg = OpenAICompatConfig(base_url=server.base_url, model="m", api_key_env=KEY_ENV, cache_dir=str(cache))
        with OpenAICompatClient(cfg) as c:
            replies.append(c.chat_sync(MSGS, salt=3))
    assert replies == ["pong", "pong"] and server.hits == 1
    key = cache_key("m", MSGS, cfg.temperature, cfg.max_tokens, 3)
    assert [f.name for f in cache.rglob("*.json")] == [f"{key}.json"]
    text = files_text(cache)
    assert SECRET not in text and SECRET[::-1] not in text


# ---------------------------------------------------------------------------------------------- debug logs


def test_logged_http_headers_are_redacted(server, monkeypatch, caplog):
    """With -v (DEBUG everywhere) the HTTP library logs every response header; credential ones are masked."""
    for name in (None, "httpx", "httpx2", "httpcore", "httpcore2", "openai"):  # as -v leaves them
        caplog.set_level(logging.DEBUG, logger=name)
    monkeypatch.setenv(KEY_ENV, SECRET)
    headers = {
        "Set-Cookie": "session=cookie-secret-1",
        "api-key": "header-secret-2",
        "Authorization": f"Bearer {SECRET}",
        "X-Upstream": "Bearer bearer-secret-3",
    }
    server.queue(Action(headers=headers))
    with OpenAICompatClient({"base_url": server.base_url, "model": "m", "api_key_env": KEY_ENV}) as c:
        assert c.chat_sync(MSGS) == "pong"
    logged = caplog.text
    assert "receive_response_headers" in logged and "Content-Type" in logged  # the headers were logged ...
    for secret in ("cookie-secret-1", "header-secret-2", SECRET, "bearer-secret-3"):
        assert secret not in logged  # ... without the credentials
    assert logged.count(REDACTED) >= 4


@pytest.mark.parametrize(
    "line, secret",
    [
        ("[(b'Cookie', b\"a='1'; sid=zz-secret\")]", "zz-secret"),
        ("{'authorization': 'Bearer tok-secret', 'accept': 'application/json'}", "tok-secret"),
        ("Proxy-Authorization: Basic cHJveHktc2VjcmV0", "cHJveHktc2VjcmV0"),
        ("x-api-key=abc-secret-1 and more", "abc-secret-1"),
    ],
)
def test_redact_headers_forms(line, secret):
    from sifthinker.backends.redact import redact_headers

    out = redact_headers(line)
    assert secret not in out and REDACTED in out
    assert redact_headers("(b'Content-Type', b'application/json')") == "(b'Content-Type', b'application/json')"


def test_an_error_body_that_repeats_a_wrong_key_is_scrubbed(server, monkeypatch, tmp_path):
    monkeypatch.setenv(KEY_ENV, SECRET)
    server.expected_key = "sk-the-right-one-000000"
    cfg = OpenAICompatConfig(base_url=server.base_url, model="m", api_key_env=KEY_ENV, cache_dir=str(tmp_path))
    with OpenAICompatClient(cfg) as c:
        with pytest.raises(BackendError) as ei:
            c.chat_sync(MSGS)
    assert ei.value.status == 401 and "Incorrect API key" in str(ei.value) and REDACTED in str(ei.value)
    assert SECRET not in str(ei.value) and SECRET not in json.dumps(c.stats)

"""A scriptable OpenAI-compatible chat server on the loopback interface, for tests and benchmarks (stdlib only).

It answers ``POST …/chat/completions`` with the JSON the real API returns (``id``, ``object``, ``created``,
``model``, ``choices[{index, message{role, content}, finish_reason}]``, ``usage``). The reply text comes from a
``responder(request_body) -> str``; queued :class:`Action` objects, consumed one per request, inject failures
first (429 with ``Retry-After``, 5xx, a delay, a malformed body, 4xx, a reply echoing a request header); when the
queue is empty, ``action_for(request_body)`` may pick one per request (e.g. fail every request about one item). It
records every request, the number of hits and the most requests in flight at once. :func:`fast_sdk_backoff` shrinks
the ``openai`` SDK's backoff for tests.

>>> import json, urllib.request
>>> with FakeOpenAIServer(lambda body: "hello") as srv:
...     srv.queue(Action.error(503, "busy"))
...     req = urllib.request.Request(srv.base_url + "/chat/completions", data=b'{"model": "m", "messages": []}',
...                                  headers={"Content-Type": "application/json"})
...     try:
...         urllib.request.urlopen(req)
...     except urllib.error.HTTPError as e:
...         print(e.code)
...     print(json.load(urllib.request.urlopen(req))["choices"][0]["message"]["content"], srv.hits)
503
hello 2
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["Action", "RecordedRequest", "FakeOpenAIServer", "completion_body", "fast_sdk_backoff"]

Responder = Callable[[dict[str, Any]], str]


def completion_body(content: str | None, model: str = "fake-model", finish_reason: str = "stop") -> dict[str, Any]:
    """A chat-completions reply body as the real API shapes it."""
    n_out = len(content.split()) if isinstance(content, str) else 0
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": finish_reason,
                "logprobs": None,
            }
        ],
        "usage": {"prompt_tokens": 10, "completion_tokens": n_out, "total_tokens": 10 + n_out},
    }


@dataclass
class Action:
    """What the server does with one request.

    ``delay`` seconds first; then ``body`` (bytes/str sent as is, a dict as JSON) with ``status`` if given, else a
    normal completion whose content is ``content`` (or the value of the request header ``echo_header``, as a
    careless server repeats what it got; or the responder's reply when both are None).
    """

    status: int = 200
    content: str | None = None
    body: bytes | str | dict[str, Any] | None = None
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    echo_header: str | None = None

    @classmethod
    def error(cls, status: int, message: str = "error", *, retry_after: float | str | None = None) -> Action:
        """An error status with the API's error body (and a ``Retry-After`` header when given)."""
        headers = {} if retry_after is None else {"Retry-After": str(retry_after)}
        body = {"error": {"message": message, "type": "fake_error", "param": None, "code": str(status)}}
        return cls(status=status, body=body, headers=headers)

    @classmethod
    def malformed(cls, kind: str) -> Action:
        """A 200 reply that is no usable completion: ``not_json``, ``no_choices``, ``empty_content``,
        ``null_content`` or ``error_body``."""
        if kind == "not_json":
            return cls(body=b"<html><body>502 upstream hiccup</body></html>", content_type="text/html")
        if kind == "no_choices":
            b = completion_body("x")
            b["choices"] = []
            return cls(body=b)
        if kind == "empty_content":
            return cls(body=completion_body("  "))
        if kind == "null_content":
            return cls(body=completion_body(None))
        if kind == "error_body":
            return cls(body={"error": {"message": "overloaded", "type": "server_error"}})
        raise ValueError(
            f"unknown malformed kind {kind!r}; choose not_json, no_choices, empty_content, null_content, error_body"
        )

    @classmethod
    def echo(cls, header: str = "authorization") -> Action:
        """A normal completion whose content is the request's ``header`` (``Bearer <key>`` by default)."""
        return cls(echo_header=header.lower())

    @classmethod
    def slow(cls, delay: float) -> Action:
        """A normal reply after ``delay`` seconds (longer than the client's timeout: the client gives up)."""
        return cls(delay=delay)


@dataclass
class RecordedRequest:
    """One request as the server saw it: path, headers (lower-case names), JSON body (None if not JSON)."""

    path: str
    headers: dict[str, str]
    body: dict[str, Any] | None
    received: float


class FakeOpenAIServer:
    """A threaded loopback server speaking the chat-completions API; start/stop it with ``with``.

    Args:
        responder: ``f(request_body) -> reply text`` for normal replies (default: ``"ok"``).
        delay: seconds every request waits before its answer (a fixed service time, for throughput tests).
        expected_key: when set, a request whose ``Authorization`` is not ``Bearer <expected_key>`` gets 401.
        model: the ``model`` field of replies.
        action_for: ``f(request_body) -> Action | None`` for requests that find the queue empty (None: normal).
    """

    def __init__(
        self,
        responder: Responder | None = None,
        *,
        delay: float = 0.0,
        expected_key: str | None = None,
        model: str = "fake-model",
        action_for: Callable[[dict[str, Any] | None], Action | None] | None = None,
    ):
        self.responder = responder or (lambda body: "ok")
        self.delay = delay
        self.expected_key = expected_key
        self.model = model
        self.action_for = action_for
        self.requests: list[RecordedRequest] = []
        self.hits = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self._actions: deque[Action] = deque()
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- control -------------------------------------------------------------------------------------------------

    def queue(self, *actions: Action) -> None:
        """Queue actions for the next requests, in order; requests after them get normal replies."""
        with self._lock:
            self._actions.extend(actions)

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._actions)

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self.hits = 0
            self.max_in_flight = self.in_flight
            self._actions.clear()

    @property
    def base_url(self) -> str:
        if self._httpd is None:
            raise RuntimeError("the server is not running; use it as a context manager or call start()")
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    def start(self) -> FakeOpenAIServer:
        if self._httpd is not None:
            return self
        handler = type("_Handler", (_Handler,), {"owner": self})
        self._httpd = _Server(("127.0.0.1", 0), handler)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, name="fake-openai", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        httpd, self._httpd = self._httpd, None
        if httpd is not None:
            httpd.shutdown()
            httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FakeOpenAIServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- handling ------------------------------------------------------------------------------------------------

    def _next(self, rec: RecordedRequest) -> tuple[Action, int]:
        with self._lock:
            self.requests.append(rec)
            self.hits += 1
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            action = self._actions.popleft() if self._actions else None
            hits = self.hits
        if action is None:
            action = (self.action_for(rec.body) if self.action_for else None) or Action()
        return action, hits

    def _done(self) -> None:
        with self._lock:
            self.in_flight -= 1


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # the default backlog of 5 stalls bursts of concurrent connects by a SYN retry (~1 s)


class _Handler(BaseHTTPRequestHandler):
    owner: FakeOpenAIServer
    protocol_version = "HTTP/1.1"  # keep-alive, as real servers do
    disable_nagle_algorithm = True  # headers and body go out in two writes: Nagle + delayed ACK would add ~40 ms
    timeout = 10  # an idle keep-alive connection's thread ends after this

    def log_message(self, format, *args):  # noqa: A002 - the base class's name
        pass  # silent: tests check what is logged

    def _send(self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up (its timeout); nothing to answer

    def do_POST(self):  # noqa: N802 - http.server's name
        owner = self.owner
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n) if n else b""
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        rec = RecordedRequest(self.path, {k.lower(): v for k, v in self.headers.items()}, body, time.time())
        if not self.path.rstrip("/").endswith("/chat/completions"):
            msg = json.dumps({"error": {"message": f"no route {self.path}"}}).encode()
            self._send(404, msg, "application/json")
            return
        action, _ = owner._next(rec)
        try:
            wait = owner.delay + action.delay
            if wait > 0:
                time.sleep(wait)
            if owner.expected_key is not None and rec.headers.get("authorization") != f"Bearer {owner.expected_key}":
                got = rec.headers.get("authorization", "")
                # Echo what was sent, as careless servers do: the client must redact it.
                err = {"error": {"message": f"Incorrect API key provided: {got[7:]}", "type": "invalid_request_error"}}
                self._send(401, json.dumps(err).encode(), "application/json")
                return
            if action.body is not None:
                b = action.body
                data = json.dumps(b).encode() if isinstance(b, dict) else b.encode() if isinstance(b, str) else b
                self._send(action.status, data, action.content_type, action.headers)
                return
            if body is None:
                self._send(400, b'{"error": {"message": "the body is not JSON"}}', "application/json")
                return
            try:
                if action.content is not None:
                    content = action.content
                elif action.echo_header is not None:
                    content = rec.headers.get(action.echo_header, "")
                else:
                    content = owner.responder(body)
            except Exception as e:  # a responder bug shows up as a 500 the client can report
                err = {"error": {"message": f"responder failed: {type(e).__name__}: {e}", "type": "server_error"}}
                self._send(500, json.dumps(err).encode(), "application/json")
                return
            reply = completion_body(content, model=body.get("model") or owner.model)
            self._send(action.status, json.dumps(reply).encode(), action.content_type, action.headers)
        finally:
            owner._done()


def fast_sdk_backoff(monkeypatch, initial: float = 0.005, maximum: float = 0.02) -> None:
    """Make the ``openai`` SDK back off ``initial·2^n`` seconds capped at ``maximum`` (its own schedule, shrunk:
    0.5 s doubling to 8 s would make every retry test take seconds). The SDK reads these module constants when it
    computes a delay; the SDK has no setting for them."""
    import openai._base_client as base

    monkeypatch.setattr(base, "INITIAL_RETRY_DELAY", initial)
    monkeypatch.setattr(base, "MAX_RETRY_DELAY", maximum)

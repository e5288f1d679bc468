"""The HTTP layer under the ``openai`` SDK (imported only when a client makes its first request).

- :class:`CountingTransport` bounds the attempts in flight (a slot is taken when a request is sent and given back
  when its reply body is closed), so a request waiting out the SDK's backoff holds no slot and others go on; the
  requests waiting for a slot wait here, not in the connection pool's queue (which is scanned per request).
- It counts every attempt the SDK sends and how each failed: the SDK retries inside one call and reports only the
  last failure, and the client's :attr:`stats` tell the whole story of a build.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable
from typing import Any

try:  # openai 3.x runs on httpx2, older releases on httpx
    import httpx2 as httpx
except ImportError:  # pragma: no cover - depends on the installed openai
    import httpx

from .errors import RETRY_COUNT_HEADER

__all__ = ["CountingTransport", "http_client", "request_timeout", "ssl_context"]


class CountingTransport(httpx.AsyncHTTPTransport):
    """An ``AsyncHTTPTransport`` with at most ``max_in_flight`` attempts in flight, calling ``count(name)`` per
    attempt (``requests``, and ``retries`` when the SDK marks it a retry) and ``fail(reason)`` per failed attempt
    (``timeout``, ``connection``, ``http_<status>``)."""

    def __init__(
        self, count: Callable[[str], None], fail: Callable[[str], None], *, max_in_flight: int, **kwargs: Any
    ):
        super().__init__(**kwargs)
        self._on_count = count
        self._on_fail = fail
        self._slots = asyncio.Semaphore(max_in_flight)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self._on_count("requests")
        if request.headers.get(RETRY_COUNT_HEADER, "0") != "0":
            self._on_count("retries")
        await self._slots.acquire()
        try:
            response = await super().handle_async_request(request)
        except BaseException as e:
            self._slots.release()
            if isinstance(e, httpx.TimeoutException):
                self._on_fail("timeout")
            elif isinstance(e, httpx.TransportError):
                self._on_fail("connection")
            raise
        if response.status_code >= 400:
            self._on_fail(f"http_{response.status_code}")
        response.stream = _ReleasingStream(response.stream, self._slots.release, self._on_fail)
        return response


class _ReleasingStream(httpx.AsyncByteStream):
    """A reply body that gives its slot back when closed (once: httpx may close a stream twice) and counts a
    failure while it is read."""

    def __init__(self, stream: Any, release: Callable[[], None], fail: Callable[[str], None]):
        self._stream = stream
        self._release: Callable[[], None] | None = release
        self._on_fail = fail

    async def __aiter__(self):
        try:
            async for chunk in self._stream:
                yield chunk
        except httpx.TimeoutException:
            self._on_fail("timeout")
            raise
        except httpx.TransportError:
            self._on_fail("connection")
            raise

    async def aclose(self) -> None:
        try:
            await self._stream.aclose()
        finally:
            release, self._release = self._release, None
            if release is not None:
                release()


def ssl_context() -> ssl.SSLContext:
    """The default TLS context (loading the CA bundle takes ~50 ms: one per client, shared by its event loops)."""
    return httpx.create_ssl_context()


def request_timeout(seconds: float) -> httpx.Timeout:
    """Connect, write and read deadlines of ``seconds``; none for the pool: waiting for a free connection is the
    concurrency bound queueing a request, not the server being slow."""
    return httpx.Timeout(seconds, pool=None)


def http_client(
    count: Callable[[str], None], fail: Callable[[str], None], *, max_concurrency: int, verify: ssl.SSLContext
) -> Any:
    """The SDK's default async HTTP client over a :class:`CountingTransport` of ``max_concurrency`` slots."""
    import openai

    limits = httpx.Limits(max_connections=max_concurrency, max_keepalive_connections=max_concurrency)
    transport = CountingTransport(count, fail, max_in_flight=max_concurrency, verify=verify, limits=limits)
    return openai.DefaultAsyncHttpxClient(transport=transport)

"""A client for any OpenAI-compatible chat-completions endpoint (OpenAI, vLLM, SGLang, llama.cpp, LM Studio, ...).

The official ``openai`` package (``AsyncOpenAI``, imported lazily) does the HTTP work: retries with exponential
backoff and jitter on 408/409/429/5xx, timeouts and connection errors, honouring ``Retry-After`` (``max_retries``,
``timeout_s``); any other 4xx fails at once. This client adds what the SDK does not do:

- bounded concurrency: at most ``max_concurrency`` requests in flight per event loop (:mod:`.transport`);
- the malformed-reply loop: a 200 that is no usable completion (not JSON, no choices, empty content, an error
  object; :mod:`.replies`) is asked again, up to ``max_retries`` times;
- an on-disk reply cache (:mod:`.cache`), so a rerun of a build does not pay twice;
- counters (:attr:`OpenAICompatClient.stats`) and a sync wrapper (:meth:`OpenAICompatClient.chat_sync`).

The API key is read from the environment variable the config names (or passed explicitly). It is never stored in
the config, logged (:mod:`.redact` masks credential headers in the HTTP libraries' debug logs), put in an error
message, or cached: a reply that repeats the key is stored and returned with ``[redacted]`` in its place.

>>> cfg = OpenAICompatConfig.from_dict({"base_url": "http://127.0.0.1:8000/v1", "model": "qwen2.5-vl-7b",
...                                     "api_key_env": None, "max_concurrency": 16})
>>> cfg.max_concurrency, cfg.api_key_env
(16, None)
>>> image_part(b"\\x89PNG")["image_url"]["url"]
'data:image/png;base64,iVBORw=='
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import weakref
from collections import Counter
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ..io import data_url
from .cache import ReplyCache, cache_key
from .config import OpenAICompatConfig
from .errors import RETRY_COUNT_HEADER, BackendError, from_sdk_error
from .redact import describe_env_name, redact_http_logs, safe_url, scrub
from .replies import MalformedReply, extract_reply

logger = logging.getLogger(__name__)

__all__ = ["OpenAICompatConfig", "OpenAICompatClient", "BackendError", "image_part", "cache_key", "DUMMY_API_KEY"]

DUMMY_API_KEY = "EMPTY"  # what a local server that needs no key is sent (the vLLM convention)


def image_part(png_bytes: bytes, *, mime: str = "image/png", detail: str | None = None) -> dict[str, Any]:
    """A chat content part carrying an image inline as a base64 data URL."""
    if not isinstance(png_bytes, (bytes, bytearray, memoryview)) or not len(png_bytes):
        raise ValueError("image_part needs non-empty image bytes")
    url = data_url(png_bytes, mime)
    part: dict[str, Any] = {"type": "image_url", "image_url": {"url": url}}
    if detail is not None:
        part["image_url"]["detail"] = detail
    return part


class OpenAICompatClient:
    """Async chat client for an OpenAI-compatible endpoint; see the module docstring.

    Args:
        config: an :class:`OpenAICompatConfig` or a mapping for :meth:`OpenAICompatConfig.from_dict`.
        api_key: the key itself, overriding ``config.api_key_env`` (never logged or stored anywhere else).

    Raises:
        ValueError: when the environment variable the config names is unset or empty.

    Use ``await client.chat(messages)`` inside a loop (close with ``await client.aclose()`` or ``async with``),
    or ``client.chat_sync(messages)`` from plain code (close with ``client.close()`` or ``with``).
    """

    def __init__(self, config: OpenAICompatConfig | Mapping[str, Any], *, api_key: str | None = None):
        self.config = config if isinstance(config, OpenAICompatConfig) else OpenAICompatConfig.from_dict(config)
        self.__api_key = self._resolve_key(api_key)
        self._secrets = () if self.__api_key == DUMMY_API_KEY else (self.__api_key,)
        self._cache = ReplyCache(self.config.cache_dir) if self.config.cache_dir else None
        self._clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Any] = weakref.WeakKeyDictionary()
        self._ssl: Any = None
        self._runner: asyncio.Runner | None = None
        self._runner_lock = threading.Lock()
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()
        self._failures: Counter[str] = Counter()
        redact_http_logs()

    def _resolve_key(self, api_key: str | None) -> str:
        if api_key is not None:
            if not isinstance(api_key, str) or not api_key.strip():
                raise ValueError("api_key must be a non-empty string when given")
            return api_key
        env = self.config.api_key_env
        if env is None:
            return DUMMY_API_KEY
        key = os.environ.get(env, "")
        if not key.strip():
            raise ValueError(
                f"no API key: {describe_env_name(env)} (config api_key_env) is unset or empty. Export it, name "
                f"another variable with api_key_env, or set api_key_env: null for a local server that needs no key "
                f"(endpoint {safe_url(self.config.base_url)})"
            )
        return key

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={safe_url(self.config.base_url)!r}, model={self.config.model!r})"

    # -- counters -----------------------------------------------------------------------------------------------

    def _count(self, name: str, n: int = 1) -> None:
        with self._lock:
            self._counts[name] += n

    def _fail(self, reason: str) -> None:
        with self._lock:
            self._failures[reason] += 1

    @property
    def stats(self) -> dict[str, Any]:
        """Counters: ``calls`` (chat calls), ``requests`` (HTTP requests sent, the SDK's retries included),
        ``retries`` (the SDK's and the malformed-reply re-asks), ``cache_hits``, ``cache_writes``, ``errors`` (calls
        that raised), ``prompt_tokens``/``completion_tokens`` (from the replies' usage) and ``failures`` (failed
        requests by reason, e.g. ``{"http_429": 2, "timeout": 1}``)."""
        names = ("calls", "requests", "retries", "cache_hits", "cache_writes", "errors")
        with self._lock:
            out: dict[str, Any] = {k: self._counts.get(k, 0) for k in (*names, "prompt_tokens", "completion_tokens")}
            out["failures"] = dict(self._failures)
        return out

    # -- the SDK client of the running loop ---------------------------------------------------------------------

    def _client(self) -> Any:
        """The ``AsyncOpenAI`` of the running event loop (its connection pool is bound to that loop)."""
        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None:
            try:
                import openai

                from . import transport
            except ImportError as e:  # pragma: no cover - the data extra installs it
                raise ImportError(
                    "the OpenAI-compatible backend needs the openai package: pip install 'sifthinker[data]'"
                ) from e
            if self._ssl is None:
                self._ssl = transport.ssl_context()
            http = transport.http_client(
                self._count, self._fail, max_concurrency=self.config.max_concurrency, verify=self._ssl
            )
            client = self._clients[loop] = openai.AsyncOpenAI(
                api_key=self.__api_key,
                base_url=self.config.base_url,
                timeout=transport.request_timeout(self.config.timeout_s),
                max_retries=self.config.max_retries,
                http_client=http,
            )
        return client

    async def aclose(self) -> None:
        """Close the HTTP client of the running event loop."""
        client = self._clients.pop(asyncio.get_running_loop(), None)
        if client is not None:
            await client.close()

    async def __aenter__(self) -> OpenAICompatClient:
        return self

    async def __aexit__(self, *exc) -> None:
        await self.aclose()

    def close(self) -> None:
        """Close the sync wrapper's loop and its client (async users call :meth:`aclose` in their loop)."""
        with self._runner_lock:
            runner, self._runner = self._runner, None
            if runner is not None:
                try:
                    runner.run(self.aclose())
                finally:
                    runner.close()

    def __enter__(self) -> OpenAICompatClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- the call -----------------------------------------------------------------------------------------------

    async def chat(
        self,
        messages: Sequence[Mapping[str, Any]],
        *,
        salt: Any = None,
        temperature: float | None = None,
        max_tokens: int | None = None,
        use_cache: bool = True,
    ) -> str:
        """The assistant's reply text for ``messages`` (OpenAI chat format; image parts via :func:`image_part`).

        ``salt`` enters the cache key only (e.g. the attempt number, so a deliberate re-ask is not served from the
        cache). ``temperature``/``max_tokens`` override the config for this call.

        Raises:
            BackendError: the SDK gave up (a non-retryable status at once, retryable failures beyond
                ``max_retries``), or every reply was malformed.
        """
        cfg = self.config
        temperature = cfg.temperature if temperature is None else temperature
        max_tokens = cfg.max_tokens if max_tokens is None else max_tokens
        messages = list(messages)
        self._count("calls")
        key = None
        if use_cache and self._cache is not None:
            key = cache_key(cfg.model, messages, temperature, max_tokens, salt, cfg.extra_body)
            hit = self._cache.get(key)
            if hit is not None:
                self._count("cache_hits")
                return hit
        client = self._client()
        import openai  # loaded by _client()

        from .transport import httpx

        body = {"model": cfg.model, "messages": messages, "temperature": temperature, "max_tokens": max_tokens}
        body.update(cfg.extra_body or {})
        attempts = 0
        for ask in range(cfg.max_retries + 1):
            try:
                # The SDK's generic POST (auth, retries, timeouts and status errors as for chat.completions.create)
                # with the body as is: create()'s typed walk over image-laden messages costs ~3 ms a request on one
                # core and halves the writer's throughput at 16 in flight (benchmarks/bench_api_writer.py).
                raw = await client.post("/chat/completions", cast_to=httpx.Response, body=body)
                retried = raw.request.headers.get(RETRY_COUNT_HEADER, "0")
                attempts += (int(retried) if retried.isdigit() else 0) + 1
                reply, usage = extract_reply(raw.text)
            except MalformedReply as e:
                self._fail(e.reason)
                if ask == cfg.max_retries:
                    self._count("errors")
                    detail = scrub(str(e), self._secrets)
                    raise BackendError(
                        f"{self._where()}: gave up after {attempts} request(s); last failure {e.reason}: {detail}",
                        reason=e.reason,
                        attempts=attempts,
                        retryable=True,
                    ) from None
                self._count("retries")
                logger.info("retrying %s: %s, re-ask %d of %d", cfg.model, e.reason, ask + 1, cfg.max_retries)
                continue
            except openai.APIError as e:
                self._count("errors")
                raise from_sdk_error(
                    e, where=self._where(), timeout_s=cfg.timeout_s, secrets=self._secrets, attempts=attempts
                ) from None
            reply = scrub(reply, self._secrets)
            for k in ("prompt_tokens", "completion_tokens"):
                if usage and k in usage:
                    self._count(k, usage[k])
            if key is not None:
                record = {"model": cfg.model, "salt": _plain(salt), "reply": reply, "usage": usage}
                if self._cache.put(key, record):
                    self._count("cache_writes")
            return reply
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises

    def _where(self) -> str:
        return f"{safe_url(self.config.base_url)} model {self.config.model!r}"

    # -- sync ---------------------------------------------------------------------------------------------------

    def run_sync(self, coro):
        """Run a coroutine (e.g. :meth:`chat`) from plain code and return its result; one event loop serves every
        call from plain code, so connections are reused between calls."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            with self._runner_lock:
                if self._runner is None:
                    self._runner = asyncio.Runner()
                return self._runner.run(coro)

        # A sync call from a thread whose loop is running (a sync reward inside async code): asyncio cannot nest
        # loops, so the call runs in a loop of its own on a worker thread, and that loop's HTTP client is closed.
        async def alone():
            try:
                return await coro
            finally:
                await self.aclose()

        with ThreadPoolExecutor(1, thread_name_prefix="sifthinker-openai-sync") as pool:
            return pool.submit(asyncio.run, alone()).result()

    def chat_sync(self, messages: Sequence[Mapping[str, Any]], **kwargs) -> str:
        """:meth:`chat` for plain (non-async) code; safe to call from inside a running event loop's thread."""
        return self.run_sync(self.chat(messages, **kwargs))


def _plain(salt: Any) -> Any:
    return salt if isinstance(salt, (str, int, float, bool)) or salt is None else repr(salt)

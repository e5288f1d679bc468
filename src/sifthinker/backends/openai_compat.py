"""A client for any OpenAI-compatible chat-completions endpoint (OpenAI, vLLM, SGLang, llama.cpp, LM Studio, ...).

Built on the official ``openai`` package (``AsyncOpenAI``, imported lazily, with the package's own retries
switched off so that ours are the only ones; the body goes through the client's generic ``post``, which skips the
~5 ms typed walk over image-laden messages, and the reply JSON is checked here). What it adds:

- bounded concurrency (an ``asyncio.Semaphore`` per event loop, held only while a request is in flight);
- a per-request timeout;
- retries with exponential backoff and jitter on 408/429/5xx, timeouts, connection errors and malformed replies
  (no choices, empty content, a body that is not JSON), honouring ``Retry-After``; any other 4xx raises at once;
- an on-disk reply cache (one JSON file per reply, written atomically) keyed by a hash of the model, messages,
  temperature, max_tokens, extra body and a caller-supplied salt, so a rerun of a build does not pay twice;
- counters (:attr:`OpenAICompatClient.stats`);
- a sync wrapper (:meth:`OpenAICompatClient.chat_sync`) that runs on a private event-loop thread.

The API key is read from the environment variable the config names (or passed explicitly); it is never stored in
the config, logged, written to the cache or put in an exception message.

>>> cfg = OpenAICompatConfig.from_dict({"base_url": "http://127.0.0.1:8000/v1", "model": "qwen2.5-vl-7b",
...                                     "api_key_env": None, "max_concurrency": 16})
>>> cfg.max_concurrency, cfg.api_key_env
(16, None)
>>> image_part(b"\\x89PNG")["image_url"]["url"]
'data:image/png;base64,iVBORw=='
"""

from __future__ import annotations

import asyncio
import base64
import email.utils
import hashlib
import json
import logging
import math
import os
import random
import tempfile
import threading
import time
import weakref
from collections import Counter
from collections.abc import Mapping, Sequence
from concurrent.futures import Future
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

logger = logging.getLogger(__name__)

__all__ = [
    "OpenAICompatConfig",
    "OpenAICompatClient",
    "BackendError",
    "image_part",
    "text_part",
    "cache_key",
    "RETRYABLE_STATUS",
    "DUMMY_API_KEY",
]

# 408 Request Timeout is a timeout; 429 and 5xx are the server asking us to come back later.
RETRYABLE_STATUS = frozenset({408, 429})
DUMMY_API_KEY = "EMPTY"  # what a local server that needs no key is sent (the vLLM convention)
MAX_RETRY_AFTER_S = 600.0  # a Retry-After longer than this is a misconfigured server: wait this long at most
_CACHE_VERSION = 1


class BackendError(RuntimeError):
    """A request that failed for good: ``reason`` names why (``http_401``, ``timeout``, ``no_choices``, ...).

    ``status`` is the HTTP status when there was one, ``attempts`` how many requests were sent, ``retryable``
    whether the last failure was of a retryable kind (then the retries were used up).
    """

    def __init__(
        self, message: str, *, reason: str, status: int | None = None, attempts: int = 0, retryable: bool = False
    ):
        super().__init__(message)
        self.reason = reason
        self.status = status
        self.attempts = attempts
        self.retryable = retryable


@dataclass
class OpenAICompatConfig:
    """Settings of an OpenAI-compatible endpoint; YAML-friendly (:meth:`from_dict`, :meth:`to_dict`).

    Connection:
        base_url: the endpoint up to ``/v1`` (e.g. ``https://api.openai.com/v1``, ``http://127.0.0.1:8000/v1``).
        model: the model name the server knows.
        api_key_env: the environment variable holding the key; ``None`` for a local server that needs none (a
            dummy key is sent). The key itself never goes in a config.
    Reliability:
        timeout_s: the whole-request deadline, seconds.
        max_retries: retries after the first try on 408/429/5xx, timeouts, connection errors, malformed replies.
        backoff_initial_s, backoff_max_s: exponential backoff ``initial·2^n`` capped at ``max``, with jitter; a
            ``Retry-After`` header overrides it.
        max_concurrency: requests in flight at once (per event loop).
    Sampling:
        temperature, max_tokens: sent with every request unless a call overrides them.
        extra_body: extra JSON fields for the request body (``top_p``, ``seed``, vLLM's ``top_k``, ...).
    Cache:
        cache_dir: where replies are cached (one JSON file each); ``None`` disables the cache.
    """

    base_url: str
    model: str
    api_key_env: str | None = "OPENAI_API_KEY"
    timeout_s: float = 60.0
    max_retries: int = 5
    backoff_initial_s: float = 1.0
    backoff_max_s: float = 30.0
    max_concurrency: int = 8
    temperature: float = 0.7
    max_tokens: int = 2048
    cache_dir: str | None = None
    extra_body: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.base_url, str) or urlparse(self.base_url).scheme not in ("http", "https"):
            raise ValueError(
                f"base_url must be an http(s) URL such as 'http://127.0.0.1:8000/v1', got {self.base_url!r}"
            )
        if not urlparse(self.base_url).netloc:
            raise ValueError(f"base_url {self.base_url!r} has no host")
        if not isinstance(self.model, str) or not self.model.strip():
            raise ValueError(f"model must be a non-empty string, got {self.model!r}")
        if self.api_key_env is not None and (not isinstance(self.api_key_env, str) or not self.api_key_env.strip()):
            raise ValueError(
                f"api_key_env must name an environment variable (or be null for a keyless local server), "
                f"got {self.api_key_env!r}"
            )
        for name in ("timeout_s", "backoff_max_s"):
            v = getattr(self, name)
            if not _is_real(v) or not v > 0:
                raise ValueError(f"{name} must be a number > 0, got {v!r}")
        if not _is_real(self.backoff_initial_s) or not self.backoff_initial_s >= 0:
            raise ValueError(f"backoff_initial_s must be a number >= 0, got {self.backoff_initial_s!r}")
        if self.backoff_initial_s > self.backoff_max_s:
            raise ValueError(
                f"backoff_initial_s ({self.backoff_initial_s}) must not exceed backoff_max_s ({self.backoff_max_s})"
            )
        for name, lo in (("max_retries", 0), ("max_concurrency", 1), ("max_tokens", 1)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < lo:
                raise ValueError(f"{name} must be an integer >= {lo}, got {v!r}")
        if not _is_real(self.temperature) or not 0 <= self.temperature <= 2:
            raise ValueError(f"temperature must lie in [0, 2], got {self.temperature!r}")
        if self.cache_dir is not None:
            if not isinstance(self.cache_dir, (str, os.PathLike)):
                raise ValueError(f"cache_dir must be a path or null, got {self.cache_dir!r}")
            self.cache_dir = os.fspath(self.cache_dir)
        if self.extra_body is not None and not isinstance(self.extra_body, dict):
            raise ValueError(f"extra_body must be a mapping of extra request fields or null, got {self.extra_body!r}")

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> OpenAICompatConfig:
        """Build from a mapping (a YAML section); unknown keys raise, listing the valid ones."""
        if not isinstance(d, Mapping):
            raise ValueError(f"expected a mapping of backend settings, got {type(d).__name__}")
        if "api_key" in d:
            raise ValueError(
                "a config must not hold the API key: put it in an environment variable and name that variable "
                "with api_key_env (or set api_key_env: null for a local server that needs no key)"
            )
        names = [f.name for f in fields(cls)]
        unknown = sorted(set(d) - set(names))
        if unknown:
            raise ValueError(f"unknown backend setting(s) {unknown}; valid: {names}")
        missing = [n for n in ("base_url", "model") if n not in d]
        if missing:
            raise ValueError(f"backend settings lack {missing}")
        return cls(**dict(d))

    @classmethod
    def from_yaml(cls, path: str | os.PathLike, *, section: str | None = None) -> OpenAICompatConfig:
        """Read from a YAML file, optionally from one top-level ``section`` of it."""
        import yaml

        with open(path, encoding="utf-8") as f:
            data = yaml.safe_load(f) or {}
        if section is not None:
            if not isinstance(data, dict) or section not in data:
                raise ValueError(f"{os.fspath(path)}: no section {section!r}")
            data = data[section]
        return cls.from_dict(data)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _is_real(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def image_part(png_bytes: bytes, *, mime: str = "image/png", detail: str | None = None) -> dict[str, Any]:
    """A chat content part carrying an image inline as a base64 data URL."""
    if not isinstance(png_bytes, (bytes, bytearray, memoryview)) or not len(png_bytes):
        raise ValueError("image_part needs non-empty image bytes")
    url = f"data:{mime};base64,{base64.b64encode(bytes(png_bytes)).decode('ascii')}"
    part: dict[str, Any] = {"type": "image_url", "image_url": {"url": url}}
    if detail is not None:
        part["image_url"]["detail"] = detail
    return part


def text_part(text: str) -> dict[str, Any]:
    """A chat content part carrying text."""
    return {"type": "text", "text": text}


def cache_key(
    model: str,
    messages: Sequence[Mapping[str, Any]],
    temperature: float,
    max_tokens: int,
    salt: Any = None,
    extra_body: Mapping[str, Any] | None = None,
) -> str:
    """The SHA-256 (hex) of everything that decides a reply; ``salt`` tells apart deliberate re-asks."""
    payload = {
        "v": _CACHE_VERSION,
        "model": model,
        "messages": messages,
        "temperature": float(temperature),
        "max_tokens": int(max_tokens),
        "extra_body": extra_body or None,
        "salt": salt,
    }
    blob = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=repr)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


# ----------------------------------------------------------------------------------------------------- failures


class _Retryable(Exception):
    """One failed attempt that may be retried: ``reason``, optional status and server-imposed delay."""

    def __init__(self, reason: str, detail: str, *, status: int | None = None, retry_after: float | None = None):
        super().__init__(detail)
        self.reason = reason
        self.detail = detail
        self.status = status
        self.retry_after = retry_after


def _parse_retry_after(headers: Mapping[str, str] | None) -> float | None:
    """Seconds to wait from ``retry-after-ms`` / ``Retry-After`` (seconds or an HTTP date), or None."""
    if not headers:
        return None
    ms = headers.get("retry-after-ms")
    if ms is not None:
        try:
            v = float(ms) / 1000.0
            if math.isfinite(v) and v >= 0:
                return min(v, MAX_RETRY_AFTER_S)
        except ValueError:
            pass
    ra = headers.get("retry-after")
    if ra is None:
        return None
    try:
        v = float(ra)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(ra)
        except (TypeError, ValueError):
            return None
        v = when.timestamp() - time.time()
    if not math.isfinite(v):
        return None
    return min(max(v, 0.0), MAX_RETRY_AFTER_S)


def _server_message(body: Any, fallback: str) -> str:
    """The human message of an error body (``{"error": {"message": ...}}`` and variants), else ``fallback``."""
    if isinstance(body, dict):
        err = body.get("error", body)
        if isinstance(err, dict):
            msg = err.get("message") or err.get("detail")
            if msg:
                return str(msg)
        elif isinstance(err, str) and err:
            return err
        if body.get("detail"):
            return str(body["detail"])
    if isinstance(body, str) and body.strip():
        return body.strip()
    return fallback


def _content_text(content: Any) -> str | None:
    """A message's content as text: a string, or the text parts of a list of parts joined."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = [p.get("text") for p in content if isinstance(p, dict) and isinstance(p.get("text"), str)]
        return "".join(texts) if texts else None
    return None


def _extract_reply(text: str) -> tuple[str, dict[str, Any] | None]:
    """The assistant text of a chat-completions JSON body; raises :class:`_Retryable` for a malformed one."""
    try:
        data = json.loads(text)
    except ValueError:
        raise _Retryable("not_json", f"the reply body is not JSON: {text[:200]!r}") from None
    if not isinstance(data, dict):
        raise _Retryable("not_json", f"the reply body is JSON but not an object: {text[:200]!r}")
    if "error" in data and not data.get("choices"):
        raise _Retryable("error_body", f"the server answered 200 with an error: {_server_message(data, text[:200])}")
    choices = data.get("choices")
    if not isinstance(choices, list) or not choices:
        raise _Retryable("no_choices", "the reply has no choices")
    first = choices[0]
    message = first.get("message") if isinstance(first, dict) else None
    content = _content_text(message.get("content")) if isinstance(message, dict) else None
    if content is None or not content.strip():
        finish = first.get("finish_reason") if isinstance(first, dict) else None
        raise _Retryable("empty_content", f"the reply's message content is empty (finish_reason={finish!r})")
    usage = data.get("usage") if isinstance(data.get("usage"), dict) else None
    return content, usage


# ------------------------------------------------------------------------------------------------------- client


class _LoopState:
    """What one event loop owns: its ``AsyncOpenAI`` (httpx pools are loop-bound) and its semaphore."""

    def __init__(self, client: Any, max_concurrency: int):
        self.client = client
        self.semaphore = asyncio.Semaphore(max_concurrency)


class _SyncRunner:
    """A private event loop on a daemon thread, for the sync wrapper (safe to call from inside another loop)."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._run, name="sifthinker-openai-sync", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def submit(self, coro) -> Future:
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        if not self.thread.is_alive():
            self.loop.close()


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
        self._states: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopState] = weakref.WeakKeyDictionary()
        self._runner: _SyncRunner | None = None
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()
        self._failures: Counter[str] = Counter()
        self._cache_dir = Path(self.config.cache_dir) if self.config.cache_dir else None

    # -- secrets ------------------------------------------------------------------------------------------------

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
                f"no API key: the environment variable {env!r} (config api_key_env) is unset or empty. Export it, "
                f"name another variable with api_key_env, or set api_key_env: null for a local server that needs "
                f"no key (endpoint {self.config.base_url})"
            )
        return key

    def _redact(self, text: str) -> str:
        key = self.__api_key
        if key and key != DUMMY_API_KEY and key in text:
            text = text.replace(key, "***")
        return text

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self.config.base_url!r}, model={self.config.model!r})"

    # -- counters -----------------------------------------------------------------------------------------------

    def _count(self, name: str, n: int = 1) -> None:
        with self._lock:
            self._counts[name] += n

    def _fail(self, reason: str) -> None:
        with self._lock:
            self._failures[reason] += 1

    @property
    def stats(self) -> dict[str, Any]:
        """Counters: ``calls`` (chat calls), ``requests`` (HTTP requests sent), ``retries``, ``cache_hits``,
        ``cache_writes``, ``errors`` (calls that raised), ``prompt_tokens``/``completion_tokens`` (from the
        replies' usage) and ``failures`` (failed requests by reason, e.g. ``{"http_429": 2, "timeout": 1}``)."""
        with self._lock:
            out: dict[str, Any] = {
                k: self._counts.get(k, 0)
                for k in (
                    "calls",
                    "requests",
                    "retries",
                    "cache_hits",
                    "cache_writes",
                    "errors",
                    "prompt_tokens",
                    "completion_tokens",
                )
            }
            out["failures"] = dict(self._failures)
        return out

    def reset_stats(self) -> None:
        with self._lock:
            self._counts.clear()
            self._failures.clear()

    # -- per-loop state -----------------------------------------------------------------------------------------

    def _state(self) -> _LoopState:
        loop = asyncio.get_running_loop()
        st = self._states.get(loop)
        if st is None:
            try:
                import openai
            except ImportError as e:  # pragma: no cover - the data extra installs it
                raise ImportError(
                    "the OpenAI-compatible backend needs the openai package: pip install 'sifthinker[data]'"
                ) from e
            client = openai.AsyncOpenAI(
                api_key=self.__api_key,
                base_url=self.config.base_url,
                timeout=self.config.timeout_s,
                max_retries=0,  # ours are the only retries
            )
            st = self._states[loop] = _LoopState(client, self.config.max_concurrency)
        return st

    async def aclose(self) -> None:
        """Close the HTTP client of the running event loop."""
        st = self._states.pop(asyncio.get_running_loop(), None)
        if st is not None:
            await st.client.close()

    async def __aenter__(self) -> OpenAICompatClient:
        return self

    async def __aexit__(self, *exc) -> None:
        await self.aclose()

    def close(self) -> None:
        """Close the sync wrapper's loop and client (async users call :meth:`aclose` in their loop)."""
        runner, self._runner = self._runner, None
        if runner is not None:
            try:
                runner.submit(self.aclose()).result(timeout=10)
            finally:
                runner.stop()

    def __enter__(self) -> OpenAICompatClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- cache --------------------------------------------------------------------------------------------------

    def _cache_path(self, key: str) -> Path | None:
        return None if self._cache_dir is None else self._cache_dir / key[:2] / f"{key}.json"

    def _cache_get(self, key: str) -> str | None:
        path = self._cache_path(key)
        if path is None or not path.is_file():
            return None
        try:
            with open(path, encoding="utf-8") as f:
                data = json.load(f)
            reply = data["reply"]
            if data.get("key") != key or not isinstance(reply, str):
                raise ValueError("key or reply field wrong")
        except (OSError, ValueError, KeyError, TypeError) as e:
            logger.warning("ignoring unreadable cache file %s (%s)", path, e)
            return None
        return reply

    def _cache_put(self, key: str, reply: str, salt: Any, usage: dict[str, Any] | None) -> None:
        path = self._cache_path(key)
        if path is None:
            return
        record = {
            "key": key,
            "model": self.config.model,
            "salt": salt if isinstance(salt, (str, int, float, bool)) or salt is None else repr(salt),
            "reply": reply,
            "usage": usage,
            "created": time.time(),
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{key[:8]}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(record, f, ensure_ascii=False)
            os.replace(tmp, path)  # atomic: a reader sees the old file, or none, or the whole new one
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise
        self._count("cache_writes")

    # -- the call -----------------------------------------------------------------------------------------------

    def _backoff(self, retry: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return retry_after
        cfg = self.config
        d = min(cfg.backoff_max_s, cfg.backoff_initial_s * (2**retry))
        return d / 2 + random.uniform(0, d / 2)  # "equal jitter": spread out, never near zero

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
            BackendError: a non-retryable HTTP status (at once), or retryable failures beyond ``max_retries``.
        """
        cfg = self.config
        temperature = cfg.temperature if temperature is None else temperature
        max_tokens = cfg.max_tokens if max_tokens is None else max_tokens
        messages = list(messages)
        self._count("calls")
        key = None
        if use_cache and self._cache_dir is not None:
            key = cache_key(cfg.model, messages, temperature, max_tokens, salt, cfg.extra_body)
            hit = self._cache_get(key)
            if hit is not None:
                self._count("cache_hits")
                return hit
        st = self._state()
        attempts = 0
        while True:
            attempts += 1
            try:
                async with st.semaphore:
                    self._count("requests")
                    reply, usage = await self._request(st.client, messages, temperature, max_tokens)
            except _Retryable as e:
                self._fail(e.reason)
                if attempts > cfg.max_retries:
                    self._count("errors")
                    raise BackendError(
                        f"{cfg.base_url} model {cfg.model!r}: gave up after {attempts} request(s); last failure "
                        f"{e.reason}: {self._redact(e.detail)}",
                        reason=e.reason,
                        status=e.status,
                        attempts=attempts,
                        retryable=True,
                    ) from None
                delay = self._backoff(attempts - 1, e.retry_after)
                self._count("retries")
                logger.info(
                    "retrying %s (%s) in %.2f s, retry %d of %d",
                    cfg.model,
                    e.reason,
                    delay,
                    attempts,
                    cfg.max_retries,
                )
                await asyncio.sleep(delay)
                continue
            except BackendError as e:
                self._fail(e.reason)
                self._count("errors")
                e.attempts = attempts
                raise
            if usage:
                for k in ("prompt_tokens", "completion_tokens"):
                    if isinstance(usage.get(k), int):
                        self._count(k, usage[k])
            if key is not None:
                self._cache_put(key, reply, salt, usage)
            return reply

    async def _request(
        self, client: Any, messages: list, temperature: float, max_tokens: int
    ) -> tuple[str, dict[str, Any] | None]:
        """One HTTP request; returns (reply, usage), raises :class:`_Retryable` or :class:`BackendError`."""
        import openai

        try:  # openai 3.x ships on httpx2; older releases on httpx
            import httpx2 as _httpx
        except ImportError:  # pragma: no cover - depends on the installed openai
            import httpx as _httpx

        cfg = self.config
        body: dict[str, Any] = {
            "model": cfg.model,
            "messages": messages,
            "temperature": temperature,
            "max_tokens": max_tokens,
        }
        if cfg.extra_body:
            body.update(cfg.extra_body)
        try:
            # The client's generic POST (its documented way to send a raw body): auth, timeouts and status errors
            # as for `chat.completions.create`, without its per-request walk over the typed message structure,
            # which costs ~5 ms for a writer request with four images and would cap throughput on one core.
            raw = await asyncio.wait_for(
                client.post("/chat/completions", cast_to=_httpx.Response, body=body),
                timeout=cfg.timeout_s,
            )
        except (TimeoutError, openai.APITimeoutError):
            raise _Retryable("timeout", f"no reply within {cfg.timeout_s} s") from None
        except openai.APIConnectionError as e:
            raise _Retryable("connection", f"connection error: {self._redact(str(e.__cause__ or e))}") from None
        except openai.APIStatusError as e:
            status = e.status_code
            msg = self._redact(_server_message(e.body, e.response.reason_phrase or "no message"))[:1000]
            if status in RETRYABLE_STATUS or status >= 500:
                raise _Retryable(
                    f"http_{status}",
                    f"HTTP {status}: {msg}",
                    status=status,
                    retry_after=_parse_retry_after(e.response.headers),
                ) from None
            raise BackendError(
                f"{cfg.base_url} model {cfg.model!r}: HTTP {status} (not retried): {msg}",
                reason=f"http_{status}",
                status=status,
            ) from None
        return _extract_reply(raw.text)

    # -- sync ---------------------------------------------------------------------------------------------------

    def _sync_runner(self) -> _SyncRunner:
        with self._lock:
            if self._runner is None:
                self._runner = _SyncRunner()
            return self._runner

    def run_sync(self, coro):
        """Run a coroutine on the private loop and wait for it (what :meth:`chat_sync` does)."""
        runner = self._sync_runner()
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is runner.loop:
            coro.close()
            raise RuntimeError("chat_sync called from inside the client's own sync loop; await chat() instead")
        return runner.submit(coro).result()

    def chat_sync(self, messages: Sequence[Mapping[str, Any]], **kwargs) -> str:
        """:meth:`chat` for plain (non-async) code; safe to call from inside a running event loop's thread."""
        return self.run_sync(self.chat(messages, **kwargs))

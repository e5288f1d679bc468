"""Settings of an OpenAI-compatible endpoint, checked when built; YAML-friendly.

>>> cfg = OpenAICompatConfig.from_dict({"base_url": "http://127.0.0.1:8000/v1", "model": "m", "api_key_env": None})
>>> cfg.max_retries, cfg.timeout_s
(5, 60.0)
>>> OpenAICompatConfig.from_dict({"base_url": "http://h/v1", "model": "m", "api_key_env": "sk-proj-Zx81"})
Traceback (most recent call last):
ValueError: api_key_env must be the name of an environment variable (letters, digits and underscores, at most 64 \
characters, e.g. OPENAI_API_KEY), or null for a local server that needs no key; got a 12-character value, not shown \
in case it is the key itself
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any
from urllib.parse import urlparse

from .redact import is_env_name, safe_url

__all__ = ["OpenAICompatConfig"]

_REMOVED = {
    "backoff_initial_s": "retries back off as the openai SDK does (0.5 s doubling to 8 s, with jitter, or what the "
    "server's Retry-After asks); max_retries and timeout_s remain",
}
_REMOVED["backoff_max_s"] = _REMOVED["backoff_initial_s"]


@dataclass
class OpenAICompatConfig:
    """Settings of an OpenAI-compatible endpoint; YAML-friendly (:meth:`from_dict`, :meth:`to_dict`).

    Connection:
        base_url: the endpoint up to ``/v1`` (e.g. ``https://api.openai.com/v1``, ``http://127.0.0.1:8000/v1``).
        model: the model name the server knows.
        api_key_env: the NAME of the environment variable holding the key; ``None`` for a local server that needs
            none (a dummy key is sent). The key itself never goes in a config.
    Reliability:
        timeout_s: the SDK's per-request timeout (connect, write, and waiting for the reply), seconds.
        max_retries: the SDK's retries on 408/409/429/5xx, timeouts and connection errors; also how many times a
            malformed reply is asked again.
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
    max_concurrency: int = 8
    temperature: float = 0.7
    max_tokens: int = 2048
    cache_dir: str | None = None
    extra_body: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.base_url, str) or urlparse(self.base_url).scheme not in ("http", "https"):
            raise ValueError(
                f"base_url must be an http(s) URL such as 'http://127.0.0.1:8000/v1', got {safe_url(self.base_url)}"
            )
        if not urlparse(self.base_url).netloc:
            raise ValueError(f"base_url {safe_url(self.base_url)} has no host")
        if not isinstance(self.model, str) or not self.model.strip():
            raise ValueError(f"model must be a non-empty string, got {self.model!r}")
        if self.api_key_env is not None and not is_env_name(self.api_key_env):
            shown = f"a {len(self.api_key_env)}-character value" if isinstance(self.api_key_env, str) else "not text"
            raise ValueError(
                f"api_key_env must be the name of an environment variable (letters, digits and underscores, at most "
                f"64 characters, e.g. OPENAI_API_KEY), or null for a local server that needs no key; got {shown}, "
                f"not shown in case it is the key itself"
            )
        if not _is_real(self.timeout_s) or not self.timeout_s > 0:
            raise ValueError(f"timeout_s must be a number > 0, got {self.timeout_s!r}")
        for name, lo in (("max_retries", 0), ("max_concurrency", 1), ("max_tokens", 1)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < lo:
                raise ValueError(f"{name} must be an integer >= {lo}, got {v!r}")
        if not _is_real(self.temperature) or not 0 <= self.temperature <= 2:
            raise ValueError(f"temperature must lie in [0, 2], got {self.temperature!r}")
        if self.cache_dir is not None:
            if not isinstance(self.cache_dir, (str, os.PathLike)):
                raise ValueError(f"cache_dir must be a path or null, got a {type(self.cache_dir).__name__}")
            self.cache_dir = os.fspath(self.cache_dir)
        if self.extra_body is not None and not isinstance(self.extra_body, dict):
            raise ValueError(
                f"extra_body must be a mapping of extra request fields or null, got a {type(self.extra_body).__name__}"
            )

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
        removed = sorted(set(d) & set(_REMOVED))
        if removed:
            raise ValueError(f"backend setting(s) {removed} no longer exist: {_REMOVED[removed[0]]}")
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

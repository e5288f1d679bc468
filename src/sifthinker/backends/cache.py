"""The on-disk reply cache: one JSON file per reply, written atomically, keyed by a hash of what decides the reply.

The key hashes the model, the messages, temperature, max_tokens, the extra request fields and a caller's salt
(e.g. the attempt number, so a deliberate re-ask is not served from the cache). The API key is not part of it: a
rerun with a rotated key is still served, and nothing in the cache depends on the key.

>>> import tempfile
>>> cache = ReplyCache(tempfile.mkdtemp())
>>> key = cache_key("m", [{"role": "user", "content": "hi"}], 0.7, 16)
>>> cache.get(key) is None
True
>>> cache.put(key, {"model": "m", "reply": "hello"})
True
>>> cache.get(key)
'hello'
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..io import atomic_write_text

logger = logging.getLogger(__name__)

__all__ = ["CACHE_VERSION", "cache_key", "ReplyCache"]

CACHE_VERSION = 1


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
        "v": CACHE_VERSION,
        "model": model,
        "messages": messages,
        "temperature": float(temperature),
        "max_tokens": int(max_tokens),
        "extra_body": extra_body or None,
        "salt": salt,
    }
    blob = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=repr)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class ReplyCache:
    """Replies under ``root/<key[:2]>/<key>.json``; a file that cannot be read is a miss (and a warning)."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)

    def path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.json"

    def get(self, key: str) -> str | None:
        path = self.path(key)
        if not path.is_file():
            return None
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            reply = data["reply"]
            if data.get("key") != key or not isinstance(reply, str):
                raise ValueError("key or reply field wrong")
        except (OSError, ValueError, KeyError, TypeError) as e:
            logger.warning("ignoring unreadable cache file %s (%s)", path, e)
            return None
        return reply

    def put(self, key: str, record: Mapping[str, Any]) -> bool:
        """Store ``record`` (it must hold ``reply``) under ``key``; False (and a warning) when the disk refuses: the
        cache saves money on a rerun, a failed write must not fail the call that paid for the reply."""
        doc = {"key": key, **record, "created": time.time()}
        try:
            atomic_write_text(self.path(key), json.dumps(doc, ensure_ascii=False))
        except OSError as e:
            logger.warning("could not write cache file %s (%s)", self.path(key), e)
            return False
        return True

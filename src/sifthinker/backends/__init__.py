"""Model backends. Nothing heavy is imported here: each backend module imports its client library when used.

- :mod:`sifthinker.backends.openai_compat`: any OpenAI-compatible chat-completions endpoint (the data writer and
  the answer judge use it), on the ``openai`` SDK; beside it its settings (:mod:`.config`), its error
  (:mod:`.errors`), reply reading (:mod:`.replies`), the reply cache (:mod:`.cache`), the HTTP layer under the SDK
  (:mod:`.transport`) and secret redaction (:mod:`.redact`). (The scriptable loopback server the tests and
  benchmarks use is a test double: ``tests/fake_openai_server.py``.)
"""

from __future__ import annotations

import importlib

# name -> module, resolved on first access (no client library is imported with the package).
_LAZY = {
    "OpenAICompatConfig": "config",
    "OpenAICompatClient": "openai_compat",
    "BackendError": "errors",
    "ReplyCache": "cache",
    "image_part": "openai_compat",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str):
    mod = _LAZY.get(name)
    if mod is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{mod}"), name)
    globals()[name] = value
    return value

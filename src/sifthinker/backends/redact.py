"""Keeping secrets out of error messages, logs and the reply cache.

- :func:`scrub` replaces every occurrence of a secret in a text with ``[redacted]``;
- :func:`safe_url` shows a URL without its user info and query string (either may carry a token);
- :func:`describe_env_name` names an environment variable in a message only when it looks like a name, never when it
  looks like a key pasted where the name belongs;
- :func:`redact_http_logs` puts a filter on the HTTP libraries' loggers that masks credential headers
  (``Authorization``, ``api-key``, cookies), bearer tokens and URL user info; ``-v`` logs response headers there.

>>> scrub("the key sk-abc was wrong", ["sk-abc"])
'the key [redacted] was wrong'
>>> safe_url("https://user:pw@api.example.com/v1?token=t")
'https://[redacted]@api.example.com/v1?[redacted]'
>>> redact_headers("[(b'Content-Type', b'application/json'), (b'Set-Cookie', b'session=abc')]")
"[(b'Content-Type', b'application/json'), (b'Set-Cookie', b'[redacted]')]"
>>> describe_env_name("OPENAI_API_KEY")
"the environment variable 'OPENAI_API_KEY'"
>>> "Zx81Qe" in describe_env_name("sk-proj-Zx81Qe")
False
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from urllib.parse import urlsplit, urlunsplit

__all__ = ["REDACTED", "scrub", "safe_url", "is_env_name", "describe_env_name", "redact_headers", "redact_http_logs"]

REDACTED = "[redacted]"

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
_SENSITIVE = r"authorization|proxy-authorization|api-key|x-api-key|cookie|set-cookie"
# httpcore logs headers as a list of byte pairs: (b'Set-Cookie', b'session=...'); a value with a quote is "-quoted.
_HEADER_PAIR = re.compile(rf"(\(b?(['\"])(?:{_SENSITIVE})\2,\s*b?)(['\"])(?:\\.|(?!\3).)*\3", re.I)
# ... and anything else as `name: value` / `'name': 'value'` (a quoted value to its quote, else to the line's end).
_HEADER_ITEM = re.compile(
    rf"(\b(?:{_SENSITIVE})['\"]?\s*[:=]\s*)(?:(['\"])(?:\\.|(?!\2).)*\2|[^\r\n,}}\]]+)", re.I
)
_BEARER = re.compile(r"(\bBearer\s+)[^\s'\",}\])]+", re.I)
_USERINFO = re.compile(r"(://)[^/\s@'\"]+@")  # http://user:password@host
# The loggers that see headers (logger filters do not apply to child loggers, so each one is named).
_HTTP_LOGGERS = tuple(
    f"{lib}.{part}" for lib in ("httpcore", "httpcore2") for part in ("http11", "http2", "connection", "proxy")
) + ("httpx", "httpx2", "openai", "openai._base_client")


def scrub(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every occurrence of each (non-empty) secret replaced by ``[redacted]``."""
    for s in secrets:
        if s and s in text:
            text = text.replace(s, REDACTED)
    return text


def safe_url(url: object) -> str:
    """``url`` for a message: user info and query string replaced by ``[redacted]``, fragment dropped."""
    if not isinstance(url, str):
        return f"<{type(url).__name__}>"
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparsable URL>"
    netloc = parts.netloc
    if "@" in netloc:
        netloc = f"{REDACTED}@{netloc.rpartition('@')[2]}"
    return urlunsplit((parts.scheme, netloc, parts.path, REDACTED if parts.query else "", ""))


def is_env_name(value: object) -> bool:
    """Whether ``value`` can be an environment variable's name: letters, digits, underscores, not starting with a
    digit, at most 64 characters (a key pasted in its place has dashes or is longer, as a rule)."""
    return isinstance(value, str) and _ENV_NAME.fullmatch(value) is not None


def _looks_like_a_name(value: str) -> bool:
    # Names are written in one case with few digits; keys mix cases or are mostly digits and letters at random.
    single_case = value == value.upper() or value == value.lower()
    return is_env_name(value) and single_case and sum(c.isdigit() for c in value) <= 8


def describe_env_name(value: str) -> str:
    """The words a message uses for the variable ``api_key_env`` names: the name itself when it looks like one,
    else a description that does not repeat it (it may be the key itself)."""
    if _looks_like_a_name(value):
        return f"the environment variable {value!r}"
    return (
        f"the environment variable named by api_key_env (a {len(value)}-character value, not shown because it looks "
        f"like a key itself: put the key in an environment variable and give its name)"
    )


def redact_headers(text: str) -> str:
    """``text`` with the values of credential headers, bearer tokens and URL user info replaced by ``[redacted]``."""
    text = _HEADER_PAIR.sub(lambda m: f"{m.group(1)}{m.group(3)}{REDACTED}{m.group(3)}", text)
    text = _HEADER_ITEM.sub(lambda m: f"{m.group(1)}{m.group(2) or ''}{REDACTED}{m.group(2) or ''}", text)
    text = _BEARER.sub(lambda m: m.group(1) + REDACTED, text)
    return _USERINFO.sub(rf"\1{REDACTED}@", text)


class _RedactHeaders(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = redact_headers(message)
        if clean != message:
            record.msg, record.args = clean, None
        return True


def redact_http_logs() -> None:
    """Install the header filter on the HTTP libraries' loggers (once; later calls do nothing)."""
    for name in _HTTP_LOGGERS:
        log = logging.getLogger(name)
        if not any(isinstance(f, _RedactHeaders) for f in log.filters):
            log.addFilter(_RedactHeaders())

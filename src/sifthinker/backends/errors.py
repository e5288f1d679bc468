"""The one error a chat call raises when it fails for good, and its making from what the ``openai`` SDK raised."""

from __future__ import annotations

from collections.abc import Iterable

from .redact import scrub
from .replies import server_message

__all__ = ["BackendError", "from_sdk_error", "SDK_RETRIED_STATUS"]

SDK_RETRIED_STATUS = frozenset({408, 409, 429})  # with every 5xx: what the SDK retries (other 4xx fail at once)
RETRY_COUNT_HEADER = "x-stainless-retry-count"  # the SDK numbers its attempts in this request header


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


def from_sdk_error(
    e: Exception, *, where: str, timeout_s: float, secrets: Iterable[str], attempts: int = 0
) -> BackendError:
    """The :class:`BackendError` for an ``openai.APIError`` (the SDK gave up, after its retries if any).

    ``where`` opens the message (endpoint and model), ``attempts`` counts requests of earlier SDK calls (the
    malformed-reply re-asks); ``secrets`` are scrubbed from whatever the server said.
    """
    import openai

    request = getattr(e, "request", None)
    retried = request.headers.get(RETRY_COUNT_HEADER, "0") if request is not None else "0"
    attempts += (int(retried) if retried.isdigit() else 0) + 1
    status: int | None = None
    if isinstance(e, openai.APIStatusError):
        status = e.status_code
        reason = f"http_{status}"
        msg = scrub(server_message(e.body, e.response.reason_phrase or "no message"), secrets)[:1000]
        if status not in SDK_RETRIED_STATUS and status < 500:
            return BackendError(f"{where}: HTTP {status} (not retried): {msg}", reason=reason, status=status,
                                attempts=attempts)  # fmt: skip
        detail = f"HTTP {status}: {msg}"
    elif isinstance(e, openai.APITimeoutError):
        reason, detail = "timeout", f"no reply within {timeout_s} s"
    elif isinstance(e, openai.APIConnectionError):
        reason, detail = "connection", scrub(f"connection error: {e.__cause__ or e}", secrets)
    else:
        reason, detail = type(e).__name__, scrub(str(e), secrets)
    message = f"{where}: gave up after {attempts} request(s); last failure {reason}: {detail}"
    return BackendError(message, reason=reason, status=status, attempts=attempts, retryable=True)

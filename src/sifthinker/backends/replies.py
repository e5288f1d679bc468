"""Reading a chat-completions reply body: the assistant's text, or why the reply is unusable.

The SDK raises on HTTP errors; a ``200`` can still carry no usable completion (an HTML page from a proxy, no
choices, empty content, an error object). :func:`extract_reply` names each case so the client can ask again.

>>> extract_reply('{"choices": [{"message": {"content": "hi"}}], "usage": {"prompt_tokens": 3}}')
('hi', {'prompt_tokens': 3})
>>> extract_reply('{"choices": []}')
Traceback (most recent call last):
sifthinker.backends.replies.MalformedReply: the reply has no choices
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["MalformedReply", "extract_reply", "server_message"]


class MalformedReply(Exception):
    """A 200 reply that is no usable completion; ``reason`` is ``not_json``, ``error_body``, ``no_choices`` or
    ``empty_content``."""

    def __init__(self, reason: str, detail: str):
        super().__init__(detail)
        self.reason = reason


def server_message(body: Any, fallback: str) -> str:
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


def extract_reply(text: str) -> tuple[str, dict[str, Any] | None]:
    """``(assistant text, usage)`` of a chat-completions JSON body; raises :class:`MalformedReply`."""
    try:
        data = json.loads(text)
    except ValueError:
        raise MalformedReply("not_json", f"the reply body is not JSON: {text[:200]!r}") from None
    if not isinstance(data, dict):
        raise MalformedReply("not_json", f"the reply body is JSON but not an object: {text[:200]!r}")
    if "error" in data and not data.get("choices"):
        msg = server_message(data, text[:200])
        raise MalformedReply("error_body", f"the server answered 200 with an error: {msg}")
    choices = data.get("choices")
    if not isinstance(choices, list) or not choices:
        raise MalformedReply("no_choices", "the reply has no choices")
    first = choices[0]
    message = first.get("message") if isinstance(first, dict) else None
    content = _content_text(message.get("content")) if isinstance(message, dict) else None
    if content is None or not content.strip():
        finish = first.get("finish_reason") if isinstance(first, dict) else None
        raise MalformedReply("empty_content", f"the reply's message content is empty (finish_reason={finish!r})")
    usage = data.get("usage")
    usage = {k: v for k, v in usage.items() if isinstance(v, int)} if isinstance(usage, dict) else None
    return content, usage

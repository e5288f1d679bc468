"""An OpenAI chat-completions request body → what :meth:`SIFThinker.generate` takes, or a 4xx :class:`RequestError`.

The server (:mod:`sifthinker.infer.server`) reads the bytes; this module decides whether they are a request it can
serve: JSON that is valid UTF-8 with bounded nesting and numbers (:func:`sifthinker.io.loads_json`), the fields of
the right types and ranges, images as base64 ``data:`` URLs or paths inside the image root, within the image and
pixel caps. Decoding options become one :class:`DecodingConfig` per request, handed to the engine per call.

>>> req = parse_chat_body(b'{"messages": [{"role": "user", "content": "hi"}], "max_tokens": 4}', ChatLimits())
>>> req.messages, req.images, req.generation.max_new_tokens, req.generation.do_sample, req.model
([{'role': 'user', 'content': [{'type': 'text', 'text': 'hi'}]}], [], 4, False, None)
>>> parse_chat_body(b'{"messages": [{"role": "user", "content": "hi"}], "top_p": 0}', ChatLimits())
Traceback (most recent call last):
sifthinker.infer.chat_request.RequestError: top_p must be a number in (0, 1], got 0
"""

from __future__ import annotations

import base64
import binascii
import io
from dataclasses import dataclass
from typing import Any

from PIL import Image

from ..images import ImageTooLarge, open_image
from ..io import JsonInputError, PathOutsideRoot, loads_json, path_inside
from .engine import DecodingConfig

__all__ = ["ChatLimits", "ChatRequest", "RequestError", "parse_chat_body", "parse_chat_request"]

_ROLES = ("system", "user", "assistant")
_MAX_SEED = 2**63 - 1


@dataclass(frozen=True)
class ChatLimits:
    """What one request may ask for (the server's :class:`~sifthinker.infer.server.ServeConfig` fills it)."""

    image_root: str | None = None  # image paths must resolve inside it; None refuses paths
    max_images: int = 8
    max_image_pixels: int = 4096 * 4096
    max_new_tokens: int = 2048
    seed: int = 0  # the seed of a sampled request that names none


@dataclass
class ChatRequest:
    """A request the server can serve: the engine's inputs and the model name the client gave (if any)."""

    messages: list[dict]  # content parts with ``{"type": "image"}`` placeholders
    images: list[Image.Image]  # in the order of the placeholders
    generation: DecodingConfig
    model: str | None = None


class RequestError(Exception):
    """A client error: ``status`` (4xx) and a message for the reply body."""

    def __init__(self, status: int, message: str, kind: str = "invalid_request_error"):
        self.status, self.kind = status, kind
        super().__init__(message)


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _load_image(url: str, limits: ChatLimits) -> Image.Image:
    if url.startswith("data:"):
        try:
            header, payload = url.split(",", 1)
            if ";base64" not in header:
                raise ValueError("only base64 data URLs are supported")
            data = base64.b64decode(payload, validate=True)
        except (ValueError, binascii.Error) as e:
            raise RequestError(400, f"bad image data URL: {e}") from None
        src: Any = io.BytesIO(data)
    else:
        path = url[len("file://") :] if url.startswith("file://") else url
        if limits.image_root is None:
            raise RequestError(400, "image paths are not accepted by this server (start it with --image-root)")
        try:
            full = path_inside(limits.image_root, path)
        except PathOutsideRoot:
            raise RequestError(403, f"image path {path!r} is outside the server's image root") from None
        if not full.is_file():
            raise RequestError(400, f"image path {path!r} not found under the image root")
        src = full
    try:
        with open_image(src, limits.max_image_pixels) as im:  # the size checked from the header, nothing decoded
            return im.convert("RGB")
    except ImageTooLarge as e:
        raise RequestError(413, f"image exceeds the limit: {e}") from None
    except Exception as e:  # PIL raises many types on a corrupt image
        raise RequestError(400, f"cannot decode image: {type(e).__name__}: {e}") from None


def _messages(msgs: Any, limits: ChatLimits) -> tuple[list[dict], list[Image.Image]]:
    if not isinstance(msgs, list) or not msgs:
        raise RequestError(400, "'messages' must be a non-empty list")
    out, images = [], []
    for i, m in enumerate(msgs):
        if not isinstance(m, dict) or m.get("role") not in _ROLES:
            raise RequestError(400, f"messages[{i}]: expected {{'role': system|user|assistant, 'content': ...}}")
        content = m.get("content")
        if isinstance(content, str):
            out.append({"role": m["role"], "content": [{"type": "text", "text": content}]})
            continue
        if not isinstance(content, list):
            raise RequestError(400, f"messages[{i}].content must be a string or a list of parts")
        parts = []
        for j, part in enumerate(content):
            kind = part.get("type") if isinstance(part, dict) else None
            if kind == "text" and isinstance(part.get("text"), str):
                parts.append({"type": "text", "text": part["text"]})
            elif kind == "image_url":
                url = part.get("image_url")
                url = url.get("url") if isinstance(url, dict) else url
                if not isinstance(url, str):
                    raise RequestError(400, f"messages[{i}].content[{j}]: image_url.url must be a string")
                if len(images) >= limits.max_images:
                    raise RequestError(413, f"more than {limits.max_images} images in one request")
                images.append(_load_image(url, limits))
                parts.append({"type": "image"})
            else:
                shown = kind if isinstance(kind, str) or kind is None else type(kind).__name__
                raise RequestError(400, f"messages[{i}].content[{j}]: unsupported part {shown!r} (text, image_url)")
        out.append({"role": m["role"], "content": parts})
    return out, images


def _generation(body: dict, limits: ChatLimits) -> DecodingConfig:
    max_tokens = body.get("max_tokens", body.get("max_completion_tokens", limits.max_new_tokens))
    if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
        raise RequestError(400, f"max_tokens must be a positive integer, got {max_tokens!r}"[:200])
    temperature = body.get("temperature", 0.0)
    if not _is_number(temperature) or not 0 <= temperature <= 2:
        raise RequestError(400, f"temperature must be a number in [0, 2], got {temperature!r}"[:200])
    top_p = body.get("top_p", 1.0)
    if not _is_number(top_p) or not 0 < top_p <= 1:
        raise RequestError(400, f"top_p must be a number in (0, 1], got {top_p!r}"[:200])
    seed = body.get("seed", limits.seed)
    if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed <= _MAX_SEED:
        raise RequestError(400, f"seed must be an integer in [0, 2**63), got {seed!r}"[:200])
    return DecodingConfig(
        max_new_tokens=min(max_tokens, limits.max_new_tokens),
        do_sample=temperature > 0,
        temperature=float(temperature) if temperature > 0 else 1.0,
        top_p=float(top_p),
        seed=seed,
    )


def parse_chat_request(body: Any, limits: ChatLimits) -> ChatRequest:
    """A decoded request body → a :class:`ChatRequest`, or the :class:`RequestError` that names what is wrong."""
    if not isinstance(body, dict):
        raise RequestError(400, "the request body must be a JSON object")
    if body.get("model") is not None and not isinstance(body["model"], str):
        raise RequestError(400, f"'model' must be a string, got {type(body['model']).__name__}")
    if body.get("stream"):
        raise RequestError(400, "streaming is not supported by this server")
    generation = _generation(body, limits)  # cheap checks before any image is decoded
    messages, images = _messages(body.get("messages"), limits)
    return ChatRequest(messages, images, generation, body.get("model"))


def parse_chat_body(raw: bytes, limits: ChatLimits) -> ChatRequest:
    """The request's bytes → :func:`parse_chat_request`; bytes that are not readable JSON are a 400."""
    try:
        body = loads_json(raw)
    except JsonInputError as e:
        raise RequestError(400, f"the body is not JSON: {e}") from None
    return parse_chat_request(body, limits)

"""Evaluate through any OpenAI-compatible server (``vllm serve``, SGLang, ``sifthinker serve``, a hosted API): a
:class:`~sifthinker.eval.types.Predictor` that sends each item as one chat request.

The prompt is the one the in-process predictor builds (:func:`sifthinker.prompts.build_prompt`: the same user turn,
the same instruction), its image placeholders filled with ``data:`` URLs — the RGB image, then the colourised depth
image when the item has one on disk (``depth="auto"``: its colourised depth image, else its lossless map colourised;
neither: the RGB-only prompt), ``"none"`` always the RGB-only prompt. Requests run ``concurrency``
at a time on a thread pool; retries with exponential backoff (429, 5xx, timeouts, ``Retry-After``) are the
``openai`` SDK's own (``max_retries``). A request that still fails becomes a :class:`~sifthinker.eval.types.
Prediction` carrying its error message — recorded in ``predictions.jsonl``, counted in ``results.json`` and retried
by the next run — never an empty answer. The API key is read from the environment variable named by
``api_key_env`` and is never logged or written anywhere.

    sifthinker eval --bench synthetic --data synth/ --out runs/x --endpoint http://127.0.0.1:8000/v1 \\
        --served-model my-model --concurrency 16 --api-key-env OPENAI_API_KEY
"""

from __future__ import annotations

import io
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from ..io import data_url, encode_image
from ..prompts import build_prompt
from .protocol import prompt_template
from .types import EvalItem, Prediction

__all__ = ["EndpointPredictor", "image_data_url", "item_messages"]

_MIME = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp", "GIF": "image/gif", "BMP": "image/bmp"}


def image_data_url(path: str | os.PathLike, max_pixels: int | None = None) -> str:
    """A ``data:`` URL of an image file: its own bytes when its format is one servers accept and it fits
    ``max_pixels``, else re-encoded as PNG (downscaled, aspect kept, to at most ``max_pixels`` pixels)."""
    from PIL import Image

    data = Path(path).read_bytes()
    with Image.open(io.BytesIO(data)) as im:
        mime = _MIME.get(im.format or "")
        w, h = im.size
        if max_pixels is not None and w * h > max_pixels:
            scale = (max_pixels / (w * h)) ** 0.5
            data = encode_image(im.convert("RGB").resize((max(1, int(w * scale)), max(1, int(h * scale)))))
            mime = "image/png"
        elif mime is None:
            data, mime = encode_image(im.convert("RGB")), "image/png"
    return data_url(data, mime)


def _depth_data_url(src: str) -> str:
    """The colourised depth image of an item: a colour PNG as it is, a lossless map colourised (our palette)."""
    from PIL import Image

    from ..depth import colourise, load_depth

    p = Path(src)
    if p.suffix.lower() == ".png":
        with Image.open(p) as im:
            if im.mode in ("RGB", "RGBA", "P"):
                return image_data_url(p)
    return data_url(encode_image(Image.fromarray(colourise(load_depth(p)))))


def item_messages(
    item: EvalItem, *, depth: str = "auto", instruction: str | None = None, system: str | None = None,
    max_pixels: int | None = None,
) -> list[dict[str, Any]]:
    """The OpenAI chat messages of one item: :func:`~sifthinker.prompts.build_prompt`'s parts, each image
    placeholder replaced by an ``image_url`` part."""
    if not item.images:
        raise ValueError(f"eval item {item.id!r} has no image")
    depth_src = next((p for p in (item.depth_image, item.depth_path) if p and os.path.isfile(p)), None)
    with_depth = depth != "none" and depth_src is not None
    urls = [image_data_url(item.images[0], max_pixels)]
    if with_depth:
        urls.append(_depth_data_url(depth_src))
    messages = build_prompt(item.question, item.choices, with_depth=with_depth, instruction=instruction, system=system)
    it = iter(urls)
    for m in messages:
        m["content"] = [
            {"type": "image_url", "image_url": {"url": next(it)}} if p.get("type") == "image" else p
            for p in m["content"]
        ]
    return messages


class EndpointPredictor:
    """``predict(items)`` through an OpenAI-compatible ``/chat/completions`` endpoint.

    Args:
        base_url: the server's API root, e.g. ``http://127.0.0.1:8000/v1``.
        model: the served model name (``--served-model``).
        api_key_env: the environment variable holding the API key (None: no key; servers on loopback need none).
        concurrency: requests in flight at once.
        max_retries: the SDK's retries per request (exponential backoff, ``Retry-After`` honoured).
        timeout: seconds per request attempt.
        max_new_tokens, temperature, top_p: decoding (greedy by default, as in-process); ``seed`` is sent when
            sampling.
        depth: ``auto`` (the item's depth image when it has one) or ``none`` (RGB-only prompt).
        instruction, system: as :func:`sifthinker.prompts.build_prompt`.
        max_pixels: downscale images above this many pixels before sending (None: send as stored).
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key_env: str | None = None,
        concurrency: int = 4,
        max_retries: int = 3,
        timeout: float = 600.0,
        max_new_tokens: int = 2048,
        temperature: float = 0.0,
        top_p: float = 1.0,
        seed: int = 0,
        depth: str = "auto",
        instruction: str | None = None,
        system: str | None = None,
        max_pixels: int | None = None,
    ) -> None:
        import openai

        if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
            raise ValueError(f"concurrency must be an integer >= 1, got {concurrency!r}")
        if depth not in ("auto", "none"):
            raise ValueError(f"depth must be 'auto' or 'none' for an endpoint, got {depth!r}")
        if not isinstance(max_new_tokens, int) or max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be an integer >= 1, got {max_new_tokens!r}")
        key = "EMPTY"  # the SDK needs a value; servers without authentication ignore it
        if api_key_env:
            key = os.environ.get(api_key_env, "")
            if not key:
                raise ValueError(f"the environment variable {api_key_env} (--api-key-env) is not set or empty")
        self.base_url, self.model = base_url.rstrip("/"), model
        self.concurrency, self.max_retries = concurrency, max_retries
        self.decoding = {"max_new_tokens": max_new_tokens, "do_sample": temperature > 0,
                         "temperature": float(temperature), "top_p": float(top_p)}  # fmt: skip
        self.seed, self.depth, self.instruction, self.system = seed, depth, instruction, system
        self.max_pixels = max_pixels
        self.client = openai.OpenAI(base_url=self.base_url, api_key=key, max_retries=max_retries, timeout=timeout)
        self._errors = (openai.APIError, OSError, ValueError)
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="sif-endpoint")

    def __repr__(self) -> str:  # never shows the key
        return f"EndpointPredictor({self.base_url!r}, model={self.model!r}, concurrency={self.concurrency})"

    def protocol(self) -> dict[str, Any]:
        """This predictor's part of the protocol card."""
        return {
            "backend": "endpoint",
            "prompt": prompt_template(self.depth, self.instruction),
            "depth_mode": self.depth,
            "image_pixels": {"min_pixels": None, "max_pixels": self.max_pixels, "decided_by": "the server"},
            "decoding": dict(self.decoding),
            "model": {"name": self.model, "path": self.model, "endpoint": self.base_url, "revision": None,
                      "hash": None},  # fmt: skip
            "concurrency": self.concurrency,
            "max_retries": self.max_retries,
        }

    def _one(self, item: EvalItem) -> Prediction:
        t0 = time.perf_counter()
        try:
            kw: dict[str, Any] = {"temperature": self.decoding["temperature"]}
            if self.decoding["do_sample"]:
                kw.update(top_p=self.decoding["top_p"], seed=self.seed)
            resp = self.client.chat.completions.create(
                model=self.model,
                messages=item_messages(item, depth=self.depth, instruction=self.instruction, system=self.system,
                                       max_pixels=self.max_pixels),  # fmt: skip
                max_tokens=self.decoding["max_new_tokens"],
                **kw,
            )
            text = resp.choices[0].message.content if resp.choices else None
        except self._errors as e:
            return Prediction(None, error=f"{type(e).__name__}: {e}"[:1000], seconds=time.perf_counter() - t0)
        secs = time.perf_counter() - t0
        if text is None:
            return Prediction(None, error="the server's reply holds no message content", seconds=secs)
        usage = getattr(resp, "usage", None)
        return Prediction(text, tokens=getattr(usage, "completion_tokens", None), seconds=secs)

    def predict(self, items: list[EvalItem]) -> list[Prediction]:
        """One :class:`Prediction` per item, in order (at most ``concurrency`` requests at a time)."""
        return list(self._pool.map(self._one, items))

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        self.client.close()

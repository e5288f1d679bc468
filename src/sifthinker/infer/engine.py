"""Ask a SIFThinker model: image + question → depth → the shared prompt → one generation → parsed trace.

Usage (a real checkpoint; the tests use the offline tiny model)::

    from sifthinker.infer import SIFThinker
    st = SIFThinker("path/to/checkpoint")                   # load once
    r = st.think("kitchen.jpg", "Which is closer, the cup or the kettle?", choices=["the cup", "the kettle"])
    r.answer, [s.regions for s in r.trace.steps]
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from ..depth import colourise, load_depth
from ..prompts import build_prompt
from ..trace import LenientTrace, Trace, TraceFormatError, parse_trace, read_lenient

__all__ = ["DecodingConfig", "InferResult", "SIFThinker", "DEPTH_MODES"]

logger = logging.getLogger(__name__)

DEPTH_MODES = ("auto", "model", "none")


@dataclass
class DecodingConfig:
    """Decoding options; greedy by default so scores are deterministic (the authors sampled at T = 0.95)."""

    max_new_tokens: int = 2048
    do_sample: bool = False
    temperature: float = 1.0
    top_p: float = 1.0
    seed: int = 0

    def __post_init__(self) -> None:
        if self.max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be >= 1, got {self.max_new_tokens}")
        if self.do_sample and not (self.temperature > 0 and 0 < self.top_p <= 1):
            raise ValueError(
                f"sampling needs temperature > 0 and 0 < top_p <= 1, got {self.temperature}, {self.top_p}"
            )


@dataclass
class InferResult:
    """One answer: the raw text, the strict parse (or the error that stopped it) and the lenient reading."""

    text: str
    trace: Trace | None
    error: str | None
    lenient: LenientTrace
    question: str
    image: Image.Image
    depth: np.ndarray | None = None  # our convention, the image's size; None without depth
    depth_image: Image.Image | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def answer(self) -> str | None:
        return self.trace.answer if self.trace is not None else self.lenient.answer

    @property
    def valid(self) -> bool:
        return self.trace is not None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly view (``--json``)."""
        areas = [
            [{"bbox_2d": list(r.box), "depth": r.depth} for r in area]
            for area in (self.trace.areas if self.trace else self.lenient.areas)
        ]
        texts = [s.text for s in self.trace.steps] if self.trace else None
        return {
            "question": self.question,
            "answer": self.answer,
            "valid": self.valid,
            "error": self.error,
            "areas": areas,
            "texts": texts,
            "completion": self.text,
            **self.meta,
        }


def _as_image(image: Image.Image | str | os.PathLike) -> Image.Image:
    if isinstance(image, Image.Image):
        return image.convert("RGB")
    with Image.open(image) as im:
        return im.convert("RGB")


class SIFThinker:
    """A loaded model with its processor and (optionally) a depth estimator, ready to answer questions.

    Args:
        model: a hub id, a local checkpoint folder, or ``sif-tiny``; or an already loaded ``(model, processor)``.
        depth: ``auto`` (use the depth given to :meth:`think`, else estimate it), ``model`` (always estimate) or
            ``none`` (an RGB-only prompt, as the authors' RL prompt).
        depth_model: the depth estimator's hub id or local path (Depth Anything V2 Small by default).
        instruction: the instruction after the question (None: the one saved with the checkpoint in
            ``sif_prompt.json``, else the shared default).
        dtype, device_map, attn_implementation, min_pixels, max_pixels: model loading options.
    """

    def __init__(
        self,
        model: str | os.PathLike | tuple[Any, Any],
        *,
        depth: str = "auto",
        depth_model: str | None = None,
        device: str | None = None,
        instruction: str | None = None,
        generation: DecodingConfig | None = None,
        dtype: Any = "auto",
        device_map: Any = None,
        attn_implementation: str | None = None,
        min_pixels: int | None = None,
        max_pixels: int | None = None,
    ) -> None:
        if depth not in DEPTH_MODES:
            raise ValueError(f"depth mode {depth!r}: expected one of {DEPTH_MODES}")
        if isinstance(model, tuple):
            self.model, self.processor = model
            self.model_name = type(self.model).__name__
        else:
            from ..models.loading import checkpoint_prompt, load_model

            if instruction is None:
                instruction = checkpoint_prompt(model).get("instruction")
            self.model, self.processor = load_model(
                model, dtype=dtype, device_map=device_map, attn_implementation=attn_implementation,
                min_pixels=min_pixels, max_pixels=max_pixels,
            )  # fmt: skip
            self.model_name = os.fspath(model)
        if device is not None and device_map is None:
            self.model.to(device)
        self.model.eval()
        self.processor.tokenizer.padding_side = "left"  # batched generation continues every prompt at its end
        self.depth_mode = depth
        self.depth_model = depth_model
        self.device = device
        self.instruction = instruction
        self.generation = generation or DecodingConfig()
        self._estimator = None

    # ------------------------------------------------------------------------------------------------- depth

    @property
    def with_depth(self) -> bool:
        return self.depth_mode != "none"

    def _estimate(self, images: list[Image.Image]) -> list[np.ndarray]:
        if self._estimator is None:
            from ..models.depth_estimator import DEFAULT_DEPTH_MODEL, DepthAnythingEstimator

            self._estimator = DepthAnythingEstimator(self.depth_model or DEFAULT_DEPTH_MODEL, device=self.device)
        return self._estimator.estimate(images)

    def prepare_depth(
        self, image: Image.Image, depth: np.ndarray | str | os.PathLike | Image.Image | None
    ) -> tuple[np.ndarray | None, Image.Image | None]:
        """The depth map (our convention) and the colourised image shown to the model, as the mode says.

        ``depth`` may be a lossless map (array, ``.npy``, 16-bit PNG) or an already colourised image (PIL or an RGB
        PNG path): a colourised image is shown as it is and no map is kept.
        """
        if not self.with_depth:
            return None, None
        if depth is not None and self.depth_mode == "auto":
            if isinstance(depth, Image.Image):
                return None, depth.convert("RGB")
            if isinstance(depth, (str, os.PathLike)):
                p = Path(depth)
                if p.suffix.lower() == ".png":
                    with Image.open(p) as im:
                        if im.mode in ("RGB", "RGBA", "P"):
                            return None, im.convert("RGB")
                depth = load_depth(p)
            arr = np.asarray(depth, dtype=np.float32)
            if arr.shape != (image.height, image.width):
                raise ValueError(f"depth map {arr.shape[1]}×{arr.shape[0]} does not match the image {image.size}")
            return arr, Image.fromarray(colourise(arr))
        arr = self._estimate([image])[0]
        return arr, Image.fromarray(colourise(arr))

    # -------------------------------------------------------------------------------------------- generation

    def generate(
        self,
        prompts: list[list[dict]],
        images: list[list[Image.Image]],
        *,
        return_usage: bool = False,
        generation: DecodingConfig | None = None,
    ):
        """Batched generation: chat-template each prompt, run ``generate`` once, decode only the new tokens.

        ``generation`` decodes this call only (the server passes each request's options); None uses
        :attr:`generation`, which is never changed here. Returns the texts, or
        ``(texts, [(prompt_tokens, completion_tokens), ...])`` with ``return_usage``."""
        import torch

        g = generation if generation is not None else self.generation
        texts = [self.processor.apply_chat_template(p, tokenize=False, add_generation_prompt=True) for p in prompts]
        if any(images) and not all(images):
            raise ValueError("a batch must be all with images or all without (the processor cannot mix them)")
        inputs = self.processor(text=texts, images=images if any(images) else None, padding=True, return_tensors="pt")
        inputs = inputs.to(self.model.device)
        kw: dict[str, Any] = {"max_new_tokens": g.max_new_tokens, "do_sample": g.do_sample}
        if g.do_sample:
            kw.update(temperature=g.temperature, top_p=g.top_p)
            torch.manual_seed(g.seed)
        else:  # silence the checkpoint's sampling defaults under greedy decoding
            kw.update(temperature=None, top_p=None, top_k=None)
        with torch.inference_mode():
            out = self.model.generate(**inputs, **kw)
        new = out[:, inputs["input_ids"].shape[1] :]
        texts = self.processor.batch_decode(new, skip_special_tokens=True)
        if not return_usage:
            return texts
        pad = self.processor.tokenizer.pad_token_id
        prompt_lens = inputs["attention_mask"].sum(dim=1).tolist()
        completion_lens = (new != pad).sum(dim=1).tolist() if pad is not None else [new.shape[1]] * len(texts)
        return texts, list(zip(prompt_lens, completion_lens, strict=True))

    def think(
        self,
        image: Image.Image | str | os.PathLike,
        question: str,
        choices: list[str] | None = None,
        *,
        depth: np.ndarray | str | os.PathLike | Image.Image | None = None,
    ) -> InferResult:
        """Answer one question about one image; the result keeps a malformed generation visible (``error``)."""
        return self.think_batch([(image, question, choices, depth)])[0]

    def think_batch(self, queries: list[tuple]) -> list[InferResult]:
        """Answer ``(image, question, choices, depth)`` tuples in one batched generation."""
        prepared = []
        for image, question, choices, depth in queries:
            rgb = _as_image(image)
            dmap, dimg = self.prepare_depth(rgb, depth)
            prompt = build_prompt(question, choices, with_depth=self.with_depth, instruction=self.instruction)
            prepared.append((rgb, dmap, dimg, question, prompt))
        texts, usage = self.generate(
            [p[4] for p in prepared], [[p[0]] + ([p[2]] if p[2] else []) for p in prepared], return_usage=True
        )
        results = []
        for (rgb, dmap, dimg, question, _), text, (n_prompt, n_new) in zip(prepared, texts, usage, strict=True):
            try:
                trace, error = parse_trace(text), None
            except TraceFormatError as e:
                trace, error = None, str(e)
            results.append(
                InferResult(
                    text, trace, error, read_lenient(text), question, rgb, dmap, dimg,
                    {"model": self.model_name, "prompt_tokens": n_prompt, "completion_tokens": n_new},
                )  # fmt: skip
            )
        return results

"""The model side of the evaluation harness: :func:`load_predictor` turns a checkpoint into a
:class:`~sifthinker.eval.types.Predictor` (batched, greedy by default)."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from ..depth import save_depth
from ..prediction import Prediction
from .engine import DecodingConfig, SIFThinker

__all__ = ["SIFPredictor", "load_predictor", "depth_map_path"]


def depth_map_path(depth_root: str | os.PathLike, item_id: str) -> Path:
    """Where the depth map estimated for an item is kept: ``<depth_root>/<item id>.npy``, characters of the id outside
    ``[A-Za-z0-9._-]`` replaced by ``_`` (the harness reads it back from there for depth consistency)."""
    return Path(depth_root) / (re.sub(r"[^A-Za-z0-9._-]", "_", item_id) + ".npy")


class SIFPredictor:
    """``predict(items) -> completions`` for eval items: the first image is the RGB image; the item's colourised
    depth image is shown when it has one, else the depth model estimates a map (saved losslessly under
    ``depth_root`` as ``<item id>.npy`` so the harness can score depth consistency)."""

    backend = "hf"  # named in the run's protocol card

    def __init__(self, thinker: SIFThinker, *, batch_size: int = 8, depth_root: str | os.PathLike | None = None):
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.thinker = thinker
        self.batch_size = batch_size
        self.depth_root = Path(depth_root) if depth_root else None

    def predict(self, items: list) -> list[Prediction]:
        """One :class:`~sifthinker.prediction.Prediction` per item: the completion and its token count."""
        out: list[Prediction] = []
        for s in range(0, len(items), self.batch_size):
            chunk = items[s : s + self.batch_size]
            queries = []
            for it in chunk:
                if not it.images:
                    raise ValueError(f"eval item {it.id!r} has no image")
                queries.append((it.images[0], it.question, it.choices, it.depth_image or it.depth_path or None))
            results = self.thinker.think_batch(queries)
            for it, r in zip(chunk, results, strict=True):
                if self.depth_root is not None and r.depth is not None:
                    save_depth(r.depth, depth_map_path(self.depth_root, it.id))  # atomic: a kill leaves no half map
                out.append(Prediction(r.text, tokens=getattr(r, "meta", {}).get("completion_tokens")))
        return out


def load_predictor(
    model: str,
    *,
    seed: int = 0,
    batch_size: int = 8,
    depth: str = "auto",
    depth_model: str | None = None,
    depth_root: str | os.PathLike | None = None,
    device: str | None = None,
    max_new_tokens: int = 2048,
    do_sample: bool = False,
    temperature: float = 1.0,
    top_p: float = 1.0,
    instruction: str | None = None,
    dtype: Any = "auto",
    device_map: Any = None,
    attn_implementation: str | None = None,
    min_pixels: int | None = None,
    max_pixels: int | None = None,
    engine: str = "hf",
) -> SIFPredictor:
    """Load ``model`` once and return a predictor (the signature ``sifthinker eval --model-arg`` fills).

    ``engine``: ``hf`` (transformers ``generate``) or ``vllm`` (:mod:`sifthinker.infer.vllm_predictor`: the same
    prompts and parsing, generation by an in-process ``vllm.LLM``; needs the ``vllm`` extra and a GPU)."""
    if engine not in ("hf", "vllm"):
        raise ValueError(f"engine {engine!r}: expected 'hf' or 'vllm'")
    common = dict(
        depth=depth, depth_model=depth_model, device=device, instruction=instruction,
        generation=DecodingConfig(
            max_new_tokens=max_new_tokens, do_sample=do_sample, temperature=temperature, top_p=top_p, seed=seed
        ),
        min_pixels=min_pixels, max_pixels=max_pixels,
    )  # fmt: skip
    if engine == "vllm":
        if device_map is not None or attn_implementation:
            raise ValueError("device_map and attn_implementation are transformers options: vLLM places the model")
        from .vllm_predictor import VLLMPredictor, VLLMThinker

        llm_kwargs = {} if dtype in (None, "auto") else {"dtype": dtype}
        return VLLMPredictor(VLLMThinker(model, **common, **llm_kwargs), batch_size=batch_size, depth_root=depth_root)
    thinker = SIFThinker(model, dtype=dtype, device_map=device_map, attn_implementation=attn_implementation, **common)
    return SIFPredictor(thinker, batch_size=batch_size, depth_root=depth_root)

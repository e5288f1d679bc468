"""The eval predictor on vLLM: the same prompts, depth handling and trace parsing as the HF predictor, with the
generation done by an in-process ``vllm.LLM`` (``pip install 'sifthinker[vllm]'``, a GPU).

:class:`VLLMThinker` is a :class:`~sifthinker.infer.engine.SIFThinker` whose :meth:`~VLLMThinker.generate` runs
vLLM instead of ``model.generate``: everything before it (the RGB image, the depth map or colourised depth image,
the one prompt of :mod:`sifthinker.prompts`) and after it (strict and lenient trace parsing) is the HF code path,
unchanged. The prompt text is the processor's chat template, as for HF; vLLM receives it with the images as
``multi_modal_data`` and expands each image placeholder itself, with the same pixel budget. Decoding follows
:class:`~sifthinker.infer.engine.DecodingConfig` (greedy by default); the checkpoint's repetition penalty, which
HF's ``generate`` applies from ``generation_config.json``, is applied here too.

Usage (a GPU machine)::

    from sifthinker.infer import load_predictor
    predictor = load_predictor("runs/qwen2_5_vl_7b/grpo-merged", engine="vllm", max_new_tokens=1024)
    predictions = predictor.predict(items)        # list[EvalItem] -> list[Prediction], as SIFPredictor
"""

from __future__ import annotations

import importlib
import os
from types import SimpleNamespace
from typing import Any

from .engine import DecodingConfig, SIFThinker
from .predictor import SIFPredictor

__all__ = [
    "VLLM_EXTRA_HINT",
    "require_vllm",
    "sampling_kwargs",
    "vllm_requests",
    "VLLMThinker",
    "VLLMPredictor",
]

VLLM_EXTRA_HINT = "pip install 'sifthinker[vllm]' (vLLM needs a CUDA GPU)"


def require_vllm(what: str = "the vLLM predictor", instead: str = "evaluate with the HF predictor (load_predictor)"):
    """The ``vllm`` module, or an ``ImportError`` that names the extra to install (and ``instead``)."""
    try:
        return importlib.import_module("vllm")
    except ImportError as e:
        raise ImportError(f"{what} needs the optional 'vllm' package, which is not installed: {VLLM_EXTRA_HINT}; "
                          f"or {instead}") from e  # fmt: skip


def sampling_kwargs(generation: DecodingConfig, *, repetition_penalty: float | None = None) -> dict[str, Any]:
    """``vllm.SamplingParams`` keyword arguments for our decoding settings.

    Greedy (``do_sample=False``) is temperature 0 — vLLM's greedy; sampling keeps temperature, top-p and the seed.

    >>> sampling_kwargs(DecodingConfig(max_new_tokens=64))
    {'max_tokens': 64, 'temperature': 0.0, 'top_p': 1.0, 'skip_special_tokens': True}
    >>> sampling_kwargs(DecodingConfig(do_sample=True, temperature=0.95, top_p=0.9, seed=3), repetition_penalty=1.05)
    {'max_tokens': 2048, 'temperature': 0.95, 'top_p': 0.9, 'skip_special_tokens': True, 'seed': 3, \
'repetition_penalty': 1.05}
    """
    kw: dict[str, Any] = {"max_tokens": generation.max_new_tokens}
    if generation.do_sample:
        kw.update(temperature=generation.temperature, top_p=generation.top_p, skip_special_tokens=True)
        kw["seed"] = generation.seed
    else:
        kw.update(temperature=0.0, top_p=1.0, skip_special_tokens=True)
    if repetition_penalty is not None and repetition_penalty != 1.0:
        kw["repetition_penalty"] = float(repetition_penalty)
    return kw


def vllm_requests(processor, prompts: list[list[dict]], images: list[list]) -> list[dict[str, Any]]:
    """vLLM prompt dicts: the chat-templated text (as the HF path renders it) and the prompt's images, in order."""
    if len(prompts) != len(images):
        raise ValueError(f"{len(prompts)} prompts but {len(images)} image lists")
    out = []
    for messages, imgs in zip(prompts, images):
        text = processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        n_parts = sum(1 for m in messages if isinstance(m.get("content"), list)
                      for p in m["content"] if p.get("type") == "image")  # fmt: skip
        if n_parts != len(imgs):
            raise ValueError(f"a prompt has {n_parts} image placeholders but {len(imgs)} images were given")
        req: dict[str, Any] = {"prompt": text}
        if imgs:
            req["multi_modal_data"] = {"image": list(imgs)}
        out.append(req)
    return out


class _VLLMEngine:
    """What :class:`SIFThinker` expects in its model slot (``eval``, ``to``; ``config._name_or_path`` for the
    protocol card), holding the ``vllm.LLM``."""

    def __init__(self, llm, path: str):
        self.llm = llm
        self.config = SimpleNamespace(_name_or_path=path, _commit_hash=None)

    def eval(self):
        return self

    def to(self, *_args, **_kwargs):  # vLLM places the weights itself
        return self


class VLLMThinker(SIFThinker):
    """A :class:`SIFThinker` that generates with vLLM. Only :meth:`generate` differs from the HF thinker.

    Args:
        model: a local checkpoint folder, a hub id (reachable from the machine) or ``sif-tiny``/``sif-tiny-base``.
        depth, depth_model, device, instruction, generation: as :class:`SIFThinker` (``device`` places the depth
            estimator only; vLLM places the model).
        min_pixels, max_pixels: the image pixel budget, for the processor and for vLLM's multimodal processor.
        max_images: images per prompt (``limit_mm_per_prompt``): 2 (RGB + depth) covers every SIF prompt.
        llm: an already built ``vllm.LLM`` (then ``llm_kwargs`` are ignored).
        llm_kwargs: passed to ``vllm.LLM`` (``gpu_memory_utilization``, ``max_model_len``, ``dtype``,
            ``tensor_parallel_size``, ``enforce_eager``, ``load_format``, ...).
    """

    def __init__(
        self,
        model: str | os.PathLike,
        *,
        depth: str = "auto",
        depth_model: str | None = None,
        device: str | None = None,
        instruction: str | None = None,
        generation: DecodingConfig | None = None,
        min_pixels: int | None = None,
        max_pixels: int | None = None,
        max_images: int = 2,
        llm: Any = None,
        **llm_kwargs: Any,
    ) -> None:
        from ..models.loading import checkpoint_prompt, load_processor, resolve_model_path

        vllm = require_vllm() if llm is None else None
        if instruction is None:
            instruction = checkpoint_prompt(model).get("instruction")
        if isinstance(max_images, bool) or not isinstance(max_images, int) or max_images < 1:
            raise ValueError(f"max_images must be an integer >= 1, got {max_images!r}")
        path = resolve_model_path(model)
        processor = load_processor(path, min_pixels=min_pixels, max_pixels=max_pixels)
        generation = generation or DecodingConfig()
        if llm is None:
            mm = {k: v for k, v in (("min_pixels", min_pixels), ("max_pixels", max_pixels)) if v is not None}
            llm_kwargs.setdefault("seed", generation.seed)
            if mm:
                llm_kwargs.setdefault("mm_processor_kwargs", mm)
            llm = vllm.LLM(model=path, limit_mm_per_prompt={"image": max_images}, **llm_kwargs)
        super().__init__(
            (_VLLMEngine(llm, path), processor), depth=depth, depth_model=depth_model, device=device,
            instruction=instruction, generation=generation,
        )  # fmt: skip
        self.llm = llm
        self.model_name = os.fspath(model)
        self.max_images = max_images
        self.usage: list[tuple[int, int]] = []  # (prompt tokens, completion tokens) of every generation so far

    def sampling_params(self, generation: DecodingConfig | None = None):
        """``vllm.SamplingParams`` for ``generation`` (None: :attr:`generation`), with the checkpoint's repetition
        penalty."""
        from vllm import SamplingParams

        defaults = self.llm.get_default_sampling_params()
        g = generation if generation is not None else self.generation
        return SamplingParams(**sampling_kwargs(g, repetition_penalty=defaults.repetition_penalty))

    def generate(
        self,
        prompts: list[list[dict]],
        images: list[list],
        *,
        return_usage: bool = False,
        generation: DecodingConfig | None = None,
    ):
        """Batched generation on vLLM, same contract as :meth:`SIFThinker.generate` (``generation`` decodes this
        call only)."""
        if any(len(i) > self.max_images for i in images):
            raise ValueError(f"a prompt has more than max_images={self.max_images} images; raise max_images")
        requests = vllm_requests(self.processor, prompts, images)
        outputs = self.llm.generate(requests, self.sampling_params(generation), use_tqdm=False)
        texts = [o.outputs[0].text for o in outputs]
        usage = [(len(o.prompt_token_ids or ()), len(o.outputs[0].token_ids)) for o in outputs]
        self.usage.extend(usage)
        return (texts, usage) if return_usage else texts


class VLLMPredictor(SIFPredictor):
    """:class:`~sifthinker.infer.predictor.SIFPredictor` on a :class:`VLLMThinker`: ``predict(items) ->
    completions``, depth maps saved under ``depth_root`` as the HF predictor does. vLLM schedules the batch
    itself, so larger batches (the default 64) only help."""

    backend = "vllm"  # the protocol card: the HF predictor's fields (prompt, pixels, decoding, model), this backend

    def __init__(self, thinker: VLLMThinker, *, batch_size: int = 64, depth_root: str | os.PathLike | None = None):
        super().__init__(thinker, batch_size=batch_size, depth_root=depth_root)

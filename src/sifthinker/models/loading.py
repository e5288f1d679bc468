"""Load an image-text-to-text checkpoint (Qwen2.5-VL first) with its processor, and find its parts.

``load_model`` takes a hub id or a local folder (or ``sif-tiny``: the offline tiny model of
:mod:`sifthinker.models.tiny` with random weights, built once and cached; or ``sif-tiny-base``: the pretrained tiny
base model that ships inside the package) and returns ``(model, processor)``. The image pixel budget
(``min_pixels``/``max_pixels``) is set on the processor's image processor, as Qwen-VL checkpoints expect.
:func:`vision_module_names` and :func:`freeze_vision` find and freeze the vision tower by module name (LoRA leaves it
out through PEFT's ``exclude_modules``: :func:`sifthinker.train.common.lora_config`).

>>> resolve_dtype("bfloat16"), resolve_dtype("auto"), resolve_dtype(None)
('bfloat16', 'auto', None)
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

__all__ = [
    "TINY_MODEL_NAME",
    "BASE_MODEL_NAME",
    "SFT_MODEL_NAME",
    "SHIPPED_MODELS",
    "shipped_model_dir",
    "PROMPT_FILE",
    "checkpoint_prompt",
    "QWEN_VL_MODEL_TYPES",
    "resolve_model_path",
    "resolve_dtype",
    "model_init_kwargs",
    "load_processor",
    "set_pixel_budget",
    "load_model",
    "vision_module_names",
    "freeze_vision",
]

# The name that resolves to the offline tiny model (random weights, built into the cache on first use).
TINY_MODEL_NAME = "sif-tiny"
# The name that resolves to the pretrained tiny base model shipped in the package (``sifthinker pretrain``).
BASE_MODEL_NAME = "sif-tiny-base"
# The base after the demo's SIF-chain SFT, shipped too: it writes SIF traces (app, infer and eval out of the box).
SFT_MODEL_NAME = "sif-tiny-sft"
SHIPPED_MODELS = (BASE_MODEL_NAME, SFT_MODEL_NAME)

# Model types this project is written for (others that transformers loads as image-text-to-text also work).
QWEN_VL_MODEL_TYPES = ("qwen2_5_vl", "qwen2_vl", "qwen3_vl", "qwen3_vl_moe")

_DTYPES = ("auto", "bfloat16", "float16", "float32")

# Attribute names under which image-text-to-text models keep their vision encoder and projector.
_VISION_ATTRS = ("visual", "vision_tower", "vision_model", "vision_encoder", "image_encoder", "multi_modal_projector")


def shipped_model_dir(name: str = BASE_MODEL_NAME) -> Path:
    """The folder of a model that ships inside the package (``sifthinker/models/weights/<name>``)."""
    return Path(__file__).resolve().parent / "weights" / name


def resolve_model_path(name_or_path: str | os.PathLike) -> str:
    """A local folder or hub id as given; ``sif-tiny`` → the cached tiny model's folder (built on first use);
    ``sif-tiny-base`` / ``sif-tiny-sft`` → a model shipped in the package (a ``ValueError`` if this install lacks
    its weights)."""
    name = os.fspath(name_or_path)
    if name == TINY_MODEL_NAME:
        from .tiny import tiny_model_path

        return str(tiny_model_path())
    if name in SHIPPED_MODELS:
        folder = shipped_model_dir(name)
        if not (folder / "model.safetensors").exists():
            raise ValueError(
                f"{name!r}: the shipped weights are missing from {folder} (an install without package data?); "
                "reinstall sifthinker, or make it again (`sifthinker pretrain` for the base, `make demo` for the SFT "
                "model) and pass its folder"
            )
        return str(folder)
    return name


PROMPT_FILE = "sif_prompt.json"  # the prompt a checkpoint was trained with, e.g. {"instruction": ""}


def checkpoint_prompt(name_or_path: str | os.PathLike) -> dict[str, Any]:
    """The prompt options saved beside a local checkpoint (``sif_prompt.json``), ``{}`` if none: a model fine-tuned
    with its own instruction is asked with it, not with the shared default."""
    folder = Path(resolve_model_path(name_or_path))
    f = folder / PROMPT_FILE
    if not f.is_file():
        return {}
    try:
        data = json.loads(f.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ValueError(f"{f}: not a readable JSON object ({e})") from None
    if not isinstance(data, dict) or not isinstance(data.get("instruction", ""), str):
        raise ValueError(f"{f}: expected an object whose 'instruction' is a string, got {data!r}")
    return data


def resolve_dtype(dtype: Any) -> Any:
    """Check a dtype name (``auto``, ``bfloat16``, ``float16``, ``float32``); a ``torch.dtype`` or None passes."""
    if dtype is None or not isinstance(dtype, str):
        return dtype
    if dtype not in _DTYPES:
        raise ValueError(f"dtype {dtype!r}: expected one of {', '.join(_DTYPES)}")
    return dtype


def model_init_kwargs(
    *,
    dtype: Any = "auto",
    device_map: Any = None,
    attn_implementation: str | None = None,
    revision: str | None = None,
    trust_remote_code: bool = False,
) -> dict[str, Any]:
    """The keyword arguments of ``from_pretrained`` for these options (unset ones left out)."""
    kw = _hub_kwargs(revision, trust_remote_code)
    dtype = resolve_dtype(dtype)
    if dtype is not None:
        kw["dtype"] = dtype
    if device_map is not None:
        kw["device_map"] = device_map
    if attn_implementation:
        kw["attn_implementation"] = attn_implementation
    return kw


def _hub_kwargs(revision: str | None, trust_remote_code: bool) -> dict[str, Any]:
    """What every ``from_pretrained`` (config, processor, model) takes: ``trust_remote_code`` and the revision."""
    kw: dict[str, Any] = {"trust_remote_code": trust_remote_code}
    if revision:
        kw["revision"] = revision
    return kw


def set_pixel_budget(processor: Any, min_pixels: int | None = None, max_pixels: int | None = None) -> Any:
    """Set the image pixel budget of a Qwen-VL style processor (``size = {shortest_edge, longest_edge}``)."""
    if min_pixels is None and max_pixels is None:
        return processor
    for name, v in (("min_pixels", min_pixels), ("max_pixels", max_pixels)):
        if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v <= 0):
            raise ValueError(f"{name} must be a positive integer, got {v!r}")
    ip = getattr(processor, "image_processor", processor)
    size = getattr(ip, "size", None)
    current = dict(size) if size is not None else {}
    lo = min_pixels if min_pixels is not None else current.get("shortest_edge")
    hi = max_pixels if max_pixels is not None else current.get("longest_edge")
    if lo is not None and hi is not None and lo > hi:
        raise ValueError(f"min_pixels ({lo}) must not exceed max_pixels ({hi})")
    if size is None or "shortest_edge" not in current:
        raise ValueError(
            f"the image processor {type(ip).__name__} has no pixel budget (size.shortest_edge/longest_edge); "
            "leave min_pixels/max_pixels unset for this model"
        )
    ip.size = {"shortest_edge": lo, "longest_edge": hi}
    for attr, v in (("min_pixels", lo), ("max_pixels", hi)):
        if hasattr(ip, attr):
            setattr(ip, attr, v)
    return processor


def load_processor(
    name_or_path: str | os.PathLike,
    *,
    min_pixels: int | None = None,
    max_pixels: int | None = None,
    revision: str | None = None,
    trust_remote_code: bool = False,
) -> Any:
    """``AutoProcessor.from_pretrained`` with the pixel budget applied."""
    from transformers import AutoProcessor

    processor = AutoProcessor.from_pretrained(
        resolve_model_path(name_or_path), **_hub_kwargs(revision, trust_remote_code)
    )
    return set_pixel_budget(processor, min_pixels, max_pixels)


def load_model(
    name_or_path: str | os.PathLike,
    *,
    dtype: Any = "auto",
    device_map: Any = None,
    attn_implementation: str | None = None,
    min_pixels: int | None = None,
    max_pixels: int | None = None,
    revision: str | None = None,
    trust_remote_code: bool = False,
    with_processor: bool = True,
) -> tuple[Any, Any]:
    """Load an image-text-to-text model and its processor → ``(model, processor)`` (processor None if not asked).

    Args:
        name_or_path: a hub id, a local folder, ``sif-tiny``, ``sif-tiny-base`` or ``sif-tiny-sft``.
        dtype: ``auto`` (the checkpoint's), ``bfloat16``, ``float16``, ``float32`` or a ``torch.dtype``.
        device_map: passed to ``from_pretrained`` (e.g. ``"auto"`` for inference; leave None for training).
        attn_implementation: e.g. ``sdpa``, ``eager``, ``flash_attention_2``.
        min_pixels, max_pixels: the image pixel budget of the processor.

    Raises:
        ValueError: the checkpoint is not an image-text-to-text model, or an option is invalid.
    """
    from transformers import AutoConfig, AutoModelForImageTextToText
    from transformers.models.auto.modeling_auto import MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES

    path = resolve_model_path(name_or_path)
    try:
        config = AutoConfig.from_pretrained(path, **_hub_kwargs(revision, trust_remote_code))
    except OSError as e:
        raise ValueError(
            f"cannot load a model config from {path!r}: {e}. Pass a local checkpoint folder, a hub id reachable from "
            f"this machine, {BASE_MODEL_NAME!r} for the shipped tiny base or {TINY_MODEL_NAME!r} for a random one"
        ) from e
    model_type = getattr(config, "model_type", None)
    if model_type not in MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES and not trust_remote_code:
        raise ValueError(
            f"{path!r} is a {model_type!r} model, not an image-text-to-text model that transformers can load; "
            f"this project is written for {', '.join(QWEN_VL_MODEL_TYPES)}"
        )
    if model_type not in QWEN_VL_MODEL_TYPES:
        logger.warning(
            "%s is a %r model: loading it as image-text-to-text, but the SIF prompt and pixel budget were written "
            "for %s",
            path,
            model_type,
            ", ".join(QWEN_VL_MODEL_TYPES),
        )
    kw = model_init_kwargs(
        dtype=dtype,
        device_map=device_map,
        attn_implementation=attn_implementation,
        revision=revision,
        trust_remote_code=trust_remote_code,
    )
    model = AutoModelForImageTextToText.from_pretrained(path, **kw)
    processor = None
    if with_processor:
        processor = load_processor(
            path, min_pixels=min_pixels, max_pixels=max_pixels, revision=revision, trust_remote_code=trust_remote_code
        )
    return model, processor


def vision_module_names(model: Any) -> list[str]:
    """Full names of the vision encoder/projector submodules (the shallowest match per branch).

    For Qwen2/2.5/3-VL in transformers 5 that is ``["model.visual"]`` (the merger included).
    """
    names: list[str] = []
    for name, _ in model.named_modules():
        if not name:
            continue
        if any(name == n or name.startswith(n + ".") for n in names):
            continue
        if name.rsplit(".", 1)[-1] in _VISION_ATTRS:
            names.append(name)
    return names


def freeze_vision(model: Any) -> int:
    """Set ``requires_grad=False`` on every parameter of the vision tower; return how many tensors were frozen.

    Raises ``ValueError`` when no vision module is found (rather than silently training it).
    """
    prefixes = vision_module_names(model)
    if not prefixes:
        raise ValueError(f"{type(model).__name__}: no vision tower found (looked for {', '.join(_VISION_ATTRS)})")
    n = 0
    for name, p in model.named_parameters():
        if any(name.startswith(pre + ".") for pre in prefixes):
            p.requires_grad_(False)
            n += 1
    return n

"""Checkpoints: loading image-text-to-text models with their processor, and the offline tiny model factory.

Nothing here imports torch or transformers at import time; the functions do.
"""

from .loading import (
    BASE_MODEL_NAME,
    QWEN_VL_MODEL_TYPES,
    SFT_MODEL_NAME,
    SHIPPED_MODELS,
    TINY_MODEL_NAME,
    freeze_vision,
    load_model,
    load_processor,
    model_init_kwargs,
    resolve_dtype,
    resolve_model_path,
    set_pixel_budget,
    shipped_model_dir,
    vision_module_names,
)
from .tiny import TinyModelConfig, build_tiny_model, build_tokenizer, tiny_model_path

__all__ = [
    "BASE_MODEL_NAME",
    "QWEN_VL_MODEL_TYPES",
    "SFT_MODEL_NAME",
    "SHIPPED_MODELS",
    "TINY_MODEL_NAME",
    "TinyModelConfig",
    "build_tiny_model",
    "build_tokenizer",
    "freeze_vision",
    "load_model",
    "load_processor",
    "model_init_kwargs",
    "resolve_dtype",
    "resolve_model_path",
    "set_pixel_budget",
    "shipped_model_dir",
    "tiny_model_path",
    "vision_module_names",
]

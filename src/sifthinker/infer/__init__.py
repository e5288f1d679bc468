"""Inference: load a model once, ask it questions about images, draw its focus path; the eval predictor.

Heavy imports (torch, transformers) happen when a model is loaded, not when this package is imported. The
OpenAI-compatible server around the engine is :mod:`sifthinker.infer.server` (the ``serve`` extra: Starlette and
uvicorn), imported from there so this package needs neither.
"""

from .engine import DEPTH_MODES, DecodingConfig, InferResult, SIFThinker
from .predictor import SIFPredictor, depth_map_path, load_predictor
from .viz import draw_focus_path

__all__ = [
    "DEPTH_MODES",
    "DecodingConfig",
    "InferResult",
    "SIFThinker",
    "SIFPredictor",
    "load_predictor",
    "depth_map_path",
    "draw_focus_path",
]

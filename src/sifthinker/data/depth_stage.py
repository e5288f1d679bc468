"""The depth stage: a lossless depth map for every image, computed once and cached on disk by image content.

Two estimators: :class:`~sifthinker.models.depth_estimator.DepthAnythingEstimator` (Depth Anything V2 through
transformers) and the *oracle*, which takes the exact depth a source provides (the synthetic world).
"""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path

import numpy as np

from ..depth import DepthMap, load_depth, save_colourised, save_depth
from ..models.depth_estimator import DEFAULT_DEPTH_MODEL, DepthAnythingEstimator

__all__ = ["DEFAULT_DEPTH_MODEL", "DepthAnythingEstimator", "DepthCache", "image_digest"]

logger = logging.getLogger(__name__)


def image_digest(path: str | os.PathLike) -> str:
    """SHA-256 of an image file's bytes: the depth cache key (the same picture under two names is computed once)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class DepthCache:
    """Lossless maps (``<key>.npy``) and their colourised images (``<key>.png``) under ``root``, by image digest."""

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root)

    def paths(self, key: str) -> tuple[Path, Path]:
        d = self.root / key[:2]
        return d / f"{key}.npy", d / f"{key}.png"

    def get(self, key: str) -> tuple[DepthMap, Path, Path] | None:
        npy, png = self.paths(key)
        if npy.is_file() and png.is_file():
            return DepthMap(load_depth(npy)), npy, png
        return None

    def put(self, key: str, depth: np.ndarray) -> tuple[DepthMap, Path, Path]:
        npy, png = self.paths(key)
        save_depth(depth, npy)
        save_colourised(depth, png)
        return DepthMap(depth), npy, png

"""Monocular depth estimation: Depth Anything V2 (or any depth-estimation checkpoint) through transformers' Auto
classes, by hub id or local path, batched, CPU or GPU. Maps follow our convention (0 = nearest, 1 = farthest): a
model's relative inverse depth is resized to the image, min–max normalised and inverted.

The data engine (:mod:`sifthinker.data.depth_stage`) and inference (:mod:`sifthinker.infer`) both use it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np

from ..depth import from_inverse_depth

__all__ = ["DEFAULT_DEPTH_MODEL", "DepthAnythingEstimator"]

logger = logging.getLogger(__name__)

DEFAULT_DEPTH_MODEL = "depth-anything/Depth-Anything-V2-Small-hf"


class DepthAnythingEstimator:
    """Relative depth from a transformers depth-estimation model (Depth Anything V2 by default).

    Args:
        model: a hub id or a local directory (``save_pretrained`` output); nothing is downloaded when
            ``local_files_only`` is set or the path is local.
        device: ``"cpu"``, ``"cuda"``, ``"cuda:1"``…; default: CUDA when available.
        batch_size: images per forward pass (images of the same size are batched together).
        dtype: ``"float32"`` (default), ``"float16"`` or ``"bfloat16"`` (GPU).
    """

    name = "depth-anything"

    def __init__(
        self,
        model: str = DEFAULT_DEPTH_MODEL,
        *,
        device: str | None = None,
        batch_size: int = 8,
        dtype: str = "float32",
        local_files_only: bool = False,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"depth batch_size must be >= 1, got {batch_size}")
        if dtype not in ("float32", "float16", "bfloat16"):
            raise ValueError(f"depth dtype {dtype!r}: expected float32, float16 or bfloat16")
        self.model_id = model
        self.device = device
        self.batch_size = batch_size
        self.dtype = dtype
        self.local_files_only = local_files_only
        self._model = None
        self._processor = None

    def _load(self) -> None:
        if self._model is not None:
            return
        try:
            import torch
            from transformers import AutoImageProcessor, AutoModelForDepthEstimation
        except ImportError as e:  # pragma: no cover - depends on the install
            raise ImportError(
                "the Depth Anything estimator needs torch and transformers: pip install 'sifthinker[train]'"
            ) from e
        device = self.device or ("cuda" if torch.cuda.is_available() else "cpu")
        kw = {"local_files_only": self.local_files_only}
        logger.info("loading depth model %s on %s", self.model_id, device)
        self._processor = AutoImageProcessor.from_pretrained(self.model_id, **kw)
        self._model = AutoModelForDepthEstimation.from_pretrained(
            self.model_id, dtype=getattr(torch, self.dtype), **kw
        ).to(device)
        self._model.eval()
        self._device = device

    def estimate(self, images: Sequence) -> list[np.ndarray]:
        """Depth maps (our convention, float32, the size of each image) for a list of PIL images."""
        import torch

        self._load()
        out: list[np.ndarray | None] = [None] * len(images)
        by_size: dict[tuple[int, int], list[int]] = {}
        for i, im in enumerate(images):
            by_size.setdefault(im.size, []).append(i)
        for (w, h), idxs in by_size.items():
            for s in range(0, len(idxs), self.batch_size):
                chunk = idxs[s : s + self.batch_size]
                batch = [images[i].convert("RGB") for i in chunk]
                inputs = self._processor(images=batch, return_tensors="pt").to(self._device)
                with torch.inference_mode():
                    pred = self._model(**inputs).predicted_depth  # B × h' × w', relative inverse depth
                pred = torch.nn.functional.interpolate(
                    pred.float().unsqueeze(1), size=(h, w), mode="bicubic", align_corners=False
                ).squeeze(1)
                for i, raw in zip(chunk, pred.cpu().numpy(), strict=True):
                    out[i] = from_inverse_depth(raw)
        return out  # type: ignore[return-value]

"""The first stage of a build: check an item's fields, open its image and give it a depth map.

Oracle maps (the source's own, ``depth_path``) are read and checked against the image size; model maps come from
the depth cache by image digest or are computed in batches. Anything wrong with an item is a :class:`StageFailure`
naming the stage and reason (the build turns it into a failure row), never an exception out of the build.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from ..boxes import validate_box
from ..depth import DepthMap, load_depth
from ..images import ImageTooLarge, open_image
from .depth_stage import DepthAnythingEstimator, DepthCache, image_digest
from .types import GroundedItem, ItemError, resolve_inside

__all__ = ["StageFailure", "Prepared", "Preparer", "check_item"]

logger = logging.getLogger(__name__)

class StageFailure(Exception):
    """An item that is not kept: the stage, a short reason and the detail (one failure row)."""

    def __init__(self, stage: str, reason: str, detail: str):
        self.stage, self.reason, self.detail = stage, reason, detail
        super().__init__(f"{stage}/{reason}: {detail}")


@dataclass
class Prepared:
    """An item ready to write: its image (decoded only when the writer or the depth model needs pixels) and depth."""

    item: GroundedItem
    image_path: Path
    depth: DepthMap
    depth_path: Path
    depth_image: Path
    size: tuple[int, int]
    image: Image.Image | None


def check_item(item: GroundedItem) -> None:
    """The fields every later stage relies on; a bad one is a failure naming the field."""
    if not isinstance(item.question, str) or not item.question.strip():
        raise StageFailure("source", "question", f"empty question {item.question!r}")
    if not str(item.answer).strip():
        raise StageFailure("source", "answer", "empty answer")
    if not item.gt_boxes:
        raise StageFailure("source", "gt_boxes", "no ground-truth box")
    for i, b in enumerate(item.gt_boxes):
        try:
            validate_box(b, what=f"ground-truth box {i}")
        except ValueError as e:
            raise StageFailure("source", "gt_boxes", str(e)) from None
    if item.choices is not None and (len(item.choices) < 2 or not all(str(c).strip() for c in item.choices)):
        raise StageFailure("source", "choices", f"expected at least two non-empty options, got {item.choices!r}")


@dataclass(kw_only=True)
class Preparer:
    """Items → :class:`Prepared` (or :class:`StageFailure`), model depth computed in batches per call."""

    image_root: Path
    depth_root: Path
    cache: DepthCache
    depth: str  # one of data.types.DEPTH_SOURCES (BuildConfig checks it)
    depth_model: str
    device: str | None
    depth_batch_size: int
    max_image_pixels: int
    needs_images: bool
    estimator: DepthAnythingEstimator | None = None

    def wants_model(self, item: GroundedItem) -> bool:
        return self.depth == "model" or (self.depth == "auto" and not item.depth_path)

    def open_image(self, item: GroundedItem) -> tuple[Path, tuple[int, int], Image.Image | None]:
        try:
            path = resolve_inside(self.image_root, item.image, field="image", record=item.id)
        except ItemError as e:
            raise StageFailure("source", "path", str(e)) from None
        if not path.is_file():
            raise StageFailure("image", "missing", f"image {item.image!r} not found under {self.image_root}")
        cap = self.max_image_pixels
        try:
            with open_image(path, cap) as im:  # the size is checked from the header before anything is decoded
                size = im.size
                im.verify()
            image = None
            if self.needs_images or self.wants_model(item):
                with open_image(path, cap) as im:
                    image = im.convert("RGB")
        except ImageTooLarge as e:
            raise StageFailure("image", "too_large", f"{item.image!r}: {e}") from None
        except Exception as e:  # PIL raises many types for corrupt files
            raise StageFailure("image", "corrupt", f"{item.image!r}: {type(e).__name__}: {e}") from None
        return path, size, image

    def oracle(self, item: GroundedItem, size: tuple[int, int]) -> tuple[DepthMap, Path, Path]:
        if not item.depth_path:
            raise StageFailure("depth", "no_oracle", "--depth oracle, but the source gives no depth map for this item")
        try:
            dpath = resolve_inside(self.depth_root, item.depth_path, field="depth_path", record=item.id)
            vis = (
                resolve_inside(self.image_root, item.depth_image, field="depth_image", record=item.id)
                if item.depth_image
                else None
            )
            dm = DepthMap(load_depth(dpath))
        except (ItemError, OSError, ValueError) as e:
            raise StageFailure("depth", "oracle", str(e)) from None
        if dm.shape != (size[1], size[0]):
            raise StageFailure("depth", "size", f"depth map {dm.shape[1]}×{dm.shape[0]} != image {size[0]}×{size[1]}")
        if vis is None or not vis.is_file():
            key = "oracle-" + hashlib.sha256(str(dpath).encode()).hexdigest()
            _, _, vis = self.cache.get(key) or self.cache.put(key, dm.array)
        return dm, dpath, vis

    def __call__(self, items: list[GroundedItem]) -> list[Prepared | StageFailure]:
        """Every item prepared, or its failure, in order."""
        out: list[Prepared | StageFailure | None] = [None] * len(items)
        todo: list[tuple[int, str, Image.Image, Path, tuple[int, int]]] = []
        for k, item in enumerate(items):
            try:
                check_item(item)
                path, size, image = self.open_image(item)
                if self.wants_model(item):
                    key = image_digest(path)
                    hit = self.cache.get(key)
                    if hit is None:
                        todo.append((k, key, image, path, size))
                        continue
                    dm, dpath, vis = hit
                else:
                    dm, dpath, vis = self.oracle(item, size)
                out[k] = Prepared(item, path, dm, dpath, vis, size, image if self.needs_images else None)
            except StageFailure as f:
                out[k] = f
        if todo:
            self._estimate(items, todo, out)
        return out  # type: ignore[return-value]

    def _estimate(self, items, todo, out) -> None:
        """Depth maps of the ``todo`` images from the model, in one batch call, cached by image digest."""
        if self.estimator is None:
            self.estimator = DepthAnythingEstimator(
                self.depth_model, device=self.device, batch_size=self.depth_batch_size
            )
        try:
            maps = self.estimator.estimate([t[2] for t in todo])
        except Exception as e:
            logger.exception("depth model failed on a batch of %d images", len(todo))
            for k, *_ in todo:
                out[k] = StageFailure("depth", "model", f"{type(e).__name__}: {e}")
            return
        for (k, key, image, path, size), m in zip(todo, maps, strict=True):
            dm, dpath, vis = self.cache.put(key, m)
            out[k] = Prepared(items[k], path, dm, dpath, vis, size, image if self.needs_images else None)

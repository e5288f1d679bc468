"""Frames of the focus path as the writer sees them: regions with their box-mean depth, and the image with the
frame's boxes drawn in green (docs/method.md)."""

from __future__ import annotations

import io
from collections.abc import Sequence

from PIL import Image, ImageDraw

from ..depth import DepthMap
from ..trace import Region
from .expansion import PathFrame
from .types import Frame

__all__ = ["attach_depths", "draw_boxes", "frame_png", "GREEN"]

GREEN = (0, 255, 0)


def attach_depths(path: Sequence[PathFrame], depth: DepthMap, decimals: int = 3) -> list[Frame]:
    """Give every box of every frame its box-mean depth (docs/method.md), rounded to ``decimals``."""
    frames = []
    for pf in path:
        means = depth.box_means(list(pf.boxes))
        regions = []
        for b, m in zip(pf.boxes, means.tolist(), strict=True):
            if m != m:  # an empty pixel rectangle cannot happen for a valid box; refuse loudly if it does
                raise ValueError(f"box {b} covers no pixel of a {depth.shape[1]}×{depth.shape[0]} depth map")
            regions.append(Region(tuple(b), round(min(1.0, max(0.0, m)), decimals)))
        frames.append(Frame(regions, pf.role))
    return frames


def draw_boxes(
    image: Image.Image, boxes: Sequence[Sequence[float]], color=GREEN, width: int | None = None
) -> Image.Image:
    """A copy of ``image`` (RGB) with normalised ``boxes`` outlined in ``color`` (line width ~0.6 % of the side)."""
    im = image.convert("RGB")  # always a new image (a copy when it is RGB already): drawing leaves `image` as is
    w, h = im.size
    lw = width or max(2, round(0.006 * max(w, h)))
    draw = ImageDraw.Draw(im)
    for b in boxes:
        x1, y1 = b[0] * w, b[1] * h
        x2, y2 = max(x1 + 1, b[2] * w - 1), max(y1 + 1, b[3] * h - 1)
        draw.rectangle((x1, y1, x2, y2), outline=color, width=lw)
    return im


def frame_png(image: Image.Image, frame: Frame, *, max_side: int | None = 768) -> bytes:
    """PNG bytes of ``image`` with the frame's boxes drawn in green, downscaled to ``max_side`` for an API."""
    im = draw_boxes(image, [r.box for r in frame.regions])
    if max_side and max(im.size) > max_side:
        s = max_side / max(im.size)
        im = im.resize((max(1, round(im.size[0] * s)), max(1, round(im.size[1] * s))), Image.BILINEAR)
    buf = io.BytesIO()
    im.save(buf, format="PNG", optimize=False)
    return buf.getvalue()

"""Box coordinate systems: ours (normalised ``x1, y1, x2, y2`` in [0, 1]), pixels, Qwen2-VL's 0–1000 grid and
Qwen2.5-VL's absolute pixels on its resized grid (:func:`smart_resize`), and clipping to the image.

:mod:`sifthinker.boxes` re-exports every name here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

Box = tuple[float, float, float, float]

__all__ = [
    "Box",
    "clip",
    "to_pixels",
    "from_pixels",
    "to_1000",
    "from_1000",
    "smart_resize",
    "to_qwen_abs",
    "from_qwen_abs",
    "QWEN_FACTOR",
    "QWEN_MIN_PIXELS",
    "QWEN_MAX_PIXELS",
]


def clip(b: Sequence[float], lo: float = 0.0, hi: float = 1.0) -> Box:
    """Clip a box to ``[lo, hi]`` on both axes.

    >>> clip((-0.2, 0.5, 1.3, 0.9))
    (0.0, 0.5, 1.0, 0.9)
    """
    return (
        min(max(float(b[0]), lo), hi),
        min(max(float(b[1]), lo), hi),
        min(max(float(b[2]), lo), hi),
        min(max(float(b[3]), lo), hi),
    )


def to_pixels(b: Sequence[float], width: int, height: int) -> Box:
    """Normalised → pixel coordinates (floats; round as your consumer needs).

    >>> to_pixels((0.25, 0.5, 0.75, 1.0), 640, 480)
    (160.0, 240.0, 480.0, 480.0)
    """
    return (b[0] * width, b[1] * height, b[2] * width, b[3] * height)


def from_pixels(b: Sequence[float], width: int, height: int) -> Box:
    """Pixel → normalised coordinates.

    >>> from_pixels((160, 240, 480, 480), 640, 480)
    (0.25, 0.5, 0.75, 1.0)
    """
    if width <= 0 or height <= 0:
        raise ValueError(f"image size must be positive, got {width}×{height}")
    return (b[0] / width, b[1] / height, b[2] / width, b[3] / height)


def to_1000(b: Sequence[float]) -> tuple[int, int, int, int]:
    """Normalised → Qwen2-VL's integer 0–1000 grid.

    >>> to_1000((0.1234, 0, 1, 0.5))
    (123, 0, 1000, 500)
    """
    return tuple(int(round(v * 1000)) for v in b)  # type: ignore[return-value]


def from_1000(b: Sequence[float]) -> Box:
    """Qwen2-VL's 0–1000 grid → normalised.

    >>> from_1000((123, 0, 1000, 500))
    (0.123, 0.0, 1.0, 0.5)
    """
    return (b[0] / 1000, b[1] / 1000, b[2] / 1000, b[3] / 1000)


QWEN_FACTOR = 28
QWEN_MIN_PIXELS = 56 * 56
QWEN_MAX_PIXELS = 28 * 28 * 1280


def smart_resize(
    height: int,
    width: int,
    factor: int = QWEN_FACTOR,
    min_pixels: int = QWEN_MIN_PIXELS,
    max_pixels: int = QWEN_MAX_PIXELS,
) -> tuple[int, int]:
    """The ``(height, width)`` Qwen2/2.5-VL resizes an image to: sides multiples of ``factor``, area within budget.

    >>> smart_resize(480, 640)
    (476, 644)
    >>> smart_resize(2000, 3000)
    (812, 1204)
    """
    if height <= 0 or width <= 0:
        raise ValueError(f"image size must be positive, got {width}×{height}")
    if max(height, width) / min(height, width) > 200:
        raise ValueError(f"aspect ratio of {width}×{height} exceeds 200, which Qwen2.5-VL does not accept")
    h = max(factor, round(height / factor) * factor)
    w = max(factor, round(width / factor) * factor)
    if h * w > max_pixels:
        beta = math.sqrt(height * width / max_pixels)
        h = max(factor, math.floor(height / beta / factor) * factor)
        w = max(factor, math.floor(width / beta / factor) * factor)
    elif h * w < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h = math.ceil(height * beta / factor) * factor
        w = math.ceil(width * beta / factor) * factor
    return h, w


def to_qwen_abs(
    b: Sequence[float],
    width: int,
    height: int,
    *,
    factor: int = QWEN_FACTOR,
    min_pixels: int = QWEN_MIN_PIXELS,
    max_pixels: int = QWEN_MAX_PIXELS,
) -> tuple[int, int, int, int]:
    """Normalised → Qwen2.5-VL absolute integer coordinates on the resized grid of a ``width``×``height`` image.

    >>> to_qwen_abs((0.5, 0.5, 1.0, 1.0), 640, 480)
    (322, 238, 644, 476)
    """
    rh, rw = smart_resize(height, width, factor, min_pixels, max_pixels)
    return (round(b[0] * rw), round(b[1] * rh), round(b[2] * rw), round(b[3] * rh))


def from_qwen_abs(
    b: Sequence[float],
    width: int,
    height: int,
    *,
    factor: int = QWEN_FACTOR,
    min_pixels: int = QWEN_MIN_PIXELS,
    max_pixels: int = QWEN_MAX_PIXELS,
) -> Box:
    """Qwen2.5-VL absolute coordinates on the resized grid → normalised (clipped to [0, 1]).

    >>> from_qwen_abs((322, 238, 644, 476), 640, 480)
    (0.5, 0.5, 1.0, 1.0)
    """
    rh, rw = smart_resize(height, width, factor, min_pixels, max_pixels)
    return clip((b[0] / rw, b[1] / rh, b[2] / rw, b[3] / rh))

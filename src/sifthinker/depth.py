"""Depth maps in one convention: float32 H×W in [0, 1], **0 = nearest, 1 = farthest** (docs/method.md).

The lossless map (``.npy`` exact, or 16-bit PNG to 1/65535) is the source of truth; the colourised ``Spectral_r``
image is only what the model sees. :func:`decode_colourised` imports the authors' colourised PNGs once.

>>> import numpy as np
>>> d = from_inverse_depth(np.array([[4.0, 2.0], [1.0, 0.0]]))   # raw relative *inverse* depth: large = near
>>> d.tolist()
[[0.0, 0.5], [0.75, 1.0]]
>>> box_mean(d, (0.0, 0.0, 1.0, 0.5))                           # the top row
0.25
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np

from .io import temp_path

__all__ = [
    "DepthMap",
    "from_inverse_depth",
    "from_metric_depth",
    "validate_depth",
    "box_pixel_rect",
    "box_mean",
    "box_means",
    "integral_image",
    "save_depth",
    "load_depth",
    "colourise",
    "save_colourised",
    "decode_colourised",
    "spectral_palette",
]

CMAP_NAME = "Spectral_r"


# ------------------------------------------------------------------------------------------------ construction


def validate_depth(depth, what: str = "depth map") -> np.ndarray:
    """Check a depth map (2-D, finite, values in [0, 1]) and return it as a float array; raise ``ValueError``."""
    if isinstance(depth, DepthMap):
        return depth.array
    arr = np.asarray(depth)
    if arr.ndim != 2 or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"{what}: expected a non-empty 2-D H×W array, got shape {arr.shape}")
    if not np.issubdtype(arr.dtype, np.floating) and not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"{what}: expected a numeric array, got dtype {arr.dtype}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{what}: contains NaN or infinite values")
    lo, hi = float(arr.min()), float(arr.max())
    if lo < 0.0 or hi > 1.0:
        raise ValueError(f"{what}: values must lie in [0, 1] (0 = nearest, 1 = farthest), got [{lo:g}, {hi:g}]")
    return arr


def from_inverse_depth(raw) -> np.ndarray:
    """Raw relative *inverse* depth (Depth Anything's output, large = near) → our map (0 = nearest, 1 = farthest).

    Per-image min–max to [0, 1], then inverted (docs/method.md). A constant map becomes all zeros.
    """
    arr = np.asarray(raw, dtype=np.float64)
    if arr.ndim != 2:
        raise ValueError(f"raw depth: expected a 2-D array, got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError("raw depth: contains NaN or infinite values")
    lo, hi = arr.min(), arr.max()
    if hi - lo <= 0:
        return np.zeros(arr.shape, dtype=np.float32)
    return ((hi - arr) / (hi - lo)).astype(np.float32)


def from_metric_depth(z, far: float | None = None) -> np.ndarray:
    """Metric depth (large = far, e.g. from a renderer) → our map by per-image min–max, no inversion.

    Values beyond ``far`` (and non-finite ones, such as sky) are clamped to ``far`` before normalising.
    """
    arr = np.asarray(z, dtype=np.float64)
    if arr.ndim != 2:
        raise ValueError(f"metric depth: expected a 2-D array, got shape {arr.shape}")
    finite = np.isfinite(arr)
    if far is None:
        if not finite.any():
            raise ValueError("metric depth: no finite value and no `far` given")
        far = float(arr[finite].max())
    arr = np.where(finite, np.minimum(arr, far), far)
    lo, hi = arr.min(), arr.max()
    if hi - lo <= 0:
        return np.zeros(arr.shape, dtype=np.float32)
    return ((arr - lo) / (hi - lo)).astype(np.float32)


# ------------------------------------------------------------------------------------------------- box means


def box_pixel_rect(box: Sequence[float], width: int, height: int) -> tuple[int, int, int, int]:
    """Pixel rectangle ``(c0, r0, c1, r1)`` (end-exclusive) that docs/method.md averages over for ``box``.

    Columns ``floor(x1·W) .. ceil(x2·W)−1`` and rows ``floor(y1·H) .. ceil(y2·H)−1``, clipped to the image, computed
    in float64 exactly as written (so it agrees with a plain numpy reference). May be empty (``c0 >= c1``).

    >>> box_pixel_rect((0.25, 0.0, 0.5, 1.0), 10, 4)
    (2, 0, 5, 4)
    """
    x1, y1, x2, y2 = (float(v) for v in box)
    c0 = max(0, min(width, _pixel_edge(x1 * width, math.floor)))
    c1 = max(0, min(width, _pixel_edge(x2 * width, math.ceil)))
    r0 = max(0, min(height, _pixel_edge(y1 * height, math.floor)))
    r1 = max(0, min(height, _pixel_edge(y2 * height, math.ceil)))
    return c0, r0, c1, r1


def _pixel_edge(v: float, to_int) -> int:
    """``to_int(v)`` (``math.floor`` or ``math.ceil``), reading NaN as 0 and ±inf as ±2**62 (clipped by the caller)."""
    if v != v:  # NaN
        return 0
    if v in (math.inf, -math.inf):
        return 1 << 62 if v > 0 else -(1 << 62)
    return to_int(v)


def box_mean(depth, box: Sequence[float]) -> float:
    """Mean depth over the pixel rectangle of ``box`` (docs/method.md); NaN if that rectangle is empty.

    ``depth`` is an H×W array (or a :class:`DepthMap`, which answers from its cached integral image in O(1)).

    >>> import numpy as np
    >>> d = np.arange(16, dtype=np.float32).reshape(4, 4) / 15
    >>> round(box_mean(d, (0.5, 0.5, 1.0, 1.0)), 6) == round(float(d[2:, 2:].mean()), 6)
    True
    """
    if isinstance(depth, DepthMap):
        return depth.box_mean(box)
    arr = np.asarray(depth)
    h, w = arr.shape[:2]
    c0, r0, c1, r1 = box_pixel_rect(box, w, h)
    if c0 >= c1 or r0 >= r1:
        return float("nan")
    return float(arr[r0:r1, c0:c1].mean(dtype=np.float64))


def integral_image(depth) -> np.ndarray:
    """Summed-area table with a zero first row/column, in float64: ``S[r, c] = depth[:r, :c].sum()``."""
    arr = np.asarray(depth, dtype=np.float64)
    s = np.zeros((arr.shape[0] + 1, arr.shape[1] + 1), dtype=np.float64)
    np.cumsum(arr, axis=0, out=s[1:, 1:])
    np.cumsum(s[1:, 1:], axis=1, out=s[1:, 1:])
    return s


def box_means(depth, boxes, *, integral: np.ndarray | None = None) -> np.ndarray:
    """Vectorised :func:`box_mean` for an N×4 array of boxes (one integral image, O(1) per box); NaN where empty.

    >>> import numpy as np
    >>> d = np.linspace(0, 1, 12, dtype=np.float32).reshape(3, 4)
    >>> bs = [(0, 0, 1, 1), (0.5, 0, 1, 0.34)]
    >>> np.allclose(box_means(d, bs), [box_mean(d, b) for b in bs])
    True
    """
    if isinstance(depth, DepthMap):
        integral = depth.integral
        h, w = depth.shape
    else:
        h, w = np.shape(depth)[:2]
    s = integral if integral is not None else integral_image(depth)
    if not isinstance(boxes, np.ndarray) and len(boxes) <= 16:
        # A handful of boxes (one completion): plain Python on the integral image beats numpy's per-call overhead.
        out = np.empty(len(boxes), dtype=np.float64)
        for i, box in enumerate(boxes):
            c0, r0, c1, r1 = box_pixel_rect(box, w, h)
            if c0 >= c1 or r0 >= r1:
                out[i] = np.nan
            else:
                total = s[r1, c1] - s[r0, c1] - s[r1, c0] + s[r0, c0]
                out[i] = total / ((c1 - c0) * (r1 - r0))
        return out
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    if len(b) == 0:
        return np.zeros(0, dtype=np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        big = float(1 << 62)
        c0 = np.clip(np.nan_to_num(np.floor(b[:, 0] * w), nan=0.0, posinf=big, neginf=-big), 0, w).astype(np.int64)
        c1 = np.clip(np.nan_to_num(np.ceil(b[:, 2] * w), nan=0.0, posinf=big, neginf=-big), 0, w).astype(np.int64)
        r0 = np.clip(np.nan_to_num(np.floor(b[:, 1] * h), nan=0.0, posinf=big, neginf=-big), 0, h).astype(np.int64)
        r1 = np.clip(np.nan_to_num(np.ceil(b[:, 3] * h), nan=0.0, posinf=big, neginf=-big), 0, h).astype(np.int64)
    n = (c1 - c0) * (r1 - r0)
    total = s[r1, c1] - s[r0, c1] - s[r1, c0] + s[r0, c0]
    out = np.full(len(b), np.nan, dtype=np.float64)
    ok = (c1 > c0) & (r1 > r0)
    out[ok] = total[ok] / n[ok]
    return out


class DepthMap:
    """A validated depth map (our convention) that caches its integral image for O(1) box means.

    >>> import numpy as np
    >>> dm = DepthMap(np.full((8, 8), 0.25, dtype=np.float32))
    >>> dm.box_mean((0, 0, 0.5, 0.5))
    0.25
    """

    __slots__ = ("array", "_integral")

    def __init__(self, array, *, validate: bool = True):
        arr = validate_depth(array) if validate else np.asarray(array)
        self.array = np.ascontiguousarray(arr, dtype=np.float32)
        self.array.flags.writeable = False  # the cached integral image must stay true to the data
        self._integral: np.ndarray | None = None

    @property
    def shape(self) -> tuple[int, int]:
        return self.array.shape  # type: ignore[return-value]

    @property
    def integral(self) -> np.ndarray:
        if self._integral is None:
            self._integral = integral_image(self.array)
        return self._integral

    def box_mean(self, box: Sequence[float]) -> float:
        return float(box_means(self, [box])[0])

    def box_means(self, boxes) -> np.ndarray:
        return box_means(self, boxes)

    @classmethod
    def load(cls, path: str | os.PathLike) -> DepthMap:
        return cls(load_depth(path))

    def save(self, path: str | os.PathLike) -> Path:
        return save_depth(self.array, path)

    def __repr__(self) -> str:
        return f"DepthMap({self.shape[1]}×{self.shape[0]})"


@lru_cache(maxsize=64)
def _cached_map(path: str, mtime_ns: int, size: int) -> DepthMap:
    return DepthMap.load(path)


def cached_depth_map(path: str | os.PathLike) -> DepthMap:
    """Load a lossless depth map once per (path, mtime, size) and keep it with its integral image (LRU of 64)."""
    st = os.stat(path)
    return _cached_map(os.fspath(path), st.st_mtime_ns, st.st_size)


# ---------------------------------------------------------------------------------------------- lossless files


def save_depth(depth, path: str | os.PathLike) -> Path:
    """Save a depth map losslessly: ``.npy`` (exact float32) or ``.png`` (16-bit, steps of 1/65535).

    Written to a temporary file and renamed, so a crash never leaves a half-written map.
    """
    arr = validate_depth(depth)
    path = Path(path)
    suffix = path.suffix.lower()
    tmp = temp_path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".npy":
        with open(tmp, "wb") as f:
            np.save(f, np.asarray(arr, dtype=np.float32))
    elif suffix == ".png":
        from PIL import Image

        q = np.round(np.asarray(arr, dtype=np.float64) * 65535.0).astype(np.uint16)
        Image.fromarray(q).save(tmp, format="PNG")
    else:
        raise ValueError(f"{path}: unknown depth format {suffix!r}; use .npy or .png (16-bit)")
    os.replace(tmp, path)
    return path


def load_depth(path: str | os.PathLike) -> np.ndarray:
    """Load a map written by :func:`save_depth` (``.npy`` or 16-bit ``.png``) as float32 in [0, 1]."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".npy":
        arr = np.load(path, allow_pickle=False)
        return validate_depth(arr.astype(np.float32, copy=False), what=str(path))
    if suffix == ".png":
        from PIL import Image

        with Image.open(path) as im:
            if im.mode not in ("I;16", "I;16B", "I;16L", "I"):
                raise ValueError(
                    f"{path}: mode {im.mode} is not a 16-bit depth PNG; a colourised depth image must be decoded "
                    "with decode_colourised()"
                )
            q = np.asarray(im)
        return (q.astype(np.float64) / 65535.0).astype(np.float32)
    raise ValueError(f"{path}: unknown depth format {suffix!r}; use .npy or .png (16-bit)")


# ---------------------------------------------------------------------------------------------- colourisation


@lru_cache(maxsize=1)
def spectral_palette() -> np.ndarray:
    """The 256 RGB (uint8) colours of matplotlib's ``Spectral_r``, index 0 first."""
    from matplotlib import colormaps

    lut = colormaps[CMAP_NAME](np.linspace(0.0, 1.0, 256))[:, :3]
    return np.round(lut * 255.0).astype(np.uint8)


def colourise(depth) -> np.ndarray:
    """The H×W×3 uint8 image the model sees: ``Spectral_r`` of the *inverse* depth, as Depth Anything draws it.

    Near is red, far is blue/violet: palette index ``round((1 − d)·255)`` for our depth ``d``.
    """
    arr = validate_depth(depth)
    idx = np.round((1.0 - np.asarray(arr, dtype=np.float64)) * 255.0).astype(np.intp)
    return spectral_palette()[idx]


def save_colourised(depth, path: str | os.PathLike) -> Path:
    """Write :func:`colourise` of ``depth`` as an RGB PNG (atomic)."""
    from PIL import Image

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(path)
    Image.fromarray(colourise(depth)).save(tmp, format="PNG")
    os.replace(tmp, path)
    return path


def decode_colourised(image) -> np.ndarray:
    """Decode a colourised depth image (RGB, ``Spectral_r`` of inverse depth) back into our float map.

    Each pixel takes the palette index of its nearest palette colour (Euclidean in RGB), looked up once per
    *distinct* colour. The result has 256 levels: use it to import the authors' data once, then keep it losslessly.
    A greyscale image is refused: the authors' code read greyscale with the opposite convention, and we will not
    guess which one a file follows.
    """
    from PIL import Image
    from scipy.spatial import cKDTree

    if isinstance(image, (str, os.PathLike)):
        with Image.open(image) as im:
            if im.mode not in ("RGB", "RGBA", "P"):
                raise ValueError(f"{image}: mode {im.mode} is not a colourised depth image (RGB expected)")
            rgb = np.asarray(im.convert("RGB"))
    else:
        rgb = np.asarray(image)
        if rgb.ndim != 3 or rgb.shape[2] < 3:
            raise ValueError(f"colourised depth: expected H×W×3 RGB, got shape {rgb.shape}")
        rgb = rgb[:, :, :3]
    flat = rgb.reshape(-1, 3).astype(np.int64)
    packed = (flat[:, 0] << 16) | (flat[:, 1] << 8) | flat[:, 2]
    uniq, inverse = np.unique(packed, return_inverse=True)
    colours = np.stack([(uniq >> 16) & 255, (uniq >> 8) & 255, uniq & 255], axis=1).astype(np.float64)
    _, idx = cKDTree(spectral_palette().astype(np.float64)).query(colours)
    inv_depth = idx.astype(np.float64) / 255.0  # palette position = normalised inverse depth (1 = near)
    out = (1.0 - inv_depth)[inverse.reshape(-1)].reshape(rgb.shape[:2])
    return out.astype(np.float32)

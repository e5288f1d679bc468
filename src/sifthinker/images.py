"""Opening input images safely: the pixel count is checked from the header before anything is decoded.

A 50 kB PNG can declare 20000×20000 pixels (1.2 GB once decoded as RGB). Pillow refuses images above twice its
``Image.MAX_IMAGE_PIXELS`` with ``DecompressionBombError`` (an ``Exception``, neither ``OSError`` nor
``ValueError``) and warns above it; here both, and anything above our own cap, become :class:`ImageTooLarge`,
which the data build turns into one failure row (stage ``image``, reason ``too_large``) and the server into a 413.

>>> import tempfile, pathlib
>>> from PIL import Image
>>> p = pathlib.Path(tempfile.mkdtemp()) / "wide.png"
>>> Image.new("L", (12000, 1)).save(p)
>>> image_size(p)
(12000, 1)
>>> image_size(p, max_pixels=10_000)
Traceback (most recent call last):
sifthinker.images.ImageTooLarge: 12000×1 = 12,000 pixels, more than the cap of 10,000 pixels (max_image_pixels)
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import BinaryIO

from PIL import Image

__all__ = ["DEFAULT_MAX_IMAGE_PIXELS", "ImageTooLarge", "open_image", "image_size"]

DEFAULT_MAX_IMAGE_PIXELS = 50_000_000  # about 7000×7000; ~150 MB once decoded as RGB


class ImageTooLarge(ValueError):
    """An image whose header declares more pixels than allowed; the message gives the count and the cap."""


def _bomb_text(e: Exception, max_pixels: int | None) -> str:
    m = re.search(r"\((\d+) pixels\) exceeds limit of (\d+)", str(e))
    if m is None:
        return f"Pillow refuses it as a decompression bomb ({e})"
    n, limit = int(m.group(1)), int(m.group(2))
    cap = f"; the cap is {max_pixels:,} pixels (max_image_pixels)" if max_pixels is not None else ""
    return f"{n:,} pixels, more than Pillow's decompression-bomb limit of {limit:,}{cap}"


@contextmanager
def open_image(
    path: str | os.PathLike | BinaryIO, max_pixels: int | None = DEFAULT_MAX_IMAGE_PIXELS
) -> Iterator[Image.Image]:
    """``Image.open`` (header only, lazy) that raises :class:`ImageTooLarge` before any pixel is decoded when the
    declared size exceeds ``max_pixels`` (None: only Pillow's own limit). Other read errors propagate as Pillow
    raises them."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # our cap decides, not a warning
        try:
            im = Image.open(path)
        except Image.DecompressionBombError as e:
            raise ImageTooLarge(_bomb_text(e, max_pixels)) from None
        with im:
            w, h = im.size
            if max_pixels is not None and w * h > max_pixels:
                raise ImageTooLarge(
                    f"{w}×{h} = {w * h:,} pixels, more than the cap of {max_pixels:,} pixels (max_image_pixels)"
                )
            yield im


def image_size(path: str | os.PathLike, max_pixels: int | None = None) -> tuple[int, int]:
    """``(width, height)`` from the header, nothing decoded; :class:`ImageTooLarge` past the cap."""
    with open_image(path, max_pixels) as im:
        return int(im.size[0]), int(im.size[1])

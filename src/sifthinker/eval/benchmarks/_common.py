"""Helpers the benchmark readers share: JSON/JSONL/Parquet reading, embedded-image extraction, image sizes, option
letters. Parquet needs ``pyarrow`` (installed with ``datasets``), imported only when a Parquet file is read."""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ...answers import LETTERS
from ...io import JsonInputError, iter_jsonl_file, temp_path

__all__ = [
    "BenchmarkFileError",
    "check_limit",
    "read_json",
    "iter_jsonl",
    "read_parquet",
    "ImageCache",
    "image_size",
    "letter_of",
    "parse_letter",
]

logger = logging.getLogger(__name__)


class BenchmarkFileError(ValueError):
    """A benchmark's files are missing or not in the published layout; the message says what was expected."""


def check_limit(limit: int | None) -> int | None:
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
        raise ValueError(f"limit must be None or an integer >= 0, got {limit!r}")
    return limit


def read_json(path: str | os.PathLike) -> Any:
    path = Path(path)
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        raise BenchmarkFileError(f"{path}: file not found") from None
    except json.JSONDecodeError as e:
        raise BenchmarkFileError(f"{path}: not valid JSON ({e})") from e


def iter_jsonl(path: str | os.PathLike) -> Iterator[tuple[int, dict]]:
    """``(line number, record)`` for every non-blank line (read with :func:`sifthinker.io.iter_jsonl_file`); a bad
    line raises naming the file and the line."""
    path = Path(path)
    if not path.is_file():
        raise BenchmarkFileError(f"{path}: file not found")
    for i, rec in iter_jsonl_file(path):
        if isinstance(rec, JsonInputError):
            raise BenchmarkFileError(f"{path}: {rec}")
        if not isinstance(rec, dict):
            raise BenchmarkFileError(f"{path}:{i + 1}: expected a JSON object, got {type(rec).__name__}")
        yield i + 1, rec


def read_parquet(path: str | os.PathLike, columns: list[str] | None = None) -> list[dict]:
    """The rows of a Parquet file as dicts (images stay as ``{"bytes": …, "path": …}`` structs)."""
    try:
        import pyarrow.parquet as pq
    except ImportError as e:  # pragma: no cover - pyarrow ships with `datasets`
        raise ImportError(
            f"reading {path} needs pyarrow (pip install pyarrow, or sifthinker[data]); or use the benchmark's JSON "
            "layout"
        ) from e
    path = Path(path)
    if not path.is_file():
        raise BenchmarkFileError(f"{path}: file not found")
    table = pq.read_table(path, columns=columns)
    return table.to_pylist()


_EXT = {"PNG": ".png", "JPEG": ".jpg", "WEBP": ".webp", "GIF": ".gif", "BMP": ".bmp", "TIFF": ".tif"}


class ImageCache:
    """Writes images embedded in a Parquet file to disk once, so items can name them by path.

    Default folder: ``<file stem>_images/`` next to the Parquet file; when that is not writable, a folder under
    ``~/.cache/sifthinker/eval/`` keyed by the file's absolute path. Existing files are reused (same name = same
    row and position in the same file).
    """

    def __init__(self, parquet_path: str | os.PathLike, cache_dir: str | os.PathLike | None = None):
        p = Path(parquet_path).resolve()
        if cache_dir is not None:
            self.dir = Path(cache_dir)
        else:
            self.dir = p.with_name(f"{p.stem}_images")
            try:
                self.dir.mkdir(parents=True, exist_ok=True)
                probe = self.dir / f".probe{os.getpid()}"
                probe.write_bytes(b"")
                probe.unlink()
            except OSError:
                key = hashlib.blake2b(str(p).encode(), digest_size=8).hexdigest()
                self.dir = Path.home() / ".cache" / "sifthinker" / "eval" / f"{p.stem}-{key}"
        self.dir.mkdir(parents=True, exist_ok=True)

    def put(self, image: Any, name: str) -> str:
        """Path of ``image`` (a ``{"bytes", "path"}`` struct, raw bytes, or a path string) saved as ``name``+ext."""
        if isinstance(image, str):
            return image
        data = image.get("bytes") if isinstance(image, dict) else image
        if not isinstance(data, (bytes, bytearray)) or not data:
            raise BenchmarkFileError(f"image {name!r}: no embedded bytes")
        ext = self._ext(bytes(data), image.get("path") if isinstance(image, dict) else None)
        out = self.dir / f"{name}{ext}"
        if not (out.is_file() and out.stat().st_size == len(data)):
            tmp = temp_path(out)
            tmp.write_bytes(data)
            os.replace(tmp, out)
        return str(out)

    @staticmethod
    def _ext(data: bytes, hint: str | None) -> str:
        from PIL import Image

        try:
            with Image.open(io.BytesIO(data)) as im:
                return _EXT.get(im.format or "", ".png")
        except Exception:  # noqa: BLE001 - an undecodable image is still written; the model side will complain
            suffix = Path(hint).suffix if hint else ""
            return suffix if re.fullmatch(r"\.[A-Za-z0-9]{1,5}", suffix or "") else ".bin"


def image_size(path: str | os.PathLike) -> tuple[int, int] | None:
    """``(width, height)`` from the image header, or None if the file is missing or unreadable."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            return im.size
    except (OSError, ValueError):
        return None


def parse_letter(s: str, n: int) -> str | None:
    """``"(C)"``, ``"C"``, ``"C."`` → ``"C"`` when it names one of ``n`` options, else None.

    >>> parse_letter("(C)", 4), parse_letter("E", 4)
    ('C', None)
    """
    m = re.fullmatch(r"\s*[\(\[]?\s*([A-Za-z])\s*[\)\].:]?\s*", str(s))
    if m and LETTERS.find(m.group(1).upper()) < n:
        return m.group(1).upper()
    return None


def letter_of(answer: str, choices: list[str]) -> str | None:
    """The letter of the option whose text equals ``answer`` (exactly, then case/space-insensitively), else None.

    >>> letter_of("rotated left", ["rotated right", "Rotated Left"])
    'B'
    """
    for i, c in enumerate(choices):
        if c == answer:
            return LETTERS[i]
    norm = " ".join(str(answer).lower().split())
    hits = [i for i, c in enumerate(choices) if " ".join(str(c).lower().split()) == norm]
    return LETTERS[hits[0]] if len(hits) == 1 else None

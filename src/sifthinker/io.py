"""The package's one I/O layer: atomic writes, the JSONL reader (one bad line — invalid UTF-8, a 5,000-digit
integer, 100k nested brackets, a 1 GB line — fails alone), the resumable appender (:class:`JsonlAppender`, tail
repair, :func:`done_ids`), the build-folder resolver (:func:`record_files`) and the path-inside-root check
(:func:`path_inside`). Every module that reads or appends JSONL, or checks a path against a root, goes through here.

>>> import tempfile, pathlib
>>> p = pathlib.Path(tempfile.mkdtemp()) / "rows.jsonl"
>>> _ = p.write_text('{"id": 1}\\n{"id": 2')   # a kill in the middle of a write leaves half a line
>>> repair_jsonl_tail(p)
8
>>> p.read_text()
'{"id": 1}\\n'
"""

from __future__ import annotations

import base64
import io
import json
import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = [
    "repair_jsonl_tail",
    "atomic_write_text",
    "temp_path",
    "DEFAULT_MAX_LINE_BYTES",
    "JsonInputError",
    "loads_json",
    "iter_jsonl_lines",
    "iter_jsonl_file",
    "PathOutsideRoot",
    "path_inside",
    "record_files",
    "JsonlAppender",
    "done_ids",
    "encode_image",
    "data_url",
]

DEFAULT_MAX_LINE_BYTES = 64 * 2**20  # a JSONL line longer than this is refused without being read into memory
_BOM = b"\xef\xbb\xbf"

logger = logging.getLogger(__name__)


def temp_path(path: str | os.PathLike) -> Path:
    """A temporary sibling of ``path`` (same folder, so ``os.replace`` is atomic), unique per process."""
    path = Path(path)
    return path.with_name(f".{path.name}.tmp{os.getpid()}")


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` to a temporary sibling and rename it over ``path``: readers see the old or the new file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(path)
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    return path


def repair_jsonl_tail(path: str | os.PathLike) -> int:
    """Cut a partial last line (a write interrupted by a kill) off a JSONL file; return the bytes dropped."""
    path = Path(path)
    if not path.exists() or path.stat().st_size == 0:
        return 0
    with open(path, "rb+") as f:
        f.seek(-1, os.SEEK_END)
        if f.read(1) == b"\n":
            return 0
        f.seek(0)
        data = f.read()
        cut = data.rfind(b"\n") + 1
        f.truncate(cut)
    dropped = len(data) - cut
    logger.warning("%s: dropped a partial last line (%d bytes) left by an interrupted run", path, dropped)
    return dropped


class JsonInputError(ValueError):
    """Bytes that cannot be read as JSON; the message says why (and where, for a syntax error)."""


def loads_json(data: bytes) -> Any:
    """Decode UTF-8 bytes as one JSON value, raising only :class:`JsonInputError` whatever the bytes are.

    >>> loads_json(b'{"a": 1}')
    {'a': 1}
    >>> loads_json(b"[" * 100_000)
    Traceback (most recent call last):
    sifthinker.io.JsonInputError: not readable: brackets nested too deeply
    >>> loads_json(b'["' + bytes([255]) + b'"]')
    Traceback (most recent call last):
    sifthinker.io.JsonInputError: not valid UTF-8 (invalid start byte 0xff at byte 2)
    """
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise JsonInputError(f"not valid UTF-8 ({e.reason} 0x{data[e.start]:02x} at byte {e.start})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise JsonInputError(f"not valid JSON ({e.msg} at column {e.colno})") from None
    except RecursionError:
        raise JsonInputError("not readable: brackets nested too deeply") from None
    except ValueError as e:  # Python's int-string limit: an integer of more than 4,300 digits
        limit = sys.get_int_max_str_digits()
        raise JsonInputError(f"not readable: a number of more than {limit:,} digits ({e})"[:300]) from None


def iter_jsonl_lines(f, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES) -> Iterator[tuple[int, Any | JsonInputError]]:
    """``(line index, value)`` for each non-blank line of a binary file object; a line that cannot be read gives a
    :class:`JsonInputError` as its value (the message starts with ``line N``) and the next lines are read on.

    A line longer than ``max_line_bytes`` is skipped in bounded chunks, never held in memory whole.
    """
    if max_line_bytes < 1:
        raise ValueError(f"max_line_bytes must be >= 1, got {max_line_bytes}")
    i = -1
    while True:
        line = f.readline(max_line_bytes + 1)
        if not line:
            return
        i += 1
        if i == 0 and line.startswith(_BOM):
            line = line[len(_BOM) :]
        if len(line) > max_line_bytes and not line.endswith(b"\n"):
            size = len(line)
            while line and not line.endswith(b"\n"):  # skip the rest of the line
                line = f.readline(1 << 20)
                size += len(line)
            yield i, JsonInputError(f"line {i + 1} is too long ({size:,} bytes; the limit is {max_line_bytes:,})")
            continue
        if not line.strip():
            continue
        try:
            yield i, loads_json(line)
        except JsonInputError as e:
            yield i, JsonInputError(f"line {i + 1} is {e}")


def iter_jsonl_file(
    path: str | os.PathLike, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES
) -> Iterator[tuple[int, Any | JsonInputError]]:
    """:func:`iter_jsonl_lines` over the file at ``path`` (opened, read and closed here); nothing if it is missing."""
    path = Path(path)
    if not path.exists():
        return
    with open(path, "rb") as f:
        yield from iter_jsonl_lines(f, max_line_bytes)


def done_ids(path: str | os.PathLike, key: str = "id") -> list[str]:
    """The ``key`` values (as text) of the rows of a JSONL output file, in file order, after cutting off a partial
    last line; ``[]`` when the file does not exist. An unreadable line or a row without ``key`` is skipped with a
    warning (it is not done: a resumable job does that item again)."""
    repair_jsonl_tail(path)
    ids = []
    for i, row in iter_jsonl_file(path):
        if isinstance(row, dict) and row.get(key) is not None:
            ids.append(str(row[key]))
        else:
            logger.warning("%s line %d: unreadable row skipped (%s)", path, i + 1, str(row)[:200])
    return ids


class JsonlAppender:
    """The one resumable JSONL appender: the file's partial last line (a kill mid-write) is cut off on open, rows
    are buffered and written every ``every`` rows, on :meth:`flush` and on close, each write flushed (and fsynced
    unless ``fsync=False``) so a kill loses at most the buffered rows, never half a line of an earlier batch.

    >>> import tempfile
    >>> p = Path(tempfile.mkdtemp()) / "out.jsonl"
    >>> with JsonlAppender(p, every=2) as out:
    ...     out.add({"id": "a"})
    ...     out.add({"id": "b", "text": "é"})
    >>> done_ids(p)
    ['a', 'b']
    """

    def __init__(self, path: str | os.PathLike, every: int = 1, *, fsync: bool = True) -> None:
        if every < 1:
            raise ValueError(f"every must be >= 1, got {every}")
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        repair_jsonl_tail(self.path)
        self._f = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - closed by close()
        self.every = every
        self.fsync = fsync
        self._buf: list[str] = []

    def add(self, row: Any) -> None:
        """Append one row (any JSON value; non-ASCII text kept as is)."""
        self._buf.append(json.dumps(row, ensure_ascii=False) + "\n")
        if len(self._buf) >= self.every:
            self.flush()

    def add_lines(self, text: str) -> None:
        """Append rows already serialised as JSONL (each line ending in a newline), e.g. by a worker process."""
        if text:
            if not text.endswith("\n"):
                raise ValueError("add_lines expects whole lines, each ending in a newline")
            self._buf.append(text)
            self.flush()

    def flush(self) -> None:
        if self._buf:
            self._f.write("".join(self._buf))
            self._buf.clear()
            self._f.flush()
            if self.fsync:
                os.fsync(self._f.fileno())

    def close(self) -> None:
        if not self._f.closed:
            self.flush()
            self._f.close()

    def __enter__(self) -> JsonlAppender:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class PathOutsideRoot(ValueError):
    """A path that resolves (symlinks included) outside the folder it must stay in."""


def path_inside(root: str | os.PathLike, path: str | os.PathLike) -> Path:
    """The real path of ``path`` (relative to ``root``, or absolute), refusing one that resolves outside ``root``.

    The only path-inside-root check of the package: callers turn :class:`PathOutsideRoot` into their own error
    (a failure row, an HTTP 403, …). Existence is not checked.

    >>> import tempfile
    >>> root = tempfile.mkdtemp()
    >>> path_inside(root, "a/b.png") == Path(os.path.realpath(root)) / "a" / "b.png"
    True
    >>> path_inside(root, "../etc/passwd")
    Traceback (most recent call last):
    ...
    sifthinker.io.PathOutsideRoot: path '../etc/passwd' resolves outside the root ...
    """
    root_real = os.path.realpath(root)
    full = os.path.realpath(os.path.join(root_real, os.fspath(path)))
    if os.path.commonpath([full, root_real]) != root_real:
        raise PathOutsideRoot(f"path {os.fspath(path)!r} resolves outside the root {os.fspath(root)!r}")
    return Path(full)


def record_files(path: str | os.PathLike, stem: str = "records") -> list[Path]:
    """The record files behind ``path``: the file itself, or the ``{stem}.jsonl`` of a data-engine build folder, or
    all its shards (``{stem}.shard-00000-of-00004.jsonl`` …, in shard order) — the one build-folder resolver that
    training, export and validation share.

    >>> import tempfile
    >>> d = Path(tempfile.mkdtemp())
    >>> for i in (1, 0):
    ...     _ = (d / f"records.shard-{i:05d}-of-00002.jsonl").write_text("")
    >>> [p.name for p in record_files(d)]
    ['records.shard-00000-of-00002.jsonl', 'records.shard-00001-of-00002.jsonl']
    """
    p = Path(path)
    if p.is_file():
        return [p]
    if not p.is_dir():
        raise FileNotFoundError(f"{os.fspath(path)!r} does not exist")
    whole = p / f"{stem}.jsonl"
    shards = sorted(p.glob(f"{stem}.shard-*-of-*.jsonl"))
    if whole.is_file() and shards:
        raise ValueError(f"{p} holds both {whole.name} and {len(shards)} shard file(s): keep one or the other")
    if whole.is_file():
        return [whole]
    if shards:
        return shards
    raise FileNotFoundError(
        f"{p} holds no {stem}.jsonl and no {stem}.shard-*.jsonl: point at a build folder or a file"
    )


def encode_image(im, fmt: str = "PNG", **save_options: Any) -> bytes:
    """The bytes of a PIL image saved as ``fmt`` (``quality=``, ``optimize=`` … go to ``Image.save``)."""
    buf = io.BytesIO()
    im.save(buf, format=fmt, **save_options)
    return buf.getvalue()


def data_url(data: bytes, mime: str = "image/png") -> str:
    """``data:<mime>;base64,…``: how an image travels inline, in an HTML page or a chat request.

    >>> data_url(b"PNG", "image/png")
    'data:image/png;base64,UE5H'
    """
    return f"data:{mime};base64,{base64.b64encode(bytes(data)).decode('ascii')}"

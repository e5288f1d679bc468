"""A console a person can read: library messages, warnings and progress bars go to a log file in the run folder.

Inside :func:`quiet_libraries` the root logger writes to ``<run>/<name>`` (INFO and up, every library), Python
warnings are routed there too, transformers' and datasets' own handlers and progress bars are off, and the
console shows only what the command prints itself plus warnings and errors of ``sifthinker``'s own loggers.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["quiet_libraries"]

_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class _OwnWarnings(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.name.startswith("sifthinker") and record.levelno >= logging.WARNING


@contextmanager
def quiet_libraries(run_dir: str | os.PathLike, name: str = "run.log") -> Iterator[Path]:
    """Send logging, warnings and library progress bars to ``run_dir/name`` for the duration; yield its path."""
    path = Path(run_dir) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    to_file = logging.FileHandler(path, encoding="utf-8")
    to_file.setFormatter(logging.Formatter(_FORMAT))
    console = logging.StreamHandler(sys.stderr)
    console.addFilter(_OwnWarnings())
    console.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
    root.handlers = [to_file, console]
    root.setLevel(logging.INFO)
    logging.captureWarnings(True)
    libs = _quiet_hf()
    try:
        yield path
    finally:
        logging.captureWarnings(False)
        root.handlers, root.level = saved
        to_file.close()
        for undo in libs:
            undo()


def _quiet_hf() -> list:
    """Turn off transformers' / datasets' own console handlers and progress bars; return the undo calls."""
    undo = []
    try:
        import transformers.utils.logging as tlog
    except ImportError:
        tlog = None
    if tlog is not None:
        tlog.disable_default_handler()
        tlog.enable_propagation()
        tlog.disable_progress_bar()
        undo += [tlog.enable_default_handler, tlog.disable_propagation, tlog.enable_progress_bar]
    try:
        import datasets.utils.logging as dlog
    except ImportError:
        dlog = None
    if dlog is not None:
        dlog.disable_progress_bar()
        undo.append(dlog.enable_progress_bar)
    try:
        import huggingface_hub.utils as hub
    except ImportError:
        hub = None
    if hub is not None:
        hub.disable_progress_bars()
        undo.append(hub.enable_progress_bars)
    return undo

"""SAT (Spatial Aptitude Training, Ray et al. 2024): the static, single-image multiple-choice items.

Published as Parquet on the Hugging Face hub (``array/SAT``: ``SAT_train``, ``SAT_static``, ``SAT_val``,
``SAT_test``), columns ``image_bytes`` (a list of images, each ``{"bytes", "path"}``), ``question``, ``answers``
(the option texts), ``question_type`` and ``correct_answer`` (the right option's text). The SIFThinker authors
scored the ``static`` split, skipping items with more than one image; here such items are not loaded at all (they
are out of scope, not "skipped"), so they never enter a denominator — their count is ``results.json``'s
``left_out.multi_image``.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from ...types import EvalItem, LoadedItems
from .._common import BenchmarkFileError, ImageCache, check_limit, letter_of, read_parquet

NAME = "sat"
DEFAULT_FILE = "SAT_static.parquet"

__all__ = ["NAME", "load", "DEFAULT_FILE"]

logger = logging.getLogger(__name__)


def load(
    path: str | os.PathLike,
    limit: int | None = None,
    *,
    file: str = DEFAULT_FILE,
    cache_dir: str | os.PathLike | None = None,
) -> list[EvalItem]:
    """Single-image items of a SAT Parquet file (``path`` itself, or ``path/<file>``), in file order.

    Ids are ``sat-<file stem>-<row>`` (row = position in the file). Embedded images are written once under
    ``cache_dir`` (default: ``<file stem>_images/`` next to the file).
    """
    check_limit(limit)
    path = Path(path)
    file_path = path if path.is_file() else path / file
    if not file_path.is_file():
        raise BenchmarkFileError(f"{file_path}: not found; expected SAT's Parquet files (e.g. {DEFAULT_FILE})")
    rows = read_parquet(file_path, ["image_bytes", "question", "answers", "question_type", "correct_answer"])
    cache = ImageCache(file_path, cache_dir)
    items: list[EvalItem] = []
    multi = 0
    for i, row in enumerate(rows):
        if limit is not None and len(items) >= limit:
            break
        images = row.get("image_bytes") or []
        if len(images) != 1:
            multi += 1
            continue
        choices = [str(c) for c in row["answers"]]
        letter = letter_of(str(row["correct_answer"]).strip(), [c.strip() for c in choices])
        if letter is None:
            raise BenchmarkFileError(
                f"{file_path}: row {i}: correct_answer {row['correct_answer']!r} is none of the answers {choices!r}"
            )
        iid = f"sat-{file_path.stem}-{i}"
        items.append(
            EvalItem(
                id=iid,
                benchmark=NAME,
                images=[cache.put(images[0], iid)],
                question=str(row["question"]).strip(),
                choices=choices,
                answer=letter,
                answer_type="mc",
                category=str(row.get("question_type") or "all"),
                meta={"row": i, "file": file_path.name},
            )
        )
    if multi:
        logger.info("%s: %d multi-image (dynamic) items left out; SAT static = single-image items", file_path, multi)
    return LoadedItems(items, {"multi_image": multi})

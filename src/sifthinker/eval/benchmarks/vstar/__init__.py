"""V* Bench (SEAL, Wu & Xie 2023): 191 multiple-choice questions on high-resolution images —
``direct_attributes`` (115, four options) and ``relative_position`` (76, two options).

Published on the Hugging Face hub as ``craigwu/vstar_bench``: one folder per category holding each image
(``sa_4690.jpg``) and a same-named JSON annotation ``{"target_object": [...], "bbox": [[x, y, w, h], ...],
"question": ..., "options": [...]}`` whose **first option is the right one** (SEAL scores options by likelihood),
plus ``test_questions.jsonl`` ``{"image": "direct_attributes/sa_4690.jpg", "text": question + "(A) …" lines +
instruction, "category", "question_id", "label": "A"}`` giving the shuffled option order and the letter. With the
JSONL present its order and labels are used; without it the per-image options are permuted deterministically
(seeded by the image name) so the right answer is not always (A).

Scoring: the answer must name exactly one option, by letter or text (the authors' "any answer containing the right
letter" is not copied). The target boxes (pixels, ``x, y, w, h``) are normalised by the image size and the last
area is scored against them (``grounding``).
"""

from __future__ import annotations

import hashlib
import os
import random
import re
from pathlib import Path

from ....answers import LETTERS
from ...types import EvalItem
from .._common import BenchmarkFileError, check_limit, image_size, iter_jsonl, parse_letter, read_json

NAME = "vstar"
CATEGORIES = ("direct_attributes", "relative_position")
_IMAGE_EXT = (".jpg", ".jpeg", ".png", ".webp")

__all__ = ["NAME", "CATEGORIES", "load", "split_options"]


def split_options(text: str) -> tuple[str, list[str]]:
    """A V* ``text`` → (question, option texts): the question before ``(A)``, each option up to its line end.

    >>> split_options("What is the colour of the cup?\\n(A) red\\n(B) blue\\nAnswer with the option's letter.")
    ('What is the colour of the cup?', ['red', 'blue'])
    """
    parts = re.split(r"(?:^|\s)\(([A-Z])\)\s*", text)
    question = parts[0].strip()
    options = []
    for k in range(1, len(parts) - 1, 2):
        if parts[k] != LETTERS[len(options)]:
            break
        options.append(parts[k + 1].split("\n")[0].strip())
    return question, options


def _boxes(ann: dict | None, image: Path) -> list[tuple[float, float, float, float]]:
    if not ann or not ann.get("bbox"):
        return []
    size = image_size(image)
    if size is None:
        return []
    w, h = size
    out = []
    for b in ann["bbox"]:
        x, y, bw, bh = (float(v) for v in b)
        box = (max(0.0, x / w), max(0.0, y / h), min(1.0, (x + bw) / w), min(1.0, (y + bh) / h))
        if box[0] < box[2] and box[1] < box[3]:
            out.append(box)
    return out


def _annotation(image: Path) -> dict | None:
    j = image.with_suffix(".json")
    return read_json(j) if j.is_file() else None


def load(path: str | os.PathLike, limit: int | None = None) -> list[EvalItem]:
    """Items of a V* Bench folder: from ``test_questions.jsonl`` when present, else from the per-image JSON files
    of the category folders (sorted by name)."""
    check_limit(limit)
    root = Path(path)
    if not root.is_dir():
        raise BenchmarkFileError(f"{root}: expected the vstar_bench folder ({', '.join(CATEGORIES)}/)")
    jsonl = root / "test_questions.jsonl"
    items: list[EvalItem] = []
    if jsonl.is_file():
        for line, rec in iter_jsonl(jsonl):
            if limit is not None and len(items) >= limit:
                break
            try:
                question, options = split_options(rec["text"])
                letter = parse_letter(rec["label"], len(options))
                image = root / rec["image"]
                category = rec.get("category") or Path(rec["image"]).parent.name
            except KeyError as e:
                raise BenchmarkFileError(f"{jsonl}:{line}: missing field {e}") from None
            if len(options) < 2 or letter is None:
                raise BenchmarkFileError(f"{jsonl}:{line}: cannot read options/label from {rec.get('text')!r}")
            ann = _annotation(image)
            items.append(
                _item(f"vstar-{rec.get('question_id', line - 1)}", image, question, options, letter, category, ann)
            )
        return items
    for category in CATEGORIES:
        folder = root / category
        if not folder.is_dir():
            continue
        for image in sorted(p for p in folder.iterdir() if p.suffix.lower() in _IMAGE_EXT):
            if limit is not None and len(items) >= limit:
                return items
            ann = _annotation(image)
            if ann is None:
                raise BenchmarkFileError(f"{image}: no annotation {image.with_suffix('.json').name} beside it")
            options = [str(o) for o in ann["options"]]
            order = list(range(len(options)))
            seed = int.from_bytes(hashlib.blake2b(f"{category}/{image.name}".encode(), digest_size=8).digest(), "big")
            random.Random(seed).shuffle(order)
            shuffled = [options[i] for i in order]
            letter = LETTERS[order.index(0)]
            items.append(
                _item(f"vstar-{category}-{image.stem}", image, ann["question"], shuffled, letter, category, ann)
            )
    if not items and limit != 0:
        raise BenchmarkFileError(f"{root}: no test_questions.jsonl and no images in {', '.join(CATEGORIES)}/")
    return items


def _item(iid, image: Path, question, options, letter, category, ann) -> EvalItem:
    return EvalItem(
        id=str(iid),
        benchmark=NAME,
        images=[str(image)],
        question=str(question).strip(),
        choices=options,
        answer=letter,
        answer_type="mc",
        category=str(category),
        gt_boxes=_boxes(ann, image),
        meta={"target_object": (ann or {}).get("target_object")},
    )

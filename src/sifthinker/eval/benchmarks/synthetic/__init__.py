"""Our synthetic world's test split (``sifthinker synth``): accuracy per question type, the last area's box against
the evidence boxes, and depth consistency against the exact depth map.

Layout (see :mod:`sifthinker.synth.dataset`): ``<dir>/test.jsonl`` with paths relative to ``<dir>``; each record
has ``id``, ``problem``, ``choices`` (multiple choice), ``response`` (a letter, yes/no or a number),
``answer_type``, ``question_type``, ``normalized_solution_round.bbox_3d`` (evidence boxes), ``image``,
``depth_image`` (colourised) and ``depth_path`` (lossless ``.npy``, 0 = nearest).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from ...scoring import ItemScore, base_results, group_accuracy
from ...types import EvalItem
from .._common import BenchmarkFileError, check_limit, iter_jsonl, letter_of, parse_letter

NAME = "synthetic"

__all__ = ["NAME", "load", "summarize"]


def load(path: str | os.PathLike, limit: int | None = None, *, split: str = "test") -> list[EvalItem]:
    """Items of ``<path>/<split>.jsonl`` (or of ``path`` itself when it is a ``.jsonl`` file), in file order."""
    check_limit(limit)
    path = Path(path)
    file = path if path.is_file() else path / f"{split}.jsonl"
    if not file.is_file():
        raise BenchmarkFileError(
            f"{file}: not found; expected a `sifthinker synth` output folder holding {split}.jsonl"
        )
    root = file.parent
    items: list[EvalItem] = []
    for line, rec in iter_jsonl(file):
        if limit is not None and len(items) >= limit:
            break
        where = f"{file}:{line}"
        try:
            choices = rec.get("choices") or None
            atype = rec["answer_type"]
            answer = str(rec["response"])
            if atype == "mc":
                answer = parse_letter(answer, len(choices)) or letter_of(answer, choices) or ""
                if not answer:
                    raise BenchmarkFileError(f"{where}: answer {rec['response']!r} names none of {choices!r}")
            boxes = rec.get("normalized_solution_round", {}).get("bbox_3d") or []
            items.append(
                EvalItem(
                    id=str(rec["id"]),
                    benchmark=NAME,
                    images=[str(root / rec["image"])],
                    question=rec["problem"],
                    choices=list(choices) if choices else None,
                    answer=answer,
                    answer_type=atype,
                    category=rec.get("question_type", "all"),
                    gt_boxes=[tuple(b) for b in boxes],
                    depth_path=str(root / rec["depth_path"]) if rec.get("depth_path") else None,
                    depth_image=str(root / rec["depth_image"]) if rec.get("depth_image") else None,
                    meta={"scene_id": rec.get("scene_id"), "image_size": rec.get("image_size")},
                )
            )
        except KeyError as e:
            raise BenchmarkFileError(f"{where}: missing field {e}") from None
    return items


def summarize(items: Sequence[EvalItem], scores: Sequence[ItemScore]) -> dict:
    """Accuracy (all loaded items; skipped = wrong) per question type, box IoU of the last area against the evidence
    boxes (``grounding``; H of docs/method.md when there are several) and depth consistency against the exact map
    (``trace.depth_consistency``, ``trace.depth_abs_error``)."""
    res = base_results(NAME, scores, grounding=True)
    res["per_answer_type"] = group_accuracy(scores, lambda s: s.answer_type)
    per_iou: dict[str, list[float]] = {}
    for s in scores:
        if s.has_boxes:
            per_iou.setdefault(s.category, []).append(s.iou if s.iou is not None else 0.0)
    for cat, vals in per_iou.items():
        res["per_category"][cat]["mean_iou"] = round(sum(vals) / len(vals), 6)
    res["metrics"]["mean_iou"] = res["grounding"]["mean_iou"]
    res["metrics"]["depth_consistency"] = res["trace"]["depth_consistency"]
    return res

"""SpatialBench (SpatialBot, Cai et al. 2024): positional, existence, counting, reach and size questions on RGB-D
images.

Published on the Hugging Face hub as ``RussRobin/SpatialBench`` (gated), used by SpatialBot's
``bunny/eval/eval_spatialbench.py``: one JSON list per task — ``positional.json``, ``existence.json``,
``counting.json``, ``reach.json``, ``size.json`` — of ``{"image": "<task>/<file>", "question", "answer"}`` (an
``id`` optional), image paths relative to the folder; ``<task>_d/<stem>.png`` holds SpatialBot's raw depth (kept in
``meta["raw_depth"]``; it is not our depth convention, so no depth-consistency statistic here). In existence,
reach and size, items come as positive/negative pairs: items 2k and 2k+1 of the file.

Metrics (official faults not copied: a missing ``<answer>`` is wrong, never the ground truth; answers are parsed,
not substring-matched):

* ``accuracy`` per task and overall: per question, over all loaded items (skipped = wrong).
* ``acc_plus`` for the paired tasks: the share of pairs with **both** items right (a pair with a skipped member is
  not right), over all pairs.
* ``counting_score = 100 − 100·mean_i e_i`` with ``e_i = min(1, |p_i − g_i| / max(g_i, 1))`` — the relative error
  of the stated count, clipped to [0, 1] so one wild count cannot push the score below 0, and ``e_i = 1`` for a
  missing, unparsable or skipped answer; ``max(g, 1)`` keeps a ground truth of 0 defined. Range [0, 100].
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

from ....answers import infer_answer_type, parse_number
from ...scoring import ItemScore, base_results, pct
from ...types import EvalItem, LoadedItems
from .._common import BenchmarkFileError, check_limit, read_json

NAME = "spatialbench"
TASKS = ("positional", "existence", "counting", "reach", "size")
PAIRED = ("existence", "reach", "size")

__all__ = ["NAME", "TASKS", "PAIRED", "load", "summarize", "counting_error"]

logger = logging.getLogger(__name__)


def load(path: str | os.PathLike, limit: int | None = None, *, tasks: Sequence[str] | str | None = None):
    """Items of the task files found in ``path`` (all five by default), tasks in the order of :data:`TASKS`.

    ``limit`` keeps whole pairs: it is rounded up to an even count within a paired task.
    """
    check_limit(limit)
    root = Path(path)
    if not root.is_dir():
        raise BenchmarkFileError(
            f"{root}: expected the SpatialBench folder holding {', '.join(t + '.json' for t in TASKS)}"
        )
    if isinstance(tasks, str):
        tasks = [t.strip() for t in tasks.split(",") if t.strip()]
    wanted = list(tasks) if tasks else [t for t in TASKS if (root / f"{t}.json").is_file()]
    bad = [t for t in wanted if t not in TASKS]
    if bad:
        raise ValueError(f"unknown SpatialBench task(s) {bad}; choose from {', '.join(TASKS)}")
    if not wanted:
        raise BenchmarkFileError(f"{root}: none of {', '.join(t + '.json' for t in TASKS)} found")
    missing = [t for t in TASKS if t not in wanted]
    if missing and not tasks:
        logger.warning("%s: task file(s) %s not found; scoring the others", root, ", ".join(missing))
    missing_files = [f"{t}.json" for t in missing] if not tasks else []
    items: list[EvalItem] = []
    for task in wanted:
        data = read_json(root / f"{task}.json")
        if not isinstance(data, list):
            raise BenchmarkFileError(f"{root / (task + '.json')}: expected a JSON list of questions")
        for j, rec in enumerate(data):
            if limit is not None and len(items) >= limit and not (task in PAIRED and j % 2 == 1):
                return LoadedItems(items, missing_files=missing_files)
            where = f"{root / (task + '.json')}[{j}]"
            try:
                rel = rec["image"][0] if isinstance(rec["image"], list) else rec["image"]
                answer = str(rec["answer"]).strip()
                question = str(rec["question"]).strip()
            except (KeyError, IndexError, TypeError) as e:
                raise BenchmarkFileError(f"{where}: expected image, question and answer ({e!r})") from None
            atype = "number" if task == "counting" else infer_answer_type(answer)
            raw_depth = root / f"{task}_d" / (Path(rel).stem + ".png")
            items.append(
                EvalItem(
                    id=f"spatialbench-{task}-{j}",
                    benchmark=NAME,
                    images=[str(root / rel)],
                    question=question,
                    answer=answer,
                    answer_type=atype,
                    category=task,
                    pair_id=f"{task}-{j // 2}" if task in PAIRED else None,
                    meta={"source_id": rec.get("id"), "raw_depth": str(raw_depth) if raw_depth.is_file() else None},
                )
            )
    return LoadedItems(items, missing_files=missing_files)


def counting_error(pred: float | None, gt: float) -> float:
    """The clipped relative error of one count: ``min(1, |pred − gt| / max(gt, 1))``; 1 when there is no count.

    >>> counting_error(4, 5), counting_error(12, 5), counting_error(None, 5), counting_error(1, 0)
    (0.2, 1.0, 1.0, 1.0)
    """
    if pred is None:
        return 1.0
    return min(1.0, abs(pred - gt) / max(gt, 1.0))


def summarize(items: Sequence[EvalItem], scores: Sequence[ItemScore]) -> dict:
    """Per-task accuracy, acc+ on the positive/negative pairs and the counting score (see the module docstring)."""
    res = base_results(NAME, scores)
    by_id = {it.id: it for it in items}
    pairs: dict[str, list] = {}
    for s in scores:
        if s.pair_id is not None:
            pairs.setdefault(s.pair_id, []).append(s)
    for task in PAIRED:
        ps = [v for k, v in pairs.items() if k.startswith(task + "-")]
        if not ps:
            continue
        both = sum(len(p) == 2 and all(s.correct for s in p) for p in ps)
        res["per_category"][task]["pairs"] = len(ps)
        res["per_category"][task]["acc_plus"] = pct(both, len(ps))
        res["metrics"][f"acc_plus_{task}"] = pct(both, len(ps))
    counts = [s for s in scores if s.category == "counting"]
    if counts:
        errs = [
            counting_error(
                s.number if s.status in ("correct", "wrong") else None, float(parse_number(by_id[s.id].answer))
            )
            for s in counts
        ]
        cscore = round(100.0 - 100.0 * sum(errs) / len(errs), 4)
        res["per_category"]["counting"]["counting_score"] = cscore
        res["per_category"]["counting"]["mean_relative_error"] = round(sum(errs) / len(errs), 6)
        res["metrics"]["counting_score"] = cscore
        res["denominators"]["counting_score"] = (
            "all loaded counting items: 100 − 100·mean(min(1, |pred − gt| / max(gt, 1))), a missing/unparsable/"
            "skipped answer has error 1"
        )
    if any(k.startswith("acc_plus_") for k in res["metrics"]):
        res["denominators"]["acc_plus"] = "all positive/negative pairs of the task; a pair is right only if both are"
    return res

"""The scoring rules every benchmark shares (judge-free, never inflating), and the common result blocks.

Rules (docs/method.md, and what we refuse to copy from the official scripts):

* The answer is ``read_lenient(completion).answer``: the content of the last complete ``<answer>…</answer>``. A
  completion without one is **wrong** (status ``missing``) — never replaced by the ground truth.
* Multiple choice is matched by letter or option text with :func:`sifthinker.answers.parse_choice`; an answer
  naming several options (``"A B C D"``, ``"A or B"``) or none is **wrong** (status ``invalid``). "Contains the
  right letter" is not a match. Yes/no, numbers and short text use :func:`sifthinker.answers.answer_match`, the same
  checker as the RL answer reward.
* Grounding: the prediction is the last ``<area>``. With one ground-truth box the score is the IoU of that area's
  box with it (several regions in the last area: their enclosing box, counted in ``multi_region_last_area``);
  with several ground-truth boxes it is the hierarchical IoU ``H(last area, G)`` of docs/method.md. No usable
  area scores 0.
* Every skipped item (image missing on disk, no prediction, a request that failed — with its error message) is
  counted with its reason. ``accuracy`` divides by
  **all loaded items** (a skipped item counts as wrong) and is the headline; ``accuracy_evaluated`` divides by the
  evaluated items only. ``results["denominators"]`` says which denominator each metric uses.
* Trace statistics for every benchmark: the format-valid rate (strict grammar of docs/method.md), mean usable areas
  per completion, and depth consistency (docs/method.md) with its mean absolute error where a lossless depth map is
  known for the item; and the focus block of :mod:`.focus` (first vs last area against the evidence, the correction
  gain, areas per trace, tokens per answer, seconds per item).

Accuracies and rates are percentages (0–100); IoUs are in [0, 1].

>>> from sifthinker.eval.types import EvalItem
>>> it = EvalItem(id="1", benchmark="demo", images=[], question="?", choices=["red", "blue"], answer="B",
...               answer_type="mc")
>>> [score_item(it, c).status for c in ("<answer>B</answer>", "<answer>A B</answer>", "no tags, B")]
['correct', 'invalid', 'missing']
"""

from __future__ import annotations

import logging
import math
import os
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass

from ..answers import answer_match, parse_choice, parse_number, parse_yes_no
from ..rewards.scores import completion_text, depth_parts
from ..trace import read_lenient
from .focus import FOCUS_DENOMINATORS, area_iou, focus_block
from .types import EvalItem

__all__ = [
    "ItemScore",
    "SKIP_REASONS",
    "DENOMINATORS",
    "extract_answer",
    "score_item",
    "score_items",
    "accuracy_block",
    "group_accuracy",
    "trace_block",
    "grounding_block",
    "skipped_block",
    "base_results",
    "ANSWER_PARSER",
    "pct",
    "wilson_interval",
]

logger = logging.getLogger(__name__)

SKIP_REASONS = ("image_missing", "no_prediction", "request_error")
ANSWER_PARSER = (
    "last complete <answer>…</answer> (sifthinker.trace.read_lenient); multiple choice: exactly one option by letter "
    "or text (sifthinker.answers.parse_choice); yes/no, numbers, text: sifthinker.answers.answer_match; grounding: "
    "the last <area> (enclosing box of several regions; hierarchical IoU for several ground-truth boxes)"
)

DENOMINATORS = {
    "accuracy": "all loaded items; skipped items count as wrong",
    "accuracy_evaluated": "evaluated items only (loaded minus skipped)",
    "format_valid_rate": "evaluated items",
    "mean_areas": "evaluated items",
    "depth_consistency": "evaluated items with a lossless depth map (trace.n_with_depth)",
    "mean_iou": "all loaded items with ground-truth boxes; skipped items and completions without an area score 0",
    "acc_at_0.5": "all loaded items with ground-truth boxes; skipped items count as misses",
}


def pct(num: float, den: float) -> float | None:
    """``100·num/den`` rounded to 4 decimals, or None for an empty denominator.

    >>> pct(1, 3), pct(0, 0)
    (33.3333, None)
    """
    return round(100.0 * num / den, 4) if den else None


def wilson_interval(k: int, n: int, z: float = 1.96) -> tuple[float, float] | None:
    """The Wilson score interval of a proportion ``k/n`` in percent (95 % for ``z`` = 1.96); None when n = 0.

    >>> wilson_interval(50, 100)
    (40.383, 59.617)
    >>> wilson_interval(0, 10)[0]
    0.0
    """
    if n <= 0:
        return None
    p = k / n
    den = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return round(100 * max(0.0, centre - half), 4), round(100 * min(1.0, centre + half), 4)


def _mean(vals: Sequence[float]) -> float | None:
    return round(sum(vals) / len(vals), 6) if vals else None


@dataclass
class ItemScore:
    """How one item scored. ``status``: ``correct`` | ``wrong`` | ``missing`` (no ``<answer>``) | ``invalid`` (an
    answer naming no option / several options / no number / no yes-no) | ``skipped``."""

    id: str
    category: str
    subcategory: str | None
    answer_type: str
    pair_id: str | None = None
    has_boxes: bool = False
    status: str = "skipped"
    skipped: str | None = None
    correct: bool = False
    pred: str | None = None
    number: float | None = None
    format_valid: bool | None = None
    n_areas: int | None = None
    multi_region_last_area: bool = False
    iou: float | None = None
    first_iou: float | None = None
    last_iou: float | None = None
    depth: float | None = None
    depth_abs_error: float | None = None
    tokens: int | None = None
    seconds: float | None = None
    error: str | None = None

    @property
    def evaluated(self) -> bool:
        return self.skipped is None

    def to_dict(self) -> dict:
        return asdict(self)


def extract_answer(completion) -> str | None:
    """The answer of a completion: the last complete ``<answer>…</answer>``, stripped; None if there is none.

    >>> extract_answer("<think>…</think><answer> (B) </answer>"), extract_answer("The answer is B.")
    ('(B)', None)
    """
    return read_lenient(completion_text(completion)).answer


def _judge(item: EvalItem, pred: str | None) -> tuple[str, bool, float | None]:
    """(status, correct, parsed number) of an answer against the item's ground truth."""
    if pred is None or not pred.strip():
        return "missing", False, None
    t = item.answer_type
    num = None
    if t == "mc":
        if parse_choice(pred, item.choices) is None:  # type: ignore[arg-type]
            return "invalid", False, None
    elif t == "yesno":
        if parse_yes_no(pred) is None:
            return "invalid", False, None
    elif t == "number":
        num = parse_number(pred)
        if num is None:
            return "invalid", False, None
    ok = answer_match(pred, item.answer, choices=item.choices, answer_type=t) >= 1.0
    return ("correct" if ok else "wrong"), ok, num


def _depth_map(path: str):
    from ..depth import cached_depth_map

    return cached_depth_map(path)


def score_item(item: EvalItem, completion) -> ItemScore:
    """Score one completion of one item (never raises on the completion text)."""
    text = completion_text(completion)
    lt = read_lenient(text)
    s = ItemScore(item.id, item.category, item.subcategory, item.answer_type, item.pair_id, bool(item.gt_boxes))
    s.pred = lt.answer
    s.format_valid = lt.valid
    s.n_areas = len(lt.areas)
    if item.gt_boxes:
        s.first_iou = area_iou(lt.areas[0], item.gt_boxes) if lt.areas else 0.0
        s.iou = s.last_iou = area_iou(lt.areas[-1], item.gt_boxes) if lt.areas else 0.0
        s.multi_region_last_area = bool(lt.areas) and len(lt.areas[-1]) > 1
    if item.answer_type == "box":
        s.correct = (s.iou or 0.0) >= 0.5
        s.status = "missing" if not lt.areas else ("correct" if s.correct else "wrong")
    else:
        s.status, s.correct, s.number = _judge(item, lt.answer)
    if not (item.depth_path and os.path.isfile(item.depth_path)):
        return s
    if not lt.regions:
        s.depth = 0.0  # a map is known but the completion states no region: nothing is consistent
        return s
    try:
        dm = _depth_map(item.depth_path)
    except (OSError, ValueError) as e:  # a bad data file is reported, not fatal
        logger.warning(
            "item %s: depth map %s unreadable (%s); depth consistency not computed", item.id, item.depth_path, e
        )
    else:
        parts = depth_parts(text, dm)
        s.depth = parts["reward"]
        err = parts["abs_error"]
        s.depth_abs_error = err if err == err else None
    return s


def score_items(
    items: Sequence[EvalItem],
    predictions: Mapping[str, str | None] | Sequence[str | None],
    skip_reasons: Mapping[str, str] | None = None,
    extras: Mapping[str, Mapping] | None = None,
) -> list[ItemScore]:
    """Score every item. ``predictions``: id → completion, or a list aligned with ``items``; an item without a
    prediction (absent or None) is skipped with the reason from ``skip_reasons`` (default ``no_prediction``).
    ``extras``: id → ``{"tokens", "seconds", "error"}`` from the predictions file, copied onto each score."""
    if not isinstance(predictions, Mapping):
        preds = list(predictions)
        if len(preds) != len(items):
            raise ValueError(f"{len(preds)} predictions for {len(items)} items; pass a dict keyed by item id instead")
        predictions = {it.id: p for it, p in zip(items, preds)}
    skip_reasons = skip_reasons or {}
    extras = extras or {}
    out = []
    for it in items:
        comp = predictions.get(it.id)
        if comp is None:
            reason = skip_reasons.get(it.id, "no_prediction")
            s = ItemScore(
                it.id, it.category, it.subcategory, it.answer_type, it.pair_id, bool(it.gt_boxes), skipped=reason
            )
        else:
            s = score_item(it, comp)
        extra = extras.get(it.id) or {}
        s.tokens, s.seconds, s.error = extra.get("tokens"), extra.get("seconds"), extra.get("error")
        out.append(s)
    return out


# ------------------------------------------------------------------------------------------------ result blocks


def accuracy_block(scores: Iterable[ItemScore]) -> dict:
    """Counts and accuracies of a group: ``accuracy`` over all its items (skipped = wrong), ``accuracy_evaluated``
    over its evaluated items."""
    scores = list(scores)
    n = len(scores)
    ev = [s for s in scores if s.evaluated]
    correct = sum(s.correct for s in ev)
    return {
        "n": n,
        "evaluated": len(ev),
        "skipped": n - len(ev),
        "correct": correct,
        "accuracy": pct(correct, n),
        "accuracy_evaluated": pct(correct, len(ev)),
    }


def group_accuracy(scores: Iterable[ItemScore], key: Callable[[ItemScore], str | None]) -> dict[str, dict]:
    """:func:`accuracy_block` per value of ``key`` (None values left out), keys sorted."""
    groups: dict[str, list[ItemScore]] = defaultdict(list)
    for s in scores:
        k = key(s)
        if k is not None:
            groups[str(k)].append(s)
    return {k: accuracy_block(groups[k]) for k in sorted(groups)}


def trace_block(scores: Iterable[ItemScore]) -> dict:
    """Trace statistics over evaluated items: format-valid rate, mean usable areas, depth consistency."""
    ev = [s for s in scores if s.evaluated]
    depth = [s.depth for s in ev if s.depth is not None]
    err = [s.depth_abs_error for s in ev if s.depth_abs_error is not None]
    return {
        "n_evaluated": len(ev),
        "format_valid_rate": pct(sum(bool(s.format_valid) for s in ev), len(ev)),
        "mean_areas": _mean([s.n_areas or 0 for s in ev]),
        "no_area_rate": pct(sum(not s.n_areas for s in ev), len(ev)),
        "n_with_depth": len(depth),
        "depth_consistency": pct(sum(depth), len(depth)),
        "depth_abs_error": _mean(err),
    }


def grounding_block(scores: Iterable[ItemScore]) -> dict:
    """Box metrics over all items with ground-truth boxes: mean IoU and Acc@0.5, skipped items and completions
    without a usable area scoring 0."""
    rows = [s for s in scores if s.has_boxes]
    vals = [s.iou if s.iou is not None else 0.0 for s in rows]
    return {
        "n": len(rows),
        "mean_iou": _mean(vals),
        "acc_at_0.5": pct(sum(v >= 0.5 for v in vals), len(vals)),
        "multi_region_last_area": sum(s.multi_region_last_area for s in rows),
    }


def skipped_block(scores: Iterable[ItemScore], max_ids: int = 50) -> dict:
    """How many items were skipped, by reason, with the first ``max_ids`` ids."""
    sk = [s for s in scores if not s.evaluated]
    return {
        "total": len(sk),
        "by_reason": dict(sorted(Counter(s.skipped for s in sk).items())),
        "ids": [s.id for s in sk[:max_ids]],
    }


def base_results(benchmark: str, scores: Sequence[ItemScore], *, grounding: bool | None = None) -> dict:
    """The blocks every benchmark reports; a benchmark adds its own metrics to ``metrics`` and ``per_category``.

    ``headline`` names the metric to show first (default ``accuracy``); ``grounding`` adds the box block (default:
    when any item has ground-truth boxes).
    """
    acc = accuracy_block(scores)
    status = Counter(s.status for s in scores)
    res: dict = {
        "benchmark": benchmark,
        "headline": "accuracy",
        "metrics": {"accuracy": acc["accuracy"], "accuracy_evaluated": acc["accuracy_evaluated"]},
        "denominators": {k: DENOMINATORS[k] for k in ("accuracy", "accuracy_evaluated")},
        "counts": {
            "loaded": acc["n"],
            "evaluated": acc["evaluated"],
            "skipped": acc["skipped"],
            "correct": acc["correct"],
            "wrong": status.get("wrong", 0),
            "missing_answer": status.get("missing", 0),
            "invalid_answer": status.get("invalid", 0),
        },
        "per_category": group_accuracy(scores, lambda s: s.category),
        "skipped": skipped_block(scores),
        "trace": trace_block(scores),
        "focus": focus_block(scores),
        "units": "accuracies and rates in percent (0-100); IoU in [0, 1]",
    }
    for k in ("format_valid_rate", "mean_areas", "depth_consistency"):
        res["denominators"][k] = DENOMINATORS[k]
    res["denominators"].update({f"focus.{k}": v for k, v in FOCUS_DENOMINATORS.items()})
    if any(s.subcategory is not None for s in scores):
        res["per_subcategory"] = group_accuracy(scores, lambda s: s.subcategory)
    if grounding is None:
        grounding = any(s.has_boxes for s in scores)
    if grounding:
        res["grounding"] = grounding_block(scores)
        res["denominators"]["mean_iou"] = DENOMINATORS["mean_iou"]
        res["denominators"]["acc_at_0.5"] = DENOMINATORS["acc_at_0.5"]
    return res

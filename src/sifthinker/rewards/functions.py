"""TRL-compatible reward functions over batches, and the registry that names them.

Each reward is a small callable class with a fixed ``__name__`` (TRL logs ``rewards/<name>``) and the TRL signature
``fn(completions, **dataset_columns) -> list[float | None]``. Completions may be strings or chat messages. The
columns each reward reads are listed on the class (first present name wins), e.g. the ground-truth answer from
``answer`` or ``response`` (the SIF-50K name). A missing column is a configuration error and raises; any completion
text scores in range. Named parts of each reward are kept in ``last_metrics`` and, when TRL passes a ``log_metric``
callable, logged through it.

>>> fns = get_reward_funcs(["format", "bboxaccuracy_w_progress"])
>>> [f.__name__ for f in fns]
['format', 'box']
>>> fns[1](['<think><area>[{"bbox_2d": [0, 0, 0.5, 0.5], "depth": 0.2}]</area><text>x</text></think>'
...         '<answer>1</answer>'], gt_boxes=[[[0, 0, 0.5, 0.5]]])
[1.0]
"""

from __future__ import annotations

import hashlib
import importlib
import logging
import math
import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..depth import DepthMap, cached_depth_map
from ..trace import read_lenient
from .progress import ProgressMemory, progress_key
from .scores import (
    DEFAULT_DEPTH_TOL,
    DEFAULT_GROUNDED_TOL,
    answer_score,
    box_parts,
    completion_text,
    depth_grounded_parts,
    depth_parts,
    progress_adjust,
    search_score,
)

logger = logging.getLogger(__name__)

__all__ = [
    "SIFReward",
    "FormatReward",
    "AnswerReward",
    "BoxReward",
    "DepthReward",
    "DepthGroundedReward",
    "SearchReward",
    "REWARDS",
    "ALIASES",
    "reward_names",
    "get_reward",
    "get_reward_funcs",
    "check_reward_weights",
]


def _column(kwargs: dict, names: Sequence[str], reward: str, n: int, required: bool = True):
    for name in names:
        if name in kwargs and kwargs[name] is not None:
            col = kwargs[name]
            if len(col) != n:
                raise ValueError(f"reward {reward!r}: column {name!r} has {len(col)} values for {n} completions")
            return col
    if required:
        have = sorted(k for k in kwargs if k not in ("trainer_state", "log_metric", "completion_ids", "prompts"))
        raise ValueError(f"reward {reward!r} needs one of the dataset columns {list(names)}; the batch has {have}")
    return [None] * n


class SIFReward:
    """Base class: subclasses implement ``score_batch`` and set ``name``."""

    name = "sif"

    def __init__(self) -> None:
        self.__name__ = self.name
        self.last_metrics: dict[str, float] = {}

    def __call__(self, completions, **kwargs) -> list[float | None]:
        texts = [completion_text(c) for c in completions]
        out, metrics = self.score_batch(texts, kwargs)
        self.last_metrics = metrics
        log_metric = kwargs.get("log_metric")
        if callable(log_metric):
            for k, v in metrics.items():
                if isinstance(v, (int, float)) and math.isfinite(v):
                    log_metric(f"{self.name}/{k}", float(v))
        return out

    def score_batch(self, texts: list[str], kwargs: dict) -> tuple[list[float | None], dict[str, float]]:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class FormatReward(SIFReward):
    """1 iff the completion obeys the trace grammar (docs/method.md). Logs ``valid_rate`` and ``mean_areas``."""

    name = "format"

    def score_batch(self, texts, kwargs):
        reads = [read_lenient(t) for t in texts]
        out = [1.0 if r.valid else 0.0 for r in reads]
        n = max(1, len(out))
        return out, {"valid_rate": sum(out) / n, "mean_areas": sum(len(r.areas) for r in reads) / n}


class AnswerReward(SIFReward):
    """Answer score s ∈ [0, 1], with the progress term (docs/method.md) when ``progress=True``.

    Reads ``answer``/``response``/``solution`` and, when present, ``choices`` and ``answer_type``. With progress it
    keys the memory on (``problem``/``question``, ``image``/``image_path``/``id``) and, after scoring a batch,
    overwrites each key's memory with the mean raw score of that key's completions in the batch (its group).
    In multi-process training every process must see whole groups for that mean to be the group mean.

    ``judge(prediction, answer) -> float`` replaces the rule-based checker; a judge failure gives ``None`` for that
    completion (TRL skips it), is logged as a warning and counted in ``judge_errors`` — never a silent 0.
    """

    answer_columns = ("answer", "response", "solution")
    question_columns = ("problem", "question")
    image_columns = ("image_path", "image", "id")

    def __init__(
        self,
        *,
        progress: bool = True,
        memory: ProgressMemory | None = None,
        judge: Callable[[str, str], float] | None = None,
        abs_tol: float = 0.0,
        rel_tol: float = 0.0,
    ) -> None:
        self.name = "answer" if progress else "answer_plain"
        super().__init__()
        if abs_tol < 0 or rel_tol < 0:
            raise ValueError(f"answer reward: tolerances must be >= 0, got abs_tol={abs_tol}, rel_tol={rel_tol}")
        self.progress = progress
        self.memory = memory if memory is not None else ProgressMemory()
        self.judge = judge
        self.abs_tol, self.rel_tol = abs_tol, rel_tol

    def _keys(self, kwargs: dict, n: int) -> list[str]:
        """The progress-memory key of each of the ``n`` items: (question or prompt, image)."""
        questions = _column(kwargs, self.question_columns, self.name, n, required=False)
        images = _column(kwargs, self.image_columns, self.name, n, required=False)
        prompts = kwargs.get("prompts")
        keys = []
        for i, (q, img) in enumerate(zip(questions, images)):
            if q is None:
                q = completion_text(prompts[i]) if prompts is not None else ""
                if not q and prompts is not None:
                    q = repr(prompts[i])
            if img is not None and not isinstance(img, (str, int)):
                img = _image_digest(img)
            keys.append(progress_key(str(q), str(img)))
        return keys

    def score_batch(self, texts, kwargs):
        n = len(texts)
        answers = _column(kwargs, self.answer_columns, self.name, n)
        choices = _column(kwargs, ("choices",), self.name, n, required=False)
        types = _column(kwargs, ("answer_type",), self.name, n, required=False)
        raw: list[float | None] = []
        errors = 0
        for i, t in enumerate(texts):
            try:
                raw.append(
                    answer_score(
                        t,
                        answers[i],
                        choices=choices[i] or None,
                        answer_type=types[i] or None,
                        abs_tol=self.abs_tol,
                        rel_tol=self.rel_tol,
                        judge=self.judge,
                    )
                )
            except Exception as e:
                if self.judge is None:
                    raise  # a rule-based failure can only be a bad ground truth or configuration
                errors += 1
                logger.warning("answer judge failed on completion %d: %s: %s", i, type(e).__name__, e)
                raw.append(None)
        out = list(raw)
        if self.progress:
            keys = self._keys(kwargs, n)
            groups: dict[str, list[float]] = {}
            for i, (k, s) in enumerate(zip(keys, raw)):
                if s is None:
                    continue
                out[i] = progress_adjust(s, self.memory.get(k))
                groups.setdefault(k, []).append(s)
            for k, vals in groups.items():
                self.memory.update(k, sum(vals) / len(vals))
        scored = [s for s in raw if s is not None]
        metrics = {"raw_mean": sum(scored) / len(scored) if scored else float("nan")}
        if self.judge is not None:
            metrics["judge_errors"] = float(errors)
        return out, metrics


def _image_digest(img: Any) -> str:
    try:
        data = img.tobytes()  # PIL image
        size = getattr(img, "size", "")
    except AttributeError:
        data, size = repr(img).encode(), ""
    return f"{size}:{hashlib.sha1(data).hexdigest()}"


class BoxReward(SIFReward):
    """Hierarchical-IoU box reward (docs/method.md); ``bonus=False`` gives the official ``H(end, G)`` variant.

    Reads ``gt_boxes`` (a list of boxes per item) or ``normalized_solution_round`` (SIF-50K) or ``bbox``. Logs the
    parts ``h_end``, ``h_start`` and ``bonus``.
    """

    box_columns = ("gt_boxes", "normalized_solution_round", "bbox")

    def __init__(self, *, bonus: bool = True) -> None:
        self.name = "box" if bonus else "box_plain"
        super().__init__()
        self.bonus = bonus

    def score_batch(self, texts, kwargs):
        n = len(texts)
        gts = _column(kwargs, self.box_columns, self.name, n)
        parts = [box_parts(t, g) for t, g in zip(texts, gts)]
        key = "reward" if self.bonus else "h_end"
        out = [p[key] for p in parts]
        m = max(1, n)
        return out, {k: sum(p[k] for p in parts) / m for k in ("h_end", "h_start", "bonus")}


class DepthReward(SIFReward):
    """Depth-consistency reward (docs/method.md) with relative tolerance ``tol`` (0.1 as published).

    Reads ``depth_path`` (a lossless ``.npy``/16-bit ``.png`` map, loaded once and cached with its integral image)
    or ``depth`` (a path, an array or a :class:`~sifthinker.depth.DepthMap`). Logs ``abs_error`` (mean |d − D̄(b)|)
    and ``mean_stated`` so that a policy gaming the self-referential check stays visible.
    """

    depth_columns = ("depth_path", "depth")

    def __init__(self, *, tol: float = DEFAULT_DEPTH_TOL) -> None:
        self.name = "depth"
        super().__init__()
        if not (isinstance(tol, (int, float)) and math.isfinite(tol) and tol >= 0):
            raise ValueError(f"depth reward: tol must be a finite number >= 0, got {tol!r}")
        self.tol = float(tol)

    def score_batch(self, texts, kwargs):
        n = len(texts)
        depths = _column(kwargs, self.depth_columns, self.name, n)
        out, errs, stated = [], [], []
        for t, d in zip(texts, depths):
            p = depth_parts(t, _depth_map(d), tol=self.tol)
            out.append(p["reward"])
            if p["n_regions"]:
                errs.append(p["abs_error"])
                stated.append(p["mean_stated"])
        errs = [e for e in errs if math.isfinite(e)]
        return out, {
            "abs_error": sum(errs) / len(errs) if errs else float("nan"),
            "mean_stated": sum(stated) / len(stated) if stated else float("nan"),
        }


class DepthGroundedReward(SIFReward):
    """Grounded depth reward (ours, :func:`~sifthinker.rewards.scores.depth_grounded_score`): the last area's
    stated depths against the true depth of the evidence they cover, matched to the GT boxes.

    Reads the depth column of :class:`DepthReward` and the box column of :class:`BoxReward`. Logs its parts and,
    for comparison with the official reward, ``abs_error`` and ``mean_stated`` over every region of the
    completion measured against its own box (as :class:`DepthReward` logs them).
    """

    depth_columns = DepthReward.depth_columns
    box_columns = BoxReward.box_columns

    def __init__(self, *, tol: float = DEFAULT_GROUNDED_TOL) -> None:
        self.name = "depth_grounded"
        super().__init__()
        if not (isinstance(tol, (int, float)) and math.isfinite(tol) and tol > 0):
            raise ValueError(f"grounded depth reward: tol must be a finite number > 0, got {tol!r}")
        self.tol = float(tol)

    def score_batch(self, texts, kwargs):
        n = len(texts)
        depths = _column(kwargs, self.depth_columns, self.name, n)
        gts = _column(kwargs, self.box_columns, self.name, n)
        out, ev_err, errs, stated = [], [], [], []
        for t, d, g in zip(texts, depths, gts):
            dm = _depth_map(d)
            p = depth_grounded_parts(t, dm, g, tol=self.tol)
            out.append(p["reward"])
            if math.isfinite(p["evidence_error"]):
                ev_err.append(p["evidence_error"])
            q = depth_parts(t, dm)
            if q["n_regions"] and math.isfinite(q["abs_error"]):
                errs.append(q["abs_error"])
                stated.append(q["mean_stated"])
        return out, {
            "evidence_error": _mean_or_nan(ev_err),
            "abs_error": _mean_or_nan(errs),
            "mean_stated": _mean_or_nan(stated),
        }


def _mean_or_nan(values: list[float]) -> float:
    return sum(values) / len(values) if values else float("nan")


def _depth_map(d) -> DepthMap:
    if isinstance(d, DepthMap):
        return d
    if isinstance(d, (str, os.PathLike)):
        try:
            return cached_depth_map(d)
        except FileNotFoundError:
            raise ValueError(f"depth reward: depth map {os.fspath(d)!r} does not exist") from None
    return DepthMap(np.asarray(d))


class SearchReward(SIFReward):
    """The official "search" variant: 1 if per-area H rises (non-decreasing, not constant)."""

    name = "search"
    box_columns = BoxReward.box_columns

    def score_batch(self, texts, kwargs):
        gts = _column(kwargs, self.box_columns, self.name, len(texts))
        out = [search_score(t, g) for t, g in zip(texts, gts)]
        return out, {}


# ---------------------------------------------------------------------------------------------------- registry

REWARDS: dict[str, Callable[..., SIFReward]] = {
    "format": FormatReward,
    "answer": lambda **kw: AnswerReward(progress=True, **kw),
    "answer_plain": lambda **kw: AnswerReward(progress=False, **kw),
    "box": lambda **kw: BoxReward(bonus=True, **kw),
    "box_plain": lambda **kw: BoxReward(bonus=False, **kw),
    "depth": DepthReward,
    "depth_grounded": DepthGroundedReward,
    "search": SearchReward,
}

# The authors' names (VLM-R1 fork) for the same functions.
ALIASES: dict[str, str] = {
    "accuracy": "answer_plain",
    "accuracy_w_progress": "answer",
    "bboxaccuracy": "box_plain",
    "bboxaccuracy_w_progress": "box",
    "depth_consistency": "depth",
}


def reward_names() -> list[str]:
    """All names :func:`get_reward` accepts (ours, then the authors' aliases)."""
    return list(REWARDS) + list(ALIASES)


def get_reward(name: str, **options) -> Callable:
    """Build one reward function by name (ours or the authors'), or import it from a dotted path ``pkg.mod.fn``.

    Raises ``ValueError`` listing the known names for an unknown one.
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"reward name must be a non-empty string, got {name!r}")
    key = ALIASES.get(name, name)
    if key in REWARDS:
        try:
            return REWARDS[key](**options)
        except TypeError as e:
            raise ValueError(f"reward {name!r}: bad options {sorted(options)}: {e}") from None
    if "." in name:
        mod, _, attr = name.rpartition(".")
        try:
            obj = getattr(importlib.import_module(mod), attr)
        except (ImportError, AttributeError) as e:
            raise ValueError(f"reward {name!r}: cannot import it ({e})") from None
        if options:
            return obj(**options)
        if not callable(obj):
            raise ValueError(f"reward {name!r} is not callable")
        return obj
    raise ValueError(f"unknown reward {name!r}; known: {', '.join(reward_names())} (or a dotted import path)")


def get_reward_funcs(names: Sequence[str], options: dict[str, dict] | None = None) -> list[Callable]:
    """Build the reward functions named in a recipe; ``options`` maps a name to its keyword options.

    >>> [f.__name__ for f in get_reward_funcs(["format", "accuracy_w_progress", "depth_consistency"])]
    ['format', 'answer', 'depth']
    """
    if isinstance(names, str) or not names:
        raise ValueError(f"reward names: expected a non-empty list, got {names!r}")
    options = options or {}
    unknown_opts = set(options) - set(names)
    if unknown_opts:
        raise ValueError(f"reward options given for rewards not in the list: {sorted(unknown_opts)}")
    return [get_reward(n, **options.get(n, {})) for n in names]


def check_reward_weights(names: Sequence[str], weights: Sequence[float] | None) -> list[float]:
    """Validate weights for the named rewards (one finite number each); None means weight 1 each (official).

    >>> check_reward_weights(["format", "box"], None)
    [1.0, 1.0]
    """
    if weights is None:
        return [1.0] * len(names)
    if len(weights) != len(names):
        raise ValueError(f"{len(weights)} reward weights for {len(names)} rewards {list(names)}; give one per reward")
    out = []
    for n, w in zip(names, weights):
        if isinstance(w, bool) or not isinstance(w, (int, float)) or not math.isfinite(w):
            raise ValueError(f"reward weight for {n!r} must be a finite number, got {w!r}")
        out.append(float(w))
    return out

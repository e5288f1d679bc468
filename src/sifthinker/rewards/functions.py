"""TRL-compatible reward functions over batches (named in :mod:`sifthinker.rewards.registry`).

Each reward is a small callable class with a fixed ``__name__`` (TRL logs ``rewards/<name>``) and the TRL signature
``fn(completions, **dataset_columns) -> list[float | None]``. Completions may be strings or chat messages. Each
input comes from exactly one named column of :class:`sifthinker.rows.RewardColumns` (``answer``, ``choices``,
``answer_type``, ``progress_key``, ``gt_boxes``, ``depth_path``), listed on the class as ``columns``; a missing
column is a configuration error and raises (at construction when the dataset's columns are given to
:func:`~sifthinker.rewards.registry.get_reward_funcs`), while any completion text scores in range and never raises.
Named parts of each reward are kept in ``last_metrics`` and, when TRL passes a ``log_metric`` callable, logged
through it.

>>> BoxReward()(['<think><area>[{"bbox_2d": [0, 0, 0.5, 0.5], "depth": 0.2}]</area><text>x</text></think>'
...              '<answer>1</answer>'], gt_boxes=[[[0, 0, 0.5, 0.5]]])
[1.0]
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable, Sequence

import numpy as np

from ..depth import DepthMap, cached_depth_map
from ..trace import read_lenient
from .progress import ProgressMemory
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
]


def _column(kwargs: dict, name: str, reward: str, n: int, required: bool = True) -> list:
    """The batch's column ``name`` (one value per completion); a missing required column is a configuration error."""
    col = kwargs.get(name)
    if col is None:
        if required:
            have = sorted(k for k in kwargs if k not in ("trainer_state", "log_metric", "completion_ids", "prompts"))
            raise ValueError(
                f"reward {reward!r} needs the dataset column {name!r} (sifthinker.rows.RewardColumns, built by "
                f"sifthinker.rows.record_row); the batch has {have}"
            )
        return [None] * n
    if len(col) != n:
        raise ValueError(f"reward {reward!r}: column {name!r} has {len(col)} values for {n} completions")
    return col


class SIFReward:
    """Base class: subclasses implement ``score_batch``, set ``name`` and list the dataset columns they read —
    ``columns`` (required) and ``optional_columns`` — each input in exactly one column of
    :class:`sifthinker.rows.RewardColumns`."""

    name = "sif"
    columns: tuple[str, ...] = ()
    optional_columns: tuple[str, ...] = ()

    def __init__(self) -> None:
        self.__name__ = self.name
        self.last_metrics: dict[str, float] = {}

    def check_columns(self, available: Sequence[str]) -> None:
        """Raise ``ValueError`` naming the required columns that ``available`` (a dataset's) lacks."""
        missing = [c for c in self.columns if c not in available]
        if missing:
            raise ValueError(
                f"reward {self.name!r} reads the dataset column(s) {missing}, which the training rows lack (they have "
                f"{sorted(available)}); build the rows with sifthinker.rows.record_row or drop the reward"
            )

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

    Reads ``answer`` (the ground truth) and, when present, ``choices`` and ``answer_type``. With progress it keys
    the memory on ``progress_key`` (one per (question, image), :func:`~sifthinker.rewards.progress_key`) and, after
    scoring a batch, overwrites each key's memory with the mean raw score of that key's completions in the batch (its
    group).
    In multi-process training every process must see whole groups for that mean to be the group mean.

    ``judge(prediction, answer) -> float`` replaces the rule-based checker; a judge failure gives ``None`` for that
    completion (TRL skips it), is logged as a warning and counted in ``judge_errors`` — never a silent 0.
    """

    optional_columns = ("choices", "answer_type")

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
        self.columns = ("answer", "progress_key") if progress else ("answer",)
        self.memory = memory if memory is not None else ProgressMemory()
        self.judge = judge
        self.abs_tol, self.rel_tol = abs_tol, rel_tol

    def score_batch(self, texts, kwargs):
        n = len(texts)
        answers = _column(kwargs, "answer", self.name, n)
        choices = _column(kwargs, "choices", self.name, n, required=False)
        types = _column(kwargs, "answer_type", self.name, n, required=False)
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
            keys = [str(k) for k in _column(kwargs, "progress_key", self.name, n)]
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


class BoxReward(SIFReward):
    """Hierarchical-IoU box reward (docs/method.md); ``bonus=False`` gives the official ``H(end, G)`` variant.

    Reads ``gt_boxes`` (a list of normalised boxes per item). Logs the parts ``h_end``, ``h_start`` and ``bonus``.
    """

    columns = ("gt_boxes",)

    def __init__(self, *, bonus: bool = True) -> None:
        self.name = "box" if bonus else "box_plain"
        super().__init__()
        self.bonus = bonus

    def score_batch(self, texts, kwargs):
        n = len(texts)
        gts = _column(kwargs, "gt_boxes", self.name, n)
        parts = [box_parts(t, g) for t, g in zip(texts, gts)]
        key = "reward" if self.bonus else "h_end"
        out = [p[key] for p in parts]
        m = max(1, n)
        return out, {k: sum(p[k] for p in parts) / m for k in ("h_end", "h_start", "bonus")}


class DepthReward(SIFReward):
    """Depth-consistency reward (docs/method.md) with relative tolerance ``tol`` (0.1 as published).

    Reads ``depth_path`` (a lossless ``.npy``/16-bit ``.png`` map, loaded once and cached with its integral image;
    an array or a :class:`~sifthinker.depth.DepthMap` in its place is used as is). Logs ``abs_error`` (mean |d − D̄(b)|)
    and ``mean_stated`` so that a policy gaming the self-referential check stays visible.
    """

    columns = ("depth_path",)

    def __init__(self, *, tol: float = DEFAULT_DEPTH_TOL) -> None:
        self.name = "depth"
        super().__init__()
        if not (isinstance(tol, (int, float)) and math.isfinite(tol) and tol >= 0):
            raise ValueError(f"depth reward: tol must be a finite number >= 0, got {tol!r}")
        self.tol = float(tol)

    def score_batch(self, texts, kwargs):
        n = len(texts)
        depths = _column(kwargs, "depth_path", self.name, n)
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

    Reads ``depth_path`` (as :class:`DepthReward`) and ``gt_boxes`` (as :class:`BoxReward`). Logs its parts and,
    for comparison with the official reward, ``abs_error`` and ``mean_stated`` over every region of the
    completion measured against its own box (as :class:`DepthReward` logs them).
    """

    columns = ("depth_path", "gt_boxes")

    def __init__(self, *, tol: float = DEFAULT_GROUNDED_TOL) -> None:
        self.name = "depth_grounded"
        super().__init__()
        if not (isinstance(tol, (int, float)) and math.isfinite(tol) and tol > 0):
            raise ValueError(f"grounded depth reward: tol must be a finite number > 0, got {tol!r}")
        self.tol = float(tol)

    def score_batch(self, texts, kwargs):
        n = len(texts)
        depths = _column(kwargs, "depth_path", self.name, n)
        gts = _column(kwargs, "gt_boxes", self.name, n)
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
    columns = ("gt_boxes",)

    def score_batch(self, texts, kwargs):
        gts = _column(kwargs, "gt_boxes", self.name, len(texts))
        out = [search_score(t, g) for t, g in zip(texts, gts)]
        return out, {}

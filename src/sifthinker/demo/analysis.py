"""What the demo's evaluations measured, per model: accuracy with 95 % intervals per question type and for the
spatial types together, the last area's IoU with the evidence, first-to-last focus, and the stated depths against
the true depths (and against always stating the mean depth).

Everything is recomputed from each run's ``predictions.jsonl`` and the test split, with the harness's scorer.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..boxes import FULL_IMAGE, clip, iou
from ..depth import cached_depth_map
from ..eval.benchmarks.synthetic import load
from ..eval.runner import PREDICTIONS, read_predictions
from ..eval.scoring import pct, score_items, wilson_interval
from ..trace import read_lenient
from .config import SPATIAL_TYPES

__all__ = ["analyse", "accuracy_row", "depth_errors"]


def accuracy_row(scores) -> dict[str, Any]:
    """``n``, ``correct``, ``accuracy`` (percent; skipped = wrong) and its 95 % Wilson interval ``ci``."""
    scores = list(scores)
    k = sum(s.correct for s in scores)
    return {"n": len(scores), "correct": k, "accuracy": pct(k, len(scores)), "ci": wilson_interval(k, len(scores))}


def depth_errors(items, predictions: dict[str, str]) -> dict[str, Any]:
    """Stated depth against the true box-mean depth of each stated box, over every region of every completion;
    ``mean_baseline``: the error of stating, for the same boxes, the mean of their true depths."""
    stated, truth = [], []
    for it in items:
        text = predictions.get(it.id)
        if not text or not it.depth_path:
            continue
        regions = read_lenient(text).regions
        if not regions:
            continue
        dm = cached_depth_map(it.depth_path)
        means = dm.box_means([clip(r.box) for r in regions])
        for r, m in zip(regions, means.tolist()):
            if m == m:
                stated.append(r.depth)
                truth.append(m)
    if not stated:
        return {"regions": 0, "abs_error": None, "mean_baseline": None, "mean_stated": None, "mean_true": None}
    s, t = np.array(stated), np.array(truth)
    return {
        "regions": len(stated),
        "abs_error": round(float(np.abs(s - t).mean()), 4),
        "mean_baseline": round(float(np.abs(t - t.mean()).mean()), 4),
        "mean_stated": round(float(s.mean()), 4),
        "mean_true": round(float(t.mean()), 4),
    }


def _focus(items, predictions: dict[str, str]) -> dict[str, Any]:
    """First (non-full-image) and last area's IoU with the evidence box, for single-evidence items."""
    first, last = [], []
    for it in items:
        text = predictions.get(it.id)
        if not text or len(it.gt_boxes) != 1:
            continue
        areas = [a for a in read_lenient(text).areas if a]
        inner = [a for a in areas if not (len(a) == 1 and tuple(a[0].box) == FULL_IMAGE)]
        g = it.gt_boxes[0]
        first.append(max((iou(clip(r.box), g) for r in inner[0]), default=0.0) if inner else 0.0)
        last.append(max((iou(clip(r.box), g) for r in areas[-1]), default=0.0) if areas else 0.0)
    if not first:
        return {"n": 0, "first_iou": None, "last_iou": None}
    return {"n": len(first), "first_iou": round(float(np.mean(first)), 4), "last_iou": round(float(np.mean(last)), 4)}


def analyse(synth_dir: str | Path, runs: dict[str, Path]) -> dict[str, Any]:
    """The per-model tables of the report, from each run folder's predictions."""
    items = load(synth_dir)
    types = sorted({it.category for it in items})
    models: dict[str, Any] = {}
    for name, run_dir in runs.items():
        preds = read_predictions(Path(run_dir) / PREDICTIONS)
        scores = score_items(items, preds)
        ious = [s.iou if s.iou is not None else 0.0 for s in scores if s.has_boxes]
        ev = [s for s in scores if s.evaluated]
        models[name] = {
            "overall": accuracy_row(scores),
            "spatial": accuracy_row(s for s in scores if s.category in SPATIAL_TYPES),
            "per_type": {t: accuracy_row(s for s in scores if s.category == t) for t in types},
            "mean_iou": round(float(np.mean(ious)), 4) if ious else None,
            "format_valid_rate": pct(sum(bool(s.format_valid) for s in ev), len(ev)),
            "mean_areas": round(float(np.mean([s.n_areas or 0 for s in ev])), 3) if ev else None,
            "depth": depth_errors(items, preds),
            "focus": _focus(items, preds),
            "skipped": len(scores) - len(ev),
        }
    return {"n_test": len(items), "types": types, "spatial_types": list(SPATIAL_TYPES), "models": models}

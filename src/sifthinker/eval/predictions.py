"""``predictions.jsonl``: the append-only record of what the model said, one line per item and attempt.

A line is ``{"id", "completion"}`` plus, when the predictor knows them, ``"tokens"`` (completion tokens) and
``"seconds"``; an attempt that failed (a request error) is ``{"id", "completion": null, "error": message}``. Lines
are written and fsync-ed after every batch; a rerun cuts a partial last line first (:func:`sifthinker.io.
repair_jsonl_tail`), then predicts every item without a completion — failed items are retried.

Reading never modifies the file: a partial last line is ignored (``partial``), an unreadable line elsewhere is
skipped (``bad_lines``), a repeated completion keeps its first line (``duplicates``), and an error counts only when
the item has no completion (``errors``).
"""

from __future__ import annotations

import io
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

from ..io import JsonInputError, iter_jsonl_lines
from .types import Prediction

__all__ = ["PredictionRecords", "read_prediction_records", "read_predictions", "prediction_line"]

logger = logging.getLogger(__name__)


@dataclass
class PredictionRecords:
    """The predictions of a file: ``completions`` (id → text), ``extras`` (id → tokens/seconds/error) and the
    reading statistics."""

    completions: dict[str, str] = field(default_factory=dict)
    extras: dict[str, dict] = field(default_factory=dict)
    stats: dict[str, int] = field(default_factory=dict)

    @property
    def errors(self) -> dict[str, str]:
        """id → error message of items whose every attempt failed."""
        return {k: v["error"] for k, v in self.extras.items() if v.get("error") and k not in self.completions}


def _check(rec) -> str | None:
    """Why a decoded line is not a prediction record, or None."""
    if not isinstance(rec, dict):
        return f"expected a JSON object, got {type(rec).__name__}"
    if not isinstance(rec.get("id"), str):
        return "id must be a string"
    comp, err = rec.get("completion", ...), rec.get("error")
    if comp is ...:
        return "no completion field"
    if comp is None and not (isinstance(err, str) and err):
        return "a null completion needs an error message"
    if comp is not None and not isinstance(comp, str):
        return "completion must be a string or null"
    return None


def read_prediction_records(path: str | os.PathLike) -> PredictionRecords:
    """Every prediction of ``path`` (see the module docstring); an absent file reads as empty."""
    path = Path(path)
    out = PredictionRecords(stats={"lines": 0, "bad_lines": 0, "duplicates": 0, "partial": 0, "errors": 0})
    st = out.stats
    if not path.is_file():
        return out
    data = path.read_bytes()
    partial_index = data.count(b"\n") if data and not data.endswith(b"\n") else None
    for i, rec in iter_jsonl_lines(io.BytesIO(data)):
        if i == partial_index:  # no newline at the end: the last line is an interrupted write
            st["partial"] = 1
            continue
        st["lines"] += 1
        why = str(rec) if isinstance(rec, JsonInputError) else _check(rec)
        if why is not None:
            st["bad_lines"] += 1
            logger.warning("%s:%d: unreadable prediction line skipped (%s)", path, i + 1, why)
            continue
        rid, comp = rec["id"], rec["completion"]
        if comp is None:
            if rid not in out.completions:
                out.extras.setdefault(rid, {})["error"] = rec["error"]
            continue
        if rid in out.completions:
            st["duplicates"] += 1
            continue
        out.completions[rid] = comp
        out.extras[rid] = {k: rec[k] for k in ("tokens", "seconds") if rec.get(k) is not None}
    st["errors"] = len(out.errors)
    if st["duplicates"]:
        logger.warning("%s: %d repeated ids; the first prediction of each is used", path, st["duplicates"])
    return out


def read_predictions(path: str | os.PathLike, stats: dict | None = None) -> dict[str, str]:
    """id → completion from a predictions file (errors left out); ``stats`` receives the reading statistics."""
    recs = read_prediction_records(path)
    if stats is not None:
        stats.update(recs.stats)
    return recs.completions


def prediction_line(item_id: str, pred: str | Prediction, seconds: float | None = None) -> str:
    """One JSONL line for a predictor's output (a string or a :class:`Prediction`); ``seconds`` is used when the
    prediction carries none."""
    if isinstance(pred, str):
        pred = Prediction(pred)
    if not isinstance(pred, Prediction):
        raise TypeError(f"predictor returned {type(pred).__name__} for item {item_id!r}; expected str or Prediction")
    rec: dict = {"id": item_id, "completion": pred.completion}
    if pred.error:
        rec["error"] = str(pred.error)
    if pred.tokens is not None:
        rec["tokens"] = int(pred.tokens)
    secs = pred.seconds if pred.seconds is not None else seconds
    if secs is not None:
        rec["seconds"] = round(float(secs), 4)
    return json.dumps(rec, ensure_ascii=False) + "\n"

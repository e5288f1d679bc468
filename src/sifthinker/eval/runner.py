"""Running a benchmark in small steps: load the items, predict the missing ones into ``predictions.jsonl``
(resumable), score them, and write ``results.json`` (with the protocol card), ``results.md``, ``scores.jsonl`` and PNG
charts into the run folder.

``predictions.jsonl`` is append-only (:mod:`.predictions`), written and fsync-ed after every batch. A rerun first
cuts a partial last line (a write interrupted by a kill), then predicts every item without a completion, so a
``kill -9`` at any moment followed by a rerun loses nothing and duplicates nothing; items whose request failed are
retried. The protocol card of the predicting run is kept in ``protocol.json``; a rerun with another prompt,
decoding, pixel budget or model into the same folder is refused.

Items whose image is missing on disk are not sent to the model; at scoring time they, items without a prediction
and items whose request failed are *skipped* — counted by reason, and wrong in the headline accuracy (see
:mod:`.scoring`). Items a reader left out (SAT's multi-image rows, …) are counted in ``results["left_out"]``. A run
that evaluates nothing raises :class:`NothingEvaluated` after writing its results.
"""

from __future__ import annotations

import json
import logging
import os
import random
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..io import atomic_write_text, repair_jsonl_tail
from .benchmarks import BenchmarkModule, get_benchmark
from .browse import SCORES_JSONL, write_browse_page
from .predictions import PredictionRecords, prediction_line, read_prediction_records, read_predictions
from .protocol import protocol_card, protocol_differences
from .report import compare, results_markdown, write_charts
from .scoring import ItemScore, score_items
from .types import EvalItem, Prediction, Predictor

__all__ = [
    "run_eval", "compare", "read_predictions", "load_items", "NothingEvaluated", "MODES", "PREDICTIONS",
    "RESULTS_JSON", "SCORES_JSONL",
]  # fmt: skip

logger = logging.getLogger(__name__)

MODES = ("all", "infer", "score")
PREDICTIONS = "predictions.jsonl"
RESULTS_JSON = "results.json"
RESULTS_MD = "results.md"
RUN_JSON = "run.json"
PROTOCOL_JSON = "protocol.json"


class NothingEvaluated(RuntimeError):
    """A run in which not one item was evaluated (or predicted); the message says why."""


def load_items(bench: str, data_path, *, limit: int | None = None, bench_kwargs: Mapping | None = None):
    """The benchmark module and its items (ids checked unique)."""
    mod: BenchmarkModule = get_benchmark(bench)
    # absolute paths: items stay valid whatever the working directory of the predictor or a later scoring run
    items: list[EvalItem] = mod.load(Path(data_path).resolve(), limit=limit, **dict(bench_kwargs or {}))
    seen: set[str] = set()
    for it in items:
        if it.id in seen:
            raise ValueError(f"{mod.NAME}: item id {it.id!r} appears twice in {data_path}; ids must be unique")
        seen.add(it.id)
    return mod, items


def _check_run_meta(out: Path, meta: dict) -> None:
    """Refuse to mix two benchmarks (or datasets) in one output folder."""
    p = out / RUN_JSON
    if p.is_file():
        with open(p, encoding="utf-8") as f:
            old = json.load(f)
        for k in ("benchmark", "data"):
            if old.get(k) != meta.get(k):
                raise ValueError(
                    f"{out} holds a run of {k}={old.get(k)!r}, not {meta.get(k)!r}; use another --out folder"
                )
    else:
        atomic_write_text(p, json.dumps(meta, indent=2, sort_keys=True) + "\n")



def _read_json(path: Path) -> dict | None:
    if not path.is_file():
        return None
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def _check_protocol(out: Path, card: dict) -> None:
    """Refuse to resume predictions made under another protocol (prompt, decoding, pixels, seed, model)."""
    old = _read_json(out / PROTOCOL_JSON)
    if old is not None and (out / PREDICTIONS).is_file():
        diff = protocol_differences([old, card])
        diff.pop("items", None)  # a rerun with another --limit resumes the same predictions
        model = [{k: (c.get("model") or {}).get(k) for k in ("path", "hash")} for c in (old, card)]
        if model[0] != model[1]:
            diff["model"] = model
        if diff:
            raise ValueError(
                f"{out} holds predictions made under another protocol ({', '.join(diff)} differ: "
                f"{json.dumps(diff, default=str)[:400]}); use another --out folder"
            )
    atomic_write_text(out / PROTOCOL_JSON, json.dumps(card, indent=2, sort_keys=True, default=str) + "\n")


def _seed_everything(seed: int) -> None:
    import numpy as np

    random.seed(seed)
    np.random.seed(seed)


def _todo(items: list[EvalItem], done: PredictionRecords) -> tuple[list[EvalItem], list[str]]:
    """The items to predict (no completion yet; failed ones again) and the first missing image of the others."""
    todo: list[EvalItem] = []
    no_image: list[str] = []
    for it in items:
        if it.id in done.completions:
            continue
        missing = it.missing_images()
        if missing:
            no_image.append(missing[0])
        else:
            todo.append(it)
    if no_image:
        logger.warning(
            "%d item(s) have an image missing on disk and are skipped (e.g. %s)", len(no_image), no_image[0]
        )
    return todo, no_image


def _predict_batch(predictor: Predictor, batch: list[EvalItem]) -> tuple[list[str], int]:
    """The JSONL lines of one predicted batch (seconds per item = the batch's time / its size, unless given) and how
    many of them are failed requests."""
    t0 = time.perf_counter()
    outs = predictor.predict(batch)
    per_item = (time.perf_counter() - t0) / max(len(batch), 1)
    if not isinstance(outs, (list, tuple)) or len(outs) != len(batch):
        raise ValueError(
            f"predictor returned {len(outs) if isinstance(outs, (list, tuple)) else type(outs).__name__} "
            f"completions for a batch of {len(batch)} items"
        )
    n_err = sum(isinstance(o, Prediction) and o.completion is None for o in outs)
    return [prediction_line(it.id, comp, per_item) for it, comp in zip(batch, outs)], n_err


def _infer(
    items: list[EvalItem], predictor: Predictor, pred_path: Path, *, batch_size: int, desc: str, progress: bool,
    position: int = 0,
) -> dict:
    from tqdm import tqdm

    repaired = repair_jsonl_tail(pred_path)
    done = read_prediction_records(pred_path)
    todo, no_image = _todo(items, done)
    written = errors = 0
    bar = tqdm(total=len(items), initial=len(items) - len(todo) - len(no_image), desc=desc, unit="item",
               disable=not progress, dynamic_ncols=True, position=position, leave=position == 0)  # fmt: skip
    with open(pred_path, "a", encoding="utf-8") as f, bar:
        for start in range(0, len(todo), batch_size):
            lines, n_err = _predict_batch(predictor, todo[start : start + batch_size])
            f.write("".join(lines))  # one write per batch, then to disk: a kill loses at most this batch
            f.flush()
            os.fsync(f.fileno())
            written, errors = written + len(lines) - n_err, errors + n_err
            bar.update(len(lines))
    done_ids = set(done.completions) & {it.id for it in items}
    return {
        "already_done": len(done_ids),
        "predicted": written,
        "errors": errors,
        "image_missing": len(no_image),
        "repaired_bytes": repaired,
    }


def _attach_depth_maps(items: list[EvalItem], depth_root) -> None:
    """Point items without a depth map at the one the inference side saved for them."""
    from ..infer import depth_map_path  # the inference side names the files

    for it in items:
        p = depth_map_path(depth_root, it.id)
        if it.depth_path is None and p.is_file():
            it.depth_path = str(p)


def _score(mod: BenchmarkModule, items: list[EvalItem], recs: PredictionRecords) -> tuple[dict, list[ItemScore]]:
    ids = {it.id for it in items}
    unknown = sorted(set(recs.completions) - ids)
    if unknown:
        logger.warning("%d prediction(s) for ids not in the loaded items (e.g. %s) are ignored", len(unknown),
                       unknown[0])  # fmt: skip
    errors = recs.errors
    reasons = {it.id: "image_missing" for it in items if it.id not in recs.completions and it.missing_images()}
    reasons.update({i: "request_error" for i in errors if i in ids and i not in reasons})
    preds = {k: v for k, v in recs.completions.items() if k in ids}
    scores = score_items(items, preds, reasons, recs.extras)
    res = mod.summarize(items, scores)
    res["predictions_file"] = {**recs.stats, "unknown_ids": len(unknown)}
    if errors:
        res["request_errors"] = {"total": sum(i in ids for i in errors),
                                 "examples": {i: errors[i][:300] for i in sorted(errors)[:5]}}  # fmt: skip
    return res, scores


def _write_outputs(out: Path, res: dict, items: list[EvalItem], scores: list[ItemScore], completions: dict) -> None:
    """``scores.jsonl`` (one line per item), ``results.json``, ``results.md``, charts and ``browse.html``."""
    lines = [
        json.dumps({"item": it.to_dict(), "score": s.to_dict(), "completion": completions.get(it.id)},
                   ensure_ascii=False, default=str) + "\n"
        for it, s in zip(items, scores)
    ]  # fmt: skip
    atomic_write_text(out / SCORES_JSONL, "".join(lines))
    atomic_write_text(out / RESULTS_MD, results_markdown(res))
    res["charts"] = write_charts(res, out)
    atomic_write_text(out / RESULTS_JSON, json.dumps(res, indent=2, sort_keys=False, ensure_ascii=False) + "\n")
    try:  # the page is a view of the files above: a failure to draw it costs the page, never the results
        write_browse_page(out)
    except (OSError, ValueError) as e:
        logger.warning("%s: browse.html not written (%s)", out, e)


def _nothing_reason(res: dict) -> str:
    c = res["counts"]
    parts = [f"{c['loaded']} item(s) loaded"]
    if res["skipped"]["by_reason"]:
        parts.append("skipped: " + ", ".join(f"{k} {v}" for k, v in res["skipped"]["by_reason"].items()))
    if res.get("left_out"):
        parts.append("left out by the reader: " + ", ".join(f"{k} {v}" for k, v in res["left_out"].items()))
    if res.get("missing_files"):
        parts.append("files not found: " + ", ".join(res["missing_files"]))
    if res.get("request_errors"):
        first = next(iter(res["request_errors"]["examples"].values()), "")
        parts.append(f"first request error: {first}")
    return "; ".join(parts)


def _inference(
    mod, items, predictor, out: Path, card: dict, *, data: str, seed, batch_size, desc, progress, position
) -> dict:
    """Predict the missing items into ``out/predictions.jsonl``, after checking the folder holds this benchmark,
    data and protocol."""
    _check_run_meta(out, {"benchmark": mod.NAME, "data": data})
    _check_protocol(out, card)
    _seed_everything(seed)
    t0 = time.perf_counter()
    inf = _infer(items, predictor, out / PREDICTIONS, batch_size=batch_size, progress=progress, desc=desc,
                 position=position)  # fmt: skip
    inf["seconds"] = round(time.perf_counter() - t0, 3)
    logger.info("%s: %s", mod.NAME, inf)
    return inf


def _check_args(mode: str, batch_size, predictor, predictions_file) -> None:
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be an integer >= 1, got {batch_size!r}")
    if mode in ("infer", "all") and predictor is None:
        raise ValueError(f"mode {mode!r} needs a predictor; use mode='score' to score existing predictions")
    if mode in ("infer", "all") and predictions_file is not None:
        raise ValueError("predictions_file is for mode='score'; inference always writes out_dir/predictions.jsonl")


def run_eval(
    bench: str,
    data_path: str | os.PathLike,
    predictor: Predictor | None,
    out_dir: str | os.PathLike,
    *,
    limit: int | None = None,
    mode: str = "all",
    batch_size: int = 8,
    seed: int = 0,
    bench_kwargs: Mapping[str, Any] | None = None,
    predictions_file: str | os.PathLike | None = None,
    depth_root: str | os.PathLike | None = None,
    model_name: str | None = None,
    progress: bool = True,
    progress_position: int = 0,
) -> dict:
    """Evaluate ``predictor`` on benchmark ``bench`` read from ``data_path``; write everything to ``out_dir``.

    Args:
        mode: ``infer`` (predictions only), ``score`` (results from existing predictions), ``all`` (both).
        batch_size: items per ``predictor.predict`` call (and per flushed write).
        seed: seeds Python's and NumPy's global RNGs before inference and is recorded (greedy decoding is the
            inference side's default; a predictor that samples should take its own seed).
        bench_kwargs: extra keyword arguments of the benchmark's ``load`` (``split``, ``image_root``, …).
        predictions_file: score this file instead of ``out_dir/predictions.jsonl`` (``score`` mode).
        depth_root: where the inference side saved lossless depth maps as ``<item id>.npy`` (ids with characters
            outside ``[A-Za-z0-9._-]`` replaced by ``_``); used for depth consistency when the benchmark has none.

    Returns:
        ``infer``: a summary of what was predicted; ``score``/``all``: the results dict written to ``results.json``.

    Raises:
        NothingEvaluated: not one item was evaluated (or, in ``infer`` mode, predicted); the results are written.
    """
    _check_args(mode, batch_size, predictor, predictions_file)
    mod, items = load_items(bench, data_path, limit=limit, bench_kwargs=bench_kwargs)
    left_out = dict(getattr(items, "left_out", {}) or {})
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    data = str(Path(data_path).resolve())
    config = {
        "benchmark": mod.NAME, "data": data, "limit": limit, "seed": seed, "batch_size": batch_size,
        "bench_kwargs": {k: str(v) for k, v in dict(bench_kwargs or {}).items()}, "model": model_name,
    }  # fmt: skip
    card = protocol_card(predictor, seed=seed, benchmark=mod.NAME, item_ids=[it.id for it in items])
    summary: dict[str, Any] = {"benchmark": mod.NAME, "items": len(items), "left_out": left_out}
    if mode in ("infer", "all"):
        summary["inference"] = _inference(mod, items, predictor, out, card, data=data, seed=seed,
                                          batch_size=batch_size, desc=f"{model_name or 'model'} | {mod.NAME}",
                                          progress=progress, position=progress_position)  # fmt: skip
        if mode == "infer":
            inf = summary["inference"]
            if inf["already_done"] + inf["predicted"] == 0:
                raise NothingEvaluated(f"{mod.NAME}: nothing was predicted ({len(items)} item(s) loaded, {inf})")
            return summary
    source = Path(predictions_file) if predictions_file is not None else out / PREDICTIONS
    if not source.is_file():
        raise FileNotFoundError(f"{source}: no predictions to score; run with mode 'infer' or 'all' first")
    if predictor is None:  # score only: the card of the run that made the predictions, when it is known
        card = {**(_read_json(source.parent / PROTOCOL_JSON) or card), "items": card["items"]}
    if depth_root is not None:
        _attach_depth_maps(items, depth_root)
    recs = read_prediction_records(source)
    res, scores = _score(mod, items, recs)
    res["left_out"] = left_out
    res["counts"]["left_out"] = sum(left_out.values())
    res["missing_files"] = list(getattr(items, "missing_files", []) or [])
    res["protocol"] = card
    res["config"] = {**config, "mode": mode, "predictions": str(source.resolve()),
                     "scored_at": time.strftime("%Y-%m-%dT%H:%M:%S")}  # fmt: skip
    if "inference" in summary:
        res["inference"] = summary["inference"]
    _write_outputs(out, res, items, scores, recs.completions)
    head = res.get("headline", "accuracy")
    c = res["counts"]
    logger.info("%s: %s = %s (%d loaded, %d skipped)", mod.NAME, head, res["metrics"].get(head), c["loaded"],
                c["skipped"])  # fmt: skip
    if c["evaluated"] == 0:
        raise NothingEvaluated(f"{mod.NAME}: nothing was evaluated ({_nothing_reason(res)}); see {out / RESULTS_JSON}")
    return res

"""Running a benchmark: resumable inference into ``predictions.jsonl``, then scoring into ``results.json``,
``results.md`` and PNG charts.

``predictions.jsonl`` is append-only, one ``{"id": ..., "completion": ...}`` per line, written and fsync-ed after
every batch. A rerun first cuts a partial last line (a write interrupted by a kill), then skips every id already
present, so a ``kill -9`` at any moment followed by a rerun loses nothing and duplicates nothing. When a file holds
an id twice anyway (concatenated files), the first line wins and the repeat is counted.

Items whose image is missing on disk are not sent to the model; at scoring time they, and items without a
prediction, are *skipped* — counted by reason, and wrong in the headline accuracy (see :mod:`.scoring`).
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
from .benchmarks import get_benchmark
from .report import compare, results_markdown, write_charts
from .types import EvalItem, Predictor

__all__ = ["run_eval", "compare", "read_predictions", "load_items", "MODES", "PREDICTIONS", "RESULTS_JSON"]

logger = logging.getLogger(__name__)

MODES = ("all", "infer", "score")
PREDICTIONS = "predictions.jsonl"
RESULTS_JSON = "results.json"
RESULTS_MD = "results.md"
RUN_JSON = "run.json"


def read_predictions(path: str | os.PathLike, stats: dict | None = None) -> dict[str, str]:
    """id → completion from a predictions file. Never modifies it: a partial last line is ignored (``partial``), an
    undecodable line elsewhere is skipped (``bad_lines``), a repeated id keeps its first line (``duplicates``)."""
    path = Path(path)
    out: dict[str, str] = {}
    st = {"lines": 0, "bad_lines": 0, "duplicates": 0, "partial": 0}
    if path.is_file():
        with open(path, encoding="utf-8", errors="replace") as f:
            data = f.read()
        lines = data.split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        elif lines:  # no newline at the end: the last line is an interrupted write
            lines.pop()
            st["partial"] = 1
        for i, line in enumerate(lines, 1):
            if not line.strip():
                continue
            st["lines"] += 1
            try:
                rec = json.loads(line)
                rid, comp = rec["id"], rec["completion"]
                if not isinstance(rid, str) or not isinstance(comp, str):
                    raise TypeError("id and completion must be strings")
            except (ValueError, KeyError, TypeError) as e:
                st["bad_lines"] += 1
                logger.warning("%s:%d: unreadable prediction line skipped (%s)", path, i, e)
                continue
            if rid in out:
                st["duplicates"] += 1
                continue
            out[rid] = comp
    if st["duplicates"]:
        logger.warning("%s: %d repeated ids; the first prediction of each is used", path, st["duplicates"])
    if stats is not None:
        stats.update(st)
    return out


def load_items(bench: str, data_path, *, limit: int | None = None, bench_kwargs: Mapping | None = None):
    """The benchmark module and its items (ids checked unique)."""
    mod = get_benchmark(bench)
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


def _infer(
    items: list[EvalItem], predictor: Predictor, pred_path: Path, *, batch_size: int, desc: str, progress: bool,
    position: int = 0,
) -> dict:
    from tqdm import tqdm

    repaired = repair_jsonl_tail(pred_path)
    done = read_predictions(pred_path)
    todo: list[EvalItem] = []
    no_image: list[str] = []  # the first missing path of each item that has one
    for it in items:
        if it.id not in done:
            missing = it.missing_images()
            if missing:
                no_image.append(missing[0])
            else:
                todo.append(it)
    if no_image:
        logger.warning(
            "%d item(s) have an image missing on disk and are skipped (e.g. %s)", len(no_image), no_image[0]
        )
    written = 0
    with (
        open(pred_path, "a", encoding="utf-8") as f,
        tqdm(
            total=len(items),
            initial=len(items) - len(todo) - len(no_image),
            desc=desc,
            unit="item",
            disable=not progress,
            dynamic_ncols=True,
            position=position,
            leave=position == 0,
        ) as bar,
    ):
        for start in range(0, len(todo), batch_size):
            batch = todo[start : start + batch_size]
            outs = predictor.predict(batch)
            if not isinstance(outs, (list, tuple)) or len(outs) != len(batch):
                raise ValueError(
                    f"predictor returned {len(outs) if isinstance(outs, (list, tuple)) else type(outs).__name__} "
                    f"completions for a batch of {len(batch)} items"
                )
            lines = []
            for it, comp in zip(batch, outs):
                if not isinstance(comp, str):
                    raise TypeError(f"predictor returned {type(comp).__name__} for item {it.id!r}; expected str")
                lines.append(json.dumps({"id": it.id, "completion": comp}, ensure_ascii=False) + "\n")
            f.write("".join(lines))  # one write per batch, then to disk: a kill loses at most this batch
            f.flush()
            os.fsync(f.fileno())
            written += len(batch)
            bar.update(len(batch))
    return {
        "already_done": len(done),
        "predicted": written,
        "image_missing": len(no_image),
        "repaired_bytes": repaired,
    }


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
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be an integer >= 1, got {batch_size!r}")
    if mode in ("infer", "all") and predictor is None:
        raise ValueError(f"mode {mode!r} needs a predictor; use mode='score' to score existing predictions")
    if mode in ("infer", "all") and predictions_file is not None:
        raise ValueError("predictions_file is for mode='score'; inference always writes out_dir/predictions.jsonl")
    mod, items = load_items(bench, data_path, limit=limit, bench_kwargs=bench_kwargs)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    pred_path = out / PREDICTIONS
    config = {
        "benchmark": mod.NAME,
        "data": str(Path(data_path).resolve()),
        "limit": limit,
        "seed": seed,
        "batch_size": batch_size,
        "bench_kwargs": {k: str(v) for k, v in dict(bench_kwargs or {}).items()},
        "model": model_name,
    }
    summary: dict[str, Any] = {"benchmark": mod.NAME, "items": len(items)}
    if mode in ("infer", "all"):
        _check_run_meta(out, {"benchmark": mod.NAME, "data": config["data"]})
        random.seed(seed)
        try:
            import numpy as np

            np.random.seed(seed)
        except ImportError:  # pragma: no cover - numpy is a base dependency
            pass
        t0 = time.perf_counter()
        summary["inference"] = _infer(
            items,
            predictor,
            pred_path,
            batch_size=batch_size,
            progress=progress,
            desc=f"{model_name or 'model'} | {mod.NAME}",
            position=progress_position,
        )
        summary["inference"]["seconds"] = round(time.perf_counter() - t0, 3)
        logger.info("%s: %s", mod.NAME, summary["inference"])
        if mode == "infer":
            return summary
    source = Path(predictions_file) if predictions_file is not None else pred_path
    if not source.is_file():
        raise FileNotFoundError(f"{source}: no predictions to score; run with mode 'infer' or 'all' first")
    stats: dict = {}
    preds = read_predictions(source, stats)
    ids = {it.id for it in items}
    unknown = sorted(set(preds) - ids)
    if unknown:
        logger.warning(
            "%s: %d prediction(s) for ids not in the loaded items (e.g. %s) are ignored",
            source,
            len(unknown),
            unknown[0],
        )
    reasons = {it.id: "image_missing" for it in items if it.id not in preds and it.missing_images()}
    if depth_root is not None:
        from ..infer.predictor import depth_map_path  # the inference side names the files

        for it in items:
            p = depth_map_path(depth_root, it.id)
            if it.depth_path is None and p.is_file():
                it.depth_path = str(p)
    res = mod.score(items, {k: v for k, v in preds.items() if k in ids}, skip_reasons=reasons)
    res["config"] = {
        **config,
        "mode": mode,
        "predictions": str(source.resolve()),
        "scored_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    res["predictions_file"] = {**stats, "unknown_ids": len(unknown)}
    if "inference" in summary:
        res["inference"] = summary["inference"]
    atomic_write_text(out / RESULTS_JSON, json.dumps(res, indent=2, sort_keys=False, ensure_ascii=False) + "\n")
    atomic_write_text(out / RESULTS_MD, results_markdown(res))
    res["charts"] = write_charts(res, out)
    atomic_write_text(out / RESULTS_JSON, json.dumps(res, indent=2, sort_keys=False, ensure_ascii=False) + "\n")
    head = res.get("headline", "accuracy")
    logger.info(
        "%s: %s = %s (%d loaded, %d skipped)",
        mod.NAME,
        head,
        res["metrics"].get(head),
        res["counts"]["loaded"],
        res["counts"]["skipped"],
    )
    return res

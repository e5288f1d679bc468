"""``sifthinker eval``: run a benchmark (resumable inference + scoring) or compare finished runs.

    sifthinker eval --bench NAME --data PATH --out DIR [--limit N] [--mode infer|score|all] [--seed S]
                    [--predictions FILE] [--model MODEL] [--batch-size B] [--bench-arg KEY=VALUE ...]
    sifthinker eval compare RUN_DIR [RUN_DIR ...] [--out FILE]

Scoring needs only the base install. Inference loads a predictor with ``sifthinker.infer.load_predictor`` (imported
only for ``--mode infer``/``all``).
"""

from __future__ import annotations

import argparse
import logging
import sys

from sifthinker.overrides import key_value

HELP = "evaluate on a benchmark (resumable inference + judge-free scoring), or compare runs"
DESCRIPTION = (
    "Run a benchmark: --mode infer writes OUT/predictions.jsonl (resumable: a rerun skips done ids), --mode score "
    "writes OUT/results.json, results.md and charts from existing predictions (or --predictions FILE), --mode all "
    "does both. `sifthinker eval compare RUN...` prints the runs side by side. Benchmarks: synthetic, sat, "
    "cv_bench, spatialbench, vstar, refcoco, viscot (see src/sifthinker/eval/benchmarks/<name>/README.md)."
)

logger = logging.getLogger(__name__)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--bench", help="benchmark name (synthetic, sat, cv_bench, spatialbench, vstar, refcoco, viscot)")
    p.add_argument("--data", help="the benchmark's files, in their published layout (a folder or a file)")
    p.add_argument("--out", help="run folder: predictions.jsonl, results.json, results.md, charts")
    p.add_argument("--limit", type=int, default=None, help="evaluate only the first N items")
    p.add_argument("--mode", choices=("all", "infer", "score"), default="all", help="what to do (default all)")
    p.add_argument("--seed", type=int, default=0, help="seed, recorded in the results (default 0)")
    p.add_argument("--predictions", default=None, help="score this predictions JSONL instead of OUT/predictions.jsonl")
    p.add_argument("--model", default=None, help="model to load with sifthinker.infer.load_predictor (infer/all)")
    p.add_argument("--batch-size", type=int, default=8, help="items per predictor call and per flushed write (8)")
    p.add_argument(
        "--bench-arg",
        type=key_value,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra option of the benchmark reader, e.g. split=testA, image_root=/data/coco/train2014",
    )
    p.add_argument(
        "--model-arg",
        type=key_value,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra option passed to load_predictor",
    )
    p.add_argument("--depth-root", default=None, help="folder of lossless depth maps <item id>.npy from inference")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    sub = p.add_subparsers(dest="eval_action", metavar="ACTION")
    c = sub.add_parser("compare", help="put finished runs side by side (Markdown)")
    c.add_argument("runs", nargs="+", help="run folders (each with results.json)")
    c.add_argument("--out", dest="compare_out", default=None, help="also write the Markdown to this file")


def _load_predictor(model: str, **kw):
    """``sifthinker.infer.load_predictor(model, **kw)``; a clear error when inference is not available."""
    try:
        from sifthinker.infer import load_predictor
    except ImportError as e:
        missing = getattr(e, "name", None) or ""
        if missing == "sifthinker.infer" or missing.startswith("sifthinker.infer."):
            raise RuntimeError(
                "inference is not available yet: sifthinker.infer (load_predictor) is not part of this install. "
                "Run with --mode score and existing predictions (--predictions FILE or OUT/predictions.jsonl)."
            ) from e
        raise RuntimeError(f"inference is not available: importing sifthinker.infer failed ({e})") from e
    return load_predictor(model, **kw)


def _compare(args) -> int:
    from sifthinker.eval.report import compare

    try:
        md = compare(args.runs)
    except (FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.compare_out:
        from sifthinker.io import atomic_write_text

        atomic_write_text(args.compare_out, md)
    print(md, end="")
    return 0


def run(args) -> int:
    if getattr(args, "eval_action", None) == "compare":
        return _compare(args)
    missing = [f"--{k}" for k in ("bench", "data", "out") if not getattr(args, k)]
    if missing:
        print(f"error: {', '.join(missing)} required (or use `sifthinker eval compare RUN...`)", file=sys.stderr)
        return 2
    from sifthinker.eval.benchmarks import get_benchmark
    from sifthinker.eval.runner import run_eval

    try:
        get_benchmark(args.bench)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    predictor = None
    if args.mode in ("infer", "all"):
        if args.predictions:
            print("error: --predictions is for --mode score", file=sys.stderr)
            return 2
        if not args.model:
            print(f"error: --mode {args.mode} needs --model (or use --mode score with predictions)", file=sys.stderr)
            return 2
        try:
            model_kw = dict(args.model_arg)
            if args.depth_root is not None:
                model_kw.setdefault("depth_root", args.depth_root)
            predictor = _load_predictor(args.model, seed=args.seed, batch_size=args.batch_size, **model_kw)
        except RuntimeError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
    try:
        res = run_eval(
            args.bench,
            args.data,
            predictor,
            args.out,
            limit=args.limit,
            mode=args.mode,
            batch_size=args.batch_size,
            seed=args.seed,
            bench_kwargs=dict(args.bench_arg),
            predictions_file=args.predictions,
            depth_root=args.depth_root,
            model_name=args.model,
            progress=not args.quiet,
        )
    except (FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.mode == "infer":
        print(f"{res['benchmark']}: {res['inference']}")
        return 0
    head = res.get("headline", "accuracy")
    c = res["counts"]
    print(
        f"{res['benchmark']}: {head} = {res['metrics'].get(head)} ({c['loaded']} loaded, {c['evaluated']} "
        f"evaluated, {c['skipped']} skipped) -> {args.out}/results.md"
    )
    return 0

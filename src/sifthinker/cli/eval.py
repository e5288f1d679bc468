"""``sifthinker eval``: run a benchmark (resumable inference + scoring) or compare finished runs.

    sifthinker eval --bench NAME --data PATH --out DIR [--limit N] [--mode infer|score|all] [--seed S]
                    [--predictions FILE] [--model MODEL] [--batch-size B] [--bench-arg KEY=VALUE ...]
    sifthinker eval ... --endpoint URL --served-model NAME [--concurrency N] [--api-key-env VAR]
    sifthinker eval compare RUN_DIR [RUN_DIR ...] [--out FILE] [--allow-mismatch]

Scoring needs only the base install. In-process inference loads a predictor with
``sifthinker.infer.load_predictor`` (imported only for ``--mode infer``/``all``); ``--endpoint`` sends the same
prompts to an OpenAI-compatible server instead (:mod:`sifthinker.eval.endpoint`). Exit codes: 0 done, 1 nothing was
evaluated (the reason is printed), 2 bad arguments or files.
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
    "does both; results.json carries the run's protocol card and scores.jsonl one line per item. --endpoint URL "
    "--served-model NAME evaluates through any OpenAI-compatible server instead of loading --model. "
    "`sifthinker eval compare RUN...` prints the runs side by side (refusing runs measured under different "
    "protocols unless --allow-mismatch). Benchmarks: synthetic, sat, cv_bench, spatialbench, vstar, refcoco, viscot "
    "(see src/sifthinker/eval/benchmarks/<name>/README.md)."
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
    p.add_argument("--batch-size", type=int, default=None,
                   help="items per predictor call and per flushed write (8; with --endpoint 4 x --concurrency)")
    p.add_argument("--endpoint", default=None, help="evaluate through this OpenAI-compatible API root (…/v1)")
    p.add_argument("--served-model", default=None, help="the model name the endpoint serves (with --endpoint)")
    p.add_argument("--concurrency", type=int, default=4, help="requests in flight at once (--endpoint; 4)")
    p.add_argument("--api-key-env", default=None, help="environment variable holding the endpoint's API key")
    p.add_argument("--max-retries", type=int, default=3, help="the SDK's retries per request, with backoff (3)")
    p.add_argument("--request-timeout", type=float, default=600.0, help="seconds per request attempt (600)")
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
        help="extra option of the predictor: load_predictor's (depth=none, max_new_tokens=64, …) or, with "
        "--endpoint, max_new_tokens, temperature, top_p, depth (auto|none), instruction, system, max_pixels",
    )
    p.add_argument("--depth-root", default=None, help="folder of lossless depth maps <item id>.npy from inference")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    sub = p.add_subparsers(dest="eval_action", metavar="ACTION")
    c = sub.add_parser("compare", help="put finished runs side by side (Markdown)")
    c.add_argument("runs", nargs="+", help="run folders (each with results.json)")
    c.add_argument("--out", dest="compare_out", default=None, help="also write the Markdown to this file")
    c.add_argument(
        "--browse", dest="browse_out", default=None, metavar="HTML",
        help="with two runs: where to write their side-by-side browse page (default RUN_A/compare-<RUN_B>.html)",
    )  # fmt: skip
    c.add_argument("--allow-mismatch", action="store_true",
                   help="show runs whose protocols differ side by side (flagged) instead of refusing")


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
        md = compare(args.runs, allow_mismatch=args.allow_mismatch)
    except (FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.compare_out:
        from sifthinker.io import atomic_write_text

        atomic_write_text(args.compare_out, md)
    print(md, end="")
    if len(args.runs) == 2:
        from pathlib import Path

        from sifthinker.eval.browse import write_compare_page

        a, b = (Path(r) for r in args.runs)
        page = Path(args.browse_out) if args.browse_out else a / f"compare-{b.resolve().name}.html"
        try:
            print(f"browse page: {write_compare_page(a, b, page)}", file=sys.stderr)
        except (OSError, ValueError) as e:
            print(f"warning: compare page not written ({e})", file=sys.stderr)
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
    try:
        predictor = _predictor(args)
    except (RuntimeError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    from sifthinker.eval.runner import NothingEvaluated

    try:
        res = run_eval(
            args.bench,
            args.data,
            predictor,
            args.out,
            limit=args.limit,
            mode=args.mode,
            batch_size=_batch_size(args),
            seed=args.seed,
            bench_kwargs=dict(args.bench_arg),
            predictions_file=args.predictions,
            depth_root=args.depth_root,
            model_name=args.served_model if args.endpoint else args.model,
            progress=not args.quiet,
        )
    except NothingEvaluated as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except (FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    finally:
        if hasattr(predictor, "close"):
            predictor.close()
    if args.mode == "infer":
        print(f"{res['benchmark']}: {res['inference']}")
        return 0
    head = res.get("headline", "accuracy")
    c = res["counts"]
    print(
        f"{res['benchmark']}: {head} = {res['metrics'].get(head)} ({c['loaded']} loaded, {c['evaluated']} "
        f"evaluated, {c['skipped']} skipped, {c['left_out']} left out) -> {args.out}/results.md"
    )
    return 0


def _batch_size(args) -> int:
    if args.batch_size is not None:
        return args.batch_size
    return 4 * args.concurrency if args.endpoint else 8


_ENDPOINT_ARGS = ("max_new_tokens", "temperature", "top_p", "depth", "instruction", "system", "max_pixels")


def _predictor(args):
    """The predictor of an ``infer``/``all`` run (None for ``score``): the endpoint's or ``load_predictor``'s."""
    if args.mode not in ("infer", "all"):
        return None
    if args.predictions:
        raise ValueError("--predictions is for --mode score")
    model_kw = dict(args.model_arg)
    if args.endpoint:
        if not args.served_model:
            raise ValueError("--endpoint needs --served-model (the name the server serves the model under)")
        if args.model:
            raise ValueError("give --model (in-process) or --endpoint (a server), not both")
        bad = sorted(set(model_kw) - set(_ENDPOINT_ARGS))
        if bad:
            raise ValueError(f"--model-arg {', '.join(bad)}: not an endpoint option ({', '.join(_ENDPOINT_ARGS)})")
        from sifthinker.eval.endpoint import EndpointPredictor

        return EndpointPredictor(
            args.endpoint, args.served_model, api_key_env=args.api_key_env, concurrency=args.concurrency,
            max_retries=args.max_retries, timeout=args.request_timeout, seed=args.seed, **model_kw,
        )  # fmt: skip
    if not args.model:
        raise ValueError(f"--mode {args.mode} needs --model or --endpoint (or use --mode score with predictions)")
    if args.depth_root is not None:
        model_kw.setdefault("depth_root", args.depth_root)
    return _load_predictor(args.model, seed=args.seed, batch_size=args.batch_size or 8, **model_kw)

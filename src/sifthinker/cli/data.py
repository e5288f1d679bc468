"""``sifthinker data build|export|import-sif50k``: the data engine from the command line."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from sifthinker.data.types import DEPTH_SOURCES
from sifthinker.io import record_files
from sifthinker.overrides import key_value

HELP = "build SIF training data from grounded VQA (reverse expansion + forward inference), export or import it"


def _shard(text: str) -> tuple[int, int]:
    try:
        i, n = (int(v) for v in text.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--shard {text!r}: expected I/N, e.g. 0/4") from None
    if not 0 <= i < n:
        raise argparse.ArgumentTypeError(f"--shard {text!r}: expected 0 <= I < N")
    return i, n


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="data_command", metavar="ACTION", required=True)

    b = sub.add_parser("build", help="grounded VQA → validated SIF chains (resumable, shardable)")
    b.add_argument("--source", required=True, help="input format: synthetic, visual_cot, tallyqa, jsonl, sif50k")
    b.add_argument("--input", type=Path, required=True, help="the source file or folder")
    b.add_argument("--out", type=Path, required=True, help="output folder (records.jsonl, failures.jsonl, ...)")
    b.add_argument("--image-root", type=Path, default=None, help="where item paths resolve (default: the source's)")
    b.add_argument(
        "--source-option", type=key_value, action="append", default=[], metavar="KEY=VALUE",
        help="a source option, e.g. max_per_subset=10000 or box_units=pixels (repeatable; values read as YAML)",
    )  # fmt: skip
    b.add_argument("--depth", choices=DEPTH_SOURCES, default="auto",
                   help="auto: the source's exact depth when it has one, else the model (default)")  # fmt: skip
    b.add_argument("--depth-model", default=None, help="depth model hub id or local path (Depth Anything V2 Small)")
    b.add_argument("--device", default=None, help="device of the depth model (default: cuda if available)")
    b.add_argument("--depth-batch-size", type=int, default=8)
    b.add_argument("--writer", choices=["template", "api"], default="template",
                   help="template (offline, default) or api (an OpenAI-compatible multimodal endpoint)")  # fmt: skip
    b.add_argument("--api-config", type=Path, default=None,
                   help="YAML/JSON with base_url, model, api_key_env, ... (for --writer api)")  # fmt: skip
    b.add_argument("--rule", choices=["fixed", "official"], default="fixed", help="expansion step rule")
    b.add_argument("--steps", type=int, default=5, help="expansion steps (default 5)")
    b.add_argument("--keep-expansions", type=int, default=1, help="expansion frames kept (default 1)")
    b.add_argument("--distractor-prob", type=float, default=0.5, help="probability of a wrong-focus frame")
    b.add_argument("--seed", type=int, default=0)
    b.add_argument("--max-attempts", type=int, default=3, help="writer attempts per item before it is rejected")
    b.add_argument("--concurrency", type=int, default=8, help="items written concurrently (API writer)")
    b.add_argument("--shard", type=_shard, default=(0, 1), metavar="I/N", help="process shard I of N (by id hash)")
    b.add_argument("--limit", type=int, default=None, help="stop after this many new items")
    b.add_argument("--retry-failed", action="store_true", help="try again the items that failed before")
    b.add_argument("--quiet", action="store_true", help="no progress bar")
    b.add_argument("--max-image-pixels", type=int, default=None, metavar="N",
                   help="an image declaring more pixels fails alone, undecoded (default 50 million)")  # fmt: skip

    e = sub.add_parser("export", help="kept records → SIF-50K JSON, LLaMA-Factory or a Hugging Face dataset")
    e.add_argument("--input", type=Path, required=True, help="a build folder or a records .jsonl/.json file")
    e.add_argument("--format", choices=["sif50k", "llamafactory", "hf"], required=True)
    e.add_argument("--out", type=Path, required=True, help="output file (sif50k) or folder (llamafactory, hf)")
    e.add_argument("--keep-extras", action="store_true", help="sif50k: keep our extra fields")
    e.add_argument("--name", default="sif", help="llamafactory: the dataset name registered in dataset_info.json")

    i = sub.add_parser("import-sif50k", help="the authors' SIF-50K records → ours (colourised depth decoded once)")
    i.add_argument("--input", type=Path, required=True, help="their JSON/JSONL file")
    i.add_argument("--image-root", type=Path, required=True, help="where their image paths resolve")
    i.add_argument("--out", type=Path, required=True, help="output folder")


def _api_writer(path: Path | None):
    from sifthinker.backends.openai_compat import OpenAICompatClient, OpenAICompatConfig
    from sifthinker.data.writers.api import APIWriter

    if path is None:
        raise ValueError("--writer api needs --api-config FILE (base_url, model, api_key_env, ...)")
    import yaml

    cfg = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(cfg, dict):
        raise ValueError(f"{path}: expected a mapping of client options")
    writer_opts = cfg.pop("writer", {}) or {}
    return APIWriter(OpenAICompatClient(OpenAICompatConfig.from_dict(cfg)), **writer_opts)


def run_build(args: argparse.Namespace) -> int:
    from sifthinker.data.build import BuildConfig, build
    from sifthinker.data.depth_stage import DEFAULT_DEPTH_MODEL
    from sifthinker.data.expansion import ExpansionConfig
    from sifthinker.data.sources import get_source
    from sifthinker.data.writers.template import TemplateWriter
    from sifthinker.images import DEFAULT_MAX_IMAGE_PIXELS

    options = {k.replace("-", "_"): v for k, v in args.source_option}  # max-per-subset=… reads as max_per_subset
    source = get_source(args.source, args.input, image_root=args.image_root, **options)
    writer = TemplateWriter() if args.writer == "template" else _api_writer(args.api_config)
    cfg = BuildConfig(
        out=args.out,
        image_root=args.image_root or getattr(source, "image_root", None),
        seed=args.seed,
        depth=args.depth,
        depth_model=args.depth_model or DEFAULT_DEPTH_MODEL,
        device=args.device,
        depth_batch_size=args.depth_batch_size,
        expansion=ExpansionConfig(
            rule=args.rule,
            steps=args.steps,
            keep_expansions=args.keep_expansions,
            distractor_prob=args.distractor_prob,
        ),  # fmt: skip
        max_attempts=args.max_attempts,
        concurrency=args.concurrency,
        shard=args.shard,
        limit=args.limit,
        retry_failed=args.retry_failed,
        progress=not args.quiet,
        max_image_pixels=args.max_image_pixels or DEFAULT_MAX_IMAGE_PIXELS,
    )
    summary = build(source, writer, cfg)
    print(
        f"kept {summary['kept']} new ({summary['total_kept']} in all), failed {summary['failed']}, "
        f"skipped {summary['skipped_done']} finished, {summary['items_per_second']} items/s → {args.out}"
    )
    for reason, n in summary["failed_by"].items():
        print(f"  failed {reason}: {n}")
    return 0


def run_export(args: argparse.Namespace) -> int:
    from sifthinker.data import export as X

    records = [r for f in record_files(args.input) for r in X.load_sif_records(f)]
    if args.format == "sif50k":
        X.export_sif50k(records, args.out, keep_extras=args.keep_extras)
    elif args.format == "llamafactory":
        X.export_llamafactory(records, args.out, name=args.name)
    else:
        X.export_hf(records, args.out)
    print(f"exported {len(records)} records as {args.format} → {args.out}")
    return 0


def run_import(args: argparse.Namespace) -> int:
    from sifthinker.data.sources.sif50k import import_sif50k

    summary = import_sif50k(args.input, args.image_root, args.out)
    print(json.dumps(summary, indent=2, default=str))
    return 0


def run(args: argparse.Namespace) -> int:
    handlers = {"build": run_build, "export": run_export, "import-sif50k": run_import}
    try:
        return handlers[args.data_command](args)
    except (ValueError, FileNotFoundError) as e:
        print(f"sifthinker data {args.data_command}: {e}", file=sys.stderr)
        return 2

"""``sifthinker infer``: ask a model one question about one image; print the trace, draw the focus path."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from sifthinker.cli import add_model_argument

HELP = "ask a model a question about an image; print its focus path and answer (--viz draws it)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_model_argument(p)
    p.add_argument("--image", type=Path, required=True)
    p.add_argument("--question", required=True)
    p.add_argument("--choices", nargs="+", default=None, help="answer options, shown as (A) ... (B) ...")
    p.add_argument("--depth", default="auto",
                   help="auto (estimate with the depth model), none (RGB-only prompt), or a depth file: a lossless "
                        ".npy/16-bit PNG map or a colourised PNG")  # fmt: skip
    p.add_argument("--depth-model", default=None, help="depth model hub id or local path (Depth Anything V2 Small)")
    p.add_argument("--device", default=None)
    p.add_argument("--max-new-tokens", type=int, default=2048)
    p.add_argument("--sample", action="store_true", help="sample instead of greedy decoding")
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument("--top-p", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--viz", type=Path, default=None, help="write the focus path as a PNG here")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")


def run(args: argparse.Namespace) -> int:
    from sifthinker.infer import DecodingConfig, SIFThinker, draw_focus_path

    if not args.image.is_file():
        print(f"sifthinker infer: {args.image}: no such image", file=sys.stderr)
        return 2
    mode, depth = args.depth, None
    if mode not in ("auto", "none", "model"):
        depth, mode = Path(mode), "auto"
        if not depth.is_file():
            print(f"sifthinker infer: depth file {depth} not found", file=sys.stderr)
            return 2
    try:
        thinker = SIFThinker(
            args.model,
            depth=mode,
            depth_model=args.depth_model,
            device=args.device,
            generation=DecodingConfig(
                max_new_tokens=args.max_new_tokens,
                do_sample=args.sample,
                temperature=args.temperature,
                top_p=args.top_p,
                seed=args.seed,
            ),  # fmt: skip
        )
        result = thinker.think(args.image, args.question, args.choices, depth=depth)
    except ValueError as e:
        print(f"sifthinker infer: {e}", file=sys.stderr)
        return 2
    if args.viz:
        draw_focus_path(result, args.viz)
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
        return 0
    if result.valid:
        for k, step in enumerate(result.trace.steps, 1):
            regions = ", ".join(f"{list(r.box)} d={r.depth:g}" for r in step.regions)
            print(f"step {k}: {regions}\n        {step.text}")
    else:
        print(f"malformed output ({result.error}); areas read leniently: {len(result.lenient.areas)}")
        print(result.text)
    print(f"answer: {result.answer}")
    if args.viz:
        print(f"focus path drawn in {args.viz}")
    return 0

"""``sifthinker demo``: all of SIFThinker on a CPU from the shipped tiny base — synthetic world → SIF chains → SFT
(and an answers-only baseline) → GRPO-SIF (and an official-depth-reward ablation) → evaluation of every model →
``report.html``. Rerunning into the same folder resumes."""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "run the whole method at toy scale on a CPU and write report.html (resumable)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", type=Path, default=Path("runs/demo"), help="output folder (default runs/demo)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quick", action="store_true", help="a smoke-sized run (the recipe's quick: block)")
    p.add_argument("--recipes", type=Path, default=None, help="folder of demo.yaml, sft.yaml, grpo.yaml "
                   "(default: recipes/tiny/demo of the repository)")  # fmt: skip
    p.add_argument("--base-model", default=None, help="the model to start from (default: the recipe's, sif-tiny-base)")
    p.add_argument("--scenes", type=int, default=None, help="synthetic scenes to render (default: the recipe's)")
    p.add_argument("--sft-steps", type=int, default=None, help="SFT steps (default: the recipe's)")
    p.add_argument("--grpo-steps", type=int, default=None, help="GRPO-SIF steps (default: the recipe's)")


def run(args: argparse.Namespace) -> int:
    import logging
    import time

    from sifthinker.demo.pipeline import DemoConfig, run_demo

    try:
        cfg = DemoConfig.from_recipe(args.recipes, quick=args.quick, out=args.out, seed=args.seed,
                                     base_model=args.base_model, scenes=args.scenes, sft_steps=args.sft_steps,
                                     grpo_steps=args.grpo_steps)  # fmt: skip
    except ValueError as e:
        logging.getLogger(__name__).error("%s", e)
        return 2
    print(f"SIFThinker demo → {cfg.out}  (seed {cfg.seed}{', quick' if args.quick else ''}; log: {cfg.out}/demo.log)")
    t0 = time.perf_counter()
    summary = run_demo(cfg)
    print(f"\ndone in {time.perf_counter() - t0:.0f} s. Accuracy on the synthetic test split (judge-free, %):")
    width = max(len(n) for n in summary["accuracy"])
    print(f"  {'model':<{width}}  {'all':>6}  {'spatial':>7}  {'IoU':>5}  {'format':>6}")
    nan = float("nan")
    for name, acc in summary["accuracy"].items():
        sp, iou = summary["spatial_accuracy"][name], summary["last_area_iou"][name]
        fmt = summary["format_valid_rate"][name]
        print(f"  {name:<{width}}  {acc:6.1f}  {nan if sp is None else sp:7.1f}  {nan if iou is None else iou:5.3f}  "
              f"{nan if fmt is None else fmt:5.0f}%")  # fmt: skip
    print(f"report: {summary['report']}")
    return 0

"""``sifthinker pretrain --config RECIPE [key=value ...]``: pretrain the tiny base model (resumable)."""

from __future__ import annotations

import argparse
import logging

HELP = "pretrain the tiny base model on perception in the synthetic world (resumable)"
DESCRIPTION = (
    "Train a small Qwen2.5-VL from random weights on perception tasks (list, ground, read depth, name) in the "
    "synthetic world, from a recipe (recipes/tiny/pretrain/config.yaml) with key=value overrides (dotted for "
    "groups: model.hidden_size=96). Rerun the same command to resume a killed run from its last checkpoint. The "
    "result, in OUTPUT_DIR/model, is a plain Qwen2.5-VL checkpoint with its model card."
)

logger = logging.getLogger(__name__)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", default=None, help="the YAML recipe")
    p.add_argument("--print-config", action="store_true", help="print the resolved recipe and exit")
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="recipe keys to override")


def run(args: argparse.Namespace) -> int:
    import json

    from sifthinker.pretrain import load_pretrain_config

    try:
        cfg = load_pretrain_config(args.config, args.overrides)
    except (OSError, ValueError) as e:
        logger.error("%s", e)
        return 2
    if args.print_config:
        print(json.dumps(cfg.to_dict(), indent=1))
        return 0
    from sifthinker.logs import quiet_libraries
    from sifthinker.pretrain.loop import pretrain

    with quiet_libraries(cfg.output_dir, "pretrain.log"):
        print(f"pretraining a {cfg.tiny_config().hidden_size}-wide tiny Qwen2.5-VL for {cfg.max_steps} steps "
              f"into {cfg.output_dir}")  # fmt: skip
        try:
            info = pretrain(cfg)
        except ValueError as e:
            logger.error("%s", e)
            return 2
    ev = info["eval"]
    print(f"  grounding IoU {ev['ground_iou']} (mean box {ev['mean_box_iou']}), depth reading error "
          f"{ev['depth_read_abs_error']} (mean depth {ev['depth_read_mean_baseline']})")  # fmt: skip
    return 0

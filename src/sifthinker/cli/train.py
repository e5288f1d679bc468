"""``sifthinker train sft|grpo --config RECIPE [--key value ...]``: run a training stage from a YAML recipe."""

from __future__ import annotations

import argparse
import logging

HELP = "train a model: SFT warm-up or GRPO-SIF, from a YAML recipe with --key value overrides"
DESCRIPTION = (
    "Run a training stage from a recipe (recipes/<model>/<stage>/config_*.yaml; see recipes/README.md), parsed by "
    "TRL's TrlParser: any key of the stage's config can be given after it as --key value (--learning_rate 1e-5 "
    "--lora_r 16 --reward_options '{\"depth_consistency\": {\"tol\": 0.2}}'). Multi-GPU: accelerate launch "
    "--config_file recipes/accelerate_configs/zero3.yaml -m sifthinker.cli.main train grpo --config RECIPE."
)

logger = logging.getLogger(__name__)


class _StageParser(argparse.ArgumentParser):
    """A stage's parser: its own options (``--config``, ``--print-config``, ``--list-keys``); every other argument
    is the config's, kept in ``args`` in order for TRL's parser."""

    def parse_known_args(self, args=None, namespace=None):
        namespace, rest = super().parse_known_args(args, namespace)
        namespace.args = list(rest)
        return namespace, []


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="stage", metavar="STAGE", required=True, parser_class=_StageParser)
    for stage, text in (("sft", "stage 1, the SFT warm-up"), ("grpo", "stage 2, GRPO-SIF")):
        q = sub.add_parser(stage, help=text, description=f"{text}. {DESCRIPTION}", allow_abbrev=False)
        q.add_argument("--config", default=None, help="the YAML recipe")
        q.add_argument("--print-config", action="store_true", help="print the resolved config as YAML and exit")
        q.add_argument("--list-keys", action="store_true", help="list every config key of the stage with its help")


def run(args: argparse.Namespace) -> int:
    from sifthinker.train.configs import config_keys, load_config

    if args.list_keys:
        for key, text in config_keys(args.stage).items():
            print(f"{key}: {text}" if text else key)
        return 0
    try:
        config = load_config(args.stage, args.config, getattr(args, "args", []))
    except ValueError as e:
        logger.error("%s", e)
        return 2
    if args.print_config:
        import yaml

        print(yaml.safe_dump(config.to_dict(), sort_keys=True))
        return 0
    if args.stage == "sft":
        from sifthinker.train.sft import main
    else:
        from sifthinker.train.grpo import main
    try:
        main(config)
    except (ValueError, ImportError) as e:  # bad data or model path, vLLM asked for but not installed: reported
        logger.error("%s", e)
        return 2
    return 0

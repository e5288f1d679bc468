"""``sifthinker`` entry point. Each subcommand lives in its own module exposing ``HELP``, ``add_arguments(parser)``
and ``run(args) -> int``; heavy imports happen inside ``run`` so ``sifthinker --help`` stays fast."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

# name -> module; order is the order of `sifthinker --help`.
COMMANDS: dict[str, str] = {
    "validate": "sifthinker.cli.validate",
    "synth": "sifthinker.cli.synth",
    "data": "sifthinker.cli.data",
    "tiny-model": "sifthinker.cli.tiny_model",
    "pretrain": "sifthinker.cli.pretrain",
    "train": "sifthinker.cli.train",
    "merge": "sifthinker.cli.merge",
    "infer": "sifthinker.cli.infer",
    "serve": "sifthinker.cli.serve",
    "eval": "sifthinker.cli.eval",
    "demo": "sifthinker.cli.demo",
    "app": "sifthinker.cli.app",
}


HTTP_CLIENT_LOGGERS = ("httpx", "httpx2", "httpcore", "httpcore2", "openai")


def make_parser() -> argparse.ArgumentParser:
    from sifthinker import __version__

    parser = argparse.ArgumentParser(
        prog="sifthinker", description="SIFThinker: spatially-aware image focus for visual reasoning."
    )
    parser.add_argument("--version", action="version", version=f"sifthinker {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, modname in COMMANDS.items():
        mod = importlib.import_module(modname)
        p = sub.add_parser(name, help=mod.HELP, description=getattr(mod, "DESCRIPTION", mod.HELP))
        mod.add_arguments(p)
        p.set_defaults(_run=mod.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = make_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if not args.verbose:  # one line per HTTP request is the HTTP clients' chatter, not ours: shown with -v only
        for name in HTTP_CLIENT_LOGGERS:
            logging.getLogger(name).setLevel(logging.WARNING)
    if not getattr(args, "_run", None):
        parser.print_help()
        return 2
    return int(args._run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())

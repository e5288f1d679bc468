"""The ``sifthinker`` command line: one entry point, one module per subcommand (see :mod:`sifthinker.cli.main`)."""

MODEL_NAMES_HELP = "a hub id, a local checkpoint folder, or a shipped model: sif-tiny-sft, sif-tiny-base, sif-tiny"


def add_model_argument(p, *, default: str | None = None, help: str | None = None) -> None:
    """``--model`` as every command that loads a checkpoint takes it (required unless it has a default)."""
    p.add_argument(
        "--model", required=default is None, default=default,
        help=help or MODEL_NAMES_HELP + (f" (default {default})" if default else ""),
    )  # fmt: skip

"""``sifthinker serve``: an OpenAI-compatible server for a checkpoint (see :mod:`sifthinker.serve`)."""

from __future__ import annotations

import argparse

HELP = "serve a model behind an OpenAI-compatible /v1/chat/completions on 127.0.0.1 (HF backend)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--model",
        required=True,
        help="hub id, local checkpoint folder, sif-tiny-base (shipped, pretrained) or sif-tiny (random)",
    )
    p.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--name", default=None, help="the model name clients use (default: --model)")
    p.add_argument("--image-root", default=None, help="accept image paths inside this folder (default: none)")
    p.add_argument("--max-new-tokens", type=int, default=2048)
    p.add_argument("--batch-size", type=int, default=4, help="requests generated together")
    p.add_argument("--queue-size", type=int, default=64, help="requests waiting before 503s")
    p.add_argument("--max-request-mb", type=float, default=32.0)
    p.add_argument("--device", default=None)
    p.add_argument("--dtype", default="auto")


def run(args: argparse.Namespace) -> int:
    from sifthinker.infer import GenerationConfig, SIFThinker
    from sifthinker.serve import ServeConfig, SIFServer

    cfg = ServeConfig(
        host=args.host, port=args.port, model_name=args.name or args.model, image_root=args.image_root,
        max_request_bytes=int(args.max_request_mb * 1024 * 1024), max_new_tokens=args.max_new_tokens,
        queue_size=args.queue_size, batch_size=args.batch_size,
    )  # fmt: skip
    thinker = SIFThinker(
        args.model, depth="none", device=args.device, dtype=args.dtype,
        generation=GenerationConfig(max_new_tokens=args.max_new_tokens),
    )  # fmt: skip
    server = SIFServer(thinker, cfg)
    print(f"serving {cfg.model_name} at http://{cfg.host}:{cfg.port}/v1 (Ctrl-C stops)")
    server.serve_forever()
    return 0

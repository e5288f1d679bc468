"""``sifthinker serve``: an OpenAI-compatible server for a checkpoint (see :mod:`sifthinker.infer.server`).

Once it accepts connections it prints one line to stdout, ``serving NAME on http://HOST:PORT`` (``--port 0`` picks
a free port), so a script can wait for it and read the address.
"""

from __future__ import annotations

import argparse
import os

from sifthinker.cli import add_model_argument

HELP = "serve a model behind an OpenAI-compatible /v1/chat/completions on 127.0.0.1 (HF backend)"
API_KEY_ENV = "SIFTHINKER_API_KEY"


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_model_argument(p)
    p.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=8000, help="0 picks a free port")
    p.add_argument("--name", default=None, help="the model name clients use (default: --model)")
    p.add_argument("--image-root", default=None, help="accept image paths inside this folder (default: none)")
    p.add_argument("--max-new-tokens", type=int, default=2048)
    p.add_argument("--batch-size", type=int, default=4, help="requests generated together")
    p.add_argument("--queue-size", type=int, default=64, help="requests waiting before 503s")
    p.add_argument("--max-request-mb", type=float, default=32.0)
    p.add_argument(
        "--api-key",
        default=None,
        help=f"require 'Authorization: Bearer KEY' (default: ${API_KEY_ENV}, else no key; prefer the variable, "
        "a flag is visible to other users in the process list)",
    )
    p.add_argument("--header-timeout", type=float, default=10.0, help="seconds to send a request head")
    p.add_argument("--body-timeout", type=float, default=30.0, help="seconds to send a request body")
    p.add_argument("--keep-alive", type=float, default=5.0, help="seconds an idle connection is kept open")
    p.add_argument("--request-timeout", type=float, default=600.0, help="seconds for queueing plus generation")
    p.add_argument("--backlog", type=int, default=2048, help="the listen queue")
    p.add_argument("--device", default=None)
    p.add_argument("--dtype", default="auto")


def run(args: argparse.Namespace) -> int:
    from sifthinker.infer import DecodingConfig, SIFThinker
    from sifthinker.infer.server import ServeConfig, SIFServer

    api_key = args.api_key if args.api_key is not None else (os.environ.get(API_KEY_ENV) or None)
    cfg = ServeConfig(
        host=args.host, port=args.port, model_name=args.name or args.model, image_root=args.image_root,
        max_request_bytes=int(args.max_request_mb * 1024 * 1024), max_new_tokens=args.max_new_tokens,
        queue_size=args.queue_size, batch_size=args.batch_size, api_key=api_key,
        header_timeout_s=args.header_timeout, body_timeout_s=args.body_timeout, keep_alive_s=args.keep_alive,
        request_timeout_s=args.request_timeout, backlog=args.backlog,
    )  # fmt: skip
    thinker = SIFThinker(
        args.model, depth="none", device=args.device, dtype=args.dtype,
        generation=DecodingConfig(max_new_tokens=args.max_new_tokens),
    )  # fmt: skip
    server = SIFServer(thinker, cfg)
    server.serve_forever(on_ready=lambda: print(f"serving {cfg.model_name} on {server.url}", flush=True))
    return 0

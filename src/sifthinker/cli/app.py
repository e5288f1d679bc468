"""``sifthinker app``: a local Gradio app showing a model's focus path step by step (the ``app`` extra)."""

from __future__ import annotations

import argparse
import sys
import tempfile

from sifthinker.cli import add_model_argument

HELP = "a local web app: ask a model about an image and see its focus path step by step (needs the app extra)"
DESCRIPTION = (
    "Start a Gradio app on 127.0.0.1 (by default): upload an image or pick a synthetic test scene, ask a question "
    "with optional choices, depth estimated / given / off; the answer and the focus path appear step by step, each "
    "step's boxes on the image and on the depth image with the stated and the true box-mean depth. A malformed "
    "generation is shown as written, with its parse error. Gradio's analytics are off."
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_model_argument(p, default="sif-tiny-sft")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1, this machine only)")
    p.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    p.add_argument("--depth-model", default=None, help="depth model hub id or local folder for 'estimated' depth")
    p.add_argument("--device", default=None)
    p.add_argument("--max-new-tokens", type=int, default=512)
    p.add_argument("--examples", type=int, default=4, help="synthetic scenes rendered at start-up (default 4)")
    p.add_argument("--example-size", type=int, default=112, help="their size in pixels (default 112)")


def run(args: argparse.Namespace) -> int:
    try:
        from sifthinker.app.ui import launch
    except ImportError as e:
        print(f"sifthinker app: Gradio is not installed ({e}); pip install 'sifthinker[app]'", file=sys.stderr)
        return 2
    from sifthinker.app.examples import render_examples
    from sifthinker.app.session import AppSession

    if args.examples < 1 or args.example_size < 16:
        print("sifthinker app: --examples must be >= 1 and --example-size >= 16", file=sys.stderr)
        return 2
    try:
        session = AppSession(
            args.model, depth_model=args.depth_model, device=args.device, max_new_tokens=args.max_new_tokens
        )
    except (ValueError, OSError) as e:
        print(f"sifthinker app: cannot load model {args.model!r}: {e}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="sifthinker-app-") as tmp:
        examples = render_examples(tmp, args.examples, size=args.example_size)
        print(f"sifthinker app: {args.model} on http://{args.host}:{args.port} (Ctrl+C stops)", flush=True)
        launch(session, examples, host=args.host, port=args.port, allowed_paths=[tmp])
    return 0

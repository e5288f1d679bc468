"""The Gradio layout of ``sifthinker app``: inputs on the left (image, question, choices, depth), the focus path on
the right (the answer or the parse error, then one row per step), the raw text and the focus path as data below.

Two API endpoints, the same as the buttons: ``/think`` (generate) and ``/draw`` (draw a completion written
elsewhere). Both return ``(html, raw completion, focus path dict)``.
"""

from __future__ import annotations

import logging
import os

# Gradio's usage analytics and its version check (both network calls) stay off; gradio reads this at call time.
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"

from .draw import CSS, steps_html  # noqa: E402
from .examples import Example  # noqa: E402
from .session import DEPTH_CHOICES, AppResult, AppSession  # noqa: E402

__all__ = ["build_app", "launch"]

logger = logging.getLogger(__name__)

INTRO = """# SIFThinker — see the focus
Model: `{model}`. Pick a synthetic scene below or upload an image, ask a question (options optional), choose how the
depth is obtained, and read the focus path step by step: each step's boxes on the image with the depth the model
stated, and on the depth image next to the true box-mean depth (when a lossless depth map is known).
"""

DEPTH_INFO = (
    "estimated: the depth model estimates a map · given: the depth file below (the examples carry their exact map) "
    "· off: an RGB-only prompt"
)


def _outputs(r: AppResult):
    return steps_html(r.view, r.image, r.depth_image), r.view.completion, r.view.to_dict()


def build_app(session: AppSession, examples: list[Example]):
    """The ``gr.Blocks`` of the app around a loaded :class:`AppSession`."""
    import gradio as gr

    def think(image, question, choices, depth_choice, depth_file):
        try:
            return _outputs(session.ask(image, question, choices, depth_choice, depth_file))
        except ValueError as e:
            raise gr.Error(str(e)) from None

    def draw(image, completion, depth_choice, depth_file):
        try:
            return _outputs(session.draw(image, completion, depth_choice, depth_file))
        except ValueError as e:
            raise gr.Error(str(e)) from None

    # Inputs are created first (not yet placed) so the examples can sit at the top, above the fold.
    image = gr.Image(type="pil", label="Image", sources=["upload", "clipboard"], height=260, render=False)
    question = gr.Textbox(label="Question", placeholder="Which is closer to the camera, ...?", render=False)
    choices = gr.Textbox(
        label="Choices (optional): one per line, or separated by ;", lines=2, max_lines=8, render=False
    )
    depth_choice = gr.Radio(list(DEPTH_CHOICES), value="given", label="Depth", info=DEPTH_INFO, render=False)
    depth_file = gr.File(
        label="Depth file (for 'given'): .npy / 16-bit PNG map, or a colourised PNG",
        file_types=[".npy", ".png"], type="filepath", height=120, render=False,
    )  # fmt: skip
    with gr.Blocks(title="SIFThinker — see the focus", analytics_enabled=False) as demo:
        gr.Markdown(INTRO.format(model=session.model_name))
        gr.Examples(
            examples=[e.row() for e in examples],
            inputs=[image, question, choices, depth_choice, depth_file],
            label="Synthetic test scenes (with their exact depth maps): click one, then Ask the model",
        )
        with gr.Row(equal_height=False):
            with gr.Column(scale=2, min_width=320):
                for component in (image, question, choices, depth_choice, depth_file):
                    component.render()
                ask = gr.Button("Ask the model", variant="primary")
                with gr.Accordion("Draw a completion written elsewhere (e.g. from predictions.jsonl)", open=False):
                    completion = gr.Textbox(label="Completion", lines=5, placeholder="<think><area>[...]</area>...")
                    draw_btn = gr.Button("Draw this completion")
            with gr.Column(scale=3, min_width=480):
                result = gr.HTML(
                    "<div class='sif-steps'><div class='sif-head'>The answer and the focus path appear here.</div>"
                    "</div>",
                    label="Focus path",
                )
                raw = gr.Textbox(label="Raw generation", lines=4, max_lines=12, buttons=["copy"], interactive=False)
                with gr.Accordion("Focus path as data", open=False):
                    data = gr.JSON(label="Focus path")
        outputs = [result, raw, data]
        inputs = [image, question, choices, depth_choice, depth_file]
        ask.click(think, inputs, outputs, api_name="think", concurrency_limit=1)
        question.submit(think, inputs, outputs, api_name=False, concurrency_limit=1)
        draw_btn.click(draw, [image, completion, depth_choice, depth_file], outputs, api_name="draw")
    return demo


def launch(
    session: AppSession,
    examples: list[Example],
    *,
    host: str = "127.0.0.1",
    port: int | None = None,
    block: bool = True,
    allowed_paths: list[str] | None = None,
):
    """Build and start the app on ``host:port`` (loopback by default); returns the Blocks (``block=False``: the
    server runs in a thread, ``demo.close()`` stops it)."""
    demo = build_app(session, examples)
    demo.queue(default_concurrency_limit=1)
    demo.launch(
        server_name=host, server_port=port, share=False, prevent_thread_lock=not block, quiet=not block,
        show_error=True, allowed_paths=allowed_paths, css=CSS, footer_links=["api", "settings"], pwa=False,
        ssr_mode=False, mcp_server=False, enable_monitoring=False,
    )  # fmt: skip
    return demo

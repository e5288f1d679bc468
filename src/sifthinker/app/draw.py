"""Drawing a :class:`~.steps.FocusView`: each step's boxes on the image (with the stated depths) and on the depth
image (stated next to the true box-mean), laid out as one HTML block of rows, step text beside the pictures.

Pictures are embedded as PNG data URLs, so the block needs nothing from a server or the network.
"""

from __future__ import annotations

import html

from PIL import Image, ImageDraw, ImageFont

from ..infer.viz import STEP_COLOURS
from ..io import data_url, encode_image
from ..trace import format_number
from .steps import FocusView, RegionView

__all__ = ["draw_regions", "steps_html", "display_size", "image_url"]

DISPLAY_PX = 300  # the longer side of each drawn picture


def display_size(size: tuple[int, int], target: int = DISPLAY_PX) -> tuple[int, int]:
    """``size`` scaled so its longer side is ``target`` (small scenes are enlarged, photos shrunk).

    >>> display_size((112, 112)), display_size((640, 480))
    ((300, 300), (300, 225))
    """
    w, h = size
    s = target / max(w, h)
    return max(1, round(w * s)), max(1, round(h * s))


def _font(px: int) -> ImageFont.ImageFont:
    return ImageFont.load_default(size=px)


def draw_regions(image: Image.Image, regions: list[RegionView], colour: str, *, true_depth: bool = False):
    """A copy of ``image`` at display size with each region's box and a depth label (``d 0.32``, or
    ``said 0.32 · true 0.35`` with ``true_depth``). Boxes are clipped to the picture for drawing only."""
    im = image.convert("RGB").resize(display_size(image.size), Image.Resampling.BICUBIC)
    w, h = im.size
    draw = ImageDraw.Draw(im)
    font = _font(13)
    for r in regions:
        x1, y1, x2, y2 = (min(max(v, 0.0), 1.0) for v in r.box)
        rect = (x1 * w, y1 * h, max(x1 * w + 1, x2 * w - 1), max(y1 * h + 1, y2 * h - 1))
        draw.rectangle(rect, outline="black", width=4)
        draw.rectangle(rect, outline=colour, width=2)
        label = f"d {format_number(r.stated_depth, 2)}"
        if true_depth:
            true = "n/a" if r.true_depth is None else format_number(r.true_depth, 2)
            label = f"said {format_number(r.stated_depth, 2)} · true {true}"
        tx, ty = rect[0] + 2, rect[1] + 2
        bbox = draw.textbbox((tx, ty), label, font=font)
        if bbox[2] > w:  # keep the label inside the picture
            tx -= bbox[2] - w + 2
            bbox = draw.textbbox((tx, ty), label, font=font)
        draw.rectangle((bbox[0] - 2, bbox[1] - 2, bbox[2] + 2, bbox[3] + 2), fill=colour)
        draw.text((tx, ty), label, fill="black", font=font)
    return im


def image_url(im: Image.Image, fmt: str = "PNG") -> str:
    return data_url(encode_image(im, fmt), f"image/{fmt.lower()}")


def _num(v: float | None) -> str:
    return "n/a" if v is None else format_number(v, 3)


def _region_table(regions: list[RegionView], with_truth: bool) -> str:
    head = "<tr><th>box (x1, y1, x2, y2)</th><th>stated depth</th>"
    head += "<th>true box-mean</th><th>error</th></tr>" if with_truth else "</tr>"
    rows = []
    for r in regions:
        box = ", ".join(format_number(v) for v in r.box)
        cells = f"<td>[{box}]</td><td>{_num(r.stated_depth)}</td>"
        if with_truth:
            cells += f"<td>{_num(r.true_depth)}</td><td>{_num(r.depth_error)}</td>"
        rows.append(f"<tr>{cells}</tr>")
    return f"<table class='sif-regions'>{head}{''.join(rows)}</table>"


def _figure(src: str, alt: str, caption: str) -> str:
    return f"<figure><img alt='{alt}' src='{src}'><figcaption>{html.escape(caption)}</figcaption></figure>"


def _header(view: FocusView) -> str:
    answer = html.escape(view.answer) if view.answer is not None else "<em>no answer</em>"
    if view.valid:
        n = len(view.steps)
        return (
            f"<div class='sif-head sif-ok'><b>Answer:</b> {answer}"
            f"<span class='sif-note'>a well-formed trace of {n} step{'s' * (n != 1)}</span></div>"
        )
    n = len(view.steps)
    return (
        "<div class='sif-head sif-bad'><b>Malformed generation</b> — it breaks the trace grammar, so it is shown as "
        f"written.<br><b>Parse error:</b> <code>{html.escape(view.error or '')}</code><br>"
        f"<b>Read leniently:</b> answer {answer} · {n} usable &lt;area&gt; block{'s' * (n != 1)}.</div>"
    )


def steps_html(view: FocusView, image: Image.Image, depth_image: Image.Image | None) -> str:
    """The whole result as HTML: a header (answer, or the parse error), then one row per step — the image with
    this step's boxes, the depth image with stated vs true depth, the step text and a table of the regions."""
    parts = [_header(view)]
    if depth_image is not None and depth_image.size != image.size:
        depth_image = depth_image.resize(image.size)
    for step in view.steps:
        colour = STEP_COLOURS[(step.index - 1) % len(STEP_COLOURS)]
        rgb = image_url(draw_regions(image, step.regions, colour))
        pics = [_figure(rgb, f"step {step.index} on the image", "the image · depth as stated")]
        if depth_image is not None:
            pic = image_url(draw_regions(depth_image, step.regions, colour, true_depth=view.has_true_depth))
            what = "stated vs true box-mean" if view.has_true_depth else "stated (no lossless map: true n/a)"
            pics.append(_figure(pic, f"step {step.index} on the depth image", f"depth (near = red) · {what}"))
        text = html.escape(step.text) if step.text is not None else "<em>(no step text: malformed trace)</em>"
        parts.append(
            f"<div class='sif-step' style='border-left-color:{colour}'>"
            f"<div class='sif-pics'>{''.join(pics)}</div>"
            f"<div class='sif-body'><div class='sif-title'>Step {step.index}</div><p>{text}</p>"
            f"{_region_table(step.regions, view.has_true_depth)}</div></div>"
        )
    if not view.steps:
        parts.append("<div class='sif-step sif-empty'>No usable &lt;area&gt; in the generation: no focus path.</div>")
    return "<div class='sif-steps'>" + "".join(parts) + "</div>"


# Styles of the block above (given to gr.Blocks(css=...)); Gradio's colour variables keep it legible in dark mode.
CSS = """
.sif-steps {display: flex; flex-direction: column; gap: 12px;}
.sif-head {padding: 10px 12px; border-radius: 8px; font-size: 15px; line-height: 1.5;}
.sif-ok {background: rgba(0, 200, 83, 0.12); border: 1px solid rgba(0, 200, 83, 0.5);}
.sif-bad {background: rgba(255, 23, 68, 0.10); border: 1px solid rgba(255, 23, 68, 0.55);}
.sif-head code {white-space: pre-wrap; word-break: break-word;}
.sif-note {margin-left: 12px; opacity: 0.7; font-size: 13px;}
.sif-step {display: flex; flex-wrap: wrap; gap: 12px; padding: 8px; border-left: 6px solid;
           border-radius: 6px; background: var(--block-background-fill);}
.sif-pics {display: flex; gap: 8px; flex-wrap: wrap;}
.sif-pics figure {margin: 0;}
.sif-pics img {width: 300px; height: auto; border-radius: 4px; display: block;}
.sif-pics figcaption {font-size: 12px; opacity: 0.75; margin-top: 2px;}
.sif-body {flex: 1; min-width: 220px;}
.sif-title {font-weight: 600; font-size: 15px; margin-bottom: 4px;}
.sif-regions {font-size: 13px; border-collapse: collapse; margin-top: 6px;}
.sif-regions td, .sif-regions th {border: 1px solid var(--border-color-primary); padding: 2px 6px;}
.sif-empty {opacity: 0.8; font-style: italic;}
"""

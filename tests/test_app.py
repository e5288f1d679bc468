"""``sifthinker app`` driven as a client would: a real Gradio server on 127.0.0.1 with the shipped sif-tiny-sft,
called through its HTTP API with gradio_client on a synthetic scene; plus the pure step logic it renders."""

from __future__ import annotations

import os
import re
import socket

import numpy as np
import pytest
from PIL import Image

os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"  # no call home from the test process either
from gradio_client import Client, handle_file  # noqa: E402

from sifthinker.app.draw import draw_regions, steps_html  # noqa: E402
from sifthinker.app.examples import render_examples  # noqa: E402
from sifthinker.app.session import AppSession  # noqa: E402
from sifthinker.app.steps import RegionView, focus_view  # noqa: E402
from sifthinker.depth import box_mean, load_depth  # noqa: E402
from sifthinker.infer import DecodingConfig, SIFThinker  # noqa: E402
from sifthinker.trace import TraceFormatError, parse_trace  # noqa: E402

# gradio's queue calls a pandas option that pandas 3 deprecates; not ours to fix
pytestmark = pytest.mark.filterwarnings("ignore:.*no_silent_downcasting", "ignore:The copy keyword is deprecated")

TRACE = (
    '<think><area>[{"bbox_2d": [0.1, 0.2, 0.5, 0.9], "depth": 0.3}]</area><text>The cube on the left.</text>'
    '<area>[{"bbox_2d": [0.5, 0.5, 0.9, 0.9], "depth": 0.1}, {"bbox_2d": [0, 0, 0.3, 0.3], "depth": 0.9}]</area>'
    "<text>The sphere and the sky.</text></think><answer>B</answer>"
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    from sifthinker.app.ui import launch

    tmp = tmp_path_factory.mktemp("app")
    examples = render_examples(tmp, 2)
    session = AppSession("sif-tiny-sft", max_new_tokens=400)
    demo = launch(session, examples, port=_free_port(), block=False, allowed_paths=[str(tmp)])
    try:
        yield demo, Client(demo.local_url, verbose=False), examples
    finally:
        demo.close()


def test_binds_loopback_and_exposes_think_and_draw(app):
    demo, client, _ = app
    assert re.match(r"http://127\.0\.0\.1:\d+/", demo.local_url)
    api = client.view_api(print_info=False, return_format="dict")
    assert {"/think", "/draw"} <= set(api["named_endpoints"])


def test_think_returns_the_models_generation_shown_as_it_is(app):
    _, client, examples = app
    ex = examples[1]
    html, raw, data = client.predict(
        handle_file(ex.image), ex.question, ex.choices, "given", handle_file(ex.depth), api_name="/think"
    )
    # the same greedy generation as the engine gives for this image, question and exact depth map
    thinker = SIFThinker("sif-tiny-sft", generation=DecodingConfig(max_new_tokens=400))
    choices = [c.strip() for c in ex.choices.split(";")] if ex.choices else None
    direct = thinker.think(ex.image, ex.question, choices, depth=load_depth(ex.depth))
    assert choices and len(choices) >= 2  # the options typed as "a; b" reach the prompt as a list
    assert raw == direct.text and data["completion"] == direct.text
    # the shipped SFT model writes a SIF trace here: the focus path comes back step by step, as parsed
    trace = parse_trace(raw)
    assert data["valid"] is True and data["error"] is None
    assert [s["text"] for s in data["steps"]] == [s.text for s in trace.steps] and len(trace.steps) >= 2
    truth = load_depth(ex.depth)
    for step, want in zip(data["steps"], trace.steps, strict=True):
        assert [r["stated_depth"] for r in step["regions"]] == [r.depth for r in want.regions]
        for r in step["regions"]:
            assert r["true_depth"] == pytest.approx(box_mean(truth, r["box"]), abs=1e-4)
    assert data["answer"] == trace.answer and "Malformed generation" not in html


def test_a_malformed_generation_is_shown_with_its_parse_error(app):
    _, client, examples = app
    ex = examples[0]
    broken = TRACE.replace("</text>", "", 1)
    html, raw, data = client.predict(handle_file(ex.image), broken, "given", handle_file(ex.depth), api_name="/draw")
    with pytest.raises(TraceFormatError) as e:
        parse_trace(broken)
    assert data["valid"] is False and data["error"] == str(e.value)
    assert "Malformed generation" in html and "Parse error" in html


def test_draw_returns_the_focus_path_with_true_box_depths(app):
    _, client, examples = app
    ex = examples[0]
    html, raw, data = client.predict(handle_file(ex.image), TRACE, "given", handle_file(ex.depth), api_name="/draw")
    assert raw == TRACE and data["valid"] is True and data["answer"] == "B" and data["has_true_depth"] is True
    truth = load_depth(ex.depth)
    t = parse_trace(TRACE)
    assert [s["text"] for s in data["steps"]] == [s.text for s in t.steps]
    for step, want in zip(data["steps"], t.steps, strict=True):
        assert [r["box"] for r in step["regions"]] == [list(r.box) for r in want.regions]
        assert [r["stated_depth"] for r in step["regions"]] == [r.depth for r in want.regions]
        for r in step["regions"]:
            assert r["true_depth"] == pytest.approx(box_mean(truth, r["box"]), abs=1e-4)
            assert r["depth_error"] == pytest.approx(abs(r["stated_depth"] - r["true_depth"]), abs=1e-4)
    # one row per step, each with the picture on the image and on the depth image, and the step text beside it
    assert html.count("class='sif-step'") == 2 and html.count("<img") == 4
    assert "The cube on the left." in html and "Answer:</b> B" in html


def test_malformed_completion_and_bad_input_are_explained(app):
    _, client, examples = app
    ex = examples[0]
    bad = 'I think <area>[{"bbox_2d": [0.2, 0.2, 0.6, 0.6], "depth": 0.4}]</area> so <answer>A</answer>'
    html, _, data = client.predict(handle_file(ex.image), bad, "off", None, api_name="/draw")
    assert data["valid"] is False and data["error"].startswith("[outside] at offset 0")
    assert len(data["steps"]) == 1 and data["steps"][0]["text"] is None and data["answer"] == "A"
    assert data["steps"][0]["regions"][0]["true_depth"] is None  # depth off: nothing to compare with
    assert "Malformed generation" in html and "[outside] at offset 0" in html
    with pytest.raises(Exception, match="needs a depth file"):
        client.predict(handle_file(ex.image), ex.question, "", "given", None, api_name="/think")
    with pytest.raises(Exception, match="at least two options"):
        client.predict(handle_file(ex.image), ex.question, "just one", "off", None, api_name="/think")


def test_focus_view_and_drawing_without_a_server():
    depth = np.tile(np.linspace(0, 1, 40, dtype=np.float32), (30, 1))
    v = focus_view(TRACE, depth)
    assert [len(s.regions) for s in v.steps] == [1, 2]
    assert v.steps[0].regions[0].true_depth == pytest.approx(box_mean(depth, (0.1, 0.2, 0.5, 0.9)), abs=1e-4)
    assert focus_view(TRACE).steps[0].regions[0].true_depth is None
    im = Image.new("RGB", (40, 30), "white")
    drawn = draw_regions(im, [RegionView((0.0, 0.0, 0.5, 0.5), 0.25, 0.3)], "#ff0000", true_depth=True)
    assert drawn.size == (300, 225)
    px = np.asarray(drawn)
    assert (px[:, :, 0] > 200).any() and ((px[:, :, 1] < 60) & (px[:, :, 0] > 200)).any()  # the red box is drawn
    assert np.asarray(drawn)[200, 280].tolist() == [255, 255, 255]  # outside the box: untouched
    html = steps_html(focus_view("nothing useful"), im, None)
    assert "no focus path" in html and "Malformed generation" in html


def test_cli_registers_app():
    from sifthinker.cli.main import make_parser

    args = make_parser().parse_args(["app"])
    assert args.model == "sif-tiny-sft" and args.host == "127.0.0.1"

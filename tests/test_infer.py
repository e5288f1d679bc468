"""Inference end to end with the offline tiny Qwen2.5-VL: think(), batching, depth handling, malformed output kept
visible, the focus-path drawing, the eval predictor and the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
from data_helpers import make_synth
from PIL import Image

from sifthinker.cli.main import main
from sifthinker.depth import save_depth
from sifthinker.infer import DecodingConfig, SIFThinker, draw_focus_path, load_predictor
from sifthinker.models.tiny import tiny_model_path


@pytest.fixture(scope="module")
def tiny():
    return str(tiny_model_path())


@pytest.fixture(scope="module")
def thinker(tiny):
    return SIFThinker(tiny, generation=DecodingConfig(max_new_tokens=12))


@pytest.fixture
def image(tmp_path):
    p = tmp_path / "img.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (56, 84, 3), dtype=np.uint8)).save(p)
    return p


def test_think_with_a_given_depth_map(thinker, image, tmp_path):
    d = np.tile(np.linspace(0, 1, 84, dtype=np.float32), (56, 1))
    save_depth(d, tmp_path / "d.npy")
    r = thinker.think(image, "Which object is closer?", ["the cube", "the ball"], depth=tmp_path / "d.npy")
    assert isinstance(r.text, str)
    assert np.array_equal(r.depth, d) and r.depth_image.size == (84, 56)
    # a random tiny model writes garbage: it is reported as malformed, never hidden
    assert r.trace is None and r.error and "[" in r.error and not r.valid
    doc = r.to_dict()
    assert doc["valid"] is False and doc["completion"] == r.text and doc["question"] == "Which object is closer?"


def test_greedy_is_deterministic_and_batching_matches(thinker, image):
    a = thinker.think(image, "How many cubes?", depth=np.zeros((56, 84), dtype=np.float32)).text
    b = thinker.think(image, "How many cubes?", depth=np.zeros((56, 84), dtype=np.float32)).text
    assert a == b
    other = (image, "Is there a red sphere in the image?", ["yes", "no"], np.ones((56, 84), dtype=np.float32))
    batch = thinker.think_batch([(image, "How many cubes?", None, np.zeros((56, 84), dtype=np.float32)), other])
    alone = thinker.think(*other[:3], depth=other[3]).text
    # left padding: in a batch of prompts of different lengths every prompt continues at its own end
    assert batch[0].text == a and batch[1].text == alone


def test_rgb_only_prompt(tiny, image):
    st = SIFThinker(tiny, depth="none", generation=DecodingConfig(max_new_tokens=4))
    r = st.think(image, "Is it red?")
    assert r.depth is None and r.depth_image is None


def test_depth_size_mismatch_is_a_clear_error(thinker, image):
    with pytest.raises(ValueError, match="does not match"):
        thinker.think(image, "q?", depth=np.zeros((10, 10), dtype=np.float32))


def test_bad_options():
    with pytest.raises(ValueError, match="depth mode"):
        SIFThinker(("m", "p"), depth="lidar")
    with pytest.raises(ValueError, match="max_new_tokens"):
        DecodingConfig(max_new_tokens=0)


def test_focus_path_drawing(thinker, image, tmp_path):
    r = thinker.think(image, "How many cubes?", depth=np.zeros((56, 84), dtype=np.float32))
    # draw a malformed result and a well-formed one built from a real trace
    p1 = draw_focus_path(r, tmp_path / "bad.png")
    from dataclasses import replace

    from sifthinker.trace import parse_trace, read_lenient

    text = (
        '<think><area>[{"bbox_2d": [0, 0, 1, 1], "depth": 0.5}]</area><text>The scene.</text>'
        '<area>[{"bbox_2d": [0.2, 0.3, 0.5, 0.9], "depth": 0.25}]</area><text>The cube.</text></think>'
        "<answer>2</answer>"
    )
    good = replace(r, text=text, trace=parse_trace(text), error=None, lenient=read_lenient(text))
    p2 = draw_focus_path(good, tmp_path / "good.png")
    for p in (p1, p2):
        with Image.open(p) as im:
            assert im.size[0] > im.size[1] > 100
    with Image.open(p2) as im:
        assert im.size[0] > Image.open(p1).size[0]  # one panel per step plus the depth panel


def test_predictor_on_the_synthetic_benchmark(tiny, tmp_path):
    synth = make_synth(tmp_path / "synth", n=4, size=56)
    out = tmp_path / "eval"
    rc = main(["eval", "--bench", "synthetic", "--data", str(synth), "--out", str(out), "--model", tiny,
               "--model-arg", "max_new_tokens=8", "--batch-size", "2", "--quiet"])  # fmt: skip
    assert rc == 0
    res = json.loads((out / "results.json").read_text())
    n = len((synth / "test.jsonl").read_text().splitlines())
    preds = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    assert n > 0 and len(preds) == n == res["counts"]["loaded"] == res["counts"]["evaluated"]
    # the random tiny model writes no <answer>: every item is a missing answer, scored wrong (never as the GT)
    assert res["counts"]["missing_answer"] == n and res["counts"]["correct"] == 0
    # in-process predictions carry their token counts: tokens per answer is measured, bounded by max_new_tokens
    assert all(1 <= p["tokens"] <= 8 for p in preds)
    assert res["focus"]["n_with_tokens"] == n and res["focus"]["tokens_per_answer"] == pytest.approx(
        sum(p["tokens"] for p in preds) / n, abs=0.01
    )
    p = load_predictor(tiny, max_new_tokens=4, batch_size=3)
    assert p.batch_size == 3 and p.thinker.generation.max_new_tokens == 4


def test_cli_infer(tiny, image, tmp_path, capsys):
    d = tmp_path / "d.npy"
    save_depth(np.zeros((56, 84), dtype=np.float32), d)
    args = ["infer", "--model", tiny, "--image", str(image), "--question", "How many cubes?", "--depth", str(d),
            "--max-new-tokens", "6", "--viz", str(tmp_path / "v.png")]  # fmt: skip
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "malformed output" in out and "answer:" in out and (tmp_path / "v.png").is_file()
    assert main([*args, "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["valid"] is False and "completion" in doc
    assert main(["infer", "--model", tiny, "--image", str(tmp_path / "nope.png"), "--question", "q"]) == 2


def test_predictor_saves_estimated_depth_where_the_harness_reads_it(tmp_path):
    # the predictor writes <depth_root>/<safe id>.npy; run_eval(depth_root=...) finds it for items without a map
    import types

    from eval_helpers import trace, write_synthetic

    from sifthinker.eval import run_eval
    from sifthinker.infer import SIFPredictor

    data = write_synthetic(tmp_path / "data", n=2, depth_value=0.5)
    lines = (data / "test.jsonl").read_text().splitlines()
    recs = [{k: v for k, v in json.loads(line).items() if k not in ("depth_path", "depth_image")} for line in lines]
    recs[1]["id"] = "synth/1 b"  # characters outside [A-Za-z0-9._-] become _
    (data / "test.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs))

    class Thinker:
        def think_batch(self, queries):
            assert all(q[3] is None for q in queries)  # no depth given: the model estimates it
            return [types.SimpleNamespace(text=trace("yes"), depth=np.full((24, 32), 0.5)) for _ in queries]

    depth_root = tmp_path / "depth"
    pred = SIFPredictor(Thinker(), depth_root=depth_root)
    res = run_eval("synthetic", data, pred, tmp_path / "run", depth_root=depth_root, progress=False)
    assert sorted(p.name for p in depth_root.iterdir()) == ["synth-0.npy", "synth_1_b.npy"]
    assert res["trace"]["n_with_depth"] == 2 and res["trace"]["depth_consistency"] == 100.0
    without = run_eval("synthetic", data, None, tmp_path / "run", mode="score", progress=False)
    assert without["trace"]["n_with_depth"] == 0

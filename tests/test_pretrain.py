"""Pretraining the tiny base: tasks, dense labels, the recipe, a real run that is killed and resumed, the card."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from sifthinker.pretrain import PretrainConfig, load_pretrain_config
from sifthinker.pretrain.tasks import (
    COLOUR_CLASSES,
    SHAPE_CLASSES,
    SUBGRID,
    dense_labels,
    eval_rng,
    make_example,
    parse_region,
    train_rng,
)
from sifthinker.synth import world_config
from sifthinker.synth.render import render_scene

WORLD = world_config("close", image_size=(112, 112))


def test_tasks_encode_the_scene():
    scene = render_scene(WORLD, train_rng(0, 3, 1))
    objs = [o for o in scene.objects if o.askable]
    listing = make_example(scene, train_rng(0, 3, 1), "list", decimals=2)
    assert len(listing.answer.splitlines()) == len(objs)
    first = min(objs, key=lambda o: o.box_norm)
    name, _, region = listing.answer.splitlines()[0].partition(" {")
    assert name == first.name
    box, depth = parse_region("{" + region)
    assert box == pytest.approx(first.box_norm, abs=0.0051) and depth == pytest.approx(first.depth, abs=0.0051)
    for seed in range(20):
        rng = train_rng(0, seed, 0)
        scene = render_scene(WORLD, rng)
        ex = make_example(scene, rng, "depth", decimals=2)
        assert float(ex.answer) == pytest.approx(ex.depth)
        ex = make_example(scene, rng, "name", decimals=1)
        assert ex.task == "list" or ex.answer == "nothing" or ex.answer in {o.name for o in scene.objects}
        ground = make_example(scene, rng, "ground", decimals=1)
        if ground.task == "ground":  # one decimal: every number has at most one
            assert all(len(frac) == 1 for frac in re.findall(r"\d\.(\d+)", ground.answer))
            assert parse_region(ground.answer)[0] == ground.box


def test_no_pretraining_scene_is_a_dataset_or_test_scene():
    from sifthinker.synth.render import as_rng

    def key(rng):
        return rng.bit_generator.state["state"]["state"]

    demo = {key(as_rng((s, i))) for s in range(3) for i in range(200)}
    pre = {key(train_rng(s, k, j)) for s in range(3) for k in range(50) for j in range(4)}
    held = {key(eval_rng(s, i)) for s in range(3) for i in range(200)}
    assert not (demo & pre) and not (demo & held) and not (pre & held)


def test_dense_labels_follow_the_token_order():
    scene = render_scene(WORLD, train_rng(0, 1, 0))
    lab = dense_labels(scene)
    assert lab["colour"].shape == (16, SUBGRID * SUBGRID)
    o = max(scene.objects, key=lambda o: o.n_visible)
    mask_px = o.mask[3::7, 3::7]  # the centre pixel of every 7-px sub-cell
    sy, sx = np.argwhere(mask_px)[len(np.argwhere(mask_px)) // 2]
    token, sub = (sy // 4) * 4 + sx // 4, (sy % 4) * 4 + sx % 4
    assert COLOUR_CLASSES[lab["colour"][token, sub]] == o.colour
    assert SHAPE_CLASSES[lab["shape"][token, sub]] == o.shape
    assert np.allclose(lab["depth"].mean(), scene.depth.mean(), atol=1e-5)


def test_recipe_loads_and_bad_keys_are_named(tmp_path):
    cfg = load_pretrain_config("recipes/tiny/pretrain/config.yaml", ["max_steps=100", "model.vision_depth=2"])
    assert cfg.max_steps == 100 and cfg.tiny_config().vision_depth == 2 and cfg.phase_at(99).objects == (2, 4)
    with pytest.raises(ValueError, match="unknown keys"):
        load_pretrain_config(None, ["learnin_rate=1"])
    with pytest.raises(ValueError, match="model"):
        PretrainConfig(model={"seed": 3})
    with pytest.raises(ValueError, match="phases"):
        PretrainConfig(phases=({"until": 0.5, "objects": [1, 2], "decimals": 2},))
    with pytest.raises(ValueError, match="multiple of 28"):
        PretrainConfig(image_size=100)


SMALL = [
    "image_size=56", "batch_size=2", "max_steps=4", "logging_steps=1", "save_steps=2", "eval_steps=100",
    "eval_scenes=2", "final_eval_scenes=3", "warmup_steps=1", "model.hidden_size=32", "model.intermediate_size=64",
    "model.num_hidden_layers=1", "model.mrope_section=[1,1,2]", "model.vision_depth=1", "model.vision_hidden_size=16",
    "model.vision_intermediate_size=32", "model.vision_fullatt_block_indexes=[0]",
]  # fmt: skip


def test_pretrain_runs_resumes_and_matches_an_uninterrupted_run(tmp_path):
    import torch
    from safetensors.torch import load_file

    from sifthinker.pretrain.loop import latest_checkpoint, pretrain

    straight = load_pretrain_config("recipes/tiny/pretrain/config.yaml", [*SMALL, f"output_dir={tmp_path / 'a'}"])
    info = pretrain(straight, progress=False)
    assert info["steps"] == 4 and info["eval"]["scenes"] == 3
    model_dir = tmp_path / "a" / "model"
    card = (model_dir / "README.md").read_text()
    assert "grounding IoU" in card and "sifthinker pretrain" in card
    assert json.loads((model_dir / "pretrain_results.json").read_text())["samples"] == 8

    killed = load_pretrain_config("recipes/tiny/pretrain/config.yaml", [*SMALL, f"output_dir={tmp_path / 'b'}"])
    stopped = pretrain(killed, progress=False, max_steps_this_run=2)
    assert stopped == {"stopped_at": 2, "parameters": info["parameters"]}
    assert latest_checkpoint(tmp_path / "b").name == "step-000002"
    pretrain(killed, progress=False)  # resumes at step 2
    a = load_file(model_dir / "model.safetensors")
    b = load_file(tmp_path / "b" / "model" / "model.safetensors")
    assert a.keys() == b.keys()
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)
    steps = [json.loads(x)["step"] for x in (tmp_path / "b" / "metrics.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3, 4]  # every step logged once, across the two processes

    other = load_pretrain_config(None, [*SMALL, f"output_dir={tmp_path / 'b'}", "learning_rate=0.5"])
    with pytest.raises(ValueError, match="learning_rate"):
        pretrain(other, progress=False)

    from transformers import AutoModelForImageTextToText, AutoProcessor

    model = AutoModelForImageTextToText.from_pretrained(model_dir)
    assert not any("dense" in k for k in model.state_dict())  # the auxiliary head is not part of the checkpoint
    assert AutoProcessor.from_pretrained(model_dir).tokenizer.convert_tokens_to_ids("<|image_pad|>") > 0

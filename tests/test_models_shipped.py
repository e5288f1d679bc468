"""The pretrained tiny base that ships inside the package: it resolves by name, offline, wherever a model is taken,
and it can see (its card's held-out figures beat the trivial baselines)."""

from __future__ import annotations

import json

from sifthinker.models.loading import BASE_MODEL_NAME, load_model, resolve_model_path, shipped_model_dir


def test_the_shipped_base_resolves_and_loads_like_a_checkpoint():
    folder = shipped_model_dir()
    assert resolve_model_path(BASE_MODEL_NAME) == str(folder)
    size = (folder / "model.safetensors").stat().st_size
    assert size < 20 * 2**20  # at most ~20 MB in the package
    model, processor = load_model(BASE_MODEL_NAME, dtype="float32")
    assert model.config.model_type == "qwen2_5_vl"
    assert not any(p.requires_grad is False for p in model.model.visual.parameters())  # nothing frozen on load
    assert processor.tokenizer.convert_tokens_to_ids("<|image_pad|>") == model.config.image_token_id


def test_the_card_states_measured_figures_that_beat_the_baselines():
    folder = shipped_model_dir()
    card = (folder / "README.md").read_text(encoding="utf-8")
    for words in ("perception only", "grounding IoU", "sifthinker pretrain", "Wall time"):
        assert words in card
    info = json.loads((folder / "card.json").read_text())
    ev = info["eval"]
    assert ev["ground_iou"] > ev["mean_box_iou"]
    assert ev["ground_depth_abs_error"] < ev["mean_depth_abs_error"]
    assert info["train_seconds"] > 3600  # trained for hours, not a smoke run


def test_the_base_answers_a_grounding_question():
    from sifthinker.pretrain.config import PretrainConfig
    from sifthinker.pretrain.evaluate import generate
    from sifthinker.pretrain.loop import phase_world, scene_images
    from sifthinker.pretrain.tasks import eval_rng, make_example, parse_region
    from sifthinker.synth.render import render_scene

    model, processor = load_model(BASE_MODEL_NAME, dtype="float32")
    cfg = PretrainConfig()
    items = []
    for i in range(1000, 1008):  # held-out scenes beyond the card's
        rng = eval_rng(cfg.seed, i)
        scene = render_scene(phase_world(cfg, (2, 4)), rng)
        ex = make_example(scene, rng, "ground", 2)
        if ex.task == "ground":
            items.append((ex, scene_images(scene)))
    out = generate(model, processor, [(e.question, im) for e, im in items], 48)
    parsed = [parse_region(t) for t in out]
    assert sum(p is not None for p in parsed) >= len(items) - 1  # it answers in the region syntax


def test_infer_and_training_take_the_name(tmp_path):
    from PIL import Image

    from sifthinker.infer import DecodingConfig, SIFThinker
    from sifthinker.train.common import load_for_training
    from sifthinker.train.configs import load_config

    thinker = SIFThinker(BASE_MODEL_NAME, depth="none", generation=DecodingConfig(max_new_tokens=8))
    res = thinker.think(Image.new("RGB", (112, 112), (90, 120, 200)), "Where is the red cube?")
    assert isinstance(res.text, str)
    cfg = load_config("sft", None, model_name_or_path=BASE_MODEL_NAME, train_data=str(tmp_path), use_cpu=True,
                      bf16=False, output_dir=str(tmp_path / "out"), report_to="none")  # fmt: skip
    model, _ = load_for_training(cfg)
    assert model.config.text_config.hidden_size == thinker.model.config.text_config.hidden_size


def test_the_shipped_sft_model_resolves_with_its_prompt_and_card():
    from sifthinker.models.loading import SFT_MODEL_NAME, checkpoint_prompt

    folder = shipped_model_dir(SFT_MODEL_NAME)
    assert resolve_model_path(SFT_MODEL_NAME) == str(folder)
    assert (folder / "model.safetensors").stat().st_size < 20 * 2**20
    assert checkpoint_prompt(SFT_MODEL_NAME) == {"instruction": "", "with_depth": True}  # trained without one
    ev = json.loads((folder / "card.json").read_text())["eval"]
    assert ev["spatial_accuracy"] > ev["answers_only_spatial_accuracy"]
    assert ev["depth_abs_error"] < ev["depth_abs_error_mean_baseline"]
    assert "make demo" in (folder / "README.md").read_text(encoding="utf-8")


def test_the_shipped_sft_model_writes_sif_traces_on_unseen_scenes(tmp_path):
    from sifthinker.app.examples import render_examples
    from sifthinker.depth import load_depth
    from sifthinker.infer import DecodingConfig, SIFThinker
    from sifthinker.models.loading import SFT_MODEL_NAME
    from sifthinker.trace import parse_trace

    thinker = SIFThinker(SFT_MODEL_NAME, generation=DecodingConfig(max_new_tokens=400))
    assert thinker.instruction == ""  # read from its sif_prompt.json, not the shared default
    examples = render_examples(tmp_path, 4)
    valid = 0
    for ex in examples:
        choices = [c.strip() for c in ex.choices.split(";")] if ex.choices else None
        res = thinker.think(ex.image, ex.question, choices, depth=load_depth(ex.depth))
        try:
            trace = parse_trace(res.text)
        except ValueError:
            continue
        valid += bool(trace.steps) and bool(trace.answer)
    assert valid >= 3, valid

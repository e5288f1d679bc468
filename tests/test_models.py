"""The offline tiny Qwen2.5-VL and model loading: a real checkpoint layout, generation from the shared prompt,
an exact tokenizer round trip, determinism, the pixel budget, vision freezing and LoRA targets."""

from __future__ import annotations

import json

import pytest
from train_fixtures import records, tiny_model_dir

from sifthinker.models import (
    TinyModelConfig,
    build_tiny_model,
    freeze_vision,
    load_model,
    tiny_model_path,
    vision_module_names,
)
from sifthinker.models.tiny import QWEN_SPECIAL_TOKENS
from sifthinker.prompts import prompt_images, record_prompt
from sifthinker.records import assistant_text


@pytest.fixture(scope="module")
def tiny():
    from transformers import AutoModelForImageTextToText, AutoProcessor

    path = tiny_model_dir()
    return path, AutoModelForImageTextToText.from_pretrained(path), AutoProcessor.from_pretrained(path)


def test_loads_like_a_hub_checkpoint(tiny):
    path, model, processor = tiny
    assert type(model).__name__ == "Qwen2_5_VLForConditionalGeneration"
    assert type(processor).__name__ == "Qwen2_5_VLProcessor"
    tok = processor.tokenizer
    assert type(tok).__name__ == "Qwen2Tokenizer"
    ids = [tok.convert_tokens_to_ids(t) for t in QWEN_SPECIAL_TOKENS]
    assert len(set(ids)) == 14 and tok.unk_token_id not in ids or tok.unk_token_id is None
    assert model.config.image_token_id == tok.convert_tokens_to_ids("<|image_pad|>")
    assert model.config.vision_start_token_id == tok.convert_tokens_to_ids("<|vision_start|>")
    assert dict(processor.image_processor.size)["longest_edge"] == TinyModelConfig().max_pixels
    assert processor.chat_template and "<|vision_start|><|image_pad|><|vision_end|>" in processor.chat_template
    assert sum(p.numel() for p in model.parameters()) < 2_000_000


def test_generates_from_the_shared_prompt_with_two_images(tiny):
    import torch
    from trl.data_utils import prepare_multimodal_messages

    _, model, processor = tiny
    rec = records()[0]
    msgs = prepare_multimodal_messages(record_prompt(rec), prompt_images(rec, load=True))
    inputs = processor.apply_chat_template(
        msgs, add_generation_prompt=True, tokenize=True, return_dict=True, return_tensors="pt"
    )
    assert inputs["image_grid_thw"].shape[0] == 2
    text = processor.decode(inputs["input_ids"][0])
    assert text.count("<|vision_start|>") == 2 and "Original image: <|vision_start|>" in text
    assert text.endswith("<|im_start|>assistant\n")
    with torch.no_grad():
        out = model.generate(**inputs, max_new_tokens=8, do_sample=False)
    assert out.shape[1] > inputs["input_ids"].shape[1]


def test_tokenizer_round_trips_sif_traces_exactly(tiny):
    tok = tiny[2].tokenizer
    traces = [assistant_text(r) for r in records()]
    traces.append(
        '<think>\n<area>[{"bbox_2d": [0.1, 0.2, 0.95, 1], "depth": 0.001}]</area>\n<text>a < b, ‹b› é</text>'
        "\n</think>\n<answer>(B) 12</answer>"
    )
    for t in traces:
        ids = tok(t, add_special_tokens=False)["input_ids"]
        assert tok.decode(ids) == t
        assert tok.unk_token_id is None or tok.unk_token_id not in ids
    # the SIF tags and digits tokenise into short pieces, not bytes
    ids = tok('<area>[{"bbox_2d": [0, 0, 1, 1], "depth": 0.465}]</area>', add_special_tokens=False)["input_ids"]
    assert len(ids) < 35


def test_deterministic_for_a_seed_and_cached(tmp_path):
    base = tiny_model_dir()
    again = tiny_model_path(TinyModelConfig(seed=0), cache_dir=tmp_path)
    for name in ("model.safetensors", "tokenizer.json", "config.json"):
        assert (again / name).read_bytes() == (base / name).read_bytes(), name
    mtime = (again / "model.safetensors").stat().st_mtime_ns
    assert tiny_model_path(TinyModelConfig(seed=0), cache_dir=tmp_path) == again
    assert (again / "model.safetensors").stat().st_mtime_ns == mtime  # reused, not rebuilt
    other = build_tiny_model(tmp_path / "seed1", TinyModelConfig(seed=1))
    assert (other / "model.safetensors").read_bytes() != (base / "model.safetensors").read_bytes()
    assert (other / "tokenizer.json").read_bytes() == (base / "tokenizer.json").read_bytes()


def test_tiny_config_checks():
    with pytest.raises(ValueError, match="mrope_section"):
        TinyModelConfig(mrope_section=(2, 2, 2))


def test_load_model_pixel_budget_and_errors(tmp_path):
    model, processor = load_model(tiny_model_dir(), dtype="float32", min_pixels=28 * 28 * 4, max_pixels=28 * 28 * 16)
    assert dict(processor.image_processor.size) == {"shortest_edge": 3136, "longest_edge": 12544}
    from PIL import Image

    grid = processor.image_processor(images=[Image.new("RGB", (448, 336))], return_tensors="pt")["image_grid_thw"]
    assert grid.tolist() == [[1, 6, 8]]  # 6 x 8 patches of 14 px = 9,408 px <= the 12,544 budget (not 12 x 18)
    with pytest.raises(ValueError, match="min_pixels"):
        load_model(tiny_model_dir(), min_pixels=10_000, max_pixels=100)
    with pytest.raises(ValueError, match="dtype"):
        load_model(tiny_model_dir(), dtype="float8")
    with pytest.raises(ValueError, match="cannot load a model config"):
        load_model(tmp_path / "nothing-here")
    (tmp_path / "textonly").mkdir()
    (tmp_path / "textonly" / "config.json").write_text(json.dumps({"model_type": "qwen2"}))
    with pytest.raises(ValueError, match="not an image-text-to-text model"):
        load_model(tmp_path / "textonly")


def test_freeze_vision_and_lora_targets():
    model, _ = load_model(tiny_model_dir(), with_processor=False)
    assert vision_module_names(model) == ["model.visual"]
    n = freeze_vision(model)
    assert n > 0
    for name, p in model.named_parameters():
        assert p.requires_grad == (not name.startswith("model.visual.")), name

    def lora_hits(freeze: bool) -> list[str]:  # the layers PEFT wraps under the training code's LoRA config
        from peft import get_peft_model

        from sifthinker.train.common import lora_config
        from sifthinker.train.configs import SIFArguments

        fresh, _ = load_model(tiny_model_dir(), with_processor=False)
        cfg = SIFArguments(use_peft=True, lora_target_modules=["all-linear"], freeze_vision=freeze)
        wrapped = get_peft_model(fresh, lora_config(fresh, cfg))
        return [n.removeprefix("base_model.model.") for n, m in wrapped.named_modules() if hasattr(m, "lora_A")]

    lm_hits = lora_hits(freeze=True)
    assert lm_hits and all(n.startswith("model.language_model.") for n in lm_hits)
    assert {n.rsplit(".", 1)[1] for n in lm_hits} == {
        "q_proj",
        "k_proj",
        "v_proj",
        "o_proj",
        "gate_proj",
        "up_proj",
        "down_proj",
    }
    all_hits = lora_hits(freeze=False)
    assert any(n.startswith("model.visual.") for n in all_hits) and "lm_head" not in all_hits
    assert set(lm_hits) < set(all_hits)

"""What of the GPU check runs on a CPU: the published Qwen2.5-VL-3B/-7B configs (exact sizes), the offline tokenizer
and processor at the published token ids, a scaled-down copy's forward, the script's plan and time boxes, and the
vLLM predictor's pure parts and its missing-extra error."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

from sifthinker.infer import load_predictor

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"
sys.path.insert(0, str(SCRIPTS))
import gpu_check  # noqa: E402  (scripts/ is not a package)

# Published sizes (the checkpoints' config.json; parameter counts as the model cards give them: 3.75B and 8.29B).
PUBLISHED = {
    "3b": {"hidden": 2048, "layers": 36, "heads": 16, "kv_heads": 2, "ffn": 11008, "vocab": 151936, "tied": True,
           "params": 3_754_622_976},
    "7b": {"hidden": 3584, "layers": 28, "heads": 28, "kv_heads": 4, "ffn": 18944, "vocab": 152064, "tied": False,
           "params": 8_292_166_656},
}  # fmt: skip


@pytest.mark.parametrize("name", ["3b", "7b"])
def test_published_configs_parse_with_their_sizes(name):
    import torch
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

    want = PUBLISHED[name]
    cfg = gpu_check.model_config(name)
    assert isinstance(cfg, Qwen2_5_VLConfig)
    t, v = cfg.text_config, cfg.vision_config
    assert (t.hidden_size, t.num_hidden_layers, t.num_attention_heads, t.num_key_value_heads, t.intermediate_size) == (
        want["hidden"], want["layers"], want["heads"], want["kv_heads"], want["ffn"])  # fmt: skip
    assert t.vocab_size == want["vocab"] and bool(cfg.tie_word_embeddings) is want["tied"]
    assert (v.depth, v.hidden_size, v.num_heads, v.out_hidden_size) == (32, 1280, 16, want["hidden"])
    assert list(v.fullatt_block_indexes) == [7, 15, 23, 31] and v.window_size == 112
    assert t.rope_parameters["mrope_section"] == [16, 24, 24] and t.rope_parameters["rope_theta"] == 1e6
    assert (cfg.image_token_id, cfg.video_token_id, cfg.vision_start_token_id) == (151655, 151656, 151652)
    with torch.device("meta"):  # the whole architecture, no memory
        model = Qwen2_5_VLForConditionalGeneration(cfg)
    assert sum(p.numel() for p in model.parameters()) == want["params"]


def test_config_files_are_the_published_json():
    for name, file in gpu_check.MODELS.items():
        raw = json.loads((gpu_check.CONFIG_DIR / file).read_text())
        assert raw["model_type"] == "qwen2_5_vl" and raw["architectures"] == ["Qwen2_5_VLForConditionalGeneration"]
        assert raw["hidden_size"] == PUBLISHED[name]["hidden"] and raw["vision_config"]["depth"] == 32
    with pytest.raises(ValueError, match="unknown model '13b'"):
        gpu_check.config_dict("13b")


@pytest.fixture(scope="module")
def tiny_7b():
    """A scaled copy of the 7B (untied head, the larger vocabulary) with the offline processor."""
    cfg = gpu_check.model_config("7b", tiny=True)
    return cfg, gpu_check.build_processor(cfg, max_pixels=28 * 28 * 16)


def test_offline_tokenizer_has_the_published_ids_and_decodes_every_id(tiny_7b):
    cfg, processor = tiny_7b
    tok = processor.tokenizer
    assert len(tok) == cfg.text_config.vocab_size == 152064
    ids = {t: tok.convert_tokens_to_ids(t) for t in ("<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|image_pad|>")}
    assert ids == {"<|endoftext|>": 151643, "<|im_start|>": 151644, "<|im_end|>": 151645, "<|image_pad|>": 151655}
    assert tok.eos_token_id == 151645 and tok.pad_token_id == 151643
    assert isinstance(tok.decode([0, 100_000, 151_700, 152_063]), str)  # a random policy's ids all decode
    enc = tok("Is the red cube closer than the blue sphere?")["input_ids"]
    assert max(enc) < 151643 and tok.decode(enc) == "Is the red cube closer than the blue sphere?"


def test_tiny_copy_builds_and_runs_a_forward_with_two_images(tiny_7b):
    import numpy as np
    import torch
    from PIL import Image
    from transformers import Qwen2_5_VLForConditionalGeneration

    from sifthinker.prompts import build_prompt

    cfg, processor = tiny_7b
    torch.manual_seed(0)
    model = Qwen2_5_VLForConditionalGeneration._from_config(cfg, dtype=torch.float32).eval()
    rng = np.random.default_rng(0)
    images = [Image.fromarray(rng.integers(0, 255, (112, 112, 3), dtype=np.uint8)) for _ in range(2)]
    text = processor.apply_chat_template(build_prompt("Which is closer?", ["the cube", "the ball"]),
                                         tokenize=False, add_generation_prompt=True)  # fmt: skip
    inputs = processor(text=[text], images=images, return_tensors="pt")
    # 112x112 -> 8x8 patches of 14 -> 16 tokens after the 2x2 merge, per image
    assert int((inputs["input_ids"] == cfg.image_token_id).sum()) == 32
    with torch.no_grad():
        out = model(**inputs)
    assert out.logits.shape == (1, inputs["input_ids"].shape[1], 152064)
    assert torch.isfinite(out.logits).all()


def test_dry_run_lists_every_stage_with_its_time_box(capsys):
    assert gpu_check.main(["--dry-run", "--models", "3b,7b"]) == 0
    out = capsys.readouterr().out
    for model in ("3b", "7b"):
        for stage, (box, _) in gpu_check.STAGES.items():
            assert any(line.split()[:2] == [model, stage] and f"box {box:5.0f} s" in line for line in out.splitlines())
    assert "installed:" in out and "vllm" in out and "deepspeed" in out


def test_plan_orders_data_then_build_first_for_each_model():
    args = gpu_check.parse_args(["--models", "7b", "--stages", "eval_vllm,sft", "--box-scale", "2"])
    assert gpu_check.plan(args) == [("-", "data", 120), ("7b", "build", 180), ("7b", "sft", 120),
                                    ("7b", "eval_vllm", 240)]  # fmt: skip


@pytest.mark.parametrize(
    "argv, message",
    [(["--models", "13b"], "13b"), (["--stages", "sft,train"], "train"), (["--steps", "0"], "--steps"),
     (["--vllm-memory", "1.5"], "--vllm-memory"), (["--box-scale", "0"], "--box-scale")],
)  # fmt: skip
def test_bad_arguments_are_refused_by_name(argv, message, capsys):
    with pytest.raises(SystemExit) as e:
        gpu_check.parse_args(argv)
    assert e.value.code == 2 and message in capsys.readouterr().err


def test_a_stage_past_its_time_box_is_killed_reported_and_fails_the_run(tmp_path, capsys):
    rc = gpu_check.main(["--tiny", "--models", "3b", "--stages", "build", "--box-scale", "0.01",
                         "--work", str(tmp_path)])  # fmt: skip
    assert rc == 1
    results = json.loads((tmp_path / "gpu_check_results.json").read_text())
    assert [(r["model"], r["stage"], r["status"]) for r in results] == [("-", "data", "failed"),
                                                                       ("3b", "build", "failed")]  # fmt: skip
    assert all("timed out after its" in r["error"] for r in results)
    assert "2 failed" in capsys.readouterr().out


# ------------------------------------------------------------------------------------------ the vLLM predictor


@pytest.mark.skipif(importlib.util.find_spec("vllm") is not None, reason="vllm is installed here")
def test_vllm_predictor_names_the_extra_when_vllm_is_missing():
    from sifthinker.infer import load_predictor
    from sifthinker.infer.vllm_predictor import VLLMThinker

    with pytest.raises(ImportError, match=r"pip install 'sifthinker\[vllm\]'"):
        load_predictor("sif-tiny", engine="vllm")
    with pytest.raises(ImportError, match="optional 'vllm' package"):
        VLLMThinker("sif-tiny")
    with pytest.raises(ImportError, match=r"sifthinker\[vllm\]"):  # `sifthinker eval --model-arg engine=vllm`
        load_predictor("sif-tiny", engine="vllm")


def test_load_predictor_refuses_unknown_engines_and_hf_only_options_on_vllm():
    with pytest.raises(ValueError, match="engine 'sglang': expected 'hf' or 'vllm'"):
        load_predictor("sif-tiny", engine="sglang")
    with pytest.raises(ValueError, match="device_map and attn_implementation are transformers options"):
        load_predictor("sif-tiny", engine="vllm", device_map="auto")


def test_sampling_settings_follow_our_decoding_config():
    from sifthinker.infer.engine import DecodingConfig
    from sifthinker.infer.vllm_predictor import sampling_kwargs

    greedy = sampling_kwargs(DecodingConfig(max_new_tokens=32, temperature=0.7), repetition_penalty=1.0)
    assert greedy == {"max_tokens": 32, "temperature": 0.0, "top_p": 1.0, "skip_special_tokens": True}
    sampled = sampling_kwargs(DecodingConfig(do_sample=True, temperature=0.95, top_p=0.8, seed=7),
                              repetition_penalty=1.05)  # fmt: skip
    assert (sampled["temperature"], sampled["top_p"], sampled["seed"], sampled["repetition_penalty"]) == (
        0.95, 0.8, 7, 1.05)  # fmt: skip


def test_vllm_requests_carry_the_hf_prompt_text_and_the_images_in_order(tiny_7b):
    from PIL import Image

    from sifthinker.infer.vllm_predictor import vllm_requests
    from sifthinker.prompts import build_prompt

    _, processor = tiny_7b
    rgb, depth = Image.new("RGB", (56, 56), "red"), Image.new("RGB", (56, 56), "blue")
    msgs = build_prompt("How many cubes?")
    [req] = vllm_requests(processor, [msgs], [[rgb, depth]])
    assert req["prompt"] == processor.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)
    assert req["prompt"].count("<|vision_start|><|image_pad|><|vision_end|>") == 2
    assert req["prompt"].index("Original image: ") < req["prompt"].index("Depth image: ")
    assert req["multi_modal_data"]["image"] == [rgb, depth]
    [plain] = vllm_requests(processor, [build_prompt("How many?", with_depth=False)], [[rgb]])
    assert plain["multi_modal_data"]["image"] == [rgb]
    with pytest.raises(ValueError, match="2 image placeholders but 1 images"):
        vllm_requests(processor, [msgs], [[rgb]])


def test_vllm_predictor_protocol_card_matches_the_hf_predictors():
    """Same prompt, pixel budget, decoding and model as the HF predictor: only the backend differs."""
    from sifthinker.eval.protocol import protocol_card, protocol_differences
    from sifthinker.infer import DecodingConfig, SIFPredictor, SIFThinker
    from sifthinker.infer.vllm_predictor import VLLMPredictor, VLLMThinker
    from sifthinker.models.tiny import tiny_model_path

    tiny = str(tiny_model_path())
    gen = DecodingConfig(max_new_tokens=64)
    hf = SIFPredictor(SIFThinker(tiny, generation=gen, max_pixels=28 * 28 * 32))
    vl = VLLMPredictor(VLLMThinker(tiny, generation=gen, max_pixels=28 * 28 * 32, llm=object()))  # never called
    cards = [protocol_card(p, seed=0, benchmark="synthetic", item_ids=["a", "b"]) for p in (hf, vl)]
    assert [c["backend"] for c in cards] == ["hf", "vllm"]
    assert protocol_differences(cards) == {}
    assert cards[1]["model"]["hash"] == cards[0]["model"]["hash"] is not None
    assert cards[1]["image_pixels"]["max_pixels"] == 28 * 28 * 32


def test_a_built_checkpoint_reloads_through_the_package_loader(tmp_path):
    """What every stage (and vLLM) reads back: the saved config, weights, tokenizer ids and pixel budget."""
    import torch

    from sifthinker.models.loading import load_model

    n = gpu_check.build_checkpoint("3b", tmp_path, tiny=True, max_pixels=28 * 28 * 64)
    model, processor = load_model(tmp_path, dtype="float32")
    assert sum(p.numel() for p in model.parameters()) == n
    assert model.config.tie_word_embeddings and model.config.text_config.vocab_size == 151936
    tok = processor.tokenizer
    assert len(tok) == 151936 and tok.convert_tokens_to_ids("<|image_pad|>") == 151655
    assert tok.convert_tokens_to_ids("<|fill_151700|>") == 151700  # the padding survives save/load
    assert processor.image_processor.size["longest_edge"] == 28 * 28 * 64
    assert model.generation_config.eos_token_id == [151645, 151643]
    ids = torch.tensor([[151644, 872, 198, 151645]])
    assert model(input_ids=ids).logits.shape == (1, 4, 151936)

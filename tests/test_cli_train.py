"""The training entry points through the real CLI modules with the real recipe files, and config errors that say
how to fix them."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import pytest
import yaml
from train_fixtures import CPU_KEYS, sif_data_dir, tiny_model_dir, warm_run

from sifthinker.cli import merge as cli_merge
from sifthinker.cli import tiny_model as cli_tiny
from sifthinker.cli import train as cli_train
from sifthinker.overrides import parse_overrides
from sifthinker.train.configs import SIFGRPOConfig, SIFSFTConfig, config_keys, load_config

RECIPES = Path(__file__).resolve().parents[1] / "recipes"


def run_cli(module, argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    module.add_arguments(parser)
    return module.run(parser.parse_args(argv))


def base_overrides(out: Path, model: Path | str | None = None) -> list[str]:
    return [
        "--model_name_or_path",
        str(model or tiny_model_dir()),
        "--train_data",
        str(sif_data_dir()),
        "--output_dir",
        str(out),
        "--disable_tqdm",
        "true",
    ]


# ------------------------------------------------------------------------------------------------ the entry points


def test_cli_train_sft_lora_then_cli_merge(tmp_path):
    out = tmp_path / "sft"
    rc = run_cli(
        cli_train,
        [
            "sft",
            "--config",
            str(RECIPES / "tiny/sft/config.yaml"),
            *base_overrides(out),
            "--max_steps",
            "2",
            "--use_peft",
            "true",
            "--lora_r",
            "4",
            "--learning_rate",
            "1e-2",
        ],
    )
    assert rc == 0
    adapter = json.loads((out / "adapter_config.json").read_text())
    assert adapter["r"] == 4 and adapter["lora_alpha"] == 16  # the command line's rank, the recipe's alpha
    assert adapter["exclude_modules"] and all(".visual." in m for m in adapter["exclude_modules"])  # frozen tower
    assert (out / "processor_config.json").exists()
    merged = tmp_path / "merged"
    assert run_cli(cli_merge, ["--adapter", str(out), "--out", str(merged)]) == 0
    from transformers import AutoModelForImageTextToText

    assert type(AutoModelForImageTextToText.from_pretrained(merged)).__name__ == "Qwen2_5_VLForConditionalGeneration"
    assert (merged / "chat_template.jinja").exists() or (merged / "processor_config.json").exists()


def test_cli_train_grpo_with_the_tiny_recipe(tmp_path):
    out = tmp_path / "grpo"
    rc = run_cli(
        cli_train,
        [
            "grpo",
            "--config",
            str(RECIPES / "tiny/grpo/config.yaml"),
            *base_overrides(out, warm_run()[0]),
            "--max_steps",
            "2",
            "--max_completion_length",
            "24",
            "--instruction",
            "",
            "--reward_options",
            '{"depth_consistency": {"tol": 0.2}}',
        ],
    )
    assert rc == 0
    assert (out / "checkpoint-2" / "sif_progress.json").exists() and (out / "sif_progress.json").exists()
    state = json.loads((out / "trainer_state.json").read_text())
    assert any("rewards/depth/mean" in h for h in state["log_history"])


def test_cli_print_config_list_keys_and_errors(tmp_path, capsys, caplog):
    recipe = str(RECIPES / "tiny/grpo/config.yaml")
    assert (
        run_cli(
            cli_train,
            ["grpo", "--config", recipe, *base_overrides(tmp_path), "--print-config", "--learning_rate", "2e-5"],
        )
        == 0
    )
    printed = yaml.safe_load(capsys.readouterr().out)
    assert printed["learning_rate"] == 2e-5 and printed["reward_funcs"][0] == "format" and printed["beta"] == 0.04
    assert run_cli(cli_train, ["sft", "--list-keys"]) == 0
    listed = capsys.readouterr().out
    assert "lora_r:" in listed and "learning_rate:" in listed and "train_data:" in listed
    with caplog.at_level(logging.ERROR):
        assert run_cli(cli_train, ["grpo", "--config", recipe, *base_overrides(tmp_path), "--learnig_rate", "1"]) == 2
    assert "did you mean learning_rate" in caplog.text


def test_cli_tiny_model(tmp_path, capsys):
    assert run_cli(cli_tiny, ["--out", str(tmp_path / "tiny"), "--seed", "3"]) == 0
    assert Path(capsys.readouterr().out.strip()) == tmp_path / "tiny"
    assert (tmp_path / "tiny" / "model.safetensors").exists()


# --------------------------------------------------------------------------------------------------- the recipes


def recipe_values(stage: str, path: Path) -> dict:
    """A recipe's values as written, every key one of the stage's config."""
    values = yaml.safe_load(path.read_text())
    assert set(values) <= set(config_keys(stage)), set(values) - set(config_keys(stage))
    return values


@pytest.mark.parametrize("model", ["qwen2_5_vl_7b", "qwen2_5_vl_3b"])
def test_gpu_recipes_hold_the_paper_settings(model):
    sft = recipe_values("sft", RECIPES / model / "sft/config_sif.yaml")
    assert sft["use_peft"] and sft["lora_r"] == 8 and sft["lora_target_modules"] == "all-linear"
    assert sft["learning_rate"] == 1e-4 and sft["lr_scheduler_type"] == "cosine" and sft["warmup_steps"] == 0.1
    assert sft["num_train_epochs"] == 3 and sft["per_device_train_batch_size"] == 2
    assert sft["gradient_accumulation_steps"] == 8 and sft["max_length"] == 2048 and sft["max_pixels"] == 512 * 512
    assert sft["bf16"] and sft["eval_fraction"] == 0.1
    grpo = recipe_values("grpo", RECIPES / model / "grpo/config_sif.yaml")
    assert grpo["reward_funcs"] == ["format", "accuracy_w_progress", "bboxaccuracy_w_progress", "depth_consistency"]
    assert grpo["reward_weights"] == [1.0] * 4
    assert (grpo["lora_r"], grpo["lora_alpha"], grpo["lora_dropout"]) == (64, 128, 0.05)
    assert grpo["lora_target_modules"] == "all-linear" and grpo["freeze_vision"]  # = the language model's layers
    assert grpo["learning_rate"] == 1e-5 and grpo["beta"] == 0.04 and grpo["epsilon"] == 0.2
    assert grpo["num_generations"] == 8 and grpo["temperature"] == 1.0 and grpo["max_completion_length"] == 2048
    assert grpo["num_train_epochs"] == 1 and grpo["per_device_train_batch_size"] == 1
    assert grpo["gradient_accumulation_steps"] == 2 and grpo["use_vllm"] is False
    # TRL's parser reads them (here on one CPU process: bf16 off, a generation batch holding a group of 8)
    cpu = ["--bf16", "false", "--use_cpu", "true"]
    c = load_config("sft", RECIPES / model / "sft/config_sif.yaml", cpu)
    assert (c.learning_rate, c.warmup_steps, c.lora_r, c.lora_target_modules) == (1e-4, 0.1, 8, "all-linear")
    assert c.max_pixels == 512 * 512 and c.eval_fraction == 0.1 and c.dtype == "bfloat16"
    g = load_config("grpo", RECIPES / model / "grpo/config_sif.yaml", [*cpu, "--per_device_train_batch_size", "8"])
    assert g.reward_funcs == grpo["reward_funcs"] and g.reward_options == {"depth_consistency": {"tol": 0.1}}
    assert (g.lora_r, g.lora_alpha, g.beta, g.num_generations, g.use_vllm) == (64, 128, 0.04, 8, False)
    assert g.generation_batch_size == 16  # 8 × 1 process × 2 accumulation steps


def test_vllm_fields_pass_through_to_trl():
    g = cfg("grpo", use_vllm=True, vllm_mode="server", vllm_server_base_url="http://127.0.0.1:8000")
    assert (g.use_vllm, g.vllm_mode, g.vllm_server_base_url) == (True, "server", "http://127.0.0.1:8000")
    g = load_config("grpo", RECIPES / "tiny/grpo/config.yaml", ["--train_data", "d", "--use_vllm", "true",
                                                                "--vllm_mode", "colocate"])  # fmt: skip
    assert g.use_vllm and g.vllm_mode == "colocate"


def test_tiny_recipes_build_full_configs():
    sft = load_config("sft", RECIPES / "tiny/sft/config.yaml", ["--train_data", str(sif_data_dir())])
    assert isinstance(sft, SIFSFTConfig) and sft.model_name_or_path == "sif-tiny" and sft.use_cpu and not sft.bf16
    grpo = load_config("grpo", RECIPES / "tiny/grpo/config.yaml", ["--train_data", str(sif_data_dir())])
    assert isinstance(grpo, SIFGRPOConfig) and grpo.generation_batch_size % grpo.num_generations == 0


def test_accelerate_configs_and_readme():
    expected = {
        "single_gpu": "NO",
        "ddp": "MULTI_GPU",
        "zero2": "DEEPSPEED",
        "zero3": "DEEPSPEED",
        "fsdp": "FSDP",
        "multi_node": "DEEPSPEED",
    }
    for name, kind in expected.items():
        cfg = yaml.safe_load((RECIPES / "accelerate_configs" / f"{name}.yaml").read_text())
        assert cfg["distributed_type"] == kind, name
    assert (
        yaml.safe_load((RECIPES / "accelerate_configs/zero3.yaml").read_text())["deepspeed_config"]["zero_stage"] == 3
    )
    assert yaml.safe_load((RECIPES / "accelerate_configs/multi_node.yaml").read_text())["num_machines"] == 2
    readme = (RECIPES / "README.md").read_text()
    assert (
        "accelerate launch --config_file recipes/accelerate_configs/zero3.yaml \\\n    -m sifthinker.cli.main "
        "train grpo --config recipes/qwen2_5_vl_7b/grpo/config_sif.yaml"
    ) in readme


# ---------------------------------------------------------------------------------------------- config errors


def cfg(stage: str, **values):
    return load_config(stage, **{"model_name_or_path": "m", "train_data": "d", **CPU_KEYS, **values})


def test_overrides_parse_as_yaml_and_numbers():
    assert parse_overrides(["a.b.c=1e-5", "x=true", "y=null", "s='no'"]) == {
        "a": {"b": {"c": 1e-5}},
        "x": True,
        "y": None,
        "s": "no",
    }
    c = load_config(
        "sft",
        None,
        [
            "--model_name_or_path",
            "m",
            "--train_data",
            "d",
            "--bf16",
            "false",
            "--use_cpu",
            "true",
            "--learning_rate",
            "1e-5",
            "--lora_r",
            "16",
            "--save_strategy",
            "no",
            "--train_split",
            "null",
        ],
    )
    assert c.learning_rate == 1e-5 and c.lora_r == 16 and c.save_strategy == "no" and c.train_split is None
    # the command line beats the recipe; keywords beat the recipe, the command line beats keywords
    recipe = RECIPES / "tiny/sft/config.yaml"
    c = load_config("sft", recipe, ["--use_peft", "true", "--lora_r", "4"], train_data="d", lora_r=6, lora_alpha=3)
    assert c.use_peft is True and (c.lora_r, c.lora_alpha, c.train_data) == (4, 3, "d")
    assert load_config("sft", recipe, train_data="d").lora_r == 8  # the recipe's
    with pytest.raises(ValueError, match="key=value"):
        parse_overrides(["learning_rate"])
    with pytest.raises(ValueError, match="invalid float value"):
        load_config("sft", recipe, ["--learning_rate", "fast"], train_data="d")


def test_lora_target_modules_as_peft_reads_them():
    assert cfg("sft").lora_target_modules == "all-linear"  # our default, as TRL's ModelConfig unwraps it
    assert cfg("sft", lora_target_modules="q_proj").lora_target_modules == ["q_proj"]  # a name, not a regex
    assert cfg("sft", lora_target_modules=["q_proj", "v_proj"]).lora_target_modules == ["q_proj", "v_proj"]
    assert cfg("sft", lora_target_modules=r".*\.q_proj").lora_target_modules == r".*\.q_proj"  # PEFT's regex


@pytest.mark.parametrize(
    ("stage", "values", "match"),
    [
        ("sft", {"learnig_rate": 1e-5}, "did you mean learning_rate"),
        ("sft", {"lora_rank": 8}, "did you mean .*lora_r"),
        ("sft", {"lora": {"r": 8}}, "unknown sft config key 'lora'"),
        ("sft", {"model_name_or_path": None}, "model_name_or_path is not set"),
        ("sft", {"train_data": None}, "train_data is not set"),
        ("sft", {"eval_strategy": "steps"}, "eval_fraction"),
        ("sft", {"eval_fraction": 0.1, "eval_data": "e"}, "keep one"),
        ("sft", {"min_pixels": 1000, "max_pixels": 10}, "swap"),
        ("sft", {"dtype": "fp8"}, "dtype"),
        (
            "grpo",
            {"num_generations": 3, "per_device_train_batch_size": 4},
            r"generation_batch_size \(4\) must be divisible by num_generations \(3\)",
        ),
        ("grpo", {"reward_weights": [1.0, 1.0]}, "one weight per entry of reward_funcs"),
        ("grpo", {"reward_funcs": ["format", "bbox"]}, "unknown reward 'bbox'"),
        ("grpo", {"reward_options": {"box": {"bonus": False}}}, "not in reward_funcs"),
        ("grpo", {"num_generations": 1}, "at least 2 generations"),
    ],
)
def test_inconsistent_settings_fail_with_the_fix(stage, values, match):
    with pytest.raises(ValueError, match=match):
        cfg(stage, **values)


def test_bf16_without_a_gpu_says_what_to_set():
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is visible")
    with pytest.raises(ValueError, match=r"bf16.*use_cpu"):  # transformers' own check
        load_config("grpo", None, ["--model_name_or_path", "m", "--train_data", "d"])
    with pytest.raises(ValueError, match="use_cpu"):
        load_config("sft", RECIPES / "qwen2_5_vl_7b/sft/config_sif.yaml")


def test_recipe_file_errors(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        load_config("sft", tmp_path / "missing.yaml")
    bad = tmp_path / "list.yaml"
    bad.write_text("- a\n- b\n")
    with pytest.raises(ValueError, match="mapping"):
        load_config("sft", bad)
    typo = tmp_path / "typo.yaml"
    typo.write_text("model_name_or_path: m\nreward_funcs: [format]\n")
    with pytest.raises(ValueError, match=r"unknown sft config key 'reward_funcs'.*typo.yaml"):
        load_config("sft", typo)
    with pytest.raises(ValueError, match="unknown training stage"):
        load_config("dpo")


def test_modules_plug_into_the_sifthinker_parser():
    """The way cli/main.py registers a command module: a sub-parser per command, then the stage sub-parser."""
    import importlib

    parser = argparse.ArgumentParser(prog="sifthinker")
    sub = parser.add_subparsers(dest="command")
    for name in ("train", "merge", "tiny_model"):
        mod = importlib.import_module(f"sifthinker.cli.{name}")
        p = sub.add_parser(name.replace("_", "-"), help=mod.HELP, description=getattr(mod, "DESCRIPTION", mod.HELP))
        mod.add_arguments(p)
        p.set_defaults(_run=mod.run)
    args = parser.parse_args(
        ["train", "grpo", "--config", "r.yaml", "--lora_r", "16", "--print-config", "--beta", "0.1", "--instruction",
         ""]
    )  # fmt: skip
    assert (args.stage, args.config, args.args, args.print_config) == (
        "grpo",
        "r.yaml",
        ["--lora_r", "16", "--beta", "0.1", "--instruction", ""],
        True,
    )
    args = parser.parse_args(["merge", "--adapter", "a", "--out", "b"])
    assert (args.adapter, args.out, args.base) == ("a", "b", None)

"""GRPO-SIF with the real four rewards on the tiny model: parameters move, every reward and its parts are logged, the
answer-progress memory goes into each checkpoint and comes back on resume; LoRA on the language model only."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
from train_fixtures import WARM_KEYS, changed, records, train_config, trainable_snapshot, warm_run

from sifthinker.rewards import AnswerReward, ProgressMemory, progress_key
from sifthinker.train import data as tdata
from sifthinker.train.grpo import PROGRESS_FILE, ProgressMemoryCallback, build_rewards, progress_callback

SIF_REWARDS = ["format", "accuracy_w_progress", "bboxaccuracy_w_progress", "depth_consistency"]
GRPO_KEYS = {
    "reward_funcs": SIF_REWARDS,
    "per_device_train_batch_size": 8,  # two prompts of four completions per step
    "num_generations": 4,
    "max_completion_length": 40,
    "temperature": 1.0,
    "beta": 0.04,
    "learning_rate": 1e-3,
    "logging_steps": 1,
    "instruction": WARM_KEYS["instruction"],
}


def grpo_config(output_dir, **keys):
    return train_config("grpo", output_dir, model_name_or_path=str(warm_run()[0]), **{**GRPO_KEYS, **keys})


@pytest.fixture(scope="module")
def first_run(tmp_path_factory):
    """Two GRPO steps from the warm model, a checkpoint after each."""
    from sifthinker.train import grpo

    out = tmp_path_factory.mktemp("grpo")
    cfg = grpo_config(out, max_steps=2, save_strategy="steps", save_steps=1)
    trainer = grpo.make_trainer(cfg)
    before = trainable_snapshot(trainer.model)
    trainer.train()
    return SimpleNamespace(out=out, trainer=trainer, moved=changed(trainer.model, before), n_trainable=len(before))


def test_grpo_dataset_has_the_reward_columns():
    recs = records()
    ds = tdata.grpo_dataset(recs)
    assert {
        "prompt",
        "images",
        "problem",
        "answer",
        "choices",
        "answer_type",
        "gt_boxes",
        "depth_path",
        "progress_key",
    } <= set(ds.column_names)
    assert "image" not in ds.column_names  # TRL would read it as a picture
    assert "completion" not in ds.column_names  # GRPO samples its own
    row = ds[0]
    assert row["gt_boxes"] == [list(b) for b in recs[0]["normalized_solution_round"]["bbox_3d"]]
    assert row["answer"] == recs[0]["response"]
    assert row["progress_key"] == progress_key(recs[0]["problem"], recs[0]["image"])
    assert row["depth_path"].endswith(".npy") and len(row["images"]) == 2
    with pytest.raises(ValueError, match="depth_path"):
        tdata.grpo_example({k: v for k, v in recs[0].items() if k != "depth_path"})


def test_grpo_sif_moves_the_policy_and_logs_every_reward(first_run):
    assert first_run.moved, "no trainable parameter changed"
    assert not any(n.startswith("model.visual.") for n in first_run.moved)  # vision tower frozen
    logs = [h for h in first_run.trainer.state.log_history if "rewards/format/mean" in h]
    assert len(logs) == 2
    keys = set().union(*logs)
    for name in ("format", "answer", "box", "depth"):
        assert f"rewards/{name}/mean" in keys and f"rewards/{name}/std" in keys
    for part in ("format/valid_rate", "format/mean_areas", "box/h_end", "box/h_start", "box/bonus", "answer/raw_mean"):
        assert part in keys, part
    if any(h["format/mean_areas"] > 0 for h in logs):  # the depth parts exist once a region was read
        assert "depth/abs_error" in keys and "depth/mean_stated" in keys
    assert any(h["reward_std"] > 0 for h in logs)
    assert "kl" in keys
    # two prompts of different lengths per batch: left padding, as TRL's own processor loading sets
    assert first_run.trainer.processing_class.tokenizer.padding_side == "left"
    vision = {first_run.trainer.model.config.vision_start_token_id, first_run.trainer.model.config.video_token_id}
    assert vision <= set(first_run.trainer.generation_config.suppress_tokens)


def test_progress_memory_is_saved_in_every_checkpoint(first_run):
    memory = first_run.trainer.sif_progress_memory
    assert len(memory) > 0
    for step in (1, 2):
        assert (first_run.out / f"checkpoint-{step}" / PROGRESS_FILE).exists()
    saved = json.loads((first_run.out / "checkpoint-2" / PROGRESS_FILE).read_text())
    assert saved == memory.state_dict()
    answer = [f for f in first_run.trainer.reward_funcs if isinstance(f, AnswerReward)]
    assert answer and answer[0].memory is memory
    keys = {progress_key(r["problem"], r["image"]) for r in records()}  # keyed by (question, RGB path)
    assert set(memory.state_dict()["memory"]) <= keys


def test_resume_restores_the_memory_and_a_fresh_run_starts_empty(first_run, tmp_path):
    from sifthinker.train import grpo

    ckpt = first_run.out / "checkpoint-1"
    saved = json.loads((ckpt / PROGRESS_FILE).read_text())
    assert saved["memory"]
    resumed = grpo.main(grpo_config(tmp_path / "resumed", max_steps=2, resume_from_checkpoint=str(ckpt)))
    cb = progress_callback(resumed)
    assert cb.initial_state == saved  # what training continued with
    assert resumed.state.global_step == 2
    assert (tmp_path / "resumed" / PROGRESS_FILE).exists()

    fresh = grpo.make_trainer(grpo_config(tmp_path / "fresh", max_steps=1))
    fresh.train()
    assert progress_callback(fresh).initial_state == ProgressMemory().state_dict()
    assert len(fresh.sif_progress_memory) > 0


def test_resume_true_takes_the_last_checkpoint(first_run):
    from sifthinker.train.configs import resolve_resume_checkpoint

    cfg = grpo_config(first_run.out, max_steps=2, resume_from_checkpoint=True)
    assert resolve_resume_checkpoint(cfg).endswith("checkpoint-2")
    with pytest.raises(ValueError, match="no checkpoint"):
        resolve_resume_checkpoint(grpo_config(first_run.out / "empty", resume_from_checkpoint="last"))


def test_grpo_lora_on_the_language_model(tmp_path):
    from sifthinker.train import grpo

    cfg = grpo_config(tmp_path, max_steps=1, use_peft=True, lora_r=8, lora_alpha=16, learning_rate=1e-2)
    trainer = grpo.make_trainer(cfg)
    before = trainable_snapshot(trainer.model)
    assert before and all("lora_" in n for n in before)
    assert not any("visual" in n for n in before)
    assert any("mlp.down_proj" in n for n in before) and any("self_attn.q_proj" in n for n in before)
    trainer.train()
    assert changed(trainer.model, before)


def test_rewards_share_one_memory_and_the_callback_round_trips(tmp_path):
    memory = ProgressMemory()
    cfg = SimpleNamespace(reward_funcs=["format", "accuracy_w_progress", "answer"], reward_options=None)
    funcs = build_rewards(cfg, memory)
    answers = [f for f in funcs if isinstance(f, AnswerReward)]
    assert len(answers) == 2 and all(f.memory is memory for f in answers)

    memory.update("k", 0.5)
    cb = ProgressMemoryCallback(memory)
    args = SimpleNamespace(output_dir=str(tmp_path), process_index=0, world_size=1)
    (tmp_path / "checkpoint-7").mkdir()
    cb.on_save(args, SimpleNamespace(global_step=7), None)
    assert json.loads((tmp_path / "checkpoint-7" / PROGRESS_FILE).read_text())["memory"] == {"k": 0.5}
    restored = ProgressMemory()
    cb2 = ProgressMemoryCallback(restored, resume_from=str(tmp_path / "checkpoint-7"))
    cb2.on_train_begin(args, None, None)
    assert restored.get("k") == 0.5 and cb2.initial_state["memory"] == {"k": 0.5}

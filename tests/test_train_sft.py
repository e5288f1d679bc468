"""SFT on SIF traces with the tiny model: the data format, the loss going down, assistant-only supervision, LoRA
and full paths with the vision tower frozen or not, and merging an adapter into a checkpoint that generates."""

from __future__ import annotations

import json

import pytest
from train_fixtures import (
    WARM_KEYS,
    changed,
    records,
    sif_data_dir,
    tiny_model_dir,
    train_config,
    trainable_snapshot,
    warm_run,
)

from sifthinker.records import assistant_text, user_content
from sifthinker.train import data as tdata


def test_sft_dataset_rows_are_trl_prompt_completion():
    recs = records()
    ds = tdata.sft_dataset(recs)
    assert set(ds.column_names) == {"prompt", "completion", "images"}
    row = ds[0]
    assert row["completion"] == [{"role": "assistant", "content": assistant_text(recs[0])}]
    assert [im.mode for im in row["images"]] == ["RGB", "RGB"]  # decoded lazily from the stored paths
    parts = row["prompt"][0]["content"]
    text = "".join("<image>" if p["type"] == "image" else p["text"] for p in parts)
    assert text == user_content(recs[0]["problem"], recs[0].get("choices"))
    assert ds.data.nbytes < 50_000  # paths, not pixels


def test_records_split_and_eval_fraction(tmp_path):
    recs = tdata.load_records(sif_data_dir())
    splits = {r["split"] for r in recs}
    train_only = tdata.load_records(sif_data_dir(), split="train")
    assert {r["split"] for r in train_only} == {"train"} and len(train_only) < len(recs) or splits == {"train"}
    with pytest.raises(ValueError, match="train_split=null"):
        tdata.load_records(sif_data_dir(), split="validation")
    # the filter itself, on records of two splits (the fixture build may hold train records only)
    mixed = tmp_path / "mixed.jsonl"
    rows = [{**r, "split": "train" if i % 2 else "test"} for i, r in enumerate(recs)]
    rows[0].pop("split")  # a record without a split is kept
    mixed.write_text("".join(json.dumps(r) + "\n" for r in rows))
    kept = tdata.load_records(mixed, split="train")
    assert [r["id"] for r in kept] == [r["id"] for i, r in enumerate(rows) if i == 0 or i % 2]
    tr, ev = tdata.split_records(recs, 0.25, seed=0)
    assert len(ev) == round(len(recs) * 0.25) and len(tr) + len(ev) == len(recs)
    assert tdata.split_records(recs, 0.25, seed=0) == (tr, ev)
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"id": "x", "problem": "q"}) + "\n")
    with pytest.raises(ValueError, match="bad.jsonl"):
        tdata.load_records(bad)


def test_sft_lowers_the_loss_and_keeps_the_vision_tower():
    from safetensors.torch import load_file

    out, losses = warm_run()
    assert len(losses) >= 30
    assert losses[29] < 0.7 * losses[0], losses[:30]
    assert losses[-1] < 0.2 * losses[0], losses
    base, warm = load_file(tiny_model_dir() / "model.safetensors"), load_file(out / "model.safetensors")
    # saved in the hub layout of Qwen2.5-VL checkpoints: visual.*, model.layers.*, lm_head
    visual = [k for k in base if k.startswith("visual.")]
    assert visual and all(base[k].equal(warm[k]) for k in visual)  # frozen
    assert any(not base[k].equal(warm[k]) for k in base if k.startswith("model.layers."))
    # the prompt it was trained with travels with it, and inference asks it the same way
    from sifthinker.infer import SIFThinker
    from sifthinker.models.loading import checkpoint_prompt

    prompt = checkpoint_prompt(out)
    assert prompt.get("with_depth") is True and prompt.get("instruction") == WARM_KEYS.get("instruction")
    assert SIFThinker(str(out)).instruction == WARM_KEYS.get("instruction")


def test_only_the_assistant_trace_is_supervised(tmp_path):
    from sifthinker.train.sft import make_trainer

    trainer = make_trainer(train_config("sft", tmp_path, max_steps=1))
    tok = trainer.processing_class.tokenizer
    examples = [trainer.train_dataset[i] for i in range(2)]
    traces = [ex["completion"][0]["content"] for ex in examples]
    batch = trainer.data_collator(examples)
    for ids, labels, mask, trace in zip(batch["input_ids"], batch["labels"], batch["attention_mask"], traces):
        supervised = labels != -100
        expected = tok(trace + "<|im_end|>\n", add_special_tokens=False)["input_ids"]
        assert labels[supervised].tolist() == expected  # the whole trace and its end of turn
        assert ids[supervised].tolist() == expected
        real = mask.nonzero().flatten()
        first = int(supervised.nonzero().min())
        assert supervised[first : int(real.max()) + 1].all()  # one contiguous run, up to the end
        assert not supervised[:first].any()  # system, user turn, image tokens: all -100
        assert tok.decode(ids[:first]).endswith("<|im_start|>assistant\n")


def test_sft_lora_then_merge_loads_and_generates(tmp_path):
    import torch
    from transformers import AutoModelForImageTextToText, AutoProcessor

    from sifthinker.train import sft
    from sifthinker.train.merge import merge_adapter

    cfg = train_config(
        "sft",
        tmp_path / "lora",
        max_steps=3,
        learning_rate=1e-2,
        per_device_train_batch_size=2,
        use_peft=True,
        lora_r=4,
        lora_alpha=8,
        lora_dropout=0.0,
        logging_steps=1,
    )
    trainer = sft.main(cfg)
    adapter = json.loads((tmp_path / "lora" / "adapter_config.json").read_text())
    assert adapter["r"] == 4
    names = [n for n, p in trainer.model.named_parameters() if p.requires_grad]
    assert names and all("lora_" in n for n in names)
    assert not any("visual" in n for n in names)  # all-linear with a frozen vision tower = the language model
    merged = merge_adapter(tmp_path / "lora", tmp_path / "merged")
    model = AutoModelForImageTextToText.from_pretrained(merged)
    processor = AutoProcessor.from_pretrained(merged)
    base = AutoModelForImageTextToText.from_pretrained(tiny_model_dir())
    w = "model.language_model.layers.0.self_attn.q_proj.weight"
    assert not torch.equal(model.state_dict()[w], base.state_dict()[w])
    assert not any("lora" in k for k in model.state_dict())
    msgs = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "How many cubes?"}]}]
    text = processor.apply_chat_template(msgs, add_generation_prompt=True)
    from PIL import Image

    inputs = processor(text=[text], images=[Image.open(records()[0]["image"]).convert("RGB")], return_tensors="pt")
    out = model.generate(**inputs, max_new_tokens=5, do_sample=False)
    assert out.shape[1] > inputs["input_ids"].shape[1]


def test_sft_full_with_the_vision_tower_trained(tmp_path):
    from sifthinker.train.sft import make_trainer

    trainer = make_trainer(
        train_config(
            "sft", tmp_path, max_steps=2, learning_rate=1e-2, freeze_vision=False, per_device_train_batch_size=2
        )
    )
    before = trainable_snapshot(trainer.model)
    assert any(n.startswith("model.visual.") for n in before)
    trainer.train()
    moved = changed(trainer.model, before)
    assert any(n.startswith("model.visual.") for n in moved) and any("language_model" in n for n in moved)


def test_sft_holds_out_an_eval_split(tmp_path):
    from sifthinker.train.sft import make_trainer

    cfg = train_config("sft", tmp_path, max_steps=1, eval_fraction=0.25, eval_strategy="steps", eval_steps=1)
    trainer = make_trainer(cfg)
    n = len(records())
    assert len(trainer.eval_dataset) == round(n * 0.25) and len(trainer.train_dataset) + len(trainer.eval_dataset) == n
    trainer.train()
    assert any("eval_loss" in h for h in trainer.state.log_history)

"""What the base model perceives, measured by greedy generation on held-out scenes, and its model card.

On scene ``i`` of :func:`sifthinker.pretrain.tasks.eval_rng` (never a training scene) in the last phase's world:
grounding (``Where is the X?`` → IoU of the answered box with the true one, and the error of the depth it states
against the true box-mean depth), depth reading (``What is the depth of the region [object box]?`` → absolute
error) and listing (the number of objects listed against the truth). Baselines from the same items: the IoU of
always answering the mean true box, and the error of always stating the mean depth.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from ..boxes import iou
from ..synth.render import render_scene
from .config import PretrainConfig
from .tasks import LIST_QUESTION, eval_rng, make_example, parse_region

__all__ = ["evaluate_base", "write_card", "generate"]


def generate(model, processor, items: list[tuple[str, list]], max_new_tokens: int, batch_size: int = 16) -> list[str]:
    """Greedy answers for ``(question, [rgb, depth])`` items with the pretraining prompt layout."""
    import torch

    from .loop import messages

    processor.tokenizer.padding_side = "left"
    model.eval()
    outs: list[str] = []
    for i in range(0, len(items), batch_size):
        chunk = items[i : i + batch_size]
        texts = [processor.apply_chat_template(messages(q), tokenize=False, add_generation_prompt=True)
                 for q, _ in chunk]  # fmt: skip
        enc = processor(text=texts, images=[imgs for _, imgs in chunk], return_tensors="pt", padding=True)
        with torch.no_grad():
            ids = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False)
        new = ids[:, enc["input_ids"].shape[1] :]
        outs += processor.batch_decode(new, skip_special_tokens=True)
    return outs


def evaluate_base(model, processor, cfg: PretrainConfig, n: int) -> dict[str, Any]:
    """Grounding IoU, stated-depth and depth-reading errors and listing accuracy on ``n`` held-out scenes."""
    from .loop import phase_world, scene_images

    last = cfg.phases[-1]
    wcfg = phase_world(cfg, last.objects)
    ground, depth, listing = [], [], []
    for i in range(n):
        rng = eval_rng(cfg.seed, i)
        scene = render_scene(wcfg, rng)
        imgs = scene_images(scene)
        g = make_example(scene, rng, "ground", last.decimals)
        if g.task == "ground":
            ground.append((g, imgs))
        depth.append((make_example(scene, rng, "depth", last.decimals), imgs))
        n_obj = sum(o.askable and o.box_norm is not None and o.depth is not None for o in scene.objects)
        listing.append((n_obj, imgs))
    g_out = generate(model, processor, [(e.question, im) for e, im in ground], 48)
    d_out = generate(model, processor, [(e.question, im) for e, im in depth], 8)
    l_out = generate(model, processor, [(LIST_QUESTION, im) for _, im in listing], 40 * 4 + 8)

    ious, derr = [], []
    for (e, _), text in zip(ground, g_out):
        got = parse_region(text)
        ious.append(iou(got[0], e.box) if got else 0.0)
        derr.append(abs(got[1] - e.depth) if got and got[1] is not None else 1.0)
    true_boxes = np.array([e.box for e, _ in ground]) if ground else np.zeros((0, 4))
    mean_box = tuple(true_boxes.mean(axis=0)) if len(true_boxes) else (0, 0, 1, 1)
    true_depths = np.array([e.depth for e, _ in ground])
    read_err = []
    for (e, _), text in zip(depth, d_out):
        try:
            read_err.append(min(1.0, abs(float(text.strip()) - e.depth)))
        except ValueError:
            read_err.append(1.0)
    read_truth = np.array([e.depth for e, _ in depth])
    count_ok = [len([ln for ln in text.splitlines() if "bbox_2d" in ln]) == k for (k, _), text in zip(listing, l_out)]
    return {
        "scenes": n,
        "ground_items": len(ground),
        "ground_iou": _mean(ious),
        "ground_acc50": _mean([v >= 0.5 for v in ious]),
        "ground_depth_abs_error": _mean(derr),
        "mean_box_iou": _mean([iou(mean_box, b) for b in true_boxes]),
        "mean_depth_abs_error": _mean(np.abs(true_depths - true_depths.mean())) if len(true_depths) else None,
        "depth_read_abs_error": _mean(read_err),
        "depth_read_mean_baseline": _mean(np.abs(read_truth - read_truth.mean())),
        "list_count_acc": _mean(count_ok),
        "examples": [{"q": e.question, "truth": e.answer, "got": t} for (e, _), t in list(zip(ground, g_out))[:3]],
    }


def _mean(values) -> float | None:
    values = list(values)
    return round(float(np.mean(values)), 4) if values else None


def write_card(folder: Path, info: dict) -> Path:
    """``README.md``: what the model is, its data, training, wall time, command and held-out measurements."""
    ev, cfg = info["eval"], info["config"]
    hours = info["train_seconds"] / 3600
    phases = "; ".join(
        f"to {p['until']:.0%} of the steps {p['objects'][0]}–{p['objects'][1]} objects, {p['decimals']} decimal"
        + ("s" if p["decimals"] > 1 else "")
        for p in cfg["phases"]
    )
    tasks = ", ".join(f"{k} {v:.0%}" for k, v in cfg["tasks"].items())
    text = f"""---
license: apache-2.0
library_name: transformers
pipeline_tag: image-text-to-text
tags: [sifthinker, qwen2_5_vl, synthetic]
---

# sif-tiny-base

A {info['parameters'] / 1e6:.2f} M-parameter Qwen2.5-VL (`Qwen2_5_VLForConditionalGeneration`, loads with
`AutoModelForImageTextToText` / `AutoProcessor`), pretrained by `sifthinker pretrain` on **perception only** in
sifthinker's synthetic world ("{cfg['world']}" camera, {cfg['image_size']} px images, the colourised depth image
as a second image). It is the starting point of the CPU demo's SFT and GRPO-SIF stages; it has never seen a SIF
chain, a demo question type or a demo scene.

## Data
Scenes rendered on the fly from seeds disjoint from every `sifthinker synth` split. Tasks ({tasks}): list
every object with its box and depth; ground a name to its box and depth; read the depth of a box; name what is in
a box (or "nothing"). Curriculum: {phases}; {cfg['replay']:.0%} of later batches replay the first phase's world.
A temporary dense head on the vision tower's merged tokens (object colour, shape and depth on a 4 × 4 sub-grid
per token, weight {cfg['aux_weight']}) was trained alongside and dropped.

## Training
{info['steps']} steps × batch {cfg['batch_size']} = {info['samples']} samples; AdamW, lr {cfg['learning_rate']}
(vision × {cfg['vision_lr_scale']}), {cfg['warmup_steps']} warm-up steps, cosine to {cfg['min_lr_ratio']}×; seed
{cfg['seed']}. Wall time {hours:.2f} h of training on one CPU thread.
Command: `sifthinker pretrain --config recipes/tiny/pretrain/config.yaml`.

## Held-out measurements ({ev['scenes']} scenes, greedy)
| what | model | baseline |
|---|---|---|
| grounding IoU ({ev['ground_items']} items) | {ev['ground_iou']} | {ev['mean_box_iou']} (always the mean box) |
| grounding IoU ≥ 0.5 | {ev['ground_acc50']} | |
| stated depth error, grounded object | {ev['ground_depth_abs_error']} | {ev['mean_depth_abs_error']} (mean depth) |
| depth reading error of a box | {ev['depth_read_abs_error']} | {ev['depth_read_mean_baseline']} (mean depth) |
| objects listed = objects in the scene | {ev['list_count_acc']} | |
"""
    path = folder / "README.md"
    path.write_text(text, encoding="utf-8")
    (folder / "card.json").write_text(json.dumps({k: v for k, v in info.items() if k != "config"}, indent=1))
    return path

"""Pretraining the tiny Qwen2.5-VL on perception: deterministic per seed, checkpointed, resumable.

The batch of step ``k`` is a pure function of ``(seed, k)`` (:func:`sifthinker.pretrain.tasks.train_rng`), so a
killed run that restarts from its last checkpoint sees exactly the batches it would have seen. A checkpoint
(``checkpoints/step-NNNNNN/``, written to a temporary folder and renamed) holds the model in ``save_pretrained``
layout, the processor, and ``trainer_state.pt`` (optimizer, schedule, auxiliary head, step).

The loss is the language-model loss on the answer tokens plus ``aux_weight`` × a dense loss on the vision tower's
merged image tokens: a temporary linear head predicts, for a 4 × 4 sub-grid of each token, the object colour and
shape (cross-entropy) and the depth (L1). The head is dropped when the model is saved: the result is a plain
Qwen2.5-VL checkpoint. (A plain loop rather than ``transformers.Trainer``: the head, its loss on the vision
features and the step-indexed curriculum would each need a Trainer override, and its data-skipping on resume
would re-render every skipped scene.)

Files in ``output_dir``: ``pretrain_config.json``, ``metrics.jsonl`` (append-only; a resumed run drops the rows
after its checkpoint), ``pretrain.log`` (library messages), ``checkpoints/``, and at the end ``model/`` (the
base model with its card ``README.md`` and ``pretrain_results.json``).
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..depth import colourise
from ..io import atomic_write_text
from ..prompts import build_prompt
from ..synth.config import world_config
from .config import PretrainConfig
from .tasks import COLOUR_CLASSES, SHAPE_CLASSES, SUBGRID, dense_labels, sample, train_rng

__all__ = ["pretrain", "latest_checkpoint", "build_batch", "Batch"]

logger = logging.getLogger(__name__)

CHECKPOINTS = "checkpoints"
STATE_FILE = "trainer_state.pt"


class Batch(dict):
    """The processor's tensors plus ``labels`` and the dense targets (``dense_colour``/``shape``/``depth``)."""


def phase_world(cfg: PretrainConfig, objects: tuple[int, int]):
    return world_config(cfg.world, image_size=(cfg.image_size, cfg.image_size), objects=objects)


def messages(question: str, answer: str | None = None) -> list[dict]:
    """The chat of one sample: the SIF prompt layout (RGB, depth) with no instruction, and the answer."""
    msgs = build_prompt(question, with_depth=True, instruction="")
    if answer is not None:
        msgs.append({"role": "assistant", "content": answer})
    return msgs


def scene_images(scene) -> list:
    from PIL import Image

    return [Image.fromarray(scene.rgb), Image.fromarray(colourise(scene.depth))]


def build_batch(cfg: PretrainConfig, step: int, processor) -> Batch:
    """The batch of ``step``: rendered scenes, chat texts, tokens, answer-only labels and dense targets."""
    import torch

    phase = cfg.phase_at(step)
    first = cfg.phases[0]
    texts, images, dense = [], [], []
    for slot in range(cfg.batch_size):
        rng = train_rng(cfg.seed, step, slot)
        replay = phase is not first and rng.random() < cfg.replay
        scene, ex = sample(phase_world(cfg, (first if replay else phase).objects), rng, cfg.tasks, phase.decimals)
        texts.append(processor.apply_chat_template(messages(ex.question, ex.answer), tokenize=False))
        images.append(scene_images(scene))
        dense.append(dense_labels(scene))
    enc = processor(text=texts, images=images, return_tensors="pt", padding=True)
    labels = enc["input_ids"].clone()
    labels[enc["attention_mask"] == 0] = -100
    start = _answer_starts(enc["input_ids"], processor)
    for i, s in enumerate(start):
        labels[i, :s] = -100
    batch = Batch(enc)
    batch["labels"] = labels
    for key in ("colour", "shape", "depth"):
        batch[f"dense_{key}"] = torch.from_numpy(np.stack([d[key] for d in dense]))
    return batch


def _answer_starts(input_ids, processor) -> list[int]:
    """Per row, the index of the first answer token (after the last ``<|im_start|>assistant\\n``)."""
    tok = processor.tokenizer
    im_start = tok.convert_tokens_to_ids("<|im_start|>")
    head = len(tok("<|im_start|>assistant\n", add_special_tokens=False)["input_ids"])
    out = []
    for row in input_ids.tolist():
        last = max(i for i, t in enumerate(row) if t == im_start)
        out.append(last + head)
    return out


class DenseHead:
    """The temporary head on the merged image tokens and the hook that captures them."""

    def __init__(self, model, seed: int) -> None:
        import torch

        hidden = model.config.text_config.hidden_size
        self.n_col, self.n_shape = len(COLOUR_CLASSES), len(SHAPE_CLASSES)
        gen = torch.Generator().manual_seed(seed + 7)
        self.linear = torch.nn.Linear(hidden, SUBGRID * SUBGRID * (self.n_col + self.n_shape + 1))
        with torch.no_grad():
            self.linear.weight.normal_(0.0, hidden**-0.5, generator=gen)
            self.linear.bias.zero_()
        self.features = None
        visual = getattr(getattr(model, "model", model), "visual", None)
        if visual is None:
            raise ValueError("pretraining needs a Qwen2.5-VL-style model with a .model.visual vision tower")
        visual.register_forward_hook(self._capture)

    def _capture(self, module, args, output) -> None:
        self.features = output.pooler_output

    def loss(self, batch: Batch):
        """Colour CE on RGB tokens, shape CE and depth L1 on both images' tokens (mean over sub-cells)."""
        import torch.nn.functional as F

        feats = self.features
        b, t, s2 = batch["dense_colour"].shape
        out = self.linear(feats).view(b, 2, t, s2, -1)  # images come in pairs: RGB, depth
        col, shp, dep = out.split([self.n_col, self.n_shape, 1], dim=-1)
        ce_col = F.cross_entropy(col[:, 0].reshape(-1, self.n_col), batch["dense_colour"].reshape(-1))
        shape_t = batch["dense_shape"].unsqueeze(1).expand(b, 2, t, s2)
        ce_shape = F.cross_entropy(shp.reshape(-1, self.n_shape), shape_t.reshape(-1))
        depth_t = batch["dense_depth"].unsqueeze(1).expand(b, 2, t, s2)
        l1 = (dep.squeeze(-1) - depth_t).abs().mean()
        return ce_col + ce_shape + 5.0 * l1, {"aux_colour": ce_col.item(), "aux_shape": ce_shape.item(),
                                              "aux_depth_l1": l1.item()}  # fmt: skip


def latest_checkpoint(output_dir: str | os.PathLike) -> Path | None:
    """The newest complete checkpoint folder of a run (None if there is none)."""
    root = Path(output_dir) / CHECKPOINTS
    done = sorted(p for p in root.glob("step-*") if (p / STATE_FILE).exists() and not p.name.endswith(".tmp"))
    return done[-1] if done else None


def _optimizer(model, head: DenseHead, cfg: PretrainConfig):
    import torch

    vision, other = [], []
    for name, p in model.named_parameters():
        (vision if ".visual." in f".{name}" else other).append(p)
    groups = [
        {"params": other, "lr": cfg.learning_rate},
        {"params": vision, "lr": cfg.learning_rate * cfg.vision_lr_scale},
        {"params": list(head.linear.parameters()), "lr": cfg.learning_rate * cfg.vision_lr_scale},
    ]
    return torch.optim.AdamW(groups, weight_decay=cfg.weight_decay)


def _schedule(optimizer, cfg: PretrainConfig):
    from torch.optim.lr_scheduler import LambdaLR

    def factor(step: int) -> float:  # linear warm-up, cosine down to min_lr_ratio
        if step < cfg.warmup_steps:
            return (step + 1) / cfg.warmup_steps
        t = (step - cfg.warmup_steps) / max(1, cfg.max_steps - cfg.warmup_steps)
        return cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * min(1.0, t)))

    return LambdaLR(optimizer, factor)


def _save_checkpoint(out: Path, step: int, model, processor, head, optimizer, schedule, keep: int) -> Path:
    import torch

    root = out / CHECKPOINTS
    final = root / f"step-{step:06d}"
    tmp = root / f"step-{step:06d}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    model.save_pretrained(tmp)
    processor.save_pretrained(tmp)
    torch.save({"step": step, "optimizer": optimizer.state_dict(), "schedule": schedule.state_dict(),
                "head": head.linear.state_dict()}, tmp / STATE_FILE)  # fmt: skip
    shutil.rmtree(final, ignore_errors=True)
    os.replace(tmp, final)
    done = sorted(p for p in root.glob("step-*") if not p.name.endswith(".tmp"))
    for old in done[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def _check_identity(out: Path, cfg: PretrainConfig) -> None:
    path = out / "pretrain_config.json"
    if path.exists():
        before = json.loads(path.read_text())
        if before.get("identity") != cfg.identity():
            changed = sorted(k for k in cfg.identity() if before.get("identity", {}).get(k) != cfg.identity()[k])
            raise ValueError(
                f"{out} holds a pretraining run with another recipe (differs in {changed}); resume it with the same "
                "recipe, or pass another output_dir"
            )
    atomic_write_text(path, json.dumps({"identity": cfg.identity(), "config": cfg.to_dict()}, indent=1))


def _truncate_metrics(path: Path, step: int) -> None:
    """Drop the metric rows written after ``step`` (a resumed run writes them again)."""
    if not path.exists():
        return
    keep = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            if json.loads(line).get("step", 0) <= step:
                keep.append(line)
        except ValueError:
            continue  # a torn last line of a killed run
    atomic_write_text(path, "".join(k + "\n" for k in keep))


def _append(path: Path, row: dict) -> None:
    with path.open("a", encoding="utf-8") as f:
        f.write(json.dumps(row) + "\n")


def pretrain(cfg: PretrainConfig, *, progress: bool = True, max_steps_this_run: int | None = None) -> dict[str, Any]:
    """Run (or resume) the pretraining of ``cfg``; return the final evaluation (or the state when stopped early).

    ``max_steps_this_run`` stops after that many steps of this process (tests; the run stays resumable).
    """
    import torch
    from tqdm.auto import tqdm
    from transformers import AutoModelForImageTextToText, AutoProcessor

    from ..models.tiny import build_tiny_model
    from .evaluate import evaluate_base, write_card

    if cfg.num_threads:
        torch.set_num_threads(int(cfg.num_threads))
    out = Path(cfg.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    _check_identity(out, cfg)
    metrics = out / "metrics.jsonl"
    ckpt = latest_checkpoint(out)
    torch.manual_seed(cfg.seed)
    state = None
    if ckpt is None:
        init = out / "init"
        if not (init / "config.json").exists():
            shutil.rmtree(init, ignore_errors=True)
            build_tiny_model(init, cfg.tiny_config())
        source, start = init, 0
    else:
        state = torch.load(ckpt / STATE_FILE, weights_only=False)
        source, start = ckpt, int(state["step"])
    model = AutoModelForImageTextToText.from_pretrained(source, dtype=torch.float32)
    processor = AutoProcessor.from_pretrained(source)
    processor.tokenizer.padding_side = "right"
    head = DenseHead(model, cfg.seed)
    optimizer = _optimizer(model, head, cfg)
    schedule = _schedule(optimizer, cfg)
    if state is not None:
        optimizer.load_state_dict(state["optimizer"])
        schedule.load_state_dict(state["schedule"])
        head.linear.load_state_dict(state["head"])
        print(f"  resuming {out} from step {start} ({ckpt.name})")
    _truncate_metrics(metrics, start)
    n_params = sum(p.numel() for p in model.parameters())
    model.train()
    params = [p for g in optimizer.param_groups for p in g["params"]]
    end = cfg.max_steps if max_steps_this_run is None else min(cfg.max_steps, start + max_steps_this_run)
    t0 = time.perf_counter()
    bar = tqdm(total=cfg.max_steps, initial=start, desc="pretraining", unit="step", disable=not progress,
               dynamic_ncols=True)  # fmt: skip
    for step in range(start, end):
        batch = build_batch(cfg, step, processor)
        targets = {k: batch.pop(k) for k in ("dense_colour", "dense_shape", "dense_depth")}
        lm = model(**batch).loss
        aux, parts = head.loss({**batch, **targets})
        loss = lm + cfg.aux_weight * aux
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, cfg.max_grad_norm)
        optimizer.step()
        schedule.step()
        done = step + 1
        bar.update(1)
        if done % cfg.logging_steps == 0 or done == end:
            row = {"step": done, "loss": round(loss.item(), 5), "lm_loss": round(lm.item(), 5),
                   **{k: round(v, 5) for k, v in parts.items()}, "lr": schedule.get_last_lr()[0],
                   "phase": cfg.phases.index(cfg.phase_at(step)),
                   "seconds": round(time.perf_counter() - t0, 1)}  # fmt: skip
            _append(metrics, row)
            bar.set_postfix(loss=f"{row['lm_loss']:.3f}", aux=f"{aux.item():.3f}")
        if done % cfg.eval_steps == 0 and done < cfg.max_steps:
            ev = evaluate_base(model, processor, cfg, n=cfg.eval_scenes)
            _append(metrics, {"step": done, **{f"eval/{k}": v for k, v in ev.items()}})
            model.train()
            processor.tokenizer.padding_side = "right"
            logger.info("step %d: %s", done, ev)
        if done % cfg.save_steps == 0 or done == end:
            _save_checkpoint(out, done, model, processor, head, optimizer, schedule, cfg.keep_checkpoints)
    bar.close()
    if end < cfg.max_steps:
        return {"stopped_at": end, "parameters": n_params}
    print(f"  evaluating the base on {cfg.final_eval_scenes} held-out scenes")
    results = evaluate_base(model, processor, cfg, n=cfg.final_eval_scenes)
    final = out / "model"
    shutil.rmtree(final, ignore_errors=True)
    model.save_pretrained(final)
    processor.save_pretrained(final)
    (final / "sif_tiny_config.json").write_text(json.dumps(cfg.tiny_config().to_dict(), indent=1, sort_keys=True))
    info = {"parameters": n_params, "steps": cfg.max_steps, "samples": cfg.max_steps * cfg.batch_size,
            "train_seconds": _train_seconds(metrics), "eval": results, "config": cfg.to_dict()}  # fmt: skip
    atomic_write_text(final / "pretrain_results.json", json.dumps(info, indent=1))
    write_card(final, info)
    print(f"  base model written to {final}")
    return info


def _train_seconds(metrics: Path) -> float:
    """Wall time of the training steps, summed over every resumed piece of the run (from metrics.jsonl)."""
    total, last = 0.0, 0.0
    for line in metrics.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        if "seconds" not in row:
            continue
        if row["seconds"] < last:  # a new process started its clock again
            total += last
        last = row["seconds"]
    return round(total + last, 1)

"""The stages of ``scripts/gpu_check.py``, one per process: :func:`run_stage` runs ``args.stage`` for ``args.model``
and prints one ``GPU_CHECK_RESULT {json}`` line (status ``ok``/``skipped``/``failed``, metrics, error).

Training goes through TRL's own classes (``SFTConfig``/``SFTTrainer``, ``GRPOConfig``/``GRPOTrainer``) with the
package's datasets (:mod:`sifthinker.train.data`), rewards (:mod:`sifthinker.rewards`) and loading helpers
(:mod:`sifthinker.models.loading`); the data is the synthetic world (:mod:`sifthinker.synth`) built into SIF records
by the data engine. The LoRA settings are the recipes' (``recipes/qwen2_5_vl_7b``).
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
import traceback
from pathlib import Path

from gpu_check import RESULT_TAG, build_checkpoint

SIF_REWARDS = ["format", "accuracy_w_progress", "bboxaccuracy_w_progress", "depth_consistency"]
# ZeRO-2 for the HF Trainer (the "auto" values come from the training arguments); the optimizer stays torch's AdamW
# (no DeepSpeed op to compile on the machine).
ZERO2 = {
    "zero_optimization": {"stage": 2, "overlap_comm": False, "contiguous_gradients": True},
    "bf16": {"enabled": "auto"},
    "gradient_accumulation_steps": "auto",
    "gradient_clipping": "auto",
    "train_batch_size": "auto",
    "train_micro_batch_size_per_gpu": "auto",
    "zero_allow_untested_optimizer": True,
}
VISION_TOKENS = ("<|vision_start|>", "<|vision_end|>", "<|vision_pad|>", "<|image_pad|>", "<|video_pad|>")


class MemorySampler:
    """Peak GPU memory of the whole device (``cudaMemGetInfo`` polled every 0.2 s: the vLLM engine's memory counts
    wherever it lives) and of this process's PyTorch allocator."""

    def __init__(self):
        import torch

        self.torch, self.peak, self._stop = torch, 0, threading.Event()
        self.cuda = torch.cuda.is_available()
        if self.cuda:
            torch.cuda.reset_peak_memory_stats()
            threading.Thread(target=self._poll, daemon=True).start()

    def _poll(self):
        while not self._stop.is_set():
            free, total = self.torch.cuda.mem_get_info()
            self.peak = max(self.peak, total - free)
            self._stop.wait(0.2)

    def stop(self) -> dict:
        self._stop.set()
        if not self.cuda:
            return {}
        gib = 2**30
        return {"peak_allocated_gib": round(self.torch.cuda.max_memory_allocated() / gib, 2),
                "peak_device_gib": round(self.peak / gib, 2)}  # fmt: skip


def _sync():
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()


def _step_timer():
    from transformers import TrainerCallback

    class StepTimer(TrainerCallback):
        """Wall time of every optimizer step (the GPU synchronised at both ends)."""

        def __init__(self):
            self.times: list[float] = []
            self._t = 0.0

        def on_step_begin(self, args, state, control, **kwargs):
            _sync()
            self._t = time.perf_counter()

        def on_step_end(self, args, state, control, **kwargs):
            _sync()
            self.times.append(round(time.perf_counter() - self._t, 3))

    return StepTimer()


def _single_process_env():
    """The rendezvous variables a one-process DeepSpeed / colocated vLLM run reads (a free loopback port)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    for k, v in {"RANK": "0", "LOCAL_RANK": "0", "WORLD_SIZE": "1", "MASTER_ADDR": "127.0.0.1",
                 "MASTER_PORT": str(port)}.items():  # fmt: skip
        os.environ.setdefault(k, v)


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def _checkpoint(args) -> Path:
    return Path(args.work) / args.model / "checkpoint"


def _load(args, *, on_gpu: bool = True):
    """The saved random model and its processor (vision tower frozen, as the recipes), via the package's loader;
    ``on_gpu=False`` leaves the weights on the CPU (DeepSpeed places them itself)."""
    from sifthinker.models.loading import freeze_vision, load_model

    cuda = _cuda()
    model, processor = load_model(_checkpoint(args), dtype="bfloat16" if cuda else "float32",
                                  attn_implementation="sdpa", max_pixels=args.max_pixels,
                                  device_map="cuda" if cuda and on_gpu else None)  # fmt: skip
    freeze_vision(model)
    return model, processor


def _lora(model, *, r: int, alpha: int, dropout: float):
    """The training code's LoRA config: PEFT's all-linear targets, the frozen vision tower excluded."""
    from sifthinker.train.common import lora_config
    from sifthinker.train.configs import SIFArguments

    return lora_config(model, SIFArguments(use_peft=True, lora_r=r, lora_alpha=alpha, lora_dropout=dropout,
                                           lora_target_modules=["all-linear"], freeze_vision=True))  # fmt: skip


def _common_args(args, stage: str) -> dict:
    cuda = _cuda()
    return {"output_dir": str(Path(args.work) / args.model / stage), "max_steps": args.steps, "logging_steps": 1,
            "save_strategy": "no", "report_to": "none", "bf16": cuda, "use_cpu": not cuda, "seed": 0,
            "activation_checkpointing": True, "dataloader_num_workers": 0, "disable_tqdm": True}  # fmt: skip


# --------------------------------------------------------------------------------------------------- stages


def stage_data(args) -> tuple[str, dict]:
    """Synthetic scenes → SIF records with traces (``build/``, for SFT and GRPO) and a test split (``synth_test``)."""
    from sifthinker.data.build import BuildConfig, build
    from sifthinker.data.sources.synthetic import SyntheticSource
    from sifthinker.data.writers.template import TemplateWriter
    from sifthinker.synth import SynthConfig, generate_dataset

    work = Path(args.work)
    cfg = SynthConfig(image_size=(args.image_size, args.image_size))
    generate_dataset(work / "synth_train", n=16, seed=1, config=cfg, split="train")
    build(SyntheticSource(work / "synth_train"), TemplateWriter(), BuildConfig(out=work / "build", progress=False))
    test = generate_dataset(work / "synth_test", n=args.eval_items, seed=2, config=cfg, split="test")
    n_train = sum(1 for line in (work / "build" / "records.jsonl").open() if line.strip())
    return "ok", {"train_records": n_train, "test_items": test["records"]}


def stage_build(args) -> tuple[str, dict]:
    out = _checkpoint(args)
    n = build_checkpoint(args.model, out, tiny=args.tiny, max_pixels=args.max_pixels)
    size = sum(f.stat().st_size for f in out.iterdir())
    return "ok", {"parameters": n, "checkpoint_gib": round(size / 2**30, 2)}


def _sft(args, zero2: bool) -> tuple[str, dict]:
    if zero2:
        import importlib.util

        if importlib.util.find_spec("deepspeed") is None:
            print("skipped: deepspeed not installed", flush=True)
            return "skipped", {"reason": "deepspeed not installed"}
        _single_process_env()
    from trl import SFTConfig, SFTTrainer

    from sifthinker.train.data import load_records, sft_dataset

    model, processor = _load(args, on_gpu=not zero2)
    ds = sft_dataset(load_records(Path(args.work) / "build", split=None, require_trace=True))
    cfg = SFTConfig(**_common_args(args, "sft_zero2" if zero2 else "sft"), per_device_train_batch_size=2,
                    learning_rate=1e-4, lr_scheduler_type="constant", max_length=2048,
                    deepspeed=ZERO2 if zero2 else None)  # fmt: skip
    timer = _step_timer()
    trainer = SFTTrainer(model=model, args=cfg, train_dataset=ds, processing_class=processor,
                         peft_config=_lora(model, r=8, alpha=16, dropout=0.0), callbacks=[timer])  # fmt: skip
    result = trainer.train()
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    return "ok", {"step_seconds": timer.times, "losses": [round(x, 4) for x in losses],
                  "train_loss": round(result.training_loss, 4)}  # fmt: skip


def stage_sft(args):
    return _sft(args, zero2=False)


def stage_sft_zero2(args):
    return _sft(args, zero2=True)


def _grpo(args, use_vllm: bool) -> tuple[str, dict]:
    if use_vllm:
        from sifthinker.infer.vllm_predictor import require_vllm

        require_vllm("GRPO with vLLM rollouts (use_vllm=True)", "use transformers generation (use_vllm=False)")
        _single_process_env()
    from trl import GRPOConfig, GRPOTrainer

    from sifthinker.rewards import get_reward_funcs
    from sifthinker.train.data import grpo_dataset, load_records

    model, processor = _load(args)
    tok = processor.tokenizer
    tok.padding_side = tok.truncation_side = "left"  # as sifthinker.train.grpo: TRL's own processor pads left
    # A random policy samples vision placeholders, which break Qwen-VL's position ids of the completion forward.
    vision_ids = sorted({tok.convert_tokens_to_ids(t) for t in VISION_TOKENS})
    gen = {"logit_bias": {i: -100.0 for i in vision_ids}} if use_vllm else {"suppress_tokens": vision_ids}
    ds = grpo_dataset(load_records(Path(args.work) / "build", split=None))
    stage = "grpo_vllm" if use_vllm else "grpo_hf"
    cfg = GRPOConfig(**_common_args(args, stage), per_device_train_batch_size=8, num_generations=4,
                     max_completion_length=args.max_completion, temperature=1.0, beta=0.04, learning_rate=1e-5,
                     generation_kwargs=gen, use_vllm=use_vllm, vllm_mode="colocate",
                     vllm_gpu_memory_utilization=args.vllm_memory, vllm_max_model_length=4096)  # fmt: skip
    rollouts: list[tuple[float, int]] = []

    class TimedGRPOTrainer(GRPOTrainer):
        """Times each rollout (generation only) and counts its completion tokens."""

        def _generate_single_turn(self, *a, **kw):
            _sync()
            t = time.perf_counter()
            out = super()._generate_single_turn(*a, **kw)
            _sync()
            completion_ids = out[0] if isinstance(out, tuple) else out
            rollouts.append((time.perf_counter() - t, sum(len(c) for c in completion_ids)))
            return out

    timer = _step_timer()
    trainer = TimedGRPOTrainer(model=model, reward_funcs=get_reward_funcs(SIF_REWARDS), args=cfg, train_dataset=ds,
                               processing_class=processor, peft_config=_lora(model, r=64, alpha=128, dropout=0.05),
                               callbacks=[timer])  # fmt: skip
    trainer.train()
    logs = [h for h in trainer.state.log_history if "reward" in h]
    seconds, tokens = sum(r[0] for r in rollouts), sum(r[1] for r in rollouts)
    return "ok", {"step_seconds": timer.times, "rollout_seconds": [round(r[0], 3) for r in rollouts],
                  "rollout_tokens": tokens, "rollout_tokens_per_s": round(tokens / seconds, 1) if seconds else None,
                  "rewards": [round(h["reward"], 4) for h in logs]}  # fmt: skip


def stage_grpo_hf(args):
    return _grpo(args, use_vllm=False)


def stage_grpo_vllm(args):
    return _grpo(args, use_vllm=True)


def stage_eval_vllm(args) -> tuple[str, dict]:
    """``--eval-items`` synthetic test items through the vLLM predictor and the eval harness (results.json)."""
    from sifthinker.eval.runner import run_eval
    from sifthinker.infer.engine import DecodingConfig
    from sifthinker.infer.vllm_predictor import VLLMPredictor, VLLMThinker, require_vllm

    require_vllm()
    t = time.perf_counter()
    thinker = VLLMThinker(_checkpoint(args), generation=DecodingConfig(max_new_tokens=args.max_completion),
                          max_pixels=args.max_pixels, dtype="bfloat16", gpu_memory_utilization=args.vllm_memory,
                          max_model_len=4096, enforce_eager=args.vllm_eager)  # fmt: skip
    started = time.perf_counter() - t
    predictor = VLLMPredictor(thinker, batch_size=args.eval_items)
    t = time.perf_counter()
    results = run_eval("synthetic", Path(args.work) / "synth_test", predictor, Path(args.work) / args.model / "eval",
                       limit=args.eval_items, batch_size=args.eval_items, progress=False)  # fmt: skip
    seconds = time.perf_counter() - t
    n, tokens = len(thinker.usage), sum(c for _, c in thinker.usage)
    return "ok", {"engine_start_s": round(started, 1), "items": n, "eval_seconds": round(seconds, 2),
                  "items_per_s": round(n / seconds, 2), "completion_tokens_per_s": round(tokens / seconds, 1),
                  "accuracy": (results.get("metrics") or {}).get("accuracy")}  # fmt: skip


STAGE_FUNCS = {"data": stage_data, "build": stage_build, "sft": stage_sft, "sft_zero2": stage_sft_zero2,
               "grpo_hf": stage_grpo_hf, "grpo_vllm": stage_grpo_vllm, "eval_vllm": stage_eval_vllm}  # fmt: skip


def run_stage(args) -> int:
    """Run ``args.stage`` here; print its result line; 0 unless it failed."""
    sampler = MemorySampler()
    t = time.perf_counter()
    error = None
    try:
        status, metrics = STAGE_FUNCS[args.stage](args)
    except Exception as e:  # the stage's error is the check's finding: print it and report it
        traceback.print_exc()
        status, metrics, error = "failed", {}, f"{type(e).__name__}: {e}"[:600]
    metrics = {**metrics, **sampler.stop()}
    result = {"status": status, "stage_seconds": round(time.perf_counter() - t, 1), "metrics": metrics}
    if error:
        result["error"] = error
    print(RESULT_TAG + json.dumps(result), flush=True)
    return 1 if status == "failed" else 0

"""GPU check at real scale, offline: random-weight Qwen2.5-VL-3B and -7B with their published architectures
(``scripts/gpu_configs/*.json``), a tokenizer and processor built on the machine, and the training and evaluation
paths of the package run for a few steps each — SFT in bf16 (and with DeepSpeed ZeRO-2), GRPO-SIF with HF and with
vLLM rollouts (TRL's ``use_vllm``, colocate mode), 64 eval items through the vLLM predictor. Each stage runs in its
own process under its own time box; a failed stage prints its error and the check goes on; the exit status is 1
when any stage failed. Printed per stage: seconds, step times, rollout tokens/s, peak GPU memory.

    scripts/gpu_check.sh                      # everything, both sizes, 8-minute budget
    scripts/gpu_check.sh --models 3b --stages build,sft,eval_vllm
    scripts/gpu_check.sh --dry-run            # the plan: stages, time boxes, what is installed
    scripts/gpu_check.sh --tiny --models 3b --stages build,sft,grpo_hf   # scaled-down copies, runs on a CPU

The random model's tokenizer has the Qwen special tokens at their published ids (``<|endoftext|>`` = 151643 ...) and
filler entries up to the model's vocabulary size, so every id a random policy samples decodes; the image processor
has the published defaults (patch 14, merge 2) with the pixel budget of ``--max-pixels``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
CONFIG_DIR = HERE / "gpu_configs"
MODELS = {"3b": "qwen2_5_vl_3b.json", "7b": "qwen2_5_vl_7b.json"}
STAGES = {  # name -> (time box in seconds, what it does)
    "build": (90, "random weights from the published config, bf16, saved with an offline tokenizer/processor"),
    "sft": (60, "SFT (TRL SFTTrainer, LoRA as the recipes, bf16), --steps steps"),
    "sft_zero2": (75, "the same SFT under DeepSpeed ZeRO-2 (skipped when deepspeed is not installed)"),
    "grpo_hf": (75, "GRPO-SIF (TRL GRPOTrainer, the four SIF rewards) with transformers generation"),
    "grpo_vllm": (150, "GRPO-SIF with vLLM rollouts (use_vllm=True, vllm_mode='colocate')"),
    "eval_vllm": (120, "--eval-items synthetic test items through VLLMPredictor and the eval harness"),
}
DATA_BOX = 60
RESULT_TAG = "GPU_CHECK_RESULT "
OFFLINE_ENV = {
    "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
    "VLLM_NO_USAGE_STATS": "1", "DO_NOT_TRACK": "1", "PYTHONUNBUFFERED": "1",
}  # fmt: skip
# Sizes of the --tiny copies (and of the test's forward): the published config with these values replaced.
TINY_TEXT = {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4,
             "num_key_value_heads": 2, "max_window_layers": 2}  # fmt: skip
TINY_VISION = {"depth": 2, "hidden_size": 32, "intermediate_size": 64, "num_heads": 2, "out_hidden_size": 64,
               "fullatt_block_indexes": [1]}  # fmt: skip
QWEN_PUBLISHED_PIXELS = (3136, 12845056)  # min_pixels, max_pixels of the published preprocessor_config.json


# ----------------------------------------------------------------------------------------------- the model


def config_dict(name: str, *, tiny: bool = False) -> dict:
    """The published config.json of ``name`` (``3b``/``7b``), keys starting with ``_`` (notes) left out; ``tiny``
    gives a scaled-down copy with the same vocabulary, token ids and layout."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}: expected one of {', '.join(MODELS)}")
    d = {k: v for k, v in json.loads((CONFIG_DIR / MODELS[name]).read_text()).items() if not k.startswith("_")}
    if tiny:
        d.update(TINY_TEXT)
        d["vision_config"] = {**d["vision_config"], **TINY_VISION}
        head_dim = TINY_TEXT["hidden_size"] // TINY_TEXT["num_attention_heads"]
        d["rope_scaling"] = {**d["rope_scaling"], "mrope_section": [2, 3, head_dim // 2 - 5]}
    return d


def model_config(name: str, *, tiny: bool = False):
    """``Qwen2_5_VLConfig`` of ``name``."""
    from transformers import Qwen2_5_VLConfig

    return Qwen2_5_VLConfig(**config_dict(name, tiny=tiny))


def build_tokenizer(config):
    """A Qwen2 tokenizer with the config's vocabulary size and the Qwen special tokens at the config's ids.

    The byte-level BPE of :func:`sifthinker.models.tiny.build_tokenizer` (trained offline) fills the first ids;
    unreachable filler entries pad the vocabulary to 151643, the 14 special tokens follow, then filler added
    tokens up to ``vocab_size``.
    """
    from transformers import Qwen2Tokenizer

    from sifthinker.models.tiny import QWEN2_VL_CHAT_TEMPLATE, QWEN_SPECIAL_TOKENS
    from sifthinker.models.tiny import build_tokenizer as build_bpe

    text = config.text_config
    first_special = text.bos_token_id
    state = json.loads(build_bpe().backend_tokenizer.to_str())["model"]
    words = [t for t, _ in sorted(state["vocab"].items(), key=lambda kv: kv[1]) if t not in QWEN_SPECIAL_TOKENS]
    vocab = {t: i for i, t in enumerate(words)}
    k = 0
    while len(vocab) < first_special:
        vocab.setdefault(f"<|fill_{k}|>", len(vocab))
        k += 1
    merges = [tuple(m) if isinstance(m, list) else tuple(m.split(" ", 1)) for m in state["merges"]]
    tok = Qwen2Tokenizer(vocab=vocab, merges=merges, errors="replace", unk_token=None, bos_token=None,
                         eos_token=None, pad_token=None, clean_up_tokenization_spaces=False,
                         split_special_tokens=False, model_max_length=32768)  # fmt: skip
    tok.add_special_tokens({"additional_special_tokens": list(QWEN_SPECIAL_TOKENS)})
    tok.eos_token, tok.pad_token = "<|im_end|>", "<|endoftext|>"
    tok.add_tokens([f"<|fill_{i}|>" for i in range(len(tok), text.vocab_size)])
    tok.chat_template = QWEN2_VL_CHAT_TEMPLATE
    want = {"<|endoftext|>": text.bos_token_id, "<|im_end|>": text.eos_token_id,
            "<|image_pad|>": config.image_token_id, "<|video_pad|>": config.video_token_id,
            "<|vision_start|>": config.vision_start_token_id, "<|vision_end|>": config.vision_end_token_id}
    got = {t: tok.convert_tokens_to_ids(t) for t in want}
    if got != want or len(tok) != text.vocab_size:
        raise RuntimeError(f"offline tokenizer: ids {got} (want {want}), size {len(tok)} (want {text.vocab_size})")
    return tok


def build_processor(config, *, min_pixels: int | None = None, max_pixels: int | None = None):
    """``Qwen2_5_VLProcessor`` with :func:`build_tokenizer` and the published image-processor settings."""
    from transformers import Qwen2_5_VLProcessor, Qwen2VLImageProcessor, Qwen2VLVideoProcessor

    from sifthinker.models.tiny import QWEN2_VL_CHAT_TEMPLATE

    lo, hi = min_pixels or QWEN_PUBLISHED_PIXELS[0], max_pixels or QWEN_PUBLISHED_PIXELS[1]
    return Qwen2_5_VLProcessor(image_processor=Qwen2VLImageProcessor(min_pixels=lo, max_pixels=hi),
                               tokenizer=build_tokenizer(config), video_processor=Qwen2VLVideoProcessor(),
                               chat_template=QWEN2_VL_CHAT_TEMPLATE)  # fmt: skip


def build_checkpoint(name: str, out: Path, *, tiny: bool = False, max_pixels: int | None = None, seed: int = 0):
    """Random weights (bf16 on a GPU, float32 on a CPU) + processor saved into ``out``; returns the parameter count."""
    import torch
    from transformers import Qwen2_5_VLForConditionalGeneration

    config = model_config(name, tiny=tiny)
    processor = build_processor(config, max_pixels=max_pixels)
    cuda = torch.cuda.is_available()
    torch.manual_seed(seed)
    dtype = torch.bfloat16 if cuda else torch.float32
    with torch.device("cuda" if cuda else "cpu"):
        model = Qwen2_5_VLForConditionalGeneration._from_config(config, dtype=dtype)
    text = config.text_config
    model.generation_config.bos_token_id = model.generation_config.pad_token_id = text.bos_token_id
    model.generation_config.eos_token_id = [text.eos_token_id, text.bos_token_id]
    model.save_pretrained(out)
    processor.save_pretrained(out)
    return sum(p.numel() for p in model.parameters())


# ------------------------------------------------------------------------------------------ orchestration


def installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="gpu_check", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("--models", default="3b,7b", help="comma-separated sizes: 3b, 7b (default both)")
    p.add_argument("--stages", default=",".join(STAGES),
                   help=f"comma-separated stages (default: {','.join(STAGES)})")
    p.add_argument("--budget", type=float, default=480, help="seconds for the whole check (0: no cap); default 480")
    p.add_argument("--box-scale", type=float, default=1.0, help="multiply every stage's time box (slow disks)")
    p.add_argument("--work", default=None, help="working folder (default: a new temporary folder, removed after)")
    p.add_argument("--keep", action="store_true", help="keep the working folder (checkpoints, logs, predictions)")
    p.add_argument("--steps", type=int, default=3, help="training steps per SFT/GRPO stage (default 3)")
    p.add_argument("--eval-items", type=int, default=64, help="eval items through vLLM (default 64)")
    p.add_argument("--image-size", type=int, default=448, help="synthetic image side in pixels (default 448)")
    p.add_argument("--max-pixels", type=int, default=262144, help="image pixel budget (the paper's 512*512)")
    p.add_argument("--max-completion", type=int, default=128, help="GRPO/eval completion tokens (default 128)")
    p.add_argument("--vllm-memory", type=float, default=0.3, help="vLLM gpu_memory_utilization (default 0.3)")
    p.add_argument("--vllm-eager", action=argparse.BooleanOptionalAction, default=True,
                   help="eval: vLLM without CUDA graphs / compilation (faster start; default on)")
    p.add_argument("--tiny", action="store_true", help="scaled-down copies of the architectures (a CPU smoke run)")
    p.add_argument("--dry-run", action="store_true", help="print the plan and what is installed, run nothing")
    p.add_argument("--stage", default=None, help=argparse.SUPPRESS)  # internal: run one stage in this process
    p.add_argument("--model", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    args.models = [m.strip().lower() for m in args.models.split(",") if m.strip()]
    args.stages = [s.strip() for s in args.stages.split(",") if s.strip()]
    bad = [m for m in args.models if m not in MODELS] + [s for s in args.stages if s not in STAGES]
    if bad or not args.models or not args.stages:
        p.error(f"unknown or missing --models/--stages entries {bad}: models {list(MODELS)}, stages {list(STAGES)}")
    for name in ("steps", "eval_items", "image_size", "max_pixels", "max_completion"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1")
    if not 0 < args.vllm_memory < 1:
        p.error("--vllm-memory must lie in (0, 1)")
    if args.box_scale <= 0 or args.budget < 0:
        p.error("--box-scale must be > 0 and --budget >= 0")
    return args


def plan(args) -> list[tuple[str, str, float]]:
    """``(model, stage, time box)`` in run order; the shared data stage first (model ``-``)."""
    steps = [("-", "data", DATA_BOX * args.box_scale)]
    for m in args.models:
        steps += [(m, s, STAGES[s][0] * args.box_scale) for s in STAGES if s in args.stages or s == "build"]
    return steps


def print_plan(args) -> None:
    print(f"gpu_check plan ({'tiny copies' if args.tiny else 'published architectures'}; "
          f"budget {args.budget:g} s; {args.steps} steps per training stage):")  # fmt: skip
    for m, s, box in plan(args):
        what = STAGES[s][1] if s in STAGES else "synthetic scenes -> SIF records (train) and a test split (eval)"
        print(f"  {m:>3} {s:<10} box {box:5.0f} s  {what}")
    have = {name: installed(name) for name in ("torch", "transformers", "trl", "peft", "deepspeed", "vllm")}
    print("  installed: " + ", ".join(f"{k} {'yes' if v else 'NO'}" for k, v in have.items()))
    if have["torch"]:
        import torch

        gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none visible"
        print(f"  GPU: {gpu}")


def _run_child(args, model: str, stage: str, box: float, work: Path) -> dict:
    """Run one stage in a fresh process (its own session, killed whole at the time box); its result dict."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--stage", stage, "--model", model, "--work", str(work),
           *_passthrough(args)]  # fmt: skip
    env = {**os.environ, **OFFLINE_ENV}
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                            start_new_session=True, bufsize=1)  # fmt: skip
    result: dict = {}
    tail: list[str] = []

    def pump():
        for line in proc.stdout:
            if line.startswith(RESULT_TAG):
                result.update(json.loads(line[len(RESULT_TAG):]))
                continue
            tail.append(line.rstrip())
            del tail[:-40]
            print(f"  [{model}/{stage}] {line.rstrip()}", flush=True)

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    try:
        proc.wait(timeout=box)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        result.update(status="failed", error=f"timed out after its {box:.0f} s time box")
    reader.join(timeout=5)
    seconds = time.perf_counter() - t0
    if not result:
        last = " | ".join(tail[-5:]) or "no output"
        result = {"status": "failed", "error": f"exit status {proc.returncode} without a result: {last}"}
    return {"model": model, "stage": stage, "seconds": round(seconds, 1), **result}


def _passthrough(args) -> list[str]:
    out = ["--steps", str(args.steps), "--eval-items", str(args.eval_items), "--image-size", str(args.image_size),
           "--max-pixels", str(args.max_pixels), "--max-completion", str(args.max_completion),
           "--vllm-memory", str(args.vllm_memory),
           "--vllm-eager" if args.vllm_eager else "--no-vllm-eager"]  # fmt: skip
    return out + (["--tiny"] if args.tiny else [])


def _summary_line(r: dict) -> str:
    m = r.get("metrics") or {}
    parts = [f"{r['model']:>3} {r['stage']:<10} {r['status']:<7} {r['seconds']:6.1f} s"]
    for key, fmt in (("reason", "{}"), ("train_records", "{} train records"), ("test_items", "{} test items"),
                     ("parameters", "{:,} params"), ("step_seconds", "steps {} s"),
                     ("rollout_tokens_per_s", "rollout {:.0f} tok/s"), ("engine_start_s", "engine start {:.0f} s"),
                     ("items_per_s", "{:.2f} items/s"), ("completion_tokens_per_s", "{:.0f} tok/s"),
                     ("peak_allocated_gib", "peak alloc {:.1f} GiB"),
                     ("peak_device_gib", "device peak {:.1f} GiB")):  # fmt: skip
        if m.get(key) is not None:
            v = m[key]
            parts.append(fmt.format("/".join(f"{s:.2f}" for s in v) if key == "step_seconds" else v))
    if r.get("error"):
        parts.append(f"error: {r['error']}")
    return "  ".join(parts)


def orchestrate(args) -> int:
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="sif-gpu-check-"))
    work.mkdir(parents=True, exist_ok=True)
    start, results = time.perf_counter(), []
    print_plan(args)
    for model, stage, box in plan(args):
        left = args.budget - (time.perf_counter() - start) if args.budget else box
        built = model == "-" or stage == "build" or any(
            r["model"] == model and r["stage"] == "build" and r["status"] == "ok" for r in results)  # fmt: skip
        if not built:
            r = {"model": model, "stage": stage, "seconds": 0.0, "status": "failed",
                 "error": "no checkpoint (build failed)"}  # fmt: skip
        elif left < 5:
            r = {"model": model, "stage": stage, "seconds": 0.0, "status": "failed",
                 "error": f"not run: the {args.budget:g} s budget is spent"}  # fmt: skip
        else:
            print(f"== {model}/{stage} (box {min(box, left):.0f} s)", flush=True)
            r = _run_child(args, model, stage, min(box, left), work)
        results.append(r)
        print("   " + _summary_line(r), flush=True)
        if model != "-" and not args.keep and stage == [s for m, s, _ in plan(args) if m == model][-1]:
            shutil.rmtree(work / model, ignore_errors=True)  # the next size needs the disk
    total = time.perf_counter() - start
    kept = args.keep or args.work
    (work / "gpu_check_results.json").write_text(json.dumps(results, indent=1))
    where = f"results in {work / 'gpu_check_results.json'}" if kept else "--keep or --work keeps the results file"
    print(f"\n== summary ({total:.0f} s in all; {where})")
    for r in results:
        print("   " + _summary_line(r))
    failed = [r for r in results if r["status"] == "failed"]
    if args.budget and total > args.budget:
        print(f"   over budget: {total:.0f} s > {args.budget:g} s")
    if not kept:
        shutil.rmtree(work, ignore_errors=True)
    print(f"   {len(failed)} failed" if failed else "   all stages passed or skipped")
    return 1 if failed else 0


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.stage is not None:
        sys.path.insert(0, str(HERE))
        from gpu_stages import run_stage

        return run_stage(args)
    if args.dry_run:
        print_plan(args)
        return 0
    return orchestrate(args)


if __name__ == "__main__":
    sys.exit(main())

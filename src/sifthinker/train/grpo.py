"""Stage 2, GRPO-SIF (docs/method.md–8): TRL's ``GRPOTrainer`` with the SIF rewards named in the recipe.

The rewards come from :mod:`sifthinker.rewards` by name, weighted by ``reward_weights`` (TRL sums them). The
answer-progress memory of every progress-aware answer reward is one :class:`~sifthinker.rewards.ProgressMemory`,
written into each checkpoint as ``sif_progress.json`` by :class:`ProgressMemoryCallback` and read back when training
resumes from that checkpoint (``resume_from_checkpoint``). TRL logs ``rewards/<name>/mean`` per reward; the rewards
log their parts through TRL's ``log_metric`` (``format/valid_rate``, ``format/mean_areas``, ``box/h_end`` — the
final-area IoU —, ``box/h_start``, ``box/bonus``, ``answer/raw_mean``, ``depth/abs_error``, ``depth/mean_stated``).

Run it as ``sifthinker train grpo --config recipes/qwen2_5_vl_7b/grpo/config_sif.yaml [--key value ...]`` or call
:func:`main` with a :class:`~sifthinker.train.configs.SIFGRPOConfig`.
"""

from __future__ import annotations

import json
import logging
import os

from transformers import TrainerCallback

from ..rewards import (
    AnswerReward,
    DepthGroundedReward,
    DepthReward,
    ProgressMemory,
    check_reward_columns,
    get_reward_funcs,
)
from .common import load_for_training, lora_config, setup_logging, train_and_save, trainable_summary
from .configs import SIFGRPOConfig, resolve_resume_checkpoint
from .data import build_datasets

logger = logging.getLogger(__name__)

__all__ = [
    "PROGRESS_FILE",
    "ProgressMemoryCallback",
    "build_rewards",
    "make_trainer",
    "main",
    "progress_callback",
    "progress_file",
    "suppress_vision_tokens",
    "vision_token_ids",
]

PROGRESS_FILE = "sif_progress.json"


def progress_file(checkpoint_dir: str | os.PathLike, rank: int = 0, world_size: int = 1) -> str:
    """Where a process keeps its progress memory in a checkpoint: ``sif_progress.json`` (rank 0, or the only
    process) or ``sif_progress.rank{r}.json`` — each process remembers the groups it scored."""
    name = PROGRESS_FILE if rank == 0 or world_size <= 1 else f"sif_progress.rank{rank}.json"
    return os.path.join(os.fspath(checkpoint_dir), name)


class ProgressMemoryCallback(TrainerCallback):
    """Saves the progress memory into every checkpoint and restores it from the resumed one.

    ``initial_state`` records the memory as training began (after any restore), so a run can be checked.
    """

    def __init__(self, memory: ProgressMemory, resume_from: str | None = None) -> None:
        self.memory = memory
        self.resume_from = resume_from
        self.initial_state: dict | None = None

    @staticmethod
    def _rank(args) -> tuple[int, int]:
        return int(getattr(args, "process_index", 0) or 0), int(getattr(args, "world_size", 1) or 1)

    def on_train_begin(self, args, state, control, **kwargs):
        if self.resume_from:
            rank, world = self._rank(args)
            path = progress_file(self.resume_from, rank, world)
            if not os.path.exists(path) and rank != 0:
                path = progress_file(self.resume_from)
            if os.path.exists(path):
                self.memory.load_state_dict(ProgressMemory.load(path).state_dict())
                logger.info("restored the answer-progress memory (%d keys) from %s", len(self.memory), path)
            else:
                logger.warning(
                    "resuming from %s, which holds no %s: the answer-progress memory starts empty",
                    self.resume_from,
                    PROGRESS_FILE,
                )
        self.initial_state = json.loads(json.dumps(self.memory.state_dict()))
        return control

    def on_save(self, args, state, control, **kwargs):
        ckpt = os.path.join(args.output_dir, f"checkpoint-{state.global_step}")
        if os.path.isdir(ckpt):
            rank, world = self._rank(args)
            self.memory.save(progress_file(ckpt, rank, world))
        else:
            logger.warning("checkpoint folder %s not found: the answer-progress memory was not saved", ckpt)
        return control


def _with_judge(options: dict | None) -> dict | None:
    """``reward_options.<answer reward>.judge`` given as client settings (``base_url``, ``model``, ``api_key_env``,
    ...) becomes an :class:`~sifthinker.judge.OpenAIJudge` callable: the rewards never import the client."""
    if not options:
        return options
    out = {}
    for name, opts in options.items():
        judge = opts.get("judge") if isinstance(opts, dict) else None
        if isinstance(judge, dict):
            from ..backends.openai_compat import OpenAICompatClient, OpenAICompatConfig
            from ..judge import OpenAIJudge

            opts = {**opts, "judge": OpenAIJudge(OpenAICompatClient(OpenAICompatConfig.from_dict(judge)))}
        out[name] = opts
    return out


def build_rewards(config: SIFGRPOConfig, memory: ProgressMemory | None = None) -> list:
    """The reward functions of the config; every progress-aware answer reward shares ``memory``. An answer
    reward's ``judge`` option may be an OpenAI-compatible endpoint's settings (an LLM judge)."""
    funcs = get_reward_funcs(config.reward_funcs, _with_judge(config.reward_options))
    if memory is not None:
        for f in funcs:
            if isinstance(f, AnswerReward) and f.progress:
                f.memory = memory
    return funcs


_VISION_TOKENS = ("<|image_pad|>", "<|video_pad|>", "<|vision_start|>", "<|vision_end|>", "<|vision_pad|>")
_VISION_CONFIG_IDS = ("image_token_id", "video_token_id", "vision_start_token_id", "vision_end_token_id")


def vision_token_ids(model, processor) -> list[int]:
    """Ids of the vision placeholder tokens (image/video pads, vision start/end) of a Qwen-VL model."""
    ids = {getattr(model.config, a, None) for a in _VISION_CONFIG_IDS}
    tok = getattr(processor, "tokenizer", processor)
    vocab = tok.get_vocab()
    ids |= {vocab[t] for t in _VISION_TOKENS if t in vocab}
    return sorted(i for i in ids if isinstance(i, int))


def suppress_vision_tokens(config: SIFGRPOConfig, model, processor) -> None:
    """Never sample a vision placeholder token into a completion (transformers generation).

    TRL suppresses the image token; a sampled ``<|vision_start|>`` or ``<|video_pad|>`` breaks Qwen-VL's 3-D
    position ids of the prompt+completion forward just the same (a weak policy — early in training, or the tiny
    model — does sample them). Merged into ``config.generation_kwargs["suppress_tokens"]``; left alone with vLLM.
    """
    if config.use_vllm:
        return
    kw = dict(config.generation_kwargs or {})
    have = list(kw.get("suppress_tokens") or [])
    kw["suppress_tokens"] = sorted(set(have) | set(vision_token_ids(model, processor)))
    config.generation_kwargs = kw


def make_trainer(config: SIFGRPOConfig, *, callbacks=None):
    """Load the model, data and rewards of ``config`` and build the ``GRPOTrainer`` (nothing trained yet).

    The :class:`ProgressMemoryCallback` (when ``progress_memory``) is in ``trainer.callback_handler`` and the memory at
    ``trainer.sif_progress_memory``.
    """
    from transformers import set_seed
    from trl import GRPOTrainer

    set_seed(config.seed)
    memory = ProgressMemory()
    rewards = build_rewards(config, memory)
    needs_depth = any(isinstance(f, (DepthReward, DepthGroundedReward)) for f in rewards)
    model, processor = load_for_training(config)
    # TRL loads its own processor with left padding/truncation; one passed in must match, or the multimodal token
    # types (computed with the processor's padding) misalign with the left-padded prompt ids in a mixed batch.
    tok = getattr(processor, "tokenizer", processor)
    tok.padding_side = "left"
    tok.truncation_side = "left"
    suppress_vision_tokens(config, model, processor)
    train_ds, eval_ds = build_datasets(config, "grpo", require_depth=needs_depth)
    check_reward_columns(rewards, train_ds.column_names)
    cbs = list(callbacks or [])
    if config.progress_memory:
        cbs.insert(0, ProgressMemoryCallback(memory, resume_from=resolve_resume_checkpoint(config)))
    trainer = GRPOTrainer(
        model=model,
        reward_funcs=rewards,
        args=config,
        train_dataset=train_ds,
        eval_dataset=eval_ds,
        processing_class=processor,
        peft_config=lora_config(model, config),
        callbacks=cbs,
    )
    trainer.sif_progress_memory = memory
    logger.info(
        "GRPO: rewards %s weights %s; %s parameters (%s)",
        [f.__name__ for f in rewards],
        config.reward_weights or [1.0] * len(rewards),
        trainable_summary(trainer.model),
        "LoRA" if config.use_peft else "full",
    )
    return trainer


def progress_callback(trainer) -> ProgressMemoryCallback | None:
    """The trainer's :class:`ProgressMemoryCallback`, if any."""
    for cb in trainer.callback_handler.callbacks:
        if isinstance(cb, ProgressMemoryCallback):
            return cb
    return None


def main(config: SIFGRPOConfig, *, callbacks=None, progress: str | None = None, progress_position: int = 0):
    """Train, save the model (or adapter), processor and final progress memory into ``output_dir``; return the
    trainer."""
    setup_logging(config)
    resume = resolve_resume_checkpoint(config)
    trainer = make_trainer(config, callbacks=callbacks)
    train_and_save(trainer, config, resume, progress, progress_position)
    if config.progress_memory:
        rank, world = ProgressMemoryCallback._rank(config)
        trainer.sif_progress_memory.save(progress_file(config.output_dir, rank, world))
    logger.info("GRPO done: %s", config.output_dir)
    return trainer

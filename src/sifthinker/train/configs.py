"""Training configs: TRL's ``SFTConfig`` / ``GRPOConfig`` and ``ModelConfig`` with the SIF fields, parsed by TRL's
``TrlParser`` from a YAML recipe (``--config``) and ``--key value`` arguments.

A stage's config is one dataclass: the training arguments of TRL's ``SFTConfig`` (or ``GRPOConfig``, vLLM's
``use_vllm`` / ``vllm_mode`` included), the model and LoRA fields of TRL's ``ModelConfig`` (``model_name_or_path``,
``model_revision``, ``dtype``, ``attn_implementation``, ``use_peft``, ``lora_r``, ``lora_alpha``, ``lora_dropout``,
``lora_target_modules``, ...) and ours (:class:`SIFArguments`): the pixel budget and ``freeze_vision``, the data
(``train_data`` ...), the prompt (``with_depth``, ``instruction``, ``system_prompt``), ``lora_exclude_modules``,
and for GRPO the rewards. One object rather than TRL scripts' tuple of dataclasses, because the trainers, the demo
and the CLI hand one config around. The parents' ``__post_init__`` run first, then only our checks.

>>> sorted(config_keys("grpo"))[:3]
['accelerator_config', 'activation_checkpointing', 'activation_checkpointing_kwargs']
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml
from trl import GRPOConfig, ModelConfig, SFTConfig, TrlParser

__all__ = [
    "SIFArguments",
    "SIFSFTConfig",
    "SIFGRPOConfig",
    "CONFIG_CLASSES",
    "DEFAULT_REWARD_FUNCS",
    "load_config",
    "config_keys",
    "resolve_resume_checkpoint",
]

DEFAULT_REWARD_FUNCS = ["format", "accuracy_w_progress", "bboxaccuracy_w_progress", "depth_consistency"]
_REGEX_CHARS = "^$*+?()[]{}|\\"


@dataclass
class SIFArguments(ModelConfig):
    """TRL's ``ModelConfig`` (model and LoRA fields) and the SIF fields both stages share (a mixin)."""

    # --- model (ModelConfig's fields; ours below)
    lora_target_modules: list[str] | None = field(
        default_factory=lambda: ["all-linear"],
        metadata={"help": "LoRA target modules (PEFT's target_modules): all-linear, a list of names, or a regex."},
    )
    min_pixels: int | None = field(
        default=None,
        metadata={"help": "Image pixel budget, lower bound (Qwen-VL processors); None keeps the model's."},
    )
    max_pixels: int | None = field(
        default=None,
        metadata={"help": "Image pixel budget, upper bound (the paper: 512*512 = 262144); None keeps the model's."},
    )
    freeze_vision: bool = field(
        default=True,
        metadata={
            "help": "Freeze the vision tower and its projector (the paper does in both stages); with LoRA, the "
            "tower's linear layers are also left out of the adapter (PEFT's exclude_modules)."
        },
    )
    lora_exclude_modules: list[str] | None = field(
        default=None,
        metadata={"help": "Module names LoRA leaves out (PEFT's exclude_modules), besides a frozen vision tower."},
    )
    # --- data
    train_data: str | None = field(
        default=None,
        metadata={"help": "Training data: a data-engine build folder (records.jsonl or shards) or a records file."},
    )
    train_split: str | None = field(
        default="train",
        metadata={"help": "Keep records whose 'split' field is this (records without the field are kept); null: all."},
    )
    eval_data: str | None = field(
        default=None, metadata={"help": "Evaluation data (folder or file); all its records are used."}
    )
    eval_fraction: float = field(
        default=0.0,
        metadata={"help": "Hold out this fraction of train_data for evaluation (seeded shuffle); 0 for none."},
    )
    max_train_samples: int | None = field(
        default=None, metadata={"help": "Use at most this many training records (after the split filter)."}
    )
    # --- prompt
    with_depth: bool = field(
        default=True, metadata={"help": "Show the colourised depth map as a second image in the prompt."}
    )
    instruction: str | None = field(
        default=None,
        metadata={"help": "Instruction after the question; null: sifthinker.prompts.DEFAULT_INSTRUCTION; '': none."},
    )
    system_prompt: str | None = field(
        default=None, metadata={"help": "Optional system message; null keeps the chat template's default."}
    )

    def _post_init_sif(self) -> None:
        ModelConfig.__post_init__(self)
        if not self.model_name_or_path:
            raise ValueError(
                "model_name_or_path is not set: give it in the recipe or as --model_name_or_path ID_OR_FOLDER "
                "('sif-tiny' builds the offline tiny model)"
            )
        if not self.train_data:
            raise ValueError(
                "train_data is not set: give a data-engine build folder or a records .jsonl file, e.g. "
                "--train_data runs/data/build"
            )
        from ..models.loading import resolve_dtype

        resolve_dtype(self.dtype)
        if isinstance(self.train_split, str) and self.train_split.lower() in ("null", "none"):
            self.train_split = None  # the command line's spelling of YAML's null
        if not 0.0 <= float(self.eval_fraction) < 1.0:
            raise ValueError(f"eval_fraction must be in [0, 1), got {self.eval_fraction!r}")
        if self.eval_fraction and self.eval_data:
            raise ValueError(
                f"both eval_data ({self.eval_data!r}) and eval_fraction ({self.eval_fraction}) are set: keep one "
                "(eval_fraction: 0 to use eval_data, or eval_data: null to hold out part of train_data)"
            )
        strategy = str(getattr(self.eval_strategy, "value", self.eval_strategy))
        if strategy != "no" and not (self.eval_data or self.eval_fraction):
            raise ValueError(
                f"eval_strategy is {strategy!r} but there is no eval set: set eval_fraction (e.g. 0.1) or eval_data, "
                "or eval_strategy: 'no'"
            )
        if self.max_train_samples is not None and self.max_train_samples < 1:
            raise ValueError(f"max_train_samples must be >= 1 or null, got {self.max_train_samples!r}")
        for name in ("min_pixels", "max_pixels"):
            v = getattr(self, name)
            if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v <= 0):
                raise ValueError(f"{name} must be a positive integer or null, got {v!r}")
        if self.min_pixels is not None and self.max_pixels is not None and self.min_pixels > self.max_pixels:
            raise ValueError(f"min_pixels ({self.min_pixels}) exceeds max_pixels ({self.max_pixels}): swap them")
        # PEFT reads a string as a regex over full module names; ModelConfig turns a one-name list into such a
        # string, so a bare name (`q_proj`) goes back into a list, as the user wrote it.
        for name in ("lora_target_modules", "lora_exclude_modules"):
            v = getattr(self, name)
            if isinstance(v, str) and v != "all-linear" and not any(c in v for c in _REGEX_CHARS):
                setattr(self, name, [v])


@dataclass
class SIFSFTConfig(SIFArguments, SFTConfig):
    """TRL's ``SFTConfig`` with ``ModelConfig`` and the SIF fields (see :class:`SIFArguments`); stage 1, the
    warm-up (docs/method.md). Defaults follow the paper where TRL's differ: the 2048-token cutoff, LoRA r 8 / α 16."""

    max_length: int | None = field(
        default=2048,
        metadata={"help": "Longest tokenised sequence (prompt with image tokens + trace); the paper's cutoff."},
    )
    # TRL sets the deprecated `gradient_checkpointing` to True, which transformers >= 5 warns about on every config
    # whose `activation_checkpointing` is unset; the same default under the new name says it without the warning.
    activation_checkpointing: bool | None = field(
        default=True, metadata={"help": "Recompute activations in the backward pass to save memory (TRL's default)."}
    )
    lora_r: int = field(default=8, metadata={"help": "LoRA rank (the paper: 8)."})
    lora_alpha: int = field(default=16, metadata={"help": "LoRA alpha (the paper: 16)."})

    require_trace: bool = field(
        default=True,
        metadata={
            "help": "Every assistant target must be a valid SIF trace (the default); false allows other targets, "
            "e.g. an answers-only baseline."
        },
    )

    def __post_init__(self) -> None:
        SFTConfig.__post_init__(self)
        self._post_init_sif()


@dataclass
class SIFGRPOConfig(SIFArguments, GRPOConfig):
    """TRL's ``GRPOConfig`` with ``ModelConfig`` and the SIF fields (see :class:`SIFArguments`); stage 2, GRPO-SIF
    (docs/method.md). vLLM generation is TRL's own: ``use_vllm: true`` with ``vllm_mode: colocate`` or ``server``.
    Defaults follow the paper where TRL's differ: β 0.04, LoRA r 64 / α 128, the four SIF rewards."""

    beta: float = field(default=0.04, metadata={"help": "KL coefficient (the paper: 0.04)."})
    # as in SIFSFTConfig
    activation_checkpointing: bool | None = field(
        default=True, metadata={"help": "Recompute activations in the backward pass to save memory (TRL's default)."}
    )
    lora_r: int = field(default=64, metadata={"help": "LoRA rank (the paper: 64)."})
    lora_alpha: int = field(default=128, metadata={"help": "LoRA alpha (the paper: 128)."})

    reward_funcs: list[str] = field(
        default_factory=lambda: list(DEFAULT_REWARD_FUNCS),
        metadata={
            "help": "Reward functions by name (sifthinker.rewards: format, accuracy_w_progress, "
            "bboxaccuracy_w_progress, depth_consistency, ... or a dotted import path); weights in reward_weights."
        },
    )
    # `| str`: on the command line a JSON object, as TrainingArguments' own dict fields.
    reward_options: dict[str, dict] | str | None = field(
        default=None,
        metadata={"help": "Keyword options per reward name, e.g. {depth_consistency: {tol: 0.1}} (JSON on the CLI)."},
    )
    progress_memory: bool = field(
        default=True,
        metadata={
            "help": "Save the answer-progress memory into every checkpoint (sif_progress.json) and restore it on "
            "resume; false keeps it in memory only (the official behaviour)."
        },
    )

    def __post_init__(self) -> None:
        GRPOConfig.__post_init__(self)
        self._post_init_sif()
        self._check_rewards()

    def _check_rewards(self) -> None:
        from ..rewards import check_reward_weights, reward_names

        names = self.reward_funcs
        if not isinstance(names, list) or not names or not all(isinstance(n, str) and n for n in names):
            raise ValueError(f"reward_funcs must be a non-empty list of reward names, got {names!r}")
        known = reward_names()
        for n in names:
            if n not in known and "." not in n:
                close = difflib.get_close_matches(n, known, n=3)
                hint = f" (did you mean {', '.join(close)}?)" if close else ""
                raise ValueError(f"unknown reward {n!r}{hint}; known: {', '.join(known)}, or a dotted import path")
        if self.reward_weights is not None:
            try:
                self.reward_weights = check_reward_weights(names, self.reward_weights)
            except ValueError as e:
                raise ValueError(
                    f"{e} (reward_weights lists one weight per entry of reward_funcs, same order)"
                ) from None
        opts = self.reward_options or {}
        if isinstance(opts, str):
            try:
                opts = self.reward_options = json.loads(opts)
            except json.JSONDecodeError as e:
                raise ValueError(f"reward_options: not a JSON object ({e}): {opts!r}") from None
        if not isinstance(opts, dict) or not all(isinstance(v, dict) for v in opts.values()):
            raise ValueError(f"reward_options must map a reward name to a mapping of options, got {opts!r}")
        extra = sorted(set(opts) - set(names))
        if extra:
            raise ValueError(
                f"reward_options given for {extra}, which are not in reward_funcs {names}: add them to reward_funcs "
                "or remove their options"
            )


CONFIG_CLASSES: dict[str, type] = {"sft": SIFSFTConfig, "grpo": SIFGRPOConfig}


def _config_class(stage: str) -> type:
    if stage not in CONFIG_CLASSES:
        raise ValueError(f"unknown training stage {stage!r}; expected one of {', '.join(CONFIG_CLASSES)}")
    return CONFIG_CLASSES[stage]


def config_keys(stage: str) -> dict[str, str]:
    """Every key a recipe of ``stage`` accepts → its help text (ours, TRL's and transformers')."""
    return {f.name: f.metadata.get("help", "") for f in dataclasses.fields(_config_class(stage)) if f.init}


class _Parser(TrlParser):
    """TRL's parser, plus: keyword values that top the recipe's (a caller's paths, e.g. the demo's), and unknown
    keys refused with the closest valid names before the config is built (TRL reports them only afterwards, once
    every check has run on a config that is not the one asked for, and without suggestions)."""

    def __init__(self, stage: str, values: dict[str, Any], where: str) -> None:
        super().__init__(_config_class(stage), exit_on_error=False, allow_abbrev=False)
        self.stage, self.values, self.where = stage, values, where

    def _unknown(self, key: str, where: str) -> ValueError:
        known = [f.name for f in dataclasses.fields(_config_class(self.stage)) if f.init]
        close = difflib.get_close_matches(key, known, n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        return ValueError(
            f"unknown {self.stage} config key {key!r}{where}{hint} (all keys: `sifthinker train {self.stage} "
            "--list-keys`)"
        )

    def set_defaults_with_config(self, **kwargs) -> list[str]:
        unknown = super().set_defaults_with_config(**{**kwargs, **self.values})
        if unknown:
            raise self._unknown(unknown[0].lstrip("-"), self.where)
        return unknown

    def parse_args_into_dataclasses(self, args=None, **kwargs):
        _, rest = self.parse_known_args(args)
        flags = [a for a in rest if a.startswith("--")]
        if rest:
            raise self._unknown(flags[0][2:].split("=")[0] if flags else rest[0], " (command line)")
        return super().parse_args_into_dataclasses(args, **kwargs)


def load_config(
    stage: str, path: str | os.PathLike | None = None, args: Sequence[str] = (), **values: Any
):
    """Build the config of ``stage`` (``sft`` or ``grpo``) with TRL's parser: the YAML recipe at ``path``
    (``--config``), then ``values`` (keywords), then ``args`` (``--key value`` strings, as on the command line).

    Raises ``ValueError`` for an unknown key (with the closest valid names), a missing or malformed recipe, or an
    inconsistent setting (TRL's checks, then ours, with the fix).
    """
    where = f" (recipe {os.fspath(path)})" if path is not None else ""
    parser = _Parser(stage, values, where)
    argv = [*(["--config", os.fspath(path)] if path is not None else []), *args]
    try:
        if path is None:
            parser.set_defaults_with_config()
        (config,) = parser.parse_args_and_config(argv)
    except FileNotFoundError:
        raise ValueError(f"recipe {os.fspath(path)!r} does not exist") from None
    except yaml.YAMLError as e:
        raise ValueError(f"recipe {os.fspath(path)!r} is not valid YAML: {e}") from None
    except (argparse.ArgumentError, TypeError) as e:  # a value argparse cannot convert, a wrong type reaching a check
        raise ValueError(f"{stage} config{where}: {e}") from None
    return config


def resolve_resume_checkpoint(config) -> str | None:
    """The checkpoint folder to resume from: ``resume_from_checkpoint`` as a path, or the newest ``checkpoint-N``
    under ``output_dir`` for ``true``/``last``; None for no resume. Raises when the asked-for checkpoint is absent.

    The folder itself (not transformers' ``True``) because the answer-progress memory is restored from it."""
    value = config.resume_from_checkpoint
    if value in (None, False, "", "false", "False", "no", "none", "None"):
        return None
    if value is True or str(value).lower() in ("true", "last", "latest", "yes"):
        from transformers.trainer_utils import get_last_checkpoint

        out = config.output_dir
        last = get_last_checkpoint(out) if out and os.path.isdir(out) else None
        if last is None:
            raise ValueError(
                f"resume_from_checkpoint={value!r} but there is no checkpoint-N folder in output_dir {out!r}: "
                "give a checkpoint path, or drop resume_from_checkpoint to start fresh"
            )
        return last
    if not os.path.isdir(value):
        raise ValueError(f"resume_from_checkpoint: {value!r} is not a checkpoint folder")
    return os.fspath(value)

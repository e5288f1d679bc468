"""Training configs: TRL's ``SFTConfig`` / ``GRPOConfig`` extended with the SIF fields, loaded from YAML recipes.

Our fields, grouped by purpose (every one has help text in its ``metadata``):

- model: ``model_name_or_path`` (hub id, local folder or ``sif-tiny``), ``model_revision``, ``dtype``,
  ``attn_implementation``, ``min_pixels`` / ``max_pixels`` (the image pixel budget), ``freeze_vision``;
- data: ``train_data`` (a data-engine build folder or a records file), ``train_split``, ``eval_data`` /
  ``eval_fraction``, ``max_train_samples``;
- prompt: ``with_depth``, ``instruction``, ``system_prompt`` (the one prompt of :mod:`sifthinker.prompts`);
- LoRA: ``use_peft``, ``lora_r``, ``lora_alpha``, ``lora_dropout``, ``lora_target_modules`` (TRL's ``ModelConfig``
  names; recipes may group them as ``lora: {use_peft, r, alpha, dropout, target_modules}``);
- GRPO only: ``reward_funcs`` (names of :mod:`sifthinker.rewards`) beside TRL's ``reward_weights``,
  ``reward_options`` and ``progress_memory``.

:func:`load_config` reads a recipe and dotted ``key=value`` overrides (``learning_rate=1e-5``, ``lora.r=16``,
``reward_options.box.bonus=false``). Unknown keys and inconsistent settings raise ``ValueError`` saying how to fix
them, before anything heavy starts.

>>> parse_overrides(["learning_rate=1e-5", "lora.r=16", "reward_funcs=[format, box]"])
{'learning_rate': 1e-05, 'lora': {'r': 16}, 'reward_funcs': ['format', 'box']}
"""

from __future__ import annotations

import dataclasses
import difflib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from trl import GRPOConfig, SFTConfig

from ..overrides import as_number, deep_merge, parse_overrides

__all__ = [
    "SIFArguments",
    "SIFSFTConfig",
    "SIFGRPOConfig",
    "CONFIG_CLASSES",
    "LORA_SCOPES",
    "DEFAULT_REWARD_FUNCS",
    "load_config",
    "recipe_values",
    "parse_overrides",
    "config_keys",
    "resolve_resume_checkpoint",
]

LORA_SCOPES = ("all-linear", "language-model")
DEFAULT_REWARD_FUNCS = ["format", "accuracy_w_progress", "bboxaccuracy_w_progress", "depth_consistency"]

# The `lora:` group of a recipe → the flat field names (TRL's ModelConfig names).
_LORA_GROUP = {
    "use_peft": "use_peft",
    "enabled": "use_peft",
    "r": "lora_r",
    "alpha": "lora_alpha",
    "dropout": "lora_dropout",
    "target_modules": "lora_target_modules",
}
_LORA_SYNONYMS = {
    "rank": "r",
    "lora_r": "r",
    "lora_alpha": "alpha",
    "lora_dropout": "dropout",
    "target": "target_modules",
    "modules": "target_modules",
    "lora_target_modules": "target_modules",
    "enable": "use_peft",
}


@dataclass
class SIFArguments:
    """The SIF fields shared by the SFT and GRPO configs (a mixin; not used on its own)."""

    # --- model
    model_name_or_path: str | None = field(
        default=None,
        metadata={
            "help": "Model to train: a hub id, a local checkpoint folder, or 'sif-tiny' (the offline tiny model)."
        },
    )
    model_revision: str | None = field(default=None, metadata={"help": "Hub revision (branch, tag or commit)."})
    dtype: str = field(
        default="auto",
        metadata={"help": "Weights dtype when loading: auto (the checkpoint's), bfloat16, float16 or float32."},
    )
    attn_implementation: str | None = field(
        default=None,
        metadata={"help": "Attention kernel: sdpa, eager, flash_attention_2 (None: transformers' choice)."},
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
        default=True, metadata={"help": "Freeze the vision tower and its projector (the paper does in both stages)."}
    )
    # --- data
    train_data: str | None = field(
        default=None,
        metadata={"help": "Training data: a data-engine build folder (holding records.jsonl) or a .jsonl/.json file."},
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
        metadata={"help": "Instruction after the question; null: sifthinker.records.DEFAULT_INSTRUCTION; '': none."},
    )
    system_prompt: str | None = field(
        default=None, metadata={"help": "Optional system message; null keeps the chat template's default."}
    )
    # --- LoRA
    use_peft: bool = field(default=False, metadata={"help": "Train a LoRA adapter instead of the full model."})
    lora_r: int = field(default=8, metadata={"help": "LoRA rank."})
    lora_alpha: int = field(default=16, metadata={"help": "LoRA alpha (scale = alpha / r)."})
    lora_dropout: float = field(default=0.05, metadata={"help": "LoRA dropout."})
    lora_target_modules: Any = field(
        default="all-linear",
        metadata={
            "help": "LoRA targets: 'all-linear' (every linear layer of the trained parts: with freeze_vision, the "
            "language model), 'language-model' (its linear layers only), or a list of module names / a regex."
        },
    )

    # --- TRL/transformers fields whose defaults differ (both stages)
    gradient_checkpointing: bool | None = field(
        default=None, metadata={"help": "Deprecated alias of activation_checkpointing (transformers 5)."}
    )
    activation_checkpointing: bool | None = field(
        default=True, metadata={"help": "Recompute activations in the backward pass to save memory."}
    )

    # ------------------------------------------------------------------------------------------- checks
    def _check_sif(self) -> None:
        if not self.model_name_or_path:
            raise ValueError(
                "model_name_or_path is not set: give it in the recipe or as model_name_or_path=ID_OR_FOLDER "
                "('sif-tiny' builds the offline tiny model)"
            )
        if not self.train_data:
            raise ValueError(
                "train_data is not set: give a data-engine build folder or a records .jsonl file, e.g. "
                "train_data=runs/data/build"
            )
        from ..models.loading import resolve_dtype

        resolve_dtype(self.dtype)
        if not 0.0 <= float(self.eval_fraction) < 1.0:
            raise ValueError(f"eval_fraction must be in [0, 1), got {self.eval_fraction!r}")
        if self.eval_fraction and self.eval_data:
            raise ValueError(
                f"both eval_data ({self.eval_data!r}) and eval_fraction ({self.eval_fraction}) are set: keep one "
                "(eval_fraction=0 to use eval_data, or eval_data=null to hold out part of train_data)"
            )
        strategy = str(getattr(self.eval_strategy, "value", self.eval_strategy))
        if strategy != "no" and not (self.eval_data or self.eval_fraction):
            raise ValueError(
                f"eval_strategy is {strategy!r} but there is no eval set: set eval_fraction (e.g. 0.1) or eval_data, "
                "or eval_strategy=no"
            )
        if self.max_train_samples is not None and self.max_train_samples < 1:
            raise ValueError(f"max_train_samples must be >= 1 or null, got {self.max_train_samples!r}")
        for name in ("min_pixels", "max_pixels"):
            v = getattr(self, name)
            if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v <= 0):
                raise ValueError(f"{name} must be a positive integer or null, got {v!r}")
        if self.min_pixels is not None and self.max_pixels is not None and self.min_pixels > self.max_pixels:
            raise ValueError(f"min_pixels ({self.min_pixels}) exceeds max_pixels ({self.max_pixels}): swap them")
        if self.use_peft:
            if not isinstance(self.lora_r, int) or self.lora_r < 1:
                raise ValueError(f"lora.r must be a positive integer, got {self.lora_r!r}")
            if not isinstance(self.lora_alpha, (int, float)) or self.lora_alpha <= 0:
                raise ValueError(f"lora.alpha must be positive, got {self.lora_alpha!r}")
            if not 0.0 <= float(self.lora_dropout) < 1.0:
                raise ValueError(f"lora.dropout must be in [0, 1), got {self.lora_dropout!r}")
        t = self.lora_target_modules
        if isinstance(t, str):
            if t not in LORA_SCOPES and not any(c in t for c in "^$*().\\["):
                raise ValueError(
                    f"lora.target_modules {t!r}: expected {' or '.join(LORA_SCOPES)}, a list of module names, "
                    "or a regex over full module names"
                )
        elif not (isinstance(t, (list, tuple)) and t and all(isinstance(x, str) and x for x in t)):
            raise ValueError(f"lora.target_modules must be a scope name, a regex or a list of names, got {t!r}")
        self._check_precision()

    def _check_precision(self) -> None:
        bf16 = self.bf16 if self.bf16 is not None else not self.fp16
        wants = [n for n, v in (("bf16", bf16), ("fp16", self.fp16)) if v]
        if not wants or _gpu_available():
            return
        if self.use_cpu and not self.fp16:
            return  # bf16 autocast on CPU, asked for explicitly
        raise ValueError(
            f"{wants[0]}=true (TRL's default when unset) needs a GPU and none is visible "
            "(torch.cuda.is_available() is False): on this machine set bf16=false and use_cpu=true, in the recipe or "
            "as overrides `bf16=false use_cpu=true` (recipes/tiny/* do)"
        )


def _gpu_available() -> bool:
    import torch

    if torch.cuda.is_available():
        return True
    for name in ("xpu", "npu", "mlu", "musa"):
        mod = getattr(torch, name, None)
        if mod is not None and getattr(mod, "is_available", lambda: False)():
            return True
    return False


@dataclass
class SIFSFTConfig(SIFArguments, SFTConfig):
    """TRL's ``SFTConfig`` with the SIF fields (see :class:`SIFArguments`); stage 1, the warm-up (docs/method.md).

    Defaults differ from TRL's where the paper says so: ``max_length`` 2048 (the cutoff), LoRA rank 8 on all
    linear layers, and activation checkpointing through transformers' current field name.
    """

    max_length: int | None = field(
        default=2048,
        metadata={"help": "Longest tokenised sequence (prompt with image tokens + trace); the paper's cutoff."},
    )
    require_trace: bool = field(
        default=True,
        metadata={
            "help": "Every assistant target must be a valid SIF trace (the default); false allows other targets, "
            "e.g. an answers-only baseline."
        },
    )

    def __post_init__(self) -> None:
        self._check_sif()
        super().__post_init__()


@dataclass
class SIFGRPOConfig(SIFArguments, GRPOConfig):
    """TRL's ``GRPOConfig`` with the SIF fields (see :class:`SIFArguments`); stage 2, GRPO-SIF (docs/method.md–8).

    Defaults follow the paper where TRL's differ: β 0.04, LoRA r 64 / α 128 / dropout 0.05 on the language model
    only, the four SIF rewards with weight 1 each.
    """

    reward_funcs: list[str] = field(
        default_factory=lambda: list(DEFAULT_REWARD_FUNCS),
        metadata={
            "help": "Reward functions by name (sifthinker.rewards: format, accuracy_w_progress, "
            "bboxaccuracy_w_progress, depth_consistency, ... or a dotted import path); weights in reward_weights."
        },
    )
    reward_options: dict[str, dict] | None = field(
        default=None,
        metadata={"help": "Keyword options per reward name, e.g. {depth_consistency: {tol: 0.1}}."},
    )
    progress_memory: bool = field(
        default=True,
        metadata={
            "help": "Save the answer-progress memory into every checkpoint (sif_progress.json) and restore it on "
            "resume; false keeps it in memory only (the official behaviour)."
        },
    )
    beta: float = field(default=0.04, metadata={"help": "KL coefficient (the paper: 0.04)."})
    lora_r: int = field(default=64, metadata={"help": "LoRA rank (the paper: 64)."})
    lora_alpha: int = field(default=128, metadata={"help": "LoRA alpha (the paper: 128)."})
    lora_target_modules: Any = field(
        default="language-model",
        metadata={"help": "LoRA targets (see SIFArguments); the paper: the language model's linear layers."},
    )

    def __post_init__(self) -> None:
        self._check_sif()
        self._check_rewards()
        self._check_generation_batch()
        if self.use_vllm and not _gpu_available():
            raise ValueError("use_vllm=true needs a GPU and the vllm package; set use_vllm=false on this machine")
        super().__post_init__()

    def _check_rewards(self) -> None:
        from ..rewards import check_reward_weights, reward_names

        names = self.reward_funcs
        if isinstance(names, str):
            names = self.reward_funcs = [n.strip() for n in names.split(",") if n.strip()]
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
        if not isinstance(opts, dict) or not all(isinstance(v, dict) for v in opts.values()):
            raise ValueError(f"reward_options must map a reward name to a mapping of options, got {opts!r}")
        extra = sorted(set(opts) - set(names))
        if extra:
            raise ValueError(
                f"reward_options given for {extra}, which are not in reward_funcs {names}: add them to reward_funcs "
                "or remove their options"
            )

    def _check_generation_batch(self) -> None:
        n = self.num_generations
        if n is None:
            return
        if not isinstance(n, int) or n < 2:
            raise ValueError(f"num_generations must be an integer >= 2 (GRPO compares a group), got {n!r}")
        procs = max(1, int(os.environ.get("WORLD_SIZE", "1") or 1))
        b = self.per_device_train_batch_size
        if self.generation_batch_size is not None:
            gbs = self.generation_batch_size
            how = f"generation_batch_size {gbs}"
        else:
            steps = self.steps_per_generation or self.gradient_accumulation_steps
            gbs = b * procs * steps
            how = (
                f"per_device_train_batch_size {b} × {procs} process(es) × "
                f"{'steps_per_generation' if self.steps_per_generation else 'gradient_accumulation_steps'} {steps}"
            )
        if gbs % n:
            divisors = [d for d in range(2, gbs + 1) if gbs % d == 0]
            fix = f"num_generations={max(divisors)}" if divisors else "a larger per_device_train_batch_size"
            if self.generation_batch_size is None:
                per = b
                while (per * gbs // b) % n:
                    per += 1
                fix += f", or per_device_train_batch_size={per}"
            raise ValueError(
                f"num_generations ({n}) must divide the generation batch ({gbs} = {how}), so that every group of "
                f"completions for one prompt is complete: set {fix}"
            )


CONFIG_CLASSES: dict[str, type] = {"sft": SIFSFTConfig, "grpo": SIFGRPOConfig}


# ----------------------------------------------------------------------------------------------------- loading


def config_keys(stage: str) -> dict[str, str]:
    """Every key a recipe of ``stage`` accepts → its help text (ours and TRL's/transformers')."""
    cls = _config_class(stage)
    return {f.name: f.metadata.get("help", "") for f in dataclasses.fields(cls) if f.init}


def _config_class(stage: str) -> type:
    if stage not in CONFIG_CLASSES:
        raise ValueError(f"unknown training stage {stage!r}; expected one of {', '.join(CONFIG_CLASSES)}")
    return CONFIG_CLASSES[stage]


def _coerce(f: dataclasses.Field, value: Any) -> Any:
    """Strings for numeric/bool fields (YAML 1.1's ``1e-5``, a CLI's ``true``) → numbers/bools; ``a,b`` → list."""
    ann = str(f.type)
    if isinstance(value, str):
        low = value.strip().lower()
        if "bool" in ann and low in ("true", "false", "yes", "no", "on", "off"):
            return low in ("true", "yes", "on")
        if ("float" in ann or "int" in ann) and not ann.startswith("str"):
            v = as_number(value.strip())
            if not isinstance(v, str):
                return float(v) if ("float" in ann and "int" not in ann) else v
        if ann.startswith("list[str]") and "," in value:
            return [p.strip() for p in value.split(",") if p.strip()]
    if isinstance(value, bool) and "bool" not in ann and "str" in ann and f.name != "resume_from_checkpoint":
        return "yes" if value else "no"  # YAML 1.1 reads `save_strategy: no` as false
    if isinstance(value, int) and not isinstance(value, bool) and ann.startswith("float"):
        return float(value)
    return value


def recipe_values(
    stage: str,
    path: str | os.PathLike | None = None,
    overrides: list[str] | tuple[str, ...] = (),
    **values: Any,
) -> dict[str, Any]:
    """The keyword arguments :func:`load_config` would build the config from: the recipe, then ``overrides``
    (``key=value`` strings), then ``values``; keys checked, values coerced, nothing constructed (so a GPU recipe can
    be checked on a CPU machine)."""
    cls = _config_class(stage)
    data: dict[str, Any] = {}
    where = ""
    if path is not None:
        where = f" (recipe {os.fspath(path)})"
        try:
            loaded = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ValueError(f"recipe {os.fspath(path)!r} does not exist") from None
        except yaml.YAMLError as e:
            raise ValueError(f"recipe {os.fspath(path)!r} is not valid YAML: {e}") from None
        if loaded is None:
            loaded = {}
        if not isinstance(loaded, dict):
            raise ValueError(f"recipe {os.fspath(path)!r}: expected a mapping of keys to values at the top level")
        data = loaded
    # Each source's `lora:` group is flattened on its own, so `use_peft=true` on the command line beats the
    # recipe's `lora: {use_peft: false}`.
    data = _flatten_lora(data)
    data = deep_merge(data, _flatten_lora(parse_overrides(list(overrides))))
    data = deep_merge(data, _flatten_lora(values))
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = [k for k in data if k not in fields]
    if unknown:
        k = unknown[0]
        close = difflib.get_close_matches(k, list(fields), n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise ValueError(
            f"unknown {stage} config key {k!r}{where}{hint} (all keys: `sifthinker train {stage} --list-keys`)"
        )
    return {k: _coerce(fields[k], v) for k, v in data.items()}


def load_config(
    stage: str,
    path: str | os.PathLike | None = None,
    overrides: list[str] | tuple[str, ...] = (),
    **values: Any,
):
    """Build the config of ``stage`` (``sft`` or ``grpo``) from a YAML recipe, dotted overrides and keywords.

    Later sources win: the recipe, then ``overrides`` (``key=value`` strings), then ``values``. A recipe may group
    the LoRA keys under ``lora:``. Raises ``ValueError`` for an unknown key (with the closest valid names), a
    malformed recipe or an inconsistent setting (with the fix).
    """
    kwargs = recipe_values(stage, path, overrides, **values)
    try:
        return _config_class(stage)(**kwargs)
    except TypeError as e:  # a wrong value type reaching a check
        where = f" (recipe {os.fspath(path)})" if path is not None else ""
        raise ValueError(f"{stage} config{where}: {e}") from None


def _flatten_lora(data: dict) -> dict:
    if "lora" not in data:
        return data
    group = data["lora"]
    out = {k: v for k, v in data.items() if k != "lora"}
    if group is None:
        return out
    if not isinstance(group, dict):
        raise ValueError(f"'lora' must be a mapping of {', '.join(k for k in _LORA_GROUP if k != 'enabled')}")
    for k, v in group.items():
        if k not in _LORA_GROUP:
            close = (
                [_LORA_SYNONYMS[k]] if k in _LORA_SYNONYMS else difflib.get_close_matches(k, list(_LORA_GROUP), n=2)
            )
            hint = f"; did you mean lora.{', lora.'.join(close)}?" if close else ""
            raise ValueError(
                f"unknown LoRA option lora.{k}{hint} (valid: use_peft, r, alpha, dropout, target_modules)"
            )
        flat = _LORA_GROUP[k]
        if flat in out and out[flat] != v:
            raise ValueError(f"lora.{k} and {flat} are both set, to different values: keep one")
        out[flat] = v
    return out


def resolve_resume_checkpoint(config) -> str | None:
    """The checkpoint folder to resume from: ``resume_from_checkpoint`` as a path, or the newest ``checkpoint-N``
    under ``output_dir`` for ``true``/``last``; None for no resume. Raises when the asked-for checkpoint is absent."""
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

"""What the SFT and GRPO entry points share: loading the model for training, LoRA, freezing, logging set-up."""

from __future__ import annotations

import logging
import os
from typing import Any

from ..models.loading import PROMPT_FILE, freeze_vision, load_model, vision_module_names

logger = logging.getLogger(__name__)

__all__ = [
    "load_for_training", "lora_config", "trainable_summary", "setup_logging", "train_and_save", "quiet_console"
]  # fmt: skip


def setup_logging(config) -> None:
    """Align transformers' / datasets' verbosity with the process log level of the config (rank 0 chatty)."""
    import datasets
    import transformers

    level = config.get_process_log_level()
    transformers.utils.logging.set_verbosity(level)
    datasets.utils.logging.set_verbosity(level)


def load_for_training(config) -> tuple[Any, Any]:
    """Load ``config.model_name_or_path`` with the config's dtype, attention and pixel budget; freeze the vision
    tower when ``freeze_vision`` (for a full fine-tune; LoRA freezes every base weight anyway)."""
    model, processor = load_model(
        config.model_name_or_path,
        dtype=config.dtype,
        attn_implementation=config.attn_implementation,
        min_pixels=config.min_pixels,
        max_pixels=config.max_pixels,
        revision=config.model_revision,
        trust_remote_code=config.trust_remote_code,
    )
    if config.freeze_vision:
        n = freeze_vision(model)
        logger.info("froze the vision tower (%s): %d tensors", ", ".join(vision_module_names(model)), n)
    return model, processor


def lora_config(model, config):
    """The ``peft.LoraConfig`` of the config (TRL's ``get_peft_config``; None when ``use_peft`` is false), with
    PEFT's ``exclude_modules``: ``lora_exclude_modules`` and, when ``freeze_vision``, every linear layer of the
    vision tower — so ``lora_target_modules: all-linear`` is the language model's linear layers (as LLaMA-Factory's
    ``lora_target: all`` with its frozen vision tower), and the vision tower's too when it is trained."""
    import torch
    from trl import get_peft_config

    peft = get_peft_config(config)
    if peft is None:
        return None
    exclude = set(config.lora_exclude_modules or ())
    if config.freeze_vision:
        towers = tuple(f"{name}." for name in vision_module_names(model))
        exclude |= {n for n, m in model.named_modules() if n.startswith(towers) and isinstance(m, torch.nn.Linear)}
    if exclude:
        peft.exclude_modules = exclude
    return peft


def trainable_summary(model) -> dict[str, int]:
    """Counts of trainable and all parameters (for the log)."""
    total = trainable = 0
    for p in model.parameters():
        total += p.numel()
        if p.requires_grad:
            trainable += p.numel()
    return {"trainable": trainable, "total": total}


def quiet_console(trainer, desc: str, position: int = 0) -> None:
    """One progress bar on the console instead of transformers' bar and per-step dictionaries; the dictionaries go
    to the ``sifthinker.train`` logger (a log file under :func:`sifthinker.logs.quiet_libraries`)."""
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    trainer.remove_callback(ProgressCallback)
    trainer.remove_callback(PrinterCallback)
    trainer.add_callback(_StageProgress(desc, position))


def _StageProgress(desc: str, position: int = 0):
    from tqdm.auto import tqdm
    from transformers import TrainerCallback

    class StageProgress(TrainerCallback):
        bar = None

        def on_train_begin(self, args, state, control, **kwargs):
            if state.is_world_process_zero:
                self.bar = tqdm(total=state.max_steps, initial=state.global_step, desc=desc, unit="step",
                                dynamic_ncols=True, leave=False, position=position)  # fmt: skip

        def on_step_end(self, args, state, control, **kwargs):
            if self.bar is not None:
                self.bar.update(state.global_step - self.bar.n)

        def on_log(self, args, state, control, logs=None, **kwargs):
            if state.is_world_process_zero and logs:
                logger.info("step %d: %s", state.global_step, logs)
                loss = logs.get("loss")
                if self.bar is not None and isinstance(loss, (int, float)):
                    self.bar.set_postfix(loss=f"{loss:.3f}")

        def on_train_end(self, args, state, control, **kwargs):
            if self.bar is not None:
                self.bar.close()
                self.bar = None

    return StageProgress()


def train_and_save(trainer, config, resume: str | None, progress: str | None = None, position: int = 0) -> None:
    """Train (resuming from ``resume``), log and save the metrics and state, and save the model (or adapter) and, on
    the main process, the processor into ``config.output_dir``. ``progress``: show one bar with this label instead
    of transformers' console output (:func:`quiet_console`)."""
    if progress:
        quiet_console(trainer, progress, position)
    result = trainer.train(resume_from_checkpoint=resume)
    if not progress:
        trainer.log_metrics("train", result.metrics)
    trainer.save_metrics("train", result.metrics)
    trainer.save_state()
    trainer.save_model(config.output_dir)
    if trainer.processing_class is not None and trainer.is_world_process_zero():
        trainer.processing_class.save_pretrained(config.output_dir)
    if trainer.is_world_process_zero():
        save_prompt(config)


def save_prompt(config) -> None:
    """Write the prompt the model was trained with beside it (``sif_prompt.json``), so inference asks it the same
    way (:func:`sifthinker.models.loading.checkpoint_prompt`)."""
    import json

    from ..io import atomic_write_text

    prompt = {"instruction": config.instruction, "with_depth": config.with_depth, "system": config.system_prompt}
    prompt = {k: v for k, v in prompt.items() if v is not None}
    atomic_write_text(os.path.join(config.output_dir, PROMPT_FILE), json.dumps(prompt, indent=1) + "\n")

"""Stage 1, SFT warm-up (docs/method.md): TRL's ``SFTTrainer`` on SIF traces, LoRA or full, vision tower frozen or not.

Run it as ``sifthinker train sft --config recipes/qwen2_5_vl_7b/sft/config_sif.yaml [--key value ...]`` or call
:func:`main` with a :class:`~sifthinker.train.configs.SIFSFTConfig`.
"""

from __future__ import annotations

import logging

from .common import load_for_training, lora_config, setup_logging, train_and_save, trainable_summary
from .configs import SIFSFTConfig, resolve_resume_checkpoint
from .data import build_datasets

logger = logging.getLogger(__name__)

__all__ = ["main", "make_trainer"]


def make_trainer(config: SIFSFTConfig, *, callbacks=None):
    """Load the model and data of ``config`` and build the ``SFTTrainer`` (nothing trained yet)."""
    from transformers import set_seed
    from trl import SFTTrainer

    set_seed(config.seed)
    model, processor = load_for_training(config)
    train_ds, eval_ds = build_datasets(config, "sft")
    trainer = SFTTrainer(
        model=model,
        args=config,
        train_dataset=train_ds,
        eval_dataset=eval_ds,
        processing_class=processor,
        peft_config=lora_config(model, config),
        callbacks=callbacks,
    )
    logger.info("SFT: %s parameters (%s)", trainable_summary(trainer.model), "LoRA" if config.use_peft else "full")
    return trainer


def main(config: SIFSFTConfig, *, callbacks=None, progress: str | None = None, progress_position: int = 0):
    """Train, save the model (or adapter) and processor into ``output_dir``; return the trainer."""
    setup_logging(config)
    resume = resolve_resume_checkpoint(config)
    trainer = make_trainer(config, callbacks=callbacks)
    train_and_save(trainer, config, resume, progress, progress_position)
    logger.info("SFT done: %s", config.output_dir)
    return trainer

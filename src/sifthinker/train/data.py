"""SIF records → the Hugging Face datasets TRL's trainers take, through the one converter
:func:`sifthinker.rows.record_row`.

- **SFT** (``SFTTrainer``, TRL 1.16): conversational *prompt/completion* — the row's ``prompt``, ``completion``
  (``[{"role": "assistant", "content": trace}]``) and ``images`` (``[rgb, depth]``). With prompt/completion data
  TRL's vision collator masks the prompt, so only the assistant trace (and its end-of-turn token) is supervised.
- **GRPO** (``GRPOTrainer``): the row without its ``completion``: ``prompt``, ``images`` and the reward columns
  (:class:`sifthinker.rows.RewardColumns`: ``answer``, ``choices``, ``answer_type``, ``progress_key``,
  ``gt_boxes``, ``depth_path``), which TRL passes to the rewards by name.

Images are stored as paths under ``datasets.Image`` features, decoded to PIL lazily when a row is read. The data is
a records file or a data-engine build folder — its ``records.jsonl`` or all its shards
(:func:`sifthinker.io.record_files`).
"""

from __future__ import annotations

import logging
import os
import random
from typing import Any

from ..io import record_files
from ..records import RecordError, check_record, iter_json_records, record_id
from ..rows import GRPO_COLUMNS, SFT_COLUMNS, record_row, rows_dataset

logger = logging.getLogger(__name__)

__all__ = [
    "load_records",
    "split_records",
    "sft_example",
    "grpo_example",
    "sft_dataset",
    "grpo_dataset",
    "build_datasets",
]


def load_records(
    path: str | os.PathLike,
    *,
    split: str | None = None,
    require_trace: bool = False,
    limit: int | None = None,
) -> list[dict]:
    """Read and check the SIF records of a build folder (all its shards) or a file; keep ``split`` (records
    without a split are kept).

    Every record is checked against the schema (:func:`sifthinker.records.check_record`); the first bad one
    raises ``ValueError`` naming the file, the record and the field.
    """
    try:
        files = record_files(path)
    except FileNotFoundError as e:
        raise ValueError(f"training data: {e}") from None
    out: list[dict] = []
    splits: set[str] = set()
    for f in files:
        for i, rec in iter_json_records(f):
            if isinstance(rec, RecordError):
                raise ValueError(f"{f}: {rec}")
            try:
                check_record(rec, require_trace=require_trace, check_trace=require_trace, index=i)
            except RecordError as e:
                raise ValueError(f"{f}: {e}") from None
            s = rec.get("split")
            if isinstance(s, str):
                splits.add(s)
            if split is not None and isinstance(s, str) and s != split:
                continue
            out.append(rec)
            if limit is not None and len(out) >= limit:
                return out
    if not out:
        have = (
            f" (splits present: {sorted(splits)}; train_split=null uses all: `train_split: null` in the recipe or "
            "`--train_split null`)"
        ) if splits else ""
        where = files[0] if len(files) == 1 else f"{os.fspath(path)} ({len(files)} shards)"
        raise ValueError(f"{where}: no records{f' in split {split!r}' if split else ''}{have}")
    return out


def split_records(records: list[dict], eval_fraction: float, seed: int = 0) -> tuple[list[dict], list[dict]]:
    """Hold out ``eval_fraction`` of the records (at least one when > 0), by a seeded shuffle of their order."""
    if not eval_fraction:
        return list(records), []
    n_eval = max(1, round(len(records) * eval_fraction))
    if n_eval >= len(records):
        raise ValueError(f"eval_fraction {eval_fraction} leaves no training records out of {len(records)}")
    order = list(range(len(records)))
    random.Random(seed).shuffle(order)
    held = set(order[:n_eval])
    return [r for i, r in enumerate(records) if i not in held], [r for i, r in enumerate(records) if i in held]


def sft_example(record: dict, **prompt: Any) -> dict[str, Any]:
    """The SFT columns of the record's row; ``prompt``: ``with_depth``, ``instruction``, ``system``."""
    row = record_row(record, **prompt)
    if row["completion"] is None:
        raise ValueError(f"record {record_id(record)!r}: no assistant turn holding the trace (needed for SFT)")
    return {c: row[c] for c in SFT_COLUMNS}


def grpo_example(record: dict, *, require_depth: bool = True, **prompt: Any) -> dict[str, Any]:
    """The GRPO columns of the record's row (``require_depth``: a depth reward reads ``depth_path``)."""
    row = record_row(record, **prompt)
    if require_depth and row["depth_path"] is None:
        raise ValueError(
            f"record {row['id']!r}: no depth_path (the lossless depth map the depth reward reads); build the "
            "data with the data engine, or drop the depth rewards from reward_funcs"
        )
    return {c: row[c] for c in GRPO_COLUMNS}


def _check_images(rows: list[dict], records: list[dict]) -> None:
    for row, rec in zip(rows, records):
        for p in row["images"]:
            if not os.path.exists(p):
                raise ValueError(f"image {p!r} does not exist (record {record_id(rec)!r})")


def sft_dataset(records: list[dict], *, with_depth: bool = True, instruction: str | None = None,
                system: str | None = None):  # fmt: skip
    """A ``datasets.Dataset`` of :func:`sft_example` rows."""
    rows = [sft_example(r, with_depth=with_depth, instruction=instruction, system=system) for r in records]
    _check_images(rows, records)
    return rows_dataset(rows, SFT_COLUMNS)


def grpo_dataset(
    records: list[dict],
    *,
    with_depth: bool = True,
    instruction: str | None = None,
    system: str | None = None,
    require_depth: bool = True,
):
    """A ``datasets.Dataset`` of :func:`grpo_example` rows."""
    kw = {"with_depth": with_depth, "instruction": instruction, "system": system}
    rows = [grpo_example(r, require_depth=require_depth, **kw) for r in records]
    _check_images(rows, records)
    return rows_dataset(rows, GRPO_COLUMNS)


def build_datasets(config, stage: str, *, require_depth: bool = True):
    """The (train, eval-or-None) datasets of a :class:`~sifthinker.train.configs.SIFSFTConfig` /
    :class:`~sifthinker.train.configs.SIFGRPOConfig`."""
    require_trace = stage == "sft" and getattr(config, "require_trace", True)
    records = load_records(
        config.train_data, split=config.train_split, require_trace=require_trace, limit=config.max_train_samples
    )
    train, held = split_records(records, config.eval_fraction, config.seed)
    if config.eval_data:
        held = load_records(config.eval_data, require_trace=require_trace)
    kw = {"with_depth": config.with_depth, "instruction": config.instruction, "system": config.system_prompt}
    if stage == "sft":
        make = sft_dataset
    elif stage == "grpo":

        def make(recs, **k):
            return grpo_dataset(recs, require_depth=require_depth, **k)

    else:
        raise ValueError(f"unknown stage {stage!r}")
    train_ds = make(train, **kw)
    eval_ds = make(held, **kw) if held else None
    logger.info("%s data: %d train, %d eval records", stage, len(train_ds), len(eval_ds) if eval_ds else 0)
    return train_ds, eval_ds

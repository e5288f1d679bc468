"""The data contract: the SIF record, the row that SFT, GRPO and ``data export --format hf`` read, and the one
converter from one to the other.

A :class:`SIFRecord` is what the data engine writes (the SIF-50K fields of docs/method.md and our extras). A
:class:`Row` is what every consumer reads: the conversational ``prompt`` of :mod:`sifthinker.prompts`, the
assistant ``completion``, the ``images`` that fill the prompt's placeholders, and the :class:`RewardColumns` —
each input of a reward in exactly one named column, normalised here once (the ground-truth answer from the
record's ``response``, the boxes from ``normalized_solution_round.bbox_3d``, the answer-progress key from the
question and the RGB path). :func:`record_row` is the only place a record becomes a row.

>>> rec = {"id": "r1", "dataset": "synth", "image": "a.png", "depth_image": "a_depth.png", "problem": "Is it red?",
...        "normalized_solution_round": {"bbox_3d": [[0.1, 0.1, 0.5, 0.5]]}, "response": "yes",
...        "images": ["a.png", "a_depth.png"], "messages": []}
>>> row = record_row(rec, instruction="")
>>> row["answer"], row["gt_boxes"], row["images"], row["completion"]
('yes', [[0.1, 0.1, 0.5, 0.5]], ['a.png', 'a_depth.png'], None)
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from typing import Any, TypedDict

from .prompts import prompt_images, record_prompt
from .records import assistant_text, gt_boxes, record_id
from .rewards.progress import progress_key

__all__ = [
    "SIFRecord",
    "RewardColumns",
    "Row",
    "ROW_COLUMNS",
    "SFT_COLUMNS",
    "GRPO_COLUMNS",
    "record_row",
    "row_features",
    "rows_dataset",
]


class SIFRecord(TypedDict, total=False):
    """One SIF-50K record (:func:`sifthinker.records.check_record` checks it), our optional extras included."""

    dataset: str
    image: str
    depth_image: str
    problem: str
    normalized_solution_round: dict[str, Any]  # {"bbox_3d": [[x1, y1, x2, y2], ...], "illegal_content": False}
    response: str
    messages: list[dict[str, Any]]
    images: list[str]
    # ours
    id: str
    choices: list[str]
    question_type: str
    answer_type: str
    depth_path: str
    scene_id: str
    split: str


class RewardColumns(TypedDict):
    """The columns the rewards of :mod:`sifthinker.rewards` read — one per input, and nothing else."""

    answer: str  # the ground-truth answer (the record's `response`): answer rewards
    choices: list[str] | None  # the options of a multiple-choice question, None otherwise: answer rewards
    answer_type: str | None  # how answers compare (sifthinker.answers): answer rewards
    progress_key: str  # the (question, RGB image) key of the answer-progress memory: answer rewards with progress
    gt_boxes: list[list[float]]  # the evidence boxes, normalised [x1, y1, x2, y2]: box, search, grounded depth
    depth_path: str | None  # the lossless depth map (.npy / 16-bit .png): depth rewards


class Row(RewardColumns):
    """One training / export row: the prompt, its images, the target trace and the reward columns."""

    id: str
    dataset: str
    prompt: list[dict[str, Any]]  # TRL's conversational format, {"type": "image"} placeholders
    completion: list[dict[str, str]] | None  # [{"role": "assistant", "content": trace}], None without a trace
    images: list[str]  # [rgb, colourised depth] (or [rgb]): the placeholders' images, in order
    problem: str
    question_type: str | None


ROW_COLUMNS: tuple[str, ...] = (
    "id", "dataset", "prompt", "completion", "images", "problem", "answer", "choices", "answer_type",
    "question_type", "progress_key", "gt_boxes", "depth_path",
)  # fmt: skip
SFT_COLUMNS: tuple[str, ...] = ("prompt", "completion", "images")  # what TRL's SFTTrainer takes
# GRPO: everything but the target trace; TRL hands the columns other than the prompt to the rewards.
GRPO_COLUMNS: tuple[str, ...] = tuple(c for c in ROW_COLUMNS if c != "completion")


def _resolve(root: str | os.PathLike | None, path: str) -> str:
    if root is None:
        return os.fspath(path)
    if os.path.isabs(path):
        return os.path.normpath(path)
    return os.path.normpath(os.path.join(os.path.abspath(root), path))


def record_row(
    record: SIFRecord | dict,
    index: int | None = None,
    *,
    with_depth: bool = True,
    instruction: str | None = None,
    system: str | None = None,
    image_root: str | os.PathLike | None = None,
    depth_root: str | os.PathLike | None = None,
) -> Row:
    """The row of one (checked) record; ``index`` names a record without an ``id`` (``#index``).

    ``with_depth``/``instruction``/``system``: the prompt (:func:`sifthinker.prompts.build_prompt`). Relative image
    paths resolve against ``image_root`` (``depth_path`` against ``depth_root``, default ``image_root``) into
    absolute ones; with no root they are kept as written.
    """
    depth_root = depth_root if depth_root is not None else image_root
    raw = prompt_images(record, with_depth)
    trace = assistant_text(record)
    choices = record.get("choices")
    depth_path = record.get("depth_path")
    return {
        "id": record_id(record, index),
        "dataset": str(record.get("dataset", "")),
        "prompt": record_prompt(record, with_depth=with_depth, instruction=instruction, system=system),
        "completion": [{"role": "assistant", "content": trace}] if trace else None,
        "images": [_resolve(image_root, p) for p in raw],
        "problem": record["problem"],
        "answer": str(record["response"]),
        "choices": list(choices) if choices else None,
        "answer_type": record.get("answer_type"),
        "question_type": record.get("question_type"),
        "progress_key": progress_key(record["problem"], raw[0]),
        "gt_boxes": [list(b) for b in gt_boxes(record)],
        "depth_path": _resolve(depth_root, depth_path) if isinstance(depth_path, str) and depth_path else None,
    }


def row_features(columns: Sequence[str] = ROW_COLUMNS, *, decode_images: bool = False):
    """The ``datasets.Features`` of ``columns`` of a :class:`Row`; ``images`` as paths, or as ``datasets.Image``
    (decoded to PIL when a row is read) with ``decode_images``."""
    from datasets import Features, Image, List, Value

    s = Value("string")
    every = {
        "id": s,
        "dataset": s,
        "prompt": List({"role": s, "content": List({"type": s, "text": s})}),
        "completion": List({"role": s, "content": s}),
        "images": List(Image() if decode_images else s),
        "problem": s,
        "answer": s,
        "choices": List(s),
        "answer_type": s,
        "question_type": s,
        "progress_key": s,
        "gt_boxes": List(List(Value("float64"))),
        "depth_path": s,
    }
    unknown = [c for c in columns if c not in every]
    if unknown:
        raise ValueError(f"row columns {unknown} are not part of the row (columns: {', '.join(every)})")
    return Features({c: every[c] for c in columns})


def rows_dataset(rows: Iterable[Row], columns: Sequence[str] = ROW_COLUMNS, *, decode_images: bool = True):
    """A ``datasets.Dataset`` of ``columns`` of ``rows`` (images stored as paths, decoded lazily if asked)."""
    from datasets import Dataset

    features = row_features(columns, decode_images=decode_images)
    rows = list(rows)
    return Dataset.from_dict({c: [r[c] for r in rows] for c in columns}, features=features)

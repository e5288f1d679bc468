"""What the evaluation harness passes around: one benchmark item (:class:`EvalItem`) and the model side
(:class:`Predictor`).

A benchmark loader turns its published files into ``EvalItem`` objects; a predictor turns a batch of items into raw
completions (the whole text the model wrote, trace and answer); a scorer reads the completions back. Inference
(images → text) is not part of this package: anything with a ``predict(items) -> list[str]`` method plugs in; a
predictor that knows more (a failed request, tokens, seconds) returns :class:`Prediction` objects instead.

>>> item = EvalItem(id="q1", benchmark="demo", images=["a.png"], question="Which is nearer?",
...                 choices=["the cube", "the ball"], answer="B", answer_type="mc", category="depth")
>>> print(item.prompt)
Which is nearer?
Options:
(A) the cube
(B) the ball
>>> EvalItem.from_dict(item.to_dict()) == item
True
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol, runtime_checkable

from ..answers import ANSWER_TYPES
from ..prediction import Prediction
from ..prompts import format_question

__all__ = ["EvalItem", "Predictor", "Prediction", "LoadedItems", "ITEM_ANSWER_TYPES"]

# "box": a grounding item (RefCOCO) whose prediction is the last area's box, not an answer.
ITEM_ANSWER_TYPES = (*ANSWER_TYPES, "box")


@dataclass
class EvalItem:
    """One benchmark item, whatever its source.

    Attributes:
        id: unique within the benchmark (predictions are keyed by it; a rerun skips done ids).
        benchmark: the benchmark's registry name (``cv_bench``, ``sat``, …).
        images: absolute (or working-directory relative) paths of the RGB image(s) shown to the model.
        question: the bare question (no options, no instruction).
        choices: option texts of a multiple-choice item (shown as ``(A) …``), else None.
        answer: the ground truth: a letter ``A``/``B``/… for ``mc``, yes/no, a number, short text; ``""`` for ``box``.
        answer_type: ``mc`` | ``yesno`` | ``number`` | ``text`` | ``box``.
        category: the breakdown key (task, question type, subset, …); subcategory a finer one (source, …).
        gt_boxes: ground-truth boxes, normalised ``(x1, y1, x2, y2)`` (grounding benchmarks; evidence boxes).
        depth_path: a lossless depth map in our convention (``.npy`` / 16-bit PNG, 0 = nearest) for the depth
            consistency statistic; None when the benchmark ships none.
        depth_image: a colourised depth image to show the model, when the benchmark ships one (else the
            inference side renders its own).
        pair_id: items sharing it form a positive/negative pair (SpatialBench acc+).
        meta: anything else worth keeping (source fields, image size, …); must be JSON-serialisable.
    """

    id: str
    benchmark: str
    images: list[str]
    question: str
    choices: list[str] | None = None
    answer: str = ""
    answer_type: str = "text"
    category: str = "all"
    subcategory: str | None = None
    gt_boxes: list[tuple[float, float, float, float]] = field(default_factory=list)
    depth_path: str | None = None
    depth_image: str | None = None
    pair_id: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        if not isinstance(self.id, str) or not self.id:
            raise ValueError(f"EvalItem.id must be a non-empty string, got {self.id!r}")
        if self.answer_type not in ITEM_ANSWER_TYPES:
            raise ValueError(f"item {self.id!r}: answer_type {self.answer_type!r} not in {ITEM_ANSWER_TYPES}")
        if self.answer_type == "mc" and (not self.choices or len(self.choices) < 2):
            raise ValueError(f"item {self.id!r}: a multiple-choice item needs at least two choices")
        if self.answer_type != "box" and not str(self.answer).strip():
            raise ValueError(f"item {self.id!r}: empty ground-truth answer")
        if self.answer_type == "box" and not self.gt_boxes:
            raise ValueError(f"item {self.id!r}: a grounding item needs a ground-truth box")
        self.images = [os.fspath(p) for p in self.images]
        self.gt_boxes = [tuple(float(v) for v in b) for b in self.gt_boxes]  # type: ignore[misc]

    @property
    def prompt(self) -> str:
        """The question as shown to the model: the question, then the options as ``(A) text`` lines."""
        return format_question(self.question, self.choices)

    def missing_images(self) -> list[str]:
        """The image paths that do not exist on disk (such an item is skipped, and counted)."""
        return [p for p in self.images if not os.path.isfile(p)]

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["gt_boxes"] = [list(b) for b in self.gt_boxes]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> EvalItem:
        return cls(**d)


class LoadedItems(list):
    """A loader's items (a plain list) with ``left_out``: items the published files hold that were not loaded,
    counted by reason (``multi_image`` by design in SAT, ``image_missing`` when a box cannot be normalised, …), and
    ``missing_files``: published files of the benchmark that were not found (a SpatialBench task, CV-Bench's 3D
    half). The runner copies both into ``results.json``."""

    def __init__(self, items=(), left_out: dict[str, int] | None = None, missing_files: list[str] | None = None):
        super().__init__(items)
        self.left_out: dict[str, int] = {k: v for k, v in (left_out or {}).items() if v}
        self.missing_files: list[str] = list(missing_files or [])


@runtime_checkable
class Predictor(Protocol):
    """The model side: raw completions for a batch of items, in order, one per item — a string, or a
    :class:`Prediction`.

    The harness calls ``predict`` with at most ``batch_size`` items and appends the results to
    ``predictions.jsonl`` after every call, so a predictor needs no state of its own to be resumable. A predictor
    may also offer ``protocol() -> dict`` (prompt, decoding, model, backend) for the results' protocol card.
    """

    def predict(self, items: list[EvalItem]) -> list[str | Prediction]: ...

"""The second stage of a build: a prepared item → focus path → a written, validated chain → the SIF record.

The focus path comes from reverse expansion (seeded per item id, so a rerun builds the same frames); the writer
is asked up to ``max_attempts`` times, each reply checked against the frames and the ground truth
(:func:`~sifthinker.data.check.check_chain`); a reply that contradicts the ground truth ends the attempts at once.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..records import user_content
from .check import ChainRejected, check_chain
from .expansion import ExpansionConfig, focus_path, item_seed, round_box
from .frames import attach_depths, frame_png
from .prepare import Prepared, StageFailure
from .types import Frame, WriteRequest

__all__ = ["Composer", "writer_name"]


def writer_name(writer) -> str:
    return getattr(writer, "name", type(writer).__name__)


class Composer:
    """Writes and validates the chain of one prepared item and turns it into a record."""

    def __init__(self, writer, *, seed: int, expansion: ExpansionConfig, max_attempts: int) -> None:
        self.writer = writer
        self.seed = seed
        self.expansion = expansion
        self.max_attempts = max_attempts

    def frames(self, p: Prepared) -> list[Frame]:
        rng = np.random.default_rng(item_seed(self.seed, p.item.id))
        try:
            path = focus_path(p.item.gt_boxes, p.size[0], p.size[1], self.expansion, seed=rng)
            frames = attach_depths(path, p.depth, self.expansion.decimals)
        except (ValueError, RuntimeError) as e:
            raise StageFailure("expansion", "error", str(e)) from None
        if p.image is not None:
            for f in frames:
                f.image_png = frame_png(p.image, f)
        return frames

    async def write(self, p: Prepared) -> tuple[dict, int]:
        """``(record, attempts used)``, or :class:`StageFailure` when no attempt gave a valid chain."""
        frames = self.frames(p)
        last: ChainRejected | None = None
        for attempt in range(self.max_attempts):
            try:
                text = await self.writer.write(WriteRequest(p.item, frames, attempt))
            except Exception as e:
                raise StageFailure("writer", type(e).__name__, str(e)[:500]) from None
            try:
                check_chain(text, frames, p.item)
            except ChainRejected as e:
                last = e
                if e.reason == "ground_truth":
                    break
                continue
            return self.record(p, frames, text), attempt + 1
        reason = last.reason if last is not None else "no_attempt"
        raise StageFailure("validate", reason, str(last)[:500])

    def record(self, p: Prepared, frames: list[Frame], text: str) -> dict:
        item = p.item
        gt = [list(round_box(b)) for b in item.gt_boxes]
        rec: dict[str, Any] = {
            "id": item.id,
            "dataset": item.dataset,
            "image": str(p.image_path),
            "depth_image": str(p.depth_image),
            "problem": item.question,
            "normalized_solution_round": {"bbox_3d": gt, "illegal_content": False},
            "response": str(item.answer),
            "messages": [
                {"role": "user", "content": user_content(item.question, item.choices)},
                {"role": "assistant", "content": text},
            ],
            "images": [str(p.image_path), str(p.depth_image)],
            "depth_path": str(p.depth_path),
            "answer_type": item.answer_type,
            "question_type": item.question_type,
            "chain_roles": [f.role for f in frames],
            "writer": writer_name(self.writer),
        }
        if item.choices:
            rec["choices"] = list(item.choices)
        for k, v in item.extra.items():
            rec.setdefault(k, v)
        if item.objects is not None:
            rec.setdefault("objects", item.objects)
        return {k: v for k, v in rec.items() if v is not None}

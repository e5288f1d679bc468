"""Reverse expansion (docs/method.md): from the ground-truth boxes out to the whole image, then reversed into the
forward focus path ``full image → (distractor) → (enclosing box) → expansion(s) → GT``.

>>> cfg = ExpansionConfig(distractor_prob=0.0)
>>> frames = focus_path([(0.4, 0.4, 0.5, 0.5)], 100, 100, cfg, seed=0)
>>> [f.role for f in frames]
['full', 'expansion', 'gt']
>>> frames[0].boxes
[(0.0, 0.0, 1.0, 1.0)]
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ..boxes import FULL_IMAGE, enclosing, iou, merge_overlapping

__all__ = ["ExpansionConfig", "PathFrame", "expand_steps", "make_distractor", "focus_path", "item_seed", "round_box"]

Box = tuple[float, float, float, float]
RULES = ("fixed", "official")


@dataclass
class ExpansionConfig:
    """Options of reverse expansion; the defaults follow the paper except ``rule`` (ours, see below).

    Attributes:
        rule: ``"fixed"`` (ours: each side moves 1/k of its remaining distance to the border, k = steps left) or
            ``"official"`` (the authors' step, which collapses to 1 px for boxes in the right/bottom half).
        steps: expansion steps from the GT boxes toward the border (5 in the paper).
        keep_expansions: how many expansion frames to keep, starting from the first (1 in the paper).
        distractor_prob: probability of a wrong-focus frame before the evidence (0.5 in the paper).
        distractor_grow: the distractor starts as the enclosing box grown by this fraction about its centre (0.2).
        distractor_scale: range of the random scale factor applied to it (0.7, 1.3).
        distractor_max_iou: a distractor must overlap the enclosing box less than this IoU (0.001).
        distractor_tries: random placements tried when no diagonal corner fits (1000).
        decimals: the decimals of every box and depth in the chain (3, the trace grammar's most; 2 suits a
            small model, whose every extra digit is a token to learn).
    """

    rule: str = "fixed"
    steps: int = 5
    keep_expansions: int = 1
    distractor_prob: float = 0.5
    distractor_grow: float = 0.2
    distractor_scale: tuple[float, float] = field(default=(0.7, 1.3))
    distractor_max_iou: float = 0.001
    distractor_tries: int = 1000
    decimals: int = 3

    def __post_init__(self) -> None:
        if self.decimals not in (1, 2, 3):
            raise ValueError(f"expansion decimals must be 1, 2 or 3, got {self.decimals!r}")
        if self.rule not in RULES:
            raise ValueError(f"expansion rule {self.rule!r}: expected one of {RULES}")
        if not isinstance(self.steps, int) or self.steps < 1:
            raise ValueError(f"expansion steps must be an integer >= 1, got {self.steps!r}")
        if not isinstance(self.keep_expansions, int) or not 0 <= self.keep_expansions <= self.steps:
            raise ValueError(f"keep_expansions must be in [0, steps={self.steps}], got {self.keep_expansions!r}")
        if not 0.0 <= self.distractor_prob <= 1.0:
            raise ValueError(f"distractor_prob must be in [0, 1], got {self.distractor_prob!r}")
        lo, hi = self.distractor_scale
        if not 0 < lo <= hi:
            raise ValueError(f"distractor_scale must be 0 < low <= high, got {self.distractor_scale!r}")
        self.distractor_scale = (float(lo), float(hi))


@dataclass
class PathFrame:
    """A frame of the focus path: its boxes (normalised, 3 decimals) and its role."""

    boxes: list[Box]
    role: str  # full | distractor | enclosing | expansion | gt


def item_seed(seed: int, item_id: str) -> int:
    """A per-item seed from the build seed and the item id, so a rerun (or another shard) reproduces each item."""
    h = hashlib.blake2b(f"{seed}\x00{item_id}".encode(), digest_size=8).digest()
    return int.from_bytes(h, "big")


def round_box(b: Sequence[float], decimals: int = 3) -> Box:
    """Round to ``decimals`` (3), clip to [0, 1] and keep at least one unit of the last decimal on each side (a
    trace needs x1 < x2, y1 < y2).

    >>> round_box((0.12341, 0.5, 0.12349, 0.7))
    (0.123, 0.5, 0.124, 0.7)
    >>> round_box((0.12341, 0.5, 0.12349, 0.7), decimals=2)
    (0.12, 0.5, 0.13, 0.7)
    """
    unit = 10.0**-decimals
    x1, y1, x2, y2 = (min(1.0, max(0.0, round(float(v), decimals))) for v in b)
    if x2 - x1 < unit - 1e-12:
        x1, x2 = (x1, round(x1 + unit, decimals)) if x1 <= 1 - unit else (round(1 - unit, decimals), 1.0)
    if y2 - y1 < unit - 1e-12:
        y1, y2 = (y1, round(y1 + unit, decimals)) if y1 <= 1 - unit else (round(1 - unit, decimals), 1.0)
    return (x1, y1, x2, y2)


def _step_official(boxes: list[Box], k: int, w: int, h: int) -> list[Box]:
    # As written in the authors' code: one step size for all boxes and all four sides, in pixels.
    s = max(
        (1 - max(b[0] for b in boxes) - min(b[2] for b in boxes)) * w / k,
        (1 - max(b[1] for b in boxes) - min(b[3] for b in boxes)) * h / k,
        1.0,
    )
    dx, dy = s / w, s / h
    return [(max(0.0, b[0] - dx), max(0.0, b[1] - dy), min(1.0, b[2] + dx), min(1.0, b[3] + dy)) for b in boxes]


def _step_fixed(boxes: list[Box], k: int) -> list[Box]:
    return [(b[0] - b[0] / k, b[1] - b[1] / k, b[2] + (1 - b[2]) / k, b[3] + (1 - b[3]) / k) for b in boxes]


def expand_steps(gt: Sequence[Sequence[float]], width: int, height: int, config: ExpansionConfig) -> list[list[Box]]:
    """The expansion sequence: ``config.steps`` box sets, each grown from the previous one and merged where boxes
    overlap; the first is the first expansion of ``gt``. Unrounded."""
    boxes: list[Box] = [tuple(float(v) for v in b) for b in gt]  # type: ignore[misc]
    out = []
    for i in range(config.steps):
        k = config.steps - i
        boxes = _step_official(boxes, k, width, height) if config.rule == "official" else _step_fixed(boxes, k)
        boxes = merge_overlapping(boxes)
        out.append(boxes)
    return out


def make_distractor(m: Box, rng: np.random.Generator, config: ExpansionConfig) -> Box | None:
    """A wrong-focus box next to ``m`` (docs/method.md), or None when none fits.

    ``m`` grown by ``distractor_grow`` about its centre and scaled by U(scale); placed diagonally adjacent to ``m``
    at a random corner where it fits inside the image, else at up to ``distractor_tries`` random positions; kept
    only if its IoU with ``m`` is below ``distractor_max_iou``.
    """
    f = rng.uniform(*config.distractor_scale)
    w = (m[2] - m[0]) * (1 + config.distractor_grow) * f
    h = (m[3] - m[1]) * (1 + config.distractor_grow) * f
    if w >= 1.0 or h >= 1.0 or w <= 0 or h <= 0:
        return None
    corners = [
        (m[0] - w, m[1] - h),  # above-left
        (m[2], m[1] - h),  # above-right
        (m[0] - w, m[3]),  # below-left
        (m[2], m[3]),  # below-right
    ]
    order = rng.permutation(4)
    candidates = [corners[i] for i in order]
    for x, y in candidates:
        d = (x, y, x + w, y + h)
        if d[0] >= 0 and d[1] >= 0 and d[2] <= 1 and d[3] <= 1 and iou(d, m) < config.distractor_max_iou:
            return d
    for _ in range(config.distractor_tries):
        x, y = rng.uniform(0, 1 - w), rng.uniform(0, 1 - h)
        d = (x, y, x + w, y + h)
        if iou(d, m) < config.distractor_max_iou:
            return d
    return None


def focus_path(
    gt: Sequence[Sequence[float]],
    width: int,
    height: int,
    config: ExpansionConfig,
    *,
    seed: int | np.random.Generator = 0,
) -> list[PathFrame]:
    """The forward focus path of docs/method.md for GT boxes ``gt`` on a ``width``×``height`` image.

    Order: full image → (distractor) → (enclosing box, when the outermost kept expansion holds several boxes) →
    kept expansions, outermost first → GT boxes. Boxes are rounded to ``config.decimals``; a frame identical to the one
    before it is dropped (e.g. when the GT box is the whole image). Depths are attached later, from the depth map.
    """
    if not gt:
        raise ValueError("focus_path(): no ground-truth boxes")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    steps = expand_steps(gt, width, height, config)
    kept = steps[: config.keep_expansions]
    dec = config.decimals
    frames: list[PathFrame] = [PathFrame([FULL_IMAGE], "full")]
    outer = kept[-1] if kept else [tuple(float(v) for v in b) for b in gt]
    m = enclosing(outer)
    # draw the distractor decision first so the random stream does not depend on which corner fits
    want_distractor = rng.random() < config.distractor_prob
    if want_distractor:
        d = make_distractor(m, rng, config)
        if d is not None:
            frames.append(PathFrame([round_box(d, dec)], "distractor"))
    if kept and len(outer) > 1:
        frames.append(PathFrame([round_box(m, dec)], "enclosing"))
    for boxes in reversed(kept):
        frames.append(PathFrame([round_box(b, dec) for b in boxes], "expansion"))
    frames.append(PathFrame([round_box(b, dec) for b in gt], "gt"))
    out: list[PathFrame] = []
    for f in frames:
        if out and out[-1].boxes == f.boxes:
            if f.role == "gt":  # keep the evidence frame's role when it coincides with the frame before
                out[-1] = f
            continue
        out.append(f)
    for f in out:  # an internal invariant: every frame is a valid trace area
        for b in f.boxes:
            if not (0.0 <= b[0] < b[2] <= 1.0 and 0.0 <= b[1] < b[3] <= 1.0) or any(math.isnan(v) for v in b):
                raise RuntimeError(f"focus_path produced an invalid box {b} in a {f.role} frame")
    return out

"""Perception tasks for the tiny base model: what a scene shows, never how to reason about it.

Four tasks, each a (question, answer) pair on one rendered scene, asked with the prompt layout of
:func:`sifthinker.prompts.build_prompt` (RGB then colourised depth, no instruction):

- ``list``   — "List every object with its box and depth." → one line per object, left to right:
  ``red cube {"bbox_2d": [0.12, 0.4, 0.31, 0.62], "depth": 0.38}``;
- ``ground`` — "Where is the red cube?" → ``{"bbox_2d": [...], "depth": 0.38}`` (a uniquely named object);
- ``depth``  — "What is the depth of the region [x1, y1, x2, y2]?" → the box-mean of the depth map, e.g. ``0.38``;
- ``name``   — "What is in the region [x1, y1, x2, y2]?" → ``red cube`` or ``nothing``.

None of them is a SIF chain or one of the synthetic world's question types (depth order, 2-D relation, counting,
existence, 3-D size, nearest object, attribute): those are what SFT and GRPO-SIF must teach on top.

Beside the text targets, :func:`dense_labels` gives per-patch labels (object colour, shape and depth on a 4 × 4
sub-grid of every LLM image token) for a temporary head on the vision tower (:mod:`sifthinker.pretrain.loop`).

Scenes come from ``numpy.random.default_rng([NAMESPACE, kind, seed, ...])`` — a four- or five-word seed, while
every split of :func:`sifthinker.synth.generate_dataset` is drawn from a two-word ``[seed, index]``: pretraining
never renders a scene of a dataset the demo trains or evaluates on.

>>> from sifthinker.synth import world_config
>>> ex = make_example(render_scene(world_config("close", image_size=(112, 112)), train_rng(0, 0, 0)),
...                   train_rng(0, 0, 0), "list", decimals=2)
>>> ex.task, ex.question
('list', 'List every object with its box and depth.')
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

from ..boxes import FULL_IMAGE, overlaps
from ..depth import box_mean
from ..synth.config import PALETTE, SHAPES, SynthConfig
from ..synth.render import Scene, render_scene
from ..trace import format_number

__all__ = [
    "TASKS",
    "NAMESPACE",
    "Example",
    "train_rng",
    "eval_rng",
    "make_example",
    "dense_labels",
    "region_text",
    "parse_region",
    "SUBGRID",
    "COLOUR_CLASSES",
    "SHAPE_CLASSES",
]

TASKS: tuple[str, ...] = ("list", "ground", "depth", "name")
NAMESPACE = 0x51F7  # the first seed word of every pretraining scene
_TRAIN, _EVAL = 0, 1

LIST_QUESTION = "List every object with its box and depth."
SUBGRID = 4  # dense labels: a 4 × 4 sub-grid per LLM image token (7 px cells for a 28-px token)
COLOUR_CLASSES = ("none", *PALETTE)  # class 0: not an object (ground, sky, pedestal)
SHAPE_CLASSES = ("none", *SHAPES)


def train_rng(seed: int, step: int, slot: int) -> np.random.Generator:
    """The generator of sample ``slot`` of training step ``step``: a pure function of the three."""
    return np.random.default_rng([NAMESPACE, _TRAIN, seed, step, slot])


def eval_rng(seed: int, index: int) -> np.random.Generator:
    """The generator of held-out scene ``index`` (never a training scene: the second word differs)."""
    return np.random.default_rng([NAMESPACE, _EVAL, seed, index])


@dataclass(frozen=True)
class Example:
    """One pretraining sample: the task, its question and answer text, and the facts the answer encodes."""

    task: str
    question: str
    answer: str
    box: tuple[float, float, float, float] | None = None  # the box asked about or answered (ground, depth, name)
    depth: float | None = None  # the depth in the answer (ground, depth)


def _box_text(box, decimals: int) -> str:
    return "[" + ", ".join(format_number(c, decimals) for c in box) + "]"


def region_text(box, depth: float, decimals: int = 2) -> str:
    """``{"bbox_2d": [x1, y1, x2, y2], "depth": d}`` with ``decimals`` decimals (the trace's region syntax)."""
    return f'{{"bbox_2d": {_box_text(box, decimals)}, "depth": {format_number(depth, decimals)}}}'


def parse_region(text: str) -> tuple[tuple[float, float, float, float], float | None] | None:
    """``(box, depth)`` from a region answer (JSON object or bare list); None when it is not one. Never raises.

    >>> parse_region('{"bbox_2d": [0.1, 0.2, 0.3, 0.4], "depth": 0.5}')
    ((0.1, 0.2, 0.3, 0.4), 0.5)
    >>> parse_region("the red cube") is None
    True
    """
    try:
        v = json.loads(text.strip()[:2000])
    except (ValueError, RecursionError):
        return None
    depth = None
    if isinstance(v, dict):
        d = v.get("depth")
        depth = float(d) if isinstance(d, (int, float)) and not isinstance(d, bool) else None
        v = v.get("bbox_2d")
    if not (isinstance(v, list) and len(v) == 4 and all(isinstance(c, (int, float)) for c in v)):
        return None
    return tuple(float(c) for c in v), depth


def _rounded(box, decimals: int) -> tuple[float, ...]:
    return tuple(round(float(c), decimals) for c in box)


def _random_box(rng: np.random.Generator) -> tuple[float, float, float, float]:
    w, h = rng.uniform(0.12, 0.45, size=2)
    x, y = rng.uniform(0, 1 - w), rng.uniform(0, 1 - h)
    return (float(x), float(y), float(x + w), float(y + h))


def make_example(scene: Scene, rng: np.random.Generator, task: str, decimals: int = 2) -> Example:
    """One ``task`` sample on ``scene`` (a ``ground`` or ``name`` scene with nothing to ask falls back to ``list``)."""
    if task not in TASKS:
        raise ValueError(f"unknown pretraining task {task!r} (choose from {', '.join(TASKS)})")
    objs = [o for o in scene.objects if o.askable and o.box_norm is not None and o.depth is not None]
    if task == "ground":
        names = [o.name for o in scene.objects]
        unique = [o for o in objs if names.count(o.name) == 1]
        if unique:
            o = unique[int(rng.integers(len(unique)))]
            return Example(task, f"Where is the {o.name}?", region_text(o.box_norm, o.depth, decimals),
                           _rounded(o.box_norm, decimals), round(o.depth, decimals))  # fmt: skip
        task = "list"
    if task == "depth":
        box = objs[int(rng.integers(len(objs)))].box_norm if objs and rng.random() < 0.7 else _random_box(rng)
        box = _rounded(box, decimals)
        d = box_mean(scene.depth, box) if box[2] > box[0] and box[3] > box[1] else float("nan")
        if not np.isfinite(d):  # a box that rounds to nothing: ask about the whole image
            box, d = FULL_IMAGE, box_mean(scene.depth, FULL_IMAGE)
        d = round(d, decimals)
        question = f"What is the depth of the region {_box_text(box, decimals)}?"
        return Example(task, question, format_number(d, decimals), box, d)
    if task == "name":
        if objs and rng.random() < 0.75:
            o = objs[int(rng.integers(len(objs)))]
            box, answer = _rounded(o.box_norm, decimals), o.name
        else:
            boxes = [o.box_norm for o in scene.objects if o.box_norm is not None]
            for _ in range(20):
                box = _rounded(_random_box(rng), decimals)
                if not any(overlaps(box, b) for b in boxes):
                    break
            else:
                return make_example(scene, rng, "list", decimals)
            answer = "nothing"
        return Example(task, f"What is in the region {_box_text(box, decimals)}?", answer, box)
    lines = [f"{o.name} {region_text(o.box_norm, o.depth, decimals)}" for o in sorted(objs, key=lambda o: o.box_norm)]
    return Example("list", LIST_QUESTION, "\n".join(lines) if lines else "nothing")


def sample(config: SynthConfig, rng: np.random.Generator, weights: dict[str, float], decimals: int):
    """Render a scene of ``config`` and draw a task with ``weights``: ``(scene, Example)``."""
    scene = render_scene(config, rng)
    names = list(weights)
    p = np.array([weights[n] for n in names], dtype=float)
    task = names[int(rng.choice(len(names), p=p / p.sum()))]
    return scene, make_example(scene, rng, task, decimals)


def dense_labels(scene: Scene, token_px: int = 28) -> dict[str, np.ndarray]:
    """Per-token labels for the vision tower's auxiliary head, in the order of the merged image tokens.

    The image is cut into ``token_px`` cells (row-major, as Qwen2.5-VL's merger emits its tokens), each into a
    :data:`SUBGRID` × :data:`SUBGRID` grid; for each sub-cell: the colour and shape class at its centre pixel
    (class 0 = no object) and the mean depth over it. Shapes ``(tokens, SUBGRID²)``. The image must be a multiple
    of ``token_px`` on both sides (the processor then leaves it unresized).
    """
    h, w = scene.depth.shape
    if h % token_px or w % token_px:
        raise ValueError(f"dense_labels: image {w}×{h} is not a multiple of {token_px} px")
    sub = token_px // SUBGRID
    ids = scene.ids[sub // 2 :: sub, sub // 2 :: sub]  # centre pixel of every sub-cell
    colour_of = np.zeros(len(scene.objects) + 4, dtype=np.int64)
    shape_of = np.zeros_like(colour_of)
    for o in scene.objects:
        colour_of[o.id] = COLOUR_CLASSES.index(o.colour)
        shape_of[o.id] = SHAPE_CLASSES.index(o.shape)
    safe = np.where(ids >= 0, ids, len(scene.objects))  # ground, sky, pedestal → a class-0 slot
    depth = scene.depth.reshape(h // sub, sub, w // sub, sub).mean(axis=(1, 3))

    def per_token(a: np.ndarray) -> np.ndarray:  # (H/sub, W/sub) → (tokens, SUBGRID²)
        gh, gw = a.shape[0] // SUBGRID, a.shape[1] // SUBGRID
        return a.reshape(gh, SUBGRID, gw, SUBGRID).transpose(0, 2, 1, 3).reshape(gh * gw, SUBGRID * SUBGRID)

    return {
        "colour": per_token(colour_of[safe]),
        "shape": per_token(shape_of[safe]),
        "depth": per_token(depth.astype(np.float32)),
    }

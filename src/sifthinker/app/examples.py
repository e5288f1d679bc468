"""Example inputs for the app: a few scenes of the synthetic world rendered at start-up, each with its exact depth
map (so "given" depth shows the true box-mean of every box) and one of its questions."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from ..depth import save_depth
from ..synth import make_questions, render_scene, world_config

__all__ = ["Example", "render_examples"]

EXAMPLE_SEED = 0xA99  # not a seed any `sifthinker synth` split or the demo draws from


@dataclass(frozen=True)
class Example:
    image: str
    question: str
    choices: str  # options separated by "; ", "" when open-ended
    depth_mode: str
    depth: str

    def row(self) -> list[str]:
        return [self.image, self.question, self.choices, self.depth_mode, self.depth]


def render_examples(out_dir: str | os.PathLike, n: int = 4, *, size: int = 112, world: str = "close") -> list[Example]:
    """Render ``n`` scenes into ``out_dir`` (``scene-K.png`` and ``scene-K.npy``) and pick one question each, of
    different types where the scenes allow; deterministic."""
    if n < 1:
        raise ValueError(f"examples: n must be >= 1, got {n}")
    cfg = world_config(world, image_size=(size, size))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    examples: list[Example] = []
    used: set[str] = set()
    k = 0
    while len(examples) < n and k < 20 * n:
        scene = render_scene(cfg, (EXAMPLE_SEED, k))
        questions = make_questions(scene, np.random.default_rng([EXAMPLE_SEED, k]), cfg)
        k += 1
        fresh = [q for q in questions if q.qtype not in used] or questions
        if not fresh:
            continue
        q = fresh[0]
        used.add(q.qtype)
        i = len(examples)
        img, dep = out / f"scene-{i}.png", out / f"scene-{i}.npy"
        Image.fromarray(scene.rgb).save(img)
        save_depth(scene.depth, dep)
        examples.append(Example(str(img), q.problem, "; ".join(q.choices or []), "given", str(dep)))
    return examples

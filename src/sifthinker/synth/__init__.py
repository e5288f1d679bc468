"""A procedural 3-D world that renders grounded VQA data in bulk, deterministically.

Scenes (a pinhole camera over a checkerboard ground, 2–8 coloured solids, some raised) are ray-cast in numpy with
exact depth and occlusion; questions (depth order, image relations, counting, existence, 3-D size, nearest object,
attributes) come from the scene graph with their evidence boxes; :func:`generate_dataset` writes SIF-50K records.

>>> cfg = SynthConfig(image_size=(64, 64))
>>> scene = render_scene(cfg, 0)
>>> import numpy as np
>>> qs = make_questions(scene, np.random.default_rng(0), cfg)
>>> scene.rgb.shape
(64, 64, 3)
"""

from .config import PALETTE, QUESTION_TYPES, SHAPES, SIZE_CLASSES, WORLDS, SynthConfig, world_config
from .dataset import generate_dataset, scene_id, scene_records, split_of, write_card
from .questions import Question, make_questions
from .render import Scene, SceneObject, render_scene, render_world
from .world import World, sample_world

__all__ = [
    "SynthConfig",
    "WORLDS",
    "world_config",
    "PALETTE",
    "SHAPES",
    "SIZE_CLASSES",
    "QUESTION_TYPES",
    "Scene",
    "SceneObject",
    "World",
    "Question",
    "sample_world",
    "render_world",
    "render_scene",
    "make_questions",
    "generate_dataset",
    "scene_records",
    "scene_id",
    "split_of",
    "write_card",
]

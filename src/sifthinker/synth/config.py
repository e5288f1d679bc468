"""The knobs of the synthetic world: one frozen dataclass, serialisable to and from JSON.

>>> cfg = SynthConfig(image_size=(96, 64), objects=(2, 4))
>>> SynthConfig.from_dict(cfg.to_dict()) == cfg
True
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

__all__ = [
    "SynthConfig",
    "PALETTE",
    "SHAPES",
    "SIZE_CLASSES",
    "QUESTION_TYPES",
    "ANSWER_TYPES",
    "WORLDS",
    "world_config",
]

# Named object colours (linear-ish RGB in [0, 1]); chosen to stay distinct and nameable under shading.
PALETTE: dict[str, tuple[float, float, float]] = {
    "red": (0.86, 0.10, 0.10),
    "green": (0.12, 0.68, 0.20),
    "blue": (0.13, 0.30, 0.95),
    "yellow": (0.98, 0.86, 0.10),
    "purple": (0.55, 0.20, 0.80),
    "orange": (1.00, 0.50, 0.05),
    "cyan": (0.10, 0.85, 0.90),
    "pink": (1.00, 0.45, 0.75),
}

SHAPES: tuple[str, ...] = ("cube", "sphere", "cylinder", "cone")

# Size class -> range of the object's characteristic size s (world units; the camera is ~3 units above ground).
# The classes are at least 1.4× apart, so "physically larger" between classes is never ambiguous.
SIZE_CLASSES: dict[str, tuple[float, float]] = {"small": (0.55, 0.70), "large": (1.00, 1.25)}

QUESTION_TYPES: tuple[str, ...] = (
    "depth_order",
    "relation_2d",
    "counting",
    "existence",
    "size_3d",
    "nearest_object",
    "attribute",
)

ANSWER_TYPES: tuple[str, ...] = ("mc", "yesno", "number")


def _pair(v, name: str, cast=float, ordered: bool = True) -> tuple:
    if not isinstance(v, (tuple, list)) or len(v) != 2:
        raise ValueError(f"SynthConfig.{name}: expected a pair, got {v!r}")
    lo, hi = cast(v[0]), cast(v[1])
    if ordered and lo > hi:
        raise ValueError(f"SynthConfig.{name}: expected lo <= hi, got {v!r}")
    return (lo, hi)


def _names(v, name: str, known) -> tuple[str, ...]:
    names = tuple(v)
    if len(names) < 2 or any(n not in known for n in names) or len(set(names)) != len(names):
        raise ValueError(f"SynthConfig.{name}: need >= 2 distinct names from {list(known)}, got {names}")
    return names


@dataclass(frozen=True)
class SynthConfig:
    """Difficulty and format knobs of the synthetic world (all defaults give the CPU-demo data).

    Attributes:
        image_size: ``(W, H)`` in pixels.
        objects: ``(min, max)`` number of objects placed per scene (fewer only if placement fails).
        occlusion: 0 … 1; the largest allowed overlap (intersection over the smaller area) between two objects'
            projected bounding rectangles. 0 = no two objects overlap on screen; 1 = anything goes.
        raised_fraction: probability that an object is raised off the ground (on a pedestal or floating).
        pedestal_prob: probability that a raised object stands on a grey pedestal (else it floats, with a shadow).
        shared_colour: probability that a new object copies the colour of an earlier one (distractors).
        question_types: the question types to ask (subset of :data:`QUESTION_TYPES`).
        questions_per_scene: ``(min, max)`` questions per scene.
        depth_gap: the smallest relative gap in camera distance (``|d1 − d2| / min``) for depth questions.
        relation_margin: the smallest gap (normalised units) between two boxes for left/right/above/below.
        min_visible_frac, min_visible_px: an object is asked about only if at least this fraction of its
            unoccluded pixels, and this many pixels, are visible.
        far: metric depth (camera z) at which sky and distant ground are clamped before min–max normalisation.
        camera_height, pitch_deg, hfov_deg: ranges the camera is drawn from (the pitch is capped so that the
            horizon, and some sky, is always in view: the farthest depth is then always ``far``).
        colours, shapes: the palette and shapes in use (names from :data:`PALETTE` and :data:`SHAPES`).
        max_options: the most options in a multiple-choice question (2 … 4).
    """

    image_size: tuple[int, int] = (224, 224)
    objects: tuple[int, int] = (3, 6)
    occlusion: float = 0.35
    raised_fraction: float = 0.25
    pedestal_prob: float = 0.5
    shared_colour: float = 0.3
    question_types: tuple[str, ...] = QUESTION_TYPES
    questions_per_scene: tuple[int, int] = (1, 2)
    depth_gap: float = 0.15
    relation_margin: float = 0.02
    min_visible_frac: float = 0.3
    min_visible_px: int = 40
    far: float = 16.0
    camera_height: tuple[float, float] = (2.8, 3.8)
    pitch_deg: tuple[float, float] = (22.0, 30.0)
    hfov_deg: tuple[float, float] = (52.0, 60.0)
    colours: tuple[str, ...] = tuple(PALETTE)
    shapes: tuple[str, ...] = SHAPES
    max_options: int = 4

    def __post_init__(self):
        set_ = object.__setattr__
        w, h = _pair(self.image_size, "image_size", int, ordered=False)
        if w < 16 or h < 16:
            raise ValueError(f"SynthConfig.image_size: at least 16×16, got {w}×{h}")
        set_(self, "image_size", (w, h))
        lo, hi = _pair(self.objects, "objects", int)
        if lo < 1 or hi > 12:
            raise ValueError(f"SynthConfig.objects: expected 1 <= min <= max <= 12, got {self.objects!r}")
        set_(self, "objects", (lo, hi))
        qlo, qhi = _pair(self.questions_per_scene, "questions_per_scene", int)
        if qlo < 0:
            raise ValueError(f"SynthConfig.questions_per_scene: expected 0 <= min <= max, got {(qlo, qhi)}")
        set_(self, "questions_per_scene", (qlo, qhi))
        for name in ("camera_height", "pitch_deg", "hfov_deg"):
            set_(self, name, _pair(getattr(self, name), name))
        for name in ("occlusion", "raised_fraction", "pedestal_prob", "shared_colour", "min_visible_frac"):
            v = float(getattr(self, name))
            if not 0.0 <= v <= 1.0:
                raise ValueError(f"SynthConfig.{name}: expected a value in [0, 1], got {v}")
            set_(self, name, v)
        qt = tuple(self.question_types)
        bad = [q for q in qt if q not in QUESTION_TYPES]
        if bad or not qt:
            raise ValueError(f"SynthConfig.question_types: unknown {bad} (choose from {', '.join(QUESTION_TYPES)})")
        set_(self, "question_types", tuple(dict.fromkeys(qt)))
        set_(self, "colours", _names(self.colours, "colours", PALETTE))
        set_(self, "shapes", _names(self.shapes, "shapes", SHAPES))
        if not 2 <= int(self.max_options) <= 4:
            raise ValueError(f"SynthConfig.max_options: expected 2 … 4, got {self.max_options}")
        set_(self, "max_options", int(self.max_options))
        if self.far <= 0 or self.depth_gap < 0 or self.relation_margin < 0 or self.min_visible_px < 1:
            raise ValueError("SynthConfig: far > 0, depth_gap >= 0, relation_margin >= 0, min_visible_px >= 1")
        set_(self, "far", float(self.far))
        set_(self, "depth_gap", float(self.depth_gap))
        set_(self, "relation_margin", float(self.relation_margin))
        set_(self, "min_visible_px", int(self.min_visible_px))

    @property
    def width(self) -> int:
        return self.image_size[0]

    @property
    def height(self) -> int:
        return self.image_size[1]

    def to_dict(self) -> dict:
        """A JSON-ready dict (tuples become lists)."""
        out = {}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            out[f.name] = list(v) if isinstance(v, tuple) else v
        return out

    @classmethod
    def from_dict(cls, d: dict) -> SynthConfig:
        """Inverse of :meth:`to_dict`; unknown keys raise ``ValueError``."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise ValueError(f"SynthConfig: unknown fields {sorted(unknown)}")
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})


# Named worlds. "close" is the tiny model's world (the pretrained base and the CPU demo): a lower camera with a
# narrower view, so an object spans about 0.2 of a 112-px image (the default camera: about 0.12, i.e. 13 px —
# less than one 28-px LLM image token of Qwen2.5-VL).
WORLDS: dict[str, dict] = {
    "default": {},
    "close": {"camera_height": (1.2, 1.5), "hfov_deg": (30.0, 34.0), "objects": (2, 4)},
}


def world_config(name: str = "default", **overrides) -> SynthConfig:
    """The named world of :data:`WORLDS` with ``overrides`` on top.

    >>> world_config("close", image_size=(112, 112)).hfov_deg
    (30.0, 34.0)
    """
    if name not in WORLDS:
        raise ValueError(f"unknown world {name!r} (choose from {', '.join(WORLDS)})")
    return SynthConfig(**{**WORLDS[name], **overrides})

"""The pretraining recipe: one dataclass, read from YAML with dotted ``key=value`` overrides.

>>> cfg = PretrainConfig.from_dict({"max_steps": 10, "model": {"hidden_size": 64}})
>>> cfg.phase_at(0).objects, cfg.phase_at(9).decimals
((1, 2), 2)
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..synth.config import WORLDS
from .tasks import TASKS

__all__ = ["Phase", "PretrainConfig", "load_pretrain_config"]


@dataclass(frozen=True)
class Phase:
    """A stage of the curriculum: up to fraction ``until`` of the steps, scenes with ``objects`` objects and
    coordinates with ``decimals`` decimals."""

    until: float
    objects: tuple[int, int]
    decimals: int

    @classmethod
    def from_dict(cls, d: dict, index: int) -> Phase:
        try:
            until, objects, decimals = float(d["until"]), tuple(int(v) for v in d["objects"]), int(d["decimals"])
        except (KeyError, TypeError, ValueError) as e:
            raise ValueError(f"pretrain phases[{index}]: need until, objects [min, max] and decimals ({e})") from None
        if not 0 < until <= 1 or len(objects) != 2 or not 1 <= objects[0] <= objects[1] or decimals not in (1, 2, 3):
            raise ValueError(f"pretrain phases[{index}]: got until={until}, objects={objects}, decimals={decimals}")
        return cls(until, objects, decimals)


_DEFAULT_PHASES = ({"until": 0.25, "objects": [1, 2], "decimals": 1},
                   {"until": 0.55, "objects": [1, 3], "decimals": 2},
                   {"until": 1.0, "objects": [2, 4], "decimals": 2})  # fmt: skip


@dataclass(frozen=True)
class PretrainConfig:
    """Everything that determines a pretraining run (the same config and seed give the same run).

    ``model`` holds :class:`sifthinker.models.tiny.TinyModelConfig` fields (the seed is ``seed``); ``world`` a
    name of :data:`sifthinker.synth.WORLDS`; ``replay`` the share of each batch drawn from the first phase's
    world once the curriculum has moved on; ``aux_weight`` the weight of the vision tower's dense patch loss.
    """

    output_dir: str = "runs/pretrain"
    seed: int = 0
    world: str = "close"
    image_size: int = 112
    model: dict = field(default_factory=dict)
    phases: tuple[Phase, ...] = tuple(Phase.from_dict(p, i) for i, p in enumerate(_DEFAULT_PHASES))
    tasks: dict = field(default_factory=lambda: {"list": 0.3, "ground": 0.35, "depth": 0.15, "name": 0.2})
    replay: float = 0.2
    aux_weight: float = 1.0
    max_steps: int = 8000
    batch_size: int = 16
    learning_rate: float = 1e-3
    vision_lr_scale: float = 2.0
    warmup_steps: int = 200
    min_lr_ratio: float = 0.1
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    logging_steps: int = 25
    save_steps: int = 250
    keep_checkpoints: int = 2
    eval_steps: int = 1000
    eval_scenes: int = 64
    final_eval_scenes: int = 300
    num_threads: int | None = None

    def __post_init__(self) -> None:
        from ..models.tiny import TinyModelConfig

        set_ = object.__setattr__
        phases = tuple(p if isinstance(p, Phase) else Phase.from_dict(p, i) for i, p in enumerate(self.phases))
        if not phases or phases[-1].until != 1.0 or any(a.until >= b.until for a, b in zip(phases, phases[1:])):
            raise ValueError("pretrain phases: 'until' must increase and the last phase must end at 1.0")
        set_(self, "phases", phases)
        bad = [t for t in self.tasks if t not in TASKS]
        if bad or not self.tasks or any(float(w) < 0 for w in self.tasks.values()) or not sum(self.tasks.values()):
            raise ValueError(f"pretrain tasks: weights >= 0 (not all 0) for tasks among {list(TASKS)}, got "
                             f"{self.tasks}")  # fmt: skip
        if self.world not in WORLDS:
            raise ValueError(f"pretrain world: {self.world!r} is not one of {list(WORLDS)}")
        if self.image_size % 28:
            raise ValueError(f"pretrain image_size: a multiple of 28 px (one LLM image token), got {self.image_size}")
        known = {f.name for f in dataclasses.fields(TinyModelConfig)} - {"seed"}
        unknown = set(self.model) - known
        if unknown:
            raise ValueError(f"pretrain model: unknown or disallowed keys {sorted(unknown)} (the seed is 'seed')")
        for name in ("max_steps", "batch_size", "logging_steps", "save_steps", "eval_steps", "keep_checkpoints"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"pretrain {name}: at least 1, got {getattr(self, name)}")
        if not 0 <= self.replay <= 1 or self.learning_rate <= 0 or self.aux_weight < 0:
            raise ValueError("pretrain: need 0 <= replay <= 1, learning_rate > 0, aux_weight >= 0")

    def tiny_config(self):
        """The :class:`TinyModelConfig` of the model to build (its seed is the run's seed)."""
        from ..models.tiny import TinyModelConfig

        kw = {k: tuple(v) if isinstance(v, list) else v for k, v in self.model.items()}
        return TinyModelConfig(seed=self.seed, **kw)

    def phase_at(self, step: int) -> Phase:
        frac = step / self.max_steps
        return next(p for p in self.phases if frac < p.until or p.until == 1.0)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["phases"] = [{"until": p.until, "objects": list(p.objects), "decimals": p.decimals} for p in self.phases]
        return json.loads(json.dumps(d))

    def identity(self) -> dict[str, Any]:
        """What a resumed run must share with the run it continues (all but where it writes and how it logs)."""
        d = self.to_dict()
        for k in ("output_dir", "logging_steps", "save_steps", "keep_checkpoints", "num_threads"):
            d.pop(k)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> PretrainConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ValueError(f"pretrain recipe: unknown keys {unknown} (known: {', '.join(sorted(names))})")
        return cls(**d)


def load_pretrain_config(path: str | Path | None = None, overrides: list[str] | tuple[str, ...] = ()):
    """The recipe at ``path`` (YAML) with ``key=value`` overrides (``model.hidden_size=128``) applied."""
    import yaml

    from ..overrides import deep_merge, parse_overrides

    data: dict = {}
    if path is not None:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        if not isinstance(data, dict):
            raise ValueError(f"{path}: a pretraining recipe is a YAML mapping")
    return PretrainConfig.from_dict(deep_merge(data, parse_overrides(list(overrides))))

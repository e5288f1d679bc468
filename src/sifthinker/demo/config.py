"""The demo's sizes, read from ``recipes/tiny/demo/demo.yaml`` (its SFT and GRPO recipes sit beside it).

>>> cfg = DemoConfig.from_dict({"scenes": 10, "grpo.max_completion_length": 32}, out="runs/x")
>>> cfg.scenes, cfg.stage_overrides["grpo"]
(10, {'max_completion_length': 32})
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["DemoConfig", "default_recipes", "SPATIAL_TYPES"]

# The question types the report groups as "spatial" (where the depth and the boxes of a chain should help).
SPATIAL_TYPES = ("depth_order", "nearest_object", "relation_2d")


def default_recipes() -> Path:
    """``recipes/tiny/demo`` of the repository this package runs from (an editable install or a checkout)."""
    return Path(__file__).resolve().parents[3] / "recipes" / "tiny" / "demo"


@dataclass
class DemoConfig:
    """What ``sifthinker demo`` runs; every field has its line in ``demo.yaml``."""

    out: Path = Path("runs/demo")
    recipes: Path = field(default_factory=default_recipes)
    seed: int = 0
    base_model: str = "sif-tiny-base"
    world: str = "close"
    image_size: int = 112
    scenes: int = 1700
    test_fraction: float = 0.2
    questions_per_scene: tuple[int, int] = (2, 3)
    chain_decimals: int = 2
    sft_steps: int = 800
    grpo_steps: int = 60
    ablation_steps: int = 60
    eval_new_tokens: int = 400
    eval_limit: int | None = None
    focus_items: int = 4
    workers: int = 2
    stage_overrides: dict[str, dict[str, Any]] = field(default_factory=lambda: {"sft": {}, "grpo": {}})

    @classmethod
    def from_dict(cls, values: dict, **fixed: Any) -> DemoConfig:
        names = {f.name for f in dataclasses.fields(cls)} - {"stage_overrides"}
        stage: dict[str, dict[str, Any]] = {"sft": {}, "grpo": {}}
        kw: dict[str, Any] = {}
        for k, v in values.items():
            head, dot, rest = k.partition(".")
            if dot and head in stage:
                stage[head][rest] = v
            elif k in names:
                kw[k] = tuple(v) if isinstance(v, list) else v
            else:
                raise ValueError(f"demo recipe: unknown key {k!r} (known: {', '.join(sorted(names))}, sft.*, grpo.*)")
        kw.update({k: v for k, v in fixed.items() if v is not None})
        for k in ("out", "recipes"):
            if k in kw:
                kw[k] = Path(kw[k])
        return cls(**kw, stage_overrides=stage)

    @classmethod
    def from_recipe(cls, recipes: str | Path | None = None, *, quick: bool = False, **fixed: Any) -> DemoConfig:
        """``demo.yaml`` of ``recipes`` (default :func:`default_recipes`), with its ``quick:`` block when asked."""
        import yaml

        folder = Path(recipes) if recipes is not None else default_recipes()
        path = folder / "demo.yaml"
        if not path.is_file():
            raise ValueError(
                f"{path} not found: the demo reads its recipes from recipes/tiny/demo of the repository; pass "
                "--recipes DIR when sifthinker is installed without it"
            )
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        quick_values = data.pop("quick", {}) or {}
        if quick:
            data.update(quick_values)
        return cls.from_dict(data, recipes=folder, **fixed)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["out"], d["recipes"] = str(self.out), str(self.recipes)
        return d

"""The registry of reward functions: our names and the authors' (VLM-R1 fork), options, weights, and the check
that a dataset holds the columns the rewards read.

>>> fns = get_reward_funcs(["format", "bboxaccuracy_w_progress"])
>>> [f.__name__ for f in fns]
['format', 'box']
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable, Sequence

from .functions import (
    AnswerReward,
    BoxReward,
    DepthGroundedReward,
    DepthReward,
    FormatReward,
    SearchReward,
    SIFReward,
)

__all__ = [
    "REWARDS",
    "ALIASES",
    "reward_names",
    "get_reward",
    "get_reward_funcs",
    "check_reward_weights",
    "check_reward_columns",
]


REWARDS: dict[str, Callable[..., SIFReward]] = {
    "format": FormatReward,
    "answer": lambda **kw: AnswerReward(progress=True, **kw),
    "answer_plain": lambda **kw: AnswerReward(progress=False, **kw),
    "box": lambda **kw: BoxReward(bonus=True, **kw),
    "box_plain": lambda **kw: BoxReward(bonus=False, **kw),
    "depth": DepthReward,
    "depth_grounded": DepthGroundedReward,
    "search": SearchReward,
}

# The authors' names (VLM-R1 fork) for the same functions.
ALIASES: dict[str, str] = {
    "accuracy": "answer_plain",
    "accuracy_w_progress": "answer",
    "bboxaccuracy": "box_plain",
    "bboxaccuracy_w_progress": "box",
    "depth_consistency": "depth",
}


def reward_names() -> list[str]:
    """All names :func:`get_reward` accepts (ours, then the authors' aliases)."""
    return list(REWARDS) + list(ALIASES)


def get_reward(name: str, **options) -> Callable:
    """Build one reward function by name (ours or the authors'), or import it from a dotted path ``pkg.mod.fn``.

    Raises ``ValueError`` listing the known names for an unknown one.
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"reward name must be a non-empty string, got {name!r}")
    key = ALIASES.get(name, name)
    if key in REWARDS:
        try:
            return REWARDS[key](**options)
        except TypeError as e:
            raise ValueError(f"reward {name!r}: bad options {sorted(options)}: {e}") from None
    if "." in name:
        mod, _, attr = name.rpartition(".")
        try:
            obj = getattr(importlib.import_module(mod), attr)
        except (ImportError, AttributeError) as e:
            raise ValueError(f"reward {name!r}: cannot import it ({e})") from None
        if options:
            return obj(**options)
        if not callable(obj):
            raise ValueError(f"reward {name!r} is not callable")
        return obj
    raise ValueError(f"unknown reward {name!r}; known: {', '.join(reward_names())} (or a dotted import path)")


def get_reward_funcs(
    names: Sequence[str], options: dict[str, dict] | None = None, *, columns: Sequence[str] | None = None
) -> list[Callable]:
    """Build the reward functions named in a recipe; ``options`` maps a name to its keyword options. With
    ``columns`` (the training dataset's), a reward whose column is not among them raises ``ValueError`` here,
    before training starts.

    >>> [f.__name__ for f in get_reward_funcs(["format", "accuracy_w_progress", "depth_consistency"])]
    ['format', 'answer', 'depth']
    """
    if isinstance(names, str) or not names:
        raise ValueError(f"reward names: expected a non-empty list, got {names!r}")
    options = options or {}
    unknown_opts = set(options) - set(names)
    if unknown_opts:
        raise ValueError(f"reward options given for rewards not in the list: {sorted(unknown_opts)}")
    funcs = [get_reward(n, **options.get(n, {})) for n in names]
    if columns is not None:
        check_reward_columns(funcs, columns)
    return funcs


def check_reward_columns(funcs: Sequence[Callable], columns: Sequence[str]) -> None:
    """Raise ``ValueError`` for the first of our rewards that reads a column not in ``columns`` (a dataset's)."""
    for f in funcs:
        if isinstance(f, SIFReward):
            f.check_columns(list(columns))


def check_reward_weights(names: Sequence[str], weights: Sequence[float] | None) -> list[float]:
    """Validate weights for the named rewards (one finite number each); None means weight 1 each (official).

    >>> check_reward_weights(["format", "box"], None)
    [1.0, 1.0]
    """
    if weights is None:
        return [1.0] * len(names)
    if len(weights) != len(names):
        raise ValueError(f"{len(weights)} reward weights for {len(names)} rewards {list(names)}; give one per reward")
    out = []
    for n, w in zip(names, weights):
        if isinstance(w, bool) or not isinstance(w, (int, float)) or not math.isfinite(w):
            raise ValueError(f"reward weight for {n!r} must be a finite number, got {w!r}")
        out.append(float(w))
    return out

"""The focus path of one completion as data: each step's regions with the depth the model stated and the true
box-mean depth of the map, the step text, the answer, and — for a malformed completion — the parse error.

No Gradio here: :mod:`.ui` lays these out, :mod:`.draw` draws them.

>>> v = focus_view('<think><area>[{"bbox_2d": [0, 0, 0.5, 1], "depth": 0.2}]</area><text>Left half.</text>'
...                '</think><answer>A</answer>', depth=[[0.0, 1.0], [0.0, 1.0]])
>>> v.valid, v.answer, v.steps[0].text, v.steps[0].regions[0].true_depth
(True, 'A', 'Left half.', 0.0)
>>> bad = focus_view('<area>[{"bbox_2d": [0, 0, 1, 1], "depth": 0.5}]</area> then nothing')
>>> bad.valid, bad.error, len(bad.steps), bad.steps[0].text
(False, '[structure] at offset 0: expected <think> first, found <area>', 1, None)
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np

from ..depth import DepthMap
from ..trace import TraceFormatError, parse_trace, read_lenient

__all__ = ["RegionView", "StepView", "FocusView", "focus_view", "parse_choices"]


@dataclass
class RegionView:
    """One region of a step: its normalised box, the depth the model stated, the true box-mean (None: no map)."""

    box: tuple[float, float, float, float]
    stated_depth: float
    true_depth: float | None = None

    @property
    def depth_error(self) -> float | None:
        return None if self.true_depth is None else round(abs(self.stated_depth - self.true_depth), 4)


@dataclass
class StepView:
    """One step: its regions and its text (None when a malformed completion was read leniently)."""

    index: int
    regions: list[RegionView]
    text: str | None


@dataclass
class FocusView:
    """Everything the app shows for one completion."""

    completion: str
    valid: bool
    answer: str | None
    error: str | None
    steps: list[StepView] = field(default_factory=list)
    has_true_depth: bool = False

    def to_dict(self) -> dict:
        d = asdict(self)
        for s, sv in zip(d["steps"], self.steps, strict=True):
            for r, rv in zip(s["regions"], sv.regions, strict=True):
                r["box"] = list(rv.box)
                r["depth_error"] = rv.depth_error
        return d


def _true_depths(depth, boxes: list[tuple[float, float, float, float]]) -> list[float | None]:
    if depth is None or not boxes:
        return [None] * len(boxes)
    dm = depth if isinstance(depth, DepthMap) else DepthMap(np.asarray(depth, dtype=np.float32))
    out: list[float | None] = []
    for v in dm.box_means(boxes):  # NaN: a box outside the image (kept as written by the lenient reader)
        out.append(None if math.isnan(v) else round(float(v), 4))
    return out


def focus_view(completion: str, depth=None) -> FocusView:
    """Read ``completion`` strictly (the error kept when it breaks the grammar) and leniently, and attach the true
    box-mean depth of every region from ``depth`` (an H×W map in our convention, or None)."""
    if not isinstance(completion, str):
        raise TypeError(f"completion: expected a string, got {type(completion).__name__}")
    try:
        trace, error = parse_trace(completion), None
    except TraceFormatError as e:
        trace, error = None, str(e)
    if trace is not None:
        areas, texts, answer = [s.regions for s in trace.steps], [s.text for s in trace.steps], trace.answer
    else:
        lenient = read_lenient(completion)
        areas, texts, answer = list(lenient.areas), [None] * len(lenient.areas), lenient.answer
    boxes = [r.box for a in areas for r in a]
    truths = iter(_true_depths(depth, boxes))
    steps = [
        StepView(k, [RegionView(r.box, r.depth, next(truths)) for r in regions], text)
        for k, (regions, text) in enumerate(zip(areas, texts, strict=True), 1)
    ]
    return FocusView(completion, trace is not None, answer, error, steps, depth is not None)


def parse_choices(text: str | None) -> list[str] | None:
    """Answer options typed in one box: one per line, or separated by ``;`` when on one line; None when empty.

    >>> parse_choices("the cube; the ball"), parse_choices("yes\\nno\\n"), parse_choices("  ")
    (['the cube', 'the ball'], ['yes', 'no'], None)
    >>> parse_choices("only one")
    Traceback (most recent call last):
    ValueError: choices: give at least two options (one per line or separated by ';'), got 1
    """
    if not text or not text.strip():
        return None
    parts = text.splitlines() if "\n" in text.strip() else text.split(";")
    out = [p.strip() for p in parts if p.strip()]
    if len(out) < 2:
        raise ValueError(f"choices: give at least two options (one per line or separated by ';'), got {len(out)}")
    return out

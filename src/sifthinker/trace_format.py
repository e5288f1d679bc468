"""The SIF trace as data (:class:`Trace` of :class:`Step` of :class:`Region`) and its canonical text.

:func:`render` writes the canonical form (numbers to 3 decimals, trailing zeros dropped, one block per line) that
:func:`sifthinker.trace.parse_trace` reads back to an equal :class:`Trace`. :mod:`sifthinker.trace` re-exports every
name here.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Region", "Step", "Trace", "format_number", "render"]


@dataclass(frozen=True, slots=True)
class Region:
    """One image region: a normalised box ``(x1, y1, x2, y2)`` and its depth (0 = nearest, 1 = farthest)."""

    box: tuple[float, float, float, float]
    depth: float


@dataclass(frozen=True, slots=True)
class Step:
    """One reasoning step: the regions of an ``<area>`` and the ``<text>`` that follows it (stripped)."""

    regions: tuple[Region, ...]
    text: str


@dataclass(frozen=True, slots=True)
class Trace:
    """A whole trace: the steps inside ``<think>`` and the ``<answer>`` (stripped)."""

    steps: tuple[Step, ...]
    answer: str

    @property
    def areas(self) -> tuple[tuple[Region, ...], ...]:
        return tuple(s.regions for s in self.steps)

    def render(self) -> str:
        return render(self)


# ----------------------------------------------------------------------------------------------------- render


def format_number(v: float, decimals: int = 3) -> str:
    """Canonical number text: rounded to ``decimals`` (3), trailing zeros dropped (``1`` not ``1.000``).

    >>> [format_number(v) for v in (0, 1.0, 0.5, 0.12345, 0.1)]
    ['0', '1', '0.5', '0.123', '0.1']
    >>> format_number(0.345, decimals=1)
    '0.3'
    """
    s = f"{float(v):.{decimals}f}".rstrip("0").rstrip(".")
    return "0" if s in ("-0", "") else s


def _render_area(regions) -> str:
    parts = []
    for r in regions:
        coords = ", ".join(format_number(c) for c in r.box)
        parts.append(f'{{"bbox_2d": [{coords}], "depth": {format_number(r.depth)}}}')
    return "[" + ", ".join(parts) + "]"


def render(trace: Trace) -> str:
    """Canonical text of a trace (numbers to 3 decimals, one block per line)."""
    lines = ["<think>"]
    for step in trace.steps:
        lines.append(f"<area>{_render_area(step.regions)}</area>")
        lines.append(f"<text>{step.text}</text>")
    lines.append("</think>")
    lines.append(f"<answer>{trace.answer}</answer>")
    return "\n".join(lines)

"""Validation of every written chain before it is kept (ours; the authors kept replies unchecked, docs/method.md).

A reply is kept only if it parses, holds the frames' areas in the same order with the same boxes and depths
(± ``tol``), and its answer agrees with the ground truth by the judge-free checker.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..answers import answer_match
from ..trace import Trace, TraceFormatError, parse_trace
from .types import Frame, GroundedItem

__all__ = ["check_chain", "ChainRejected"]

DEFAULT_TOL = 0.001


class ChainRejected(ValueError):
    """A written chain that failed validation; ``reason`` is a short machine-friendly tag, the message the detail."""

    def __init__(self, reason: str, detail: str):
        self.reason = reason
        super().__init__(f"{reason}: {detail}")


def check_chain(text: str, frames: Sequence[Frame], item: GroundedItem, *, tol: float = DEFAULT_TOL) -> Trace:
    """Return the parsed trace if ``text`` is a faithful chain for ``frames`` and ``item``; raise
    :class:`ChainRejected` (reasons: ``format``, ``areas``, ``regions``, ``box``, ``depth``, ``answer``) otherwise."""
    try:
        trace = parse_trace(text)
    except TraceFormatError as e:
        raise ChainRejected("format", str(e)) from None
    if len(trace.steps) != len(frames):
        raise ChainRejected("areas", f"expected {len(frames)} areas, found {len(trace.steps)}")
    for k, (step, frame) in enumerate(zip(trace.steps, frames, strict=True)):
        if len(step.regions) != len(frame.regions):
            raise ChainRejected(
                "regions", f"area {k + 1}: expected {len(frame.regions)} regions, found {len(step.regions)}"
            )
        for j, (got, want) in enumerate(zip(step.regions, frame.regions, strict=True)):
            if any(abs(a - b) > tol + 1e-12 for a, b in zip(got.box, want.box, strict=True)):
                raise ChainRejected("box", f"area {k + 1} region {j + 1}: box {list(got.box)} != {list(want.box)}")
            if abs(got.depth - want.depth) > tol + 1e-12:
                raise ChainRejected("depth", f"area {k + 1} region {j + 1}: depth {got.depth} != {want.depth}")
    try:
        ok = answer_match(trace.answer, item.answer, choices=item.choices, answer_type=item.answer_type)
    except ValueError as e:  # a bad ground truth: not the writer's fault, but nothing to keep either
        raise ChainRejected("ground_truth", str(e)) from None
    if ok < 1.0:
        raise ChainRejected("answer", f"answer {trace.answer!r} does not match the ground truth {item.answer!r}")
    return trace

"""The Visual-CoT file format, as both its data source (:mod:`sifthinker.data.sources.visual_cot`) and its benchmark
(:mod:`sifthinker.eval.benchmarks.viscot`) read it: the question without its box request, box strings, and boxes
normalised on the padded square the release draws them on."""

from __future__ import annotations

import re

__all__ = ["BOX_REQUESTS", "strip_question", "parse_box_string", "from_padded_square"]

BOX_REQUESTS = (
    "Please provide the bounding box coordinate of the region that can help you answer the question better.",
)
_REQUEST_TAIL_RE = re.compile(r"\s*please\s+provide\s+the\s+bounding\s+box(?:es)?\b[^\n]*$", re.IGNORECASE)
_IMAGE_TOKEN_RE = re.compile(r"\n?<image>\n?")
_NUM = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"
_BOX_RE = re.compile(rf"\[\s*({_NUM})\s*,\s*({_NUM})\s*,\s*({_NUM})\s*,\s*({_NUM})\s*\]")


def strip_question(text: str) -> str:
    """The bare question: ``<image>`` placeholders and the trailing bounding-box request removed.

    >>> strip_question("<image>\\nWhat is he holding? Please provide the bounding box coordinate of the region "
    ...                "that can help you answer the question better.")
    'What is he holding?'
    >>> strip_question("<image>\\nIs it red? please provide the bounding box of the region.")
    'Is it red?'
    """
    t = _IMAGE_TOKEN_RE.sub("\n", text).strip()
    changed = True
    while changed:
        changed = False
        low = t.lower()
        for req in BOX_REQUESTS:
            if low.endswith(req.lower()):
                t = t[: len(t) - len(req)].rstrip()
                changed = True
                break
        else:
            stripped = _REQUEST_TAIL_RE.sub("", t).rstrip()
            if stripped != t:
                t, changed = stripped, True
    return t


def parse_box_string(s: str) -> list[tuple[float, float, float, float]] | None:
    """All ``[a, b, c, d]`` boxes of a string such as ``"[0.344, 0.296, 0.890, 0.734]"``; None if it holds anything
    else (or no box).

    >>> parse_box_string("[0.344, 0.296, 0.890, 0.734]")
    [(0.344, 0.296, 0.89, 0.734)]
    >>> parse_box_string("[1, 2, 3, 4], [5, 6, 7, 8]")
    [(1.0, 2.0, 3.0, 4.0), (5.0, 6.0, 7.0, 8.0)]
    >>> parse_box_string("a red car") is None
    True
    """
    if not isinstance(s, str):
        return None
    boxes = [tuple(float(v) for v in m.groups()) for m in _BOX_RE.finditer(s)]
    rest = _BOX_RE.sub("", s)
    if not boxes or rest.strip(" ,;\n\t[]"):
        return None
    return boxes  # type: ignore[return-value]


def from_padded_square(box, width: int, height: int) -> tuple[float, float, float, float]:
    """A box normalised on Visual-CoT's padded square → normalised on the image itself (may overshoot [0, 1] by the
    3-decimal rounding of the string; the caller checks).

    >>> [round(v, 3) for v in from_padded_square((0.344, 0.296, 0.890, 0.734), 500, 394)]
    [0.344, 0.241, 0.89, 0.797]
    >>> [round(v * s) for v, s in zip(from_padded_square((0.344, 0.296, 0.890, 0.734), 500, 394), (500, 394) * 2)]
    [172, 95, 445, 314]
    """
    side = max(width, height)
    pad_x = (side - width) // 2
    pad_y = (side - height) // 2
    return (
        (box[0] * side - pad_x) / width,
        (box[1] * side - pad_y) / height,
        (box[2] * side - pad_x) / width,
        (box[3] * side - pad_y) / height,
    )

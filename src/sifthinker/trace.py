"""The SIF reasoning trace as data: strict parsing, canonical rendering and a lenient reading for rewards.

Grammar (docs/method.md)::

    <think>
    <area>[{"bbox_2d": [x1, y1, x2, y2], "depth": d}, ...]</area>
    <text>what the model sees in that region</text>
    ... more <area>/<text> pairs ...
    </think>
    <answer>final answer</answer>

Strict rules, each named in :class:`TraceFormatError` with the character offset where it broke:

``outside``   only whitespace before ``<think>``, between ``</think>`` and ``<answer>``, and after ``</answer>``
``structure`` ``<think>`` holds K ≥ 1 pairs, strictly ``<area>`` then ``<text>``, only whitespace between blocks
``tag``       no other tag (``<name>`` / ``</name>``, name of letters, digits or ``_``) anywhere; ``a < b`` is text
``json``      an ``<area>`` holds a JSON list of one or more objects
``region``    each object has ``bbox_2d`` (four numbers) and ``depth`` (one number); other keys are ignored
``range``     coordinates and depth in [0, 1], ``x1 < x2``, ``y1 < y2``
``decimals``  every number has at most 3 decimals (judged on the parsed value)
``empty``     ``<text>`` and ``<answer>`` are non-empty after stripping whitespace

>>> t = parse_trace('<think><area>[{"bbox_2d": [0, 0, 1, 1], "depth": 0.5}]</area><text>A room.</text></think>'
...                 '<answer>B</answer>')
>>> t.answer, t.steps[0].regions[0].box
('B', (0.0, 0.0, 1.0, 1.0))
>>> parse_trace(render(t)) == t
True

The data types and the canonical rendering live in :mod:`sifthinker.trace_format`, importable from here.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from functools import lru_cache

from .trace_format import Region, Step, Trace, format_number, render

__all__ = [
    "Region",
    "Step",
    "Trace",
    "TraceFormatError",
    "LenientTrace",
    "parse_trace",
    "render",
    "read_lenient",
    "is_valid_trace",
    "format_number",
]

TAG_RE = re.compile(r"<(/?)([A-Za-z0-9_]+)>")
_TXT = r"[^<]*(?:<(?!/?[A-Za-z0-9_]+>)[^<]*)*"  # text holding no tag
_FAST_RE = re.compile(
    rf"\s*<think>((?:\s*<area>[^<]*</area>\s*<text>{_TXT}</text>)+)\s*</think>\s*<answer>({_TXT})</answer>\s*"
)
_PAIR_RE = re.compile(rf"<area>([^<]*)</area>\s*<text>({_TXT})</text>")
_BLOCK_RE = re.compile(rf"<(area|answer)>({_TXT})</\1>")


class TraceFormatError(ValueError):
    """A completion that breaks a rule of the trace grammar; ``rule`` names it and ``offset`` says where."""

    def __init__(self, rule: str, offset: int, message: str):
        self.rule = rule
        self.offset = offset
        self.detail = message
        super().__init__(f"[{rule}] at offset {offset}: {message}")


# ------------------------------------------------------------------------------------------------ strict parse


def _reject_constant(name: str):
    raise ValueError(f"{name} is not a number")


# One decoder for all calls: json.loads(..., parse_constant=...) would build a new decoder every time.
_DECODER = json.JSONDecoder(parse_constant=_reject_constant)
_NUMBER_TYPES = (int, float)


def _load_json(s: str):
    """Decode JSON rejecting NaN/Infinity; survives any input by raising ``ValueError`` only."""
    try:
        return _DECODER.decode(s)
    except RecursionError as e:  # deeply nested brackets
        raise ValueError("nesting too deep") from e
    except ValueError:
        raise
    except Exception as e:  # pragma: no cover - json only raises ValueError/RecursionError in practice
        raise ValueError(str(e)) from e


def _is_number(v) -> bool:
    return type(v) in _NUMBER_TYPES or (isinstance(v, (int, float)) and not isinstance(v, bool))


def _parse_regions(content: str, offset: int) -> tuple[Region, ...]:
    try:
        data = _load_json(content)
    except ValueError as e:
        raise TraceFormatError("json", offset, f"<area> content is not valid JSON ({e})") from None
    if type(data) is not list:
        raise TraceFormatError("json", offset, f"<area> must hold a JSON list, got {type(data).__name__}")
    if not data:
        raise TraceFormatError("json", offset, "<area> holds an empty list; at least one region is required")
    regions = []
    for i, obj in enumerate(data):
        if type(obj) is not dict:
            raise TraceFormatError(
                "region", offset, f"region {i} of <area> is a {type(obj).__name__}, expected an object"
            )
        if "bbox_2d" not in obj or "depth" not in obj:
            missing = [k for k in ("bbox_2d", "depth") if k not in obj]
            raise TraceFormatError("region", offset, f"region {i} of <area> lacks {' and '.join(missing)}")
        box, depth = obj["bbox_2d"], obj["depth"]
        if type(box) is not list or len(box) != 4 or not all(_is_number(v) for v in box):
            raise TraceFormatError("region", offset, f"region {i} of <area>: bbox_2d must be a list of four numbers")
        if not _is_number(depth):
            raise TraceFormatError("region", offset, f"region {i} of <area>: depth must be one number")
        try:
            x1, y1, x2, y2, d = float(box[0]), float(box[1]), float(box[2]), float(box[3]), float(depth)
        except OverflowError:  # an integer too large for a float
            raise TraceFormatError("range", offset, f"region {i} of <area>: number out of range") from None
        if not (0.0 <= x1 <= 1.0 and 0.0 <= y1 <= 1.0 and 0.0 <= x2 <= 1.0 and 0.0 <= y2 <= 1.0 and 0.0 <= d <= 1.0):
            raise TraceFormatError("range", offset, f"region {i} of <area>: coordinates and depth must lie in [0, 1]")
        if not (x1 < x2 and y1 < y2):
            raise TraceFormatError("range", offset, f"region {i} of <area>: expected x1 < x2 and y1 < y2, got {box}")
        if round(x1, 3) != x1 or round(y1, 3) != y1 or round(x2, 3) != x2 or round(y2, 3) != y2 or round(d, 3) != d:
            raise TraceFormatError("decimals", offset, f"region {i} of <area>: numbers may have at most 3 decimals")
        regions.append(Region((x1, y1, x2, y2), d))
    return tuple(regions)


def _only_ws(text: str, start: int, end: int) -> int:
    """Offset of the first non-whitespace character of ``text[start:end]``, or -1.

    Whitespace is Python's (``str.isspace``, Unicode), the same set as the regex ``\\s`` of the fast path.
    """
    if start >= end or text[start:end].isspace():
        return -1
    for i in range(start, end):
        if not text[i].isspace():
            return i
    return -1


def _expect_ws(text: str, start: int, end: int, rule: str, where: str) -> None:
    bad = _only_ws(text, start, end)
    if bad >= 0:
        raise TraceFormatError(rule, bad, f"unexpected text {text[bad : bad + 20]!r} {where}; only whitespace allowed")


def parse_trace(text: str) -> Trace:
    """Parse a completion strictly; raise :class:`TraceFormatError` naming the broken rule and its offset.

    >>> parse_trace('<think><area>[]</area><text>x</text></think><answer>1</answer>')
    Traceback (most recent call last):
    sifthinker.trace.TraceFormatError: [json] at offset 13: <area> holds an empty list; at least one region is required
    """
    if not isinstance(text, str):
        raise TraceFormatError("structure", 0, f"expected a string, got {type(text).__name__}")
    return _parse_small(text) if len(text) <= _CACHE_MAX_CHARS else _parse_big(text)


# The same completion is read by every reward of a GRPO step: cache parses of completion-sized strings in a large
# LRU and of huge strings in a tiny one, so a flood of huge strings cannot pin memory.
_CACHE_MAX_CHARS = 32_768


def _parse(text: str) -> Trace:
    # Fast path: one regex checks the block structure of a well-formed trace, then only the areas are decoded.
    # Anything unusual (or any error) goes to the tag walker below, which names the rule and offset.
    m = _FAST_RE.fullmatch(text)
    if m is not None:
        answer = m.group(2).strip()
        try:
            steps = []
            for pm in _PAIR_RE.finditer(m.group(1)):
                body = pm.group(2).strip()
                if not body:
                    break
                steps.append(Step(_parse_regions(pm.group(1), 0), body))
            else:
                if answer:
                    return Trace(tuple(steps), answer)
        except TraceFormatError:
            pass
    return _parse_walk(text)


_GRAMMAR_TAGS = frozenset(("area", "text", "think", "answer"))


def _unexpected_tag(m: re.Match, message: str) -> TraceFormatError:
    """The error for tag ``m`` where another was expected: ``structure`` for a grammar tag, else ``tag``."""
    return TraceFormatError("structure" if m.group(2) in _GRAMMAR_TAGS else "tag", m.start(), message)


def _parse_walk(text: str) -> Trace:
    tags = TAG_RE.finditer(text)
    pos = 0  # end of the last consumed token
    steps: list[Step] = []

    def next_tag(expected: str, where: str, rule: str = "structure"):
        nonlocal pos
        m = next(tags, None)
        if m is None:
            if not steps:
                _expect_ws(text, pos, len(text), "outside" if pos == 0 else rule, f"where {expected} was expected")
            raise TraceFormatError(rule, len(text), f"missing {expected} {where}")
        return m

    m = next_tag("<think>", "at the start")
    _expect_ws(text, 0, m.start(), "outside", "before <think>")
    if m.group(0) != "<think>":
        raise TraceFormatError("structure", m.start(), f"expected <think> first, found {m.group(0)}")
    pos = m.end()
    while True:
        m = next_tag("<area> or </think>", "inside <think>")
        _expect_ws(text, pos, m.start(), "structure", "between blocks inside <think>")
        tag = m.group(0)
        if tag == "</think>":
            if not steps:
                raise TraceFormatError("structure", m.start(), "<think> must hold at least one <area>/<text> pair")
            pos = m.end()
            break
        if tag != "<area>":
            expect = "<area> or </think>" if steps else "<area>"
            raise _unexpected_tag(m, f"expected {expect}, found {tag}")
        area_start = m.end()
        m = next_tag("</area>", "to close <area>")
        if m.group(0) != "</area>":
            raise _unexpected_tag(m, f"expected </area>, found {m.group(0)}")
        regions = _parse_regions(text[area_start : m.start()], area_start)
        pos = m.end()
        m = next_tag("<text>", "after </area>")
        _expect_ws(text, pos, m.start(), "structure", "between </area> and <text>")
        if m.group(0) != "<text>":
            raise _unexpected_tag(m, f"every <area> must be followed by <text>, found {m.group(0)}")
        text_start = m.end()
        m = next_tag("</text>", "to close <text>")
        if m.group(0) != "</text>":
            raise _unexpected_tag(m, f"expected </text>, found {m.group(0)}")
        body = text[text_start : m.start()].strip()
        if not body:
            raise TraceFormatError("empty", text_start, "<text> is empty")
        steps.append(Step(regions, body))
        pos = m.end()
    m = next_tag("<answer>", "after </think>")
    _expect_ws(text, pos, m.start(), "outside", "between </think> and <answer>")
    if m.group(0) != "<answer>":
        raise TraceFormatError("structure", m.start(), f"expected <answer> after </think>, found {m.group(0)}")
    ans_start = m.end()
    m = next_tag("</answer>", "to close <answer>")
    if m.group(0) != "</answer>":
        raise _unexpected_tag(m, f"expected </answer>, found {m.group(0)}")
    answer = text[ans_start : m.start()].strip()
    if not answer:
        raise TraceFormatError("empty", ans_start, "<answer> is empty")
    extra = next(tags, None)
    if extra is not None:
        raise TraceFormatError("outside", extra.start(), f"unexpected {extra.group(0)} after </answer>")
    _expect_ws(text, m.end(), len(text), "outside", "after </answer>")
    return Trace(tuple(steps), answer)


def is_valid_trace(text: str) -> bool:
    """True iff :func:`parse_trace` accepts ``text``; never raises."""
    try:
        parse_trace(text)
    except (TraceFormatError, TypeError):
        return False
    return True


# ---------------------------------------------------------------------------------------------- lenient reading


@dataclass(frozen=True, slots=True)
class LenientTrace:
    """What the rewards read from *any* completion.

    ``areas``: one tuple of regions per ``<area>…</area>`` block that yields at least one usable region, in order.
    ``answer``: the stripped content of the last complete ``<answer>…</answer>``, or None.
    ``valid``: whether the completion obeys the strict grammar (then ``areas``/``answer`` equal the strict parse).
    ``n_area_blocks``: how many ``<area>`` blocks were seen, usable or not.
    """

    areas: tuple[tuple[Region, ...], ...]
    answer: str | None
    valid: bool
    n_area_blocks: int

    @property
    def regions(self) -> tuple[Region, ...]:
        return tuple(r for a in self.areas for r in a)


def _lenient_regions(content: str) -> tuple[Region, ...]:
    """Usable regions of one area: any object with ``bbox_2d`` = four finite numbers and ``depth`` = a finite number.

    Boxes are kept as written (not clipped or reordered: an inverted or out-of-range box simply scores IoU 0);
    more than 3 decimals are tolerated. A list that is not JSON yields nothing.
    """
    try:
        data = _load_json(content)
    except ValueError:
        return ()
    if isinstance(data, dict):
        data = [data]
    if not isinstance(data, list):
        return ()
    out = []
    for obj in data:
        if not isinstance(obj, dict):
            continue
        box, depth = obj.get("bbox_2d"), obj.get("depth")
        if not isinstance(box, list) or len(box) != 4 or not all(_is_number(v) for v in box) or not _is_number(depth):
            continue
        try:
            vals = [float(v) for v in box] + [float(depth)]
        except OverflowError:  # an int too large for a float
            continue
        if not all(math.isfinite(v) for v in vals):
            continue
        out.append(Region((vals[0], vals[1], vals[2], vals[3]), vals[4]))
    return tuple(out)


def read_lenient(text) -> LenientTrace:
    """Read whatever a completion offers, never raising (rewards use this).

    A valid trace reads exactly as :func:`parse_trace` would. Otherwise every ``<area>…</area>`` pair (an
    ``<area>`` whose next tag is ``</area>``) anywhere in the text is read; the areas that yield at least one
    usable region count, in order, and the others are skipped. The answer is the last complete
    ``<answer>…</answer>`` with non-empty content. Runs in time linear in the text (one tag scan).

    >>> lt = read_lenient('<area>[{"bbox_2d": [0.1, 0.1, 0.5, 0.5], "depth": 0.3}]</area> junk <answer>yes')
    >>> len(lt.areas), lt.answer, lt.valid
    (1, None, False)
    """
    if not isinstance(text, str):
        return LenientTrace((), None, False, 0)
    return _read_lenient_small(text) if len(text) <= _CACHE_MAX_CHARS else _read_lenient_big(text)


def _read_lenient(text: str) -> LenientTrace:
    try:
        t = _parse(text)
    except TraceFormatError:
        pass
    else:
        return LenientTrace(tuple(s.regions for s in t.steps), t.answer, True, len(t.steps))
    areas = []
    n_blocks = 0
    answer = None
    # An <area> or <answer> whose next tag is its closing tag: the content holds no tag at all (one C-level scan).
    for m in _BLOCK_RE.finditer(text):
        if m.group(1) == "area":
            n_blocks += 1
            regions = _lenient_regions(m.group(2))
            if regions:
                areas.append(regions)
        else:
            a = m.group(2).strip()
            if a:
                answer = a
    return LenientTrace(tuple(areas), answer, False, n_blocks)


_parse_small = lru_cache(maxsize=2048)(_parse)
_parse_big = lru_cache(maxsize=8)(_parse)
_read_lenient_small = lru_cache(maxsize=4096)(_read_lenient)
_read_lenient_big = lru_cache(maxsize=8)(_read_lenient)

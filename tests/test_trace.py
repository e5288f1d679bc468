"""The trace grammar (docs/method.md): one test per rule, the round trip, and the lenient reading."""

from __future__ import annotations

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from strategies import traces

from sifthinker.trace import (
    LenientTrace,
    Region,
    Step,
    Trace,
    TraceFormatError,
    format_number,
    is_valid_trace,
    parse_trace,
    read_lenient,
    render,
)

R = '{"bbox_2d": [0.1, 0.2, 0.3, 0.4], "depth": 0.5}'
FULL = '{"bbox_2d": [0, 0, 1, 1], "depth": 0.6}'


def make(areas=(f"[{FULL}]", f"[{R}]"), texts=("The whole scene.", "The cube."), answer="B", pre="", post="", mid=""):
    body = "".join(f"<area>{a}</area>{mid}<text>{t}</text>{mid}" for a, t in zip(areas, texts))
    return f"{pre}<think>{mid}{body}</think>{mid}<answer>{answer}</answer>{post}"


def rule_of(text: str) -> str:
    with pytest.raises(TraceFormatError) as ei:
        parse_trace(text)
    assert isinstance(ei.value, ValueError)
    assert f"[{ei.value.rule}] at offset {ei.value.offset}" in str(ei.value)
    return ei.value.rule


def test_valid_trace_parses_to_values():
    t = parse_trace(make(mid="\n  "))
    assert t.answer == "B"
    assert [s.text for s in t.steps] == ["The whole scene.", "The cube."]
    assert t.steps[0].regions == (Region((0.0, 0.0, 1.0, 1.0), 0.6),)
    assert t.steps[1].regions == (Region((0.1, 0.2, 0.3, 0.4), 0.5),)
    assert t.areas[1][0].depth == 0.5


def test_several_regions_and_extra_keys():
    area = '[{"bbox_2d": [0, 0, 0.5, 0.5], "depth": 0.1, "label": "cube"}, {"bbox_2d": [0.5, 0.5, 1, 1], "depth": 1}]'
    t = parse_trace(make(areas=(area,), texts=("two cubes",)))
    assert len(t.steps[0].regions) == 2 and t.steps[0].regions[1].depth == 1.0


def test_whitespace_allowed_around_and_between_blocks():
    assert is_valid_trace(make(pre=" \n", post="\n\t ", mid="\n"))


@pytest.mark.parametrize(
    "text, rule",
    [
        (make(pre="Sure! "), "outside"),
        (make(post=" thanks"), "outside"),
        (make(post="<answer>C</answer>"), "outside"),
        (make(mid=" x "), "structure"),
        ("<think></think><answer>B</answer>", "structure"),
        (f"<think><text>t</text><area>[{R}]</area></think><answer>B</answer>", "structure"),
        (f"<think><area>[{R}]</area></think><answer>B</answer>", "structure"),
        (f"<think><area>[{R}]</area><text>t</text></think>", "structure"),
        (f"<area>[{R}]</area><text>t</text><answer>B</answer>", "structure"),
        ("", "structure"),
        ("plain text, no tags", "outside"),
        (make(texts=("The <b>whole</b> scene.", "x")), "tag"),
        (f"<think><area>[{R}]</area><text>t</text><foo></foo></think><answer>B</answer>", "tag"),
        (make(answer="<b>B</b>"), "tag"),
        (make(areas=("[]", f"[{R}]")), "json"),
        (make(areas=("not json", f"[{R}]")), "json"),
        (make(areas=(R, f"[{R}]")), "json"),
        (make(areas=('[{"bbox_2d": [0, 0, 1, 1], "depth": NaN}]', f"[{R}]")), "json"),
        (make(areas=("[1, 2]", f"[{R}]")), "region"),
        (make(areas=('[{"bbox_2d": [0, 0, 1, 1]}]', f"[{R}]")), "region"),
        (make(areas=('[{"depth": 0.5}]', f"[{R}]")), "region"),
        (make(areas=('[{"bbox_2d": [0, 0, 1], "depth": 0.5}]', f"[{R}]")), "region"),
        (make(areas=('[{"bbox_2d": [0, 0, 1, "1"], "depth": 0.5}]', f"[{R}]")), "region"),
        (make(areas=('[{"bbox_2d": [0, 0, 1, 1], "depth": [0.5]}]', f"[{R}]")), "region"),
        (make(areas=('[{"bbox_2d": [0, 0, 1, true], "depth": 0.5}]', f"[{R}]")), "region"),
        (make(areas=('[{"bbox_2d": [0, 0, 1, 1], "depth": 1.5}]', f"[{R}]")), "range"),
        (make(areas=('[{"bbox_2d": [-0.1, 0, 1, 1], "depth": 0.5}]', f"[{R}]")), "range"),
        (make(areas=('[{"bbox_2d": [0.5, 0, 0.5, 1], "depth": 0.5}]', f"[{R}]")), "range"),
        (make(areas=('[{"bbox_2d": [0, 0.6, 1, 0.2], "depth": 0.5}]', f"[{R}]")), "range"),
        (make(areas=('[{"bbox_2d": [0, 0, 1, 1], "depth": 1e999}]', f"[{R}]")), "range"),
        (make(areas=('[{"bbox_2d": [0, 0, 1, 1], "depth": 0.1234}]', f"[{R}]")), "decimals"),
        (make(areas=('[{"bbox_2d": [0.0001, 0, 1, 1], "depth": 0.5}]', f"[{R}]")), "decimals"),
        (make(texts=("   ", "x")), "empty"),
        (make(answer=" \n "), "empty"),
    ],
)
def test_each_rule_is_named(text, rule):
    assert rule_of(text) == rule


def test_decimals_judged_on_parsed_value():
    assert is_valid_trace(make(areas=('[{"bbox_2d": [0.10, 0.200, 0.3000, 1.0], "depth": 5e-1}]',), texts=("x",)))


def test_offset_points_at_the_problem():
    text = make(texts=("ok", "bad <i>tag</i>"))
    with pytest.raises(TraceFormatError) as ei:
        parse_trace(text)
    assert text[ei.value.offset :].startswith("<i>")
    text = make(pre="oops ")
    with pytest.raises(TraceFormatError) as ei:
        parse_trace(text)
    assert ei.value.offset == 0


def test_angle_brackets_that_are_not_tags_are_text():
    t = parse_trace(make(texts=("a < b and c > d", "<not a tag> x </ y>"), answer="1 < 2"))
    assert t.steps[0].text == "a < b and c > d" and t.answer == "1 < 2"


def test_non_string_is_a_format_error():
    with pytest.raises(TraceFormatError):
        parse_trace(None)  # type: ignore[arg-type]
    assert not is_valid_trace(123)  # type: ignore[arg-type]


def test_render_is_canonical():
    t = Trace(
        (Step((Region((0.0, 0.0, 1.0, 1.0), 0.5),), "scene"), Step((Region((0.1, 0.25, 0.5, 0.75), 0.125),), "x")), "A"
    )
    text = render(t)
    assert '"bbox_2d": [0, 0, 1, 1], "depth": 0.5' in text
    assert '"bbox_2d": [0.1, 0.25, 0.5, 0.75], "depth": 0.125' in text
    assert text.startswith("<think>\n<area>") and text.endswith("</think>\n<answer>A</answer>")
    assert t.render() == text


def test_format_number():
    assert format_number(0.0005) in ("0", "0.001")  # rounding of a half-thousandth follows float formatting
    assert format_number(0.9999) == "1"
    assert format_number(-0.0) == "0"


@given(traces)
def test_round_trip(t):
    assert parse_trace(render(t)) == t


@given(traces)
def test_lenient_equals_strict_on_valid(t):
    lt = read_lenient(render(t))
    assert lt.valid and lt.answer == t.answer and lt.areas == t.areas and lt.n_area_blocks == len(t.steps)


def test_lenient_keeps_areas_that_parse():
    text = (
        f'junk <area>[{FULL}]</area> <area>not json</area> <area>[{{"bbox_2d": [0.2, 0.2, 0.1, 0.5], "depth": 0.4}}]'
        f'</area><area>[{R}, {{"bbox_2d": "x"}}]</area> <answer>first</answer><answer> last </answer><answer></answer>'
    )
    lt = read_lenient(text)
    assert not lt.valid
    assert lt.n_area_blocks == 4
    assert len(lt.areas) == 3  # the non-JSON area is skipped; the inverted box is kept as written
    assert lt.areas[1][0].box == (0.2, 0.2, 0.1, 0.5)
    assert lt.areas[2] == (Region((0.1, 0.2, 0.3, 0.4), 0.5),)
    assert lt.answer == "last"
    assert len(lt.regions) == 3


def test_lenient_unclosed_and_nested():
    lt = read_lenient(f"<area><area>[{R}]</area><answer>yes")
    assert len(lt.areas) == 1 and lt.answer is None
    lt = read_lenient(f"<area>[{R}]<text>x</text></area>")
    assert lt.areas == ()


def test_lenient_tolerates_more_decimals_and_out_of_range():
    lt = read_lenient('<area>[{"bbox_2d": [0.12345, -0.5, 1.5, 1], "depth": 2}]</area>')
    assert lt.areas[0][0] == Region((0.12345, -0.5, 1.5, 1.0), 2.0)


@given(st.text(max_size=300))
def test_lenient_never_raises(s):
    lt = read_lenient(s)
    assert isinstance(lt, LenientTrace)
    assert lt.valid == is_valid_trace(s)


def test_lenient_non_string():
    assert read_lenient(None) == LenientTrace((), None, False, 0)


WS = st.sampled_from(["", " ", "\n", "\t", "\u00a0", "\u2003", "\u3000", "x", "\x1c", "\x85"])


@given(traces, st.lists(WS, min_size=12, max_size=12))
def test_fast_path_agrees_with_tag_walker(t, seps):
    from sifthinker.trace import _parse_walk

    assume(all("\n" not in s.text for s in t.steps) and "\n" not in t.answer)
    # put arbitrary (Unicode) whitespace — or a stray letter — into the gaps between blocks
    parts = render(t).split("\n")
    text = "".join(p + seps[i % len(seps)] for i, p in enumerate(parts))
    try:
        walked = _parse_walk(text)
    except TraceFormatError:
        walked = None
    try:
        parsed = parse_trace(text)
    except TraceFormatError:
        parsed = None
    assert parsed == walked
    assert (parsed is None) == any(s == "x" for s in seps[: len(parts)])

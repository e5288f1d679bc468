"""Every reader of model text runs in time linear in the text (issue 13, finding 1).

For each adversarial family an input of n and of 8n bytes goes through every public function that reads a
completion; the best of 3 runs of the big one must cost under 24× the small one (linear ≈ 8×, quadratic ≈ 64×,
the cubic multiple-choice lead pattern of old took seconds at 2 kB). A few milliseconds of slack absorb a loaded
machine. The parser caches are cleared before every run so the parse itself is timed.
"""

from __future__ import annotations

import random
import time

import numpy as np
import pytest

from sifthinker import answers as A
from sifthinker import boxes as B
from sifthinker import boxes_union
from sifthinker import trace as T
from sifthinker.depth import DepthMap
from sifthinker.eval.scoring import score_item
from sifthinker.eval.types import EvalItem
from sifthinker.rewards import scores as S

N = 6_000  # bytes of the small input; the big one is 8N
SIZES = {"many_precise_regions": 12_000}  # ~120 and ~960 boxes: both above the slab sweep's range
RATIO = 24.0
SLACK_S = 0.003

REGION = '{"bbox_2d": [0.1, 0.1, 0.4, 0.4], "depth": 0.3}'


def _rep(unit: str, n: int) -> str:
    return unit * max(1, n // len(unit))


def _distinct_regions(n: int, decimals: int | None = 3) -> str:
    """About n bytes of distinct regions; full-precision coordinates (``decimals=None``) give as many distinct
    x and y values as boxes, the worst case of the union area (3 decimals allow at most 1,001 of each)."""
    rng = random.Random(n)
    out: list[str] = []
    size = 0
    while size < n:
        x1, y1 = rng.uniform(0, 0.5), rng.uniform(0, 0.5)
        v = [x1, y1, x1 + rng.uniform(0.01, 0.5), y1 + rng.uniform(0.01, 0.5), rng.random()]
        if decimals is not None:
            v = [round(c, decimals) for c in v]
        out.append(f'{{"bbox_2d": [{v[0]!r}, {v[1]!r}, {v[2]!r}, {v[3]!r}], "depth": {v[4]!r}}}')
        size += len(out[-1]) + 1
    return ",".join(out)


def _trace(inner: str, answer: str = "B") -> str:
    return f"<think>{inner}</think><answer>{answer}</answer>"


FAMILIES = {
    "answer_spaces_digit": lambda n: "<answer>answer" + " " * n + "1</answer>",  # the cubic case of issue 13
    "answer_then_spaces_unclosed": lambda n: "<answer>" + " " * n + "1",
    "answer_label_spaces": lambda n: "<answer>the answer is" + " " * n + "(B</answer>",
    "paren_space_runs": lambda n: "<answer>" + _rep("(" + " " * 30, n) + "</answer>",
    "spaces_outside": lambda n: _trace(f"<area>[{REGION}]</area><text>x</text>") + " " * n + "x",
    "unicode_whitespace": lambda n: "<answer>" + _rep(" \t\n\u3000", n) + "B</answer>",
    "digits": lambda n: "<answer>" + "1" * n + "a</answer>",
    "digit_groups": lambda n: "<answer>" + _rep("1,111", n) + ".5e</answer>",
    "many_numbers": lambda n: "<answer>" + _rep("1 2.5 ", n) + "</answer>",
    "long_fraction": lambda n: (
        '<area>[{"bbox_2d": [0, 0, 0.' + "1" * n + ', 1], "depth": 0.5}]</area><answer>0.' + "1" * n + "</answer>"
    ),
    "brackets": lambda n: "<think><area>" + "[" * n + "</area><text>x</text></think><answer>1</answer>",
    "braces": lambda n: "<think><area>" + "{" * n + "</area><text>x</text></think><answer>1</answer>",
    "less_than_run": lambda n: "<answer>" + "<" * n + "</answer>",
    "unclosed_tag_names": lambda n: "<answer>" + _rep("<" + "a" * 40, n) + "</answer>",
    "repeated_area_tags": lambda n: _rep("<area>", n),
    "repeated_empty_areas": lambda n: _rep("<area></area>", n),
    "repeated_answer_tags": lambda n: _rep("<answer>", n) + "B</answer>",
    "nested_tags": lambda n: _trace(_rep("<area><text>", n)),
    "repeated_valid_areas": lambda n: _trace(_rep(f"<area>[{REGION}]</area><text>t</text>", n)),
    "repeated_areas_unclosed": lambda n: _rep(f"<area>[{REGION}]</area><text>t</text>", n) + "<answer>B",
    "many_equal_regions": lambda n: _trace("<area>[" + ",".join([REGION] * (n // 50)) + "]</area><text>t</text>"),
    "many_distinct_regions": lambda n: _trace(f"<area>[{_distinct_regions(n)}]</area><text>t</text>"),
    "many_precise_regions": lambda n: _trace(f"<area>[{_distinct_regions(n, None)}]</area><text>t</text>"),
    "labels_everywhere": lambda n: "<answer>" + _rep("(A) B. C ", n) + "</answer>",
    "yes_no_words": lambda n: "<answer>" + _rep("yes no ", n) + "</answer>",
}

GT = [(0.1, 0.1, 0.4, 0.4), (0.6, 0.6, 0.9, 0.9)]
DEPTH = DepthMap(np.linspace(0, 1, 64 * 64, dtype=np.float32).reshape(64, 64))
DEPTH_ARRAY = np.linspace(0, 1, 48 * 48, dtype=np.float32).reshape(48, 48)
CHOICES = ["red", "blue", "green"]
MC_ITEM = EvalItem(id="1", benchmark="t", images=[], question="?", choices=CHOICES, answer="B", answer_type="mc")
NUM_ITEM = EvalItem(id="2", benchmark="t", images=[], question="?", answer="3", answer_type="number", gt_boxes=GT)

READERS = {
    "parse_trace": T.is_valid_trace,
    "read_lenient": T.read_lenient,
    "answer_match_mc": lambda s: A.answer_match(s, "B", choices=CHOICES),
    "answer_match_yesno": lambda s: A.answer_match(s, "yes"),
    "answer_match_number": lambda s: A.answer_match(s, "3"),
    "answer_match_text": lambda s: A.answer_match(s, "red cube"),
    "parse_choice": lambda s: A.parse_choice(s, CHOICES),
    "parse_yes_no": A.parse_yes_no,
    "parse_number": A.parse_number,
    "format_score": S.format_score,
    "answer_score": lambda s: S.answer_score(s, "B", choices=CHOICES),
    "box_score": lambda s: S.box_score(s, GT),
    "box_score_one_gt": lambda s: S.box_score(s, GT[:1]),
    "depth_score": lambda s: S.depth_score(s, DEPTH),
    "depth_score_array": lambda s: S.depth_score(s, DEPTH_ARRAY),
    "depth_grounded_score": lambda s: S.depth_grounded_score(s, DEPTH, GT),
    "search_score": lambda s: S.search_score(s, GT),
    "score_item_mc": lambda s: score_item(MC_ITEM, s),
    "score_item_number": lambda s: score_item(NUM_ITEM, s),
}


def _clear_caches() -> None:
    for fn in (T._parse_small, T._parse_big, T._read_lenient_small, T._read_lenient_big):
        fn.cache_clear()


def best_of_3(fn, s: str) -> float:
    best = float("inf")
    for _ in range(3):
        _clear_caches()
        t0 = time.perf_counter()
        fn(s)
        best = min(best, time.perf_counter() - t0)
    return best


def growth(fn, make, n: int = N) -> tuple[float, float]:
    small, big = make(n), make(8 * n)
    fn(small)  # warm imports (scipy is imported lazily)
    return best_of_3(fn, small), best_of_3(fn, big)


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_every_reader_is_linear(family):
    make, n = FAMILIES[family], SIZES.get(family, N)
    slow = []
    for name, fn in READERS.items():
        t1, t8 = growth(fn, make, n)
        if t8 > RATIO * t1 + SLACK_S:
            t1, t8 = growth(fn, make, n)  # once more before blaming a loaded machine on the code
            if t8 > RATIO * t1 + SLACK_S:
                slow.append(f"{name}: {t1 * 1e3:.2f} ms at {n:,} B -> {t8 * 1e3:.2f} ms at {8 * n:,} B")
    assert not slow, f"super-linear on family {family!r}: " + "; ".join(slow)


def test_issue_13_multiple_choice_case_is_fast():
    # "answer", 800 spaces and a digit inside <answer>: 907 bytes took ~2 s with the cubic lead pattern.
    text = "<answer>answer" + " " * 800 + "1</answer>"
    t = best_of_3(lambda s: S.answer_score(s, "B", choices=CHOICES), text)
    assert t < 0.005
    assert S.answer_score(text, "B", choices=CHOICES) == 0.0


def test_union_area_sweep_equals_slab_sweep():
    # The O(n log n) sweep that serves large box sets is exact: it agrees with the vectorised slab sweep.
    rng = np.random.default_rng(7)
    for n in (97, 150, 400):
        lo = rng.random((n, 2)) * 0.7
        boxes = [
            (x, y, x + w, y + h) for (x, y), (w, h) in zip(lo.tolist(), (rng.random((n, 2)) * 0.3 + 1e-3).tolist())
        ]
        boxes += boxes[: n // 4]  # duplicates
        assert B.union_area(boxes) == pytest.approx(boxes_union._union_area_array(np.asarray(boxes)), abs=1e-12)
    grid = [(i / 10, 0.0, (i + 1) / 10, 1.0) for i in range(10)] * 20  # 200 boxes tiling the image, each 20 times
    assert B.union_area(grid) == pytest.approx(1.0, abs=1e-12)

"""What a reward-hacking policy finds, against every reward: a table-driven test.

Each hack is one move a policy can learn — spam boxes, end on the full image, add empty or repeated areas, state one
depth everywhere, name every option, write the answer outside its tags, leave the texts empty — applied to an honest
completion (one that gets the answer right, and one that looks near the evidence and gets it wrong). A hack must never
earn more than the honest completion it was made from, under any reward, official or ours. Where a reward does pay a
degenerate output, the cell is listed in ``KNOWN_HOLES`` and the test pins it: if the hole closes, the test says so.
docs/degenerate-policies.md shows the same table with its numbers.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import pytest

from sifthinker.depth import box_mean
from sifthinker.rewards import scores as S

# ------------------------------------------------------------------------------------------------- the scene

H = W = 100
EVIDENCE = (0.2, 0.2, 0.4, 0.5)  # the cube the question is about (near, depth 0.3)
DISTRACTOR = (0.6, 0.5, 0.8, 0.8)  # the ball (depth 0.5)
NEAR_MISS = (0.25, 0.3, 0.45, 0.6)  # an honest but imprecise look at the cube (IoU ≈ 0.4)
FULL = (0.0, 0.0, 1.0, 1.0)
CHOICES = ["the cube", "the ball", "the cone"]
ANSWER = "A"


def depth_map() -> np.ndarray:
    d = np.full((H, W), 0.9, dtype=np.float32)  # far background
    d[20:50, 20:40] = 0.3
    d[50:80, 60:80] = 0.5
    return d


DEPTH = depth_map()


def true_depth(box) -> float:
    return round(float(box_mean(DEPTH, box)), 2)


# ------------------------------------------------------------------------------------------ completions as data


@dataclass(frozen=True)
class Completion:
    steps: tuple[tuple[tuple[tuple[tuple[float, ...], float], ...], str], ...]  # ((regions, text), ...)
    answer: str
    answer_in_tags: bool = True

    def render(self) -> str:
        body = ""
        for regions, text in self.steps:
            area = json.dumps([{"bbox_2d": [round(v, 2) for v in b], "depth": d} for b, d in regions])
            body += f"<area>{area}</area><text>{text}</text>"
        tail = f"<answer>{self.answer}</answer>" if self.answer_in_tags else f" The answer is {self.answer}."
        return f"<think>{body}</think>{tail}"


def honest(*boxes_and_texts, answer: str) -> Completion:
    return Completion(tuple((((b, true_depth(b)),), t) for b, t in boxes_and_texts), answer)


HONEST = {
    "honest right": honest(
        (FULL, "The whole scene."), (DISTRACTOR, "This is the ball."), (EVIDENCE, "The cube, nearer."), answer="A"
    ),
    "honest direct": honest((FULL, "The whole scene."), (EVIDENCE, "The cube, nearer."), answer="A"),
    "honest wrong": honest(
        (FULL, "The whole scene."), (DISTRACTOR, "This is the ball."), (NEAR_MISS, "Around the cube."), answer="B"
    ),
}


def _grid(n: int = 7) -> tuple:
    step = 1.0 / n
    return tuple(
        ((round(i * step, 2), round(j * step, 2), round((i + 1) * step, 2), round((j + 1) * step, 2)),)
        for i in range(n)
        for j in range(n)
    )


def box_spam(c: Completion) -> Completion:  # dozens of boxes added to the last area, each with its true depth
    regions, text = c.steps[-1]
    spam = tuple((b, true_depth(b)) for (b,) in _grid())
    return replace(c, steps=(*c.steps[:-1], (regions + spam, text)))


def full_image_last(c: Completion) -> Completion:
    return replace(c, steps=(*c.steps, (((FULL, true_depth(FULL)),), "The whole scene again.")))


def empty_area(c: Completion) -> Completion:
    return replace(c, steps=(*c.steps, ((), "Nothing.")))


def repeated_areas(c: Completion) -> Completion:
    return replace(c, steps=(*c.steps, *([c.steps[-1]] * 5)))


def constant_depth(c: Completion, value: float = 0.9) -> Completion:
    return replace(c, steps=tuple((tuple((b, value) for b, _ in regions), t) for regions, t in c.steps))


def every_option(c: Completion) -> Completion:
    return replace(c, answer="A B C")


def answer_outside_tags(c: Completion) -> Completion:
    return replace(c, answer_in_tags=False)


def no_text(c: Completion) -> Completion:
    return replace(c, steps=tuple((regions, "") for regions, _ in c.steps))


def dot_text(c: Completion) -> Completion:  # a valid trace whose texts say nothing
    return replace(c, steps=tuple((regions, ".") for regions, _ in c.steps))


HACKS: dict[str, Callable[[Completion], Completion]] = {
    "box spam": box_spam,
    "full image as last area": full_image_last,
    "empty area": empty_area,
    "repeated areas": repeated_areas,
    "constant depth": constant_depth,
    "every option": every_option,
    "answer outside tags": answer_outside_tags,
    "no text": no_text,
    "text says nothing": dot_text,
}

# Degenerate completions built from nothing (no honest chain under them): each must earn at most what the honest
# wrong completion earns, under each of our rewards.
FROM_SCRATCH: dict[str, Completion] = {
    "only box spam": Completion(((tuple((b, true_depth(b)) for (b,) in _grid()), "Everything."),), "B"),
    "only the full image": honest((FULL, "The whole scene."), answer="B"),
    "only empty areas": Completion(((((), "Nothing.")),) * 3, "B"),
    "background boxes at a far depth": Completion(
        ((((FULL, 0.9),), "The scene."), ((((0.0, 0.0, 1.0, 0.15), 0.9), ((0.0, 0.85, 1.0, 1.0), 0.9)), "Here.")),
        "B",
    ),
    "full image, every option": honest((FULL, "The whole scene."), answer="A B C"),
    "full image, answer outside tags": replace(honest((FULL, "The whole scene."), answer="A"), answer_in_tags=False),
}

# ---------------------------------------------------------------------------------------------------- rewards

REWARDS: dict[str, Callable[[str], float]] = {
    "format": S.format_score,
    "answer": lambda t: S.answer_score(t, ANSWER, choices=CHOICES, answer_type="mc"),
    "box": lambda t: S.box_score(t, [EVIDENCE]),
    "box_plain": lambda t: S.box_score_plain(t, [EVIDENCE]),
    "search": lambda t: S.search_score(t, [EVIDENCE]),
    "depth (official)": lambda t: S.depth_score(t, DEPTH),
    "depth_grounded (ours)": lambda t: S.depth_grounded_score(t, DEPTH, [EVIDENCE]),
}
OURS = ("format", "answer", "box", "depth_grounded (ours)")  # the tiny recipe's four rewards
OFFICIAL = ("format", "answer", "box", "depth (official)")  # the paper's four

# (base, hack, reward) cells where the hack pays MORE than the honest completion it came from. None today: the one
# hole of this kind is the official depth reward paying a chain built from scratch (pinned below).
KNOWN_HOLES: set[tuple[str, str, str]] = set()


def scores(text: str) -> dict[str, float]:
    return {name: fn(text) for name, fn in REWARDS.items()}


def total(s: dict[str, float], names) -> float:
    return sum(s[n] for n in names)


CELLS = [(base, hack, reward) for base in HONEST for hack in HACKS for reward in REWARDS]


@pytest.mark.parametrize(("base", "hack", "reward"), CELLS)
def test_a_hack_never_earns_more_than_the_honest_completion(base, hack, reward):
    honest_c = HONEST[base]
    hacked = HACKS[hack](honest_c)
    assert hacked.render() != honest_c.render()
    before, after = REWARDS[reward](honest_c.render()), REWARDS[reward](hacked.render())
    if (base, hack, reward) in KNOWN_HOLES:
        assert after > before, f"the known hole {(base, hack, reward)} is closed: update KNOWN_HOLES and the docs"
    else:
        assert after <= before + 1e-9, f"{hack!r} on the {base!r} completion raised {reward}: {before} → {after}"


@pytest.mark.parametrize("base", list(HONEST))
@pytest.mark.parametrize("hack", list(HACKS))
@pytest.mark.parametrize("recipe", [OURS, OFFICIAL], ids=["ours", "official"])
def test_no_hack_raises_a_recipe_total(base, hack, recipe):
    honest_c = HONEST[base]
    before = total(scores(honest_c.render()), recipe)
    after = total(scores(HACKS[hack](honest_c).render()), recipe)
    assert after <= before + 1e-9


@pytest.mark.parametrize("name", list(FROM_SCRATCH))
@pytest.mark.parametrize("reward", OURS)
def test_a_degenerate_completion_earns_at_most_the_honest_wrong_one_under_our_rewards(name, reward):
    wrong = REWARDS[reward](HONEST["honest wrong"].render())
    assert REWARDS[reward](FROM_SCRATCH[name].render()) <= wrong + 1e-9


@pytest.mark.parametrize("name", list(FROM_SCRATCH))
def test_a_degenerate_completion_earns_less_than_the_honest_wrong_one_in_our_total(name):
    wrong = total(scores(HONEST["honest wrong"].render()), OURS)
    assert total(scores(FROM_SCRATCH[name].render()), OURS) < wrong


def test_the_honest_completions_are_what_they_claim():
    right, wrong = (scores(HONEST[k].render()) for k in ("honest right", "honest wrong"))
    assert right["format"] == wrong["format"] == 1.0
    assert right["answer"] == 1.0 and wrong["answer"] == 0.0
    assert right["box"] == 2.0 and 0.0 < wrong["box"] < right["box"]  # full → distractor → evidence: the bonus
    assert right["depth_grounded (ours)"] == 1.0
    assert total(right, OURS) > total(wrong, OURS)
    assert REWARDS["search"](HONEST["honest direct"].render()) == 1.0  # its IoU rises: the search reward pays


def test_the_hacks_that_must_break_the_format_do():
    for hack in ("empty area", "answer outside tags", "no text"):
        for base in HONEST.values():
            assert S.format_score(HACKS[hack](base).render()) == 0.0, hack


def test_every_option_and_outside_tags_never_pay_the_right_answer():
    right = HONEST["honest right"]
    for hack in ("every option", "answer outside tags"):
        assert REWARDS["answer"](HACKS[hack](right).render()) == 0.0


def test_box_spam_dilutes_the_box_and_grounded_rewards():
    right = HONEST["honest right"].render()
    spam = box_spam(HONEST["honest right"]).render()
    assert S.box_score(spam, [EVIDENCE]) < 0.75 * S.box_score(right, [EVIDENCE])
    assert S.depth_grounded_score(spam, DEPTH, [EVIDENCE]) < 0.1


# ---------------------------------------------------------------------------- the holes, pinned down by test


def test_hole_official_depth_pays_full_marks_for_background_boxes_at_a_far_depth():
    """Built from scratch (not from an honest chain): boxes that avoid the evidence, all at the background's depth.
    The official depth reward checks each box against its own box-mean, so it pays in full; ours pays nothing."""
    c = FROM_SCRATCH["background boxes at a far depth"]
    s = scores(c.render())
    assert s["depth (official)"] == 1.0
    assert s["depth_grounded (ours)"] == 0.0
    assert s["format"] == 1.0
    # under the official recipe this empty chain out-earns the honest wrong completion; under ours it does not
    wrong = scores(HONEST["honest wrong"].render())
    assert total(s, OURS) < total(wrong, OURS)
    # the same hole under every degenerate chain that states each box's own mean depth: full marks
    for name, comp in FROM_SCRATCH.items():
        if name != "only empty areas":
            assert S.depth_score(comp.render(), DEPTH) == 1.0, name
            assert S.depth_grounded_score(comp.render(), DEPTH, [EVIDENCE]) == 0.0, name


def test_hole_no_reward_reads_the_text():
    """The texts are never rewarded: a valid chain whose texts say nothing scores exactly as its boxes deserve."""
    for base in HONEST.values():
        assert scores(dot_text(base).render()) == scores(base.render())


def markdown_table() -> str:
    """The table of docs/degenerate-policies.md: ``python tests/test_rewards_degenerate.py``."""
    names = list(REWARDS)
    lines = ["| completion | " + " | ".join(names) + " | ours | official |", "|---" * (len(names) + 3) + "|"]
    for base, c in HONEST.items():
        for label, comp in [(base, c)] + [(f"{base} + {h}", fn(c)) for h, fn in HACKS.items()]:
            s = scores(comp.render())
            cells = [f"{s[n]:.2f}" for n in names] + [f"{total(s, OURS):.2f}", f"{total(s, OFFICIAL):.2f}"]
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
    for label, comp in FROM_SCRATCH.items():
        s = scores(comp.render())
        cells = [f"{s[n]:.2f}" for n in names] + [f"{total(s, OURS):.2f}", f"{total(s, OFFICIAL):.2f}"]
        lines.append(f"| {label} (from scratch) | " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(markdown_table())

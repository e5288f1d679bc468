"""Judge-free answer checking: multiple choice, yes/no, numbers and short free text, each scored in [0, 1].

The same checker serves the answer reward (RL) and evaluation, and it never inflates: a missing answer scores 0, an
answer naming two options scores 0, and "any text containing the right letter" is not a match.

>>> answer_match("(B)", "B", choices=["red", "blue"])
1.0
>>> answer_match("B) blue", "blue", choices=["red", "blue"])
1.0
>>> answer_match("A or B", "B", choices=["red", "blue"])
0.0
>>> answer_match("Yes, it is.", "yes")
1.0
>>> answer_match("three", "3")
1.0
>>> answer_match(None, "3")
0.0
"""

from __future__ import annotations

import math
import re
import string
import unicodedata
from collections.abc import Sequence

__all__ = [
    "ANSWER_TYPES",
    "infer_answer_type",
    "answer_match",
    "parse_choice",
    "parse_number",
    "parse_yes_no",
    "normalize_text",
]

ANSWER_TYPES = ("mc", "yesno", "number", "text")
LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"

_NUMBER_WORDS = {
    "zero": 0, "none": 0, "no": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15,
    "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19, "twenty": 20,
}  # fmt: skip
_NUM_RE = re.compile(r"(?<![\w.])[-+]?(?:\d+(?:,\d{3})*(?:\.\d+)?|\.\d+)(?:[eE][-+]?\d+)?(?![\w])")
_WORD_RE = re.compile(r"[a-z]+")
_ARTICLES = {"a", "an", "the"}
_PUNCT_TABLE = str.maketrans({c: " " for c in string.punctuation})
_YES = {"yes", "yeah", "yep", "true", "correct"}
_NO = {"no", "nope", "false", "incorrect"}


def normalize_text(s: str) -> str:
    """Lower-case, NFKC, punctuation → spaces, articles dropped, whitespace collapsed.

    >>> normalize_text("  The Red-Cube. ")
    'red cube'
    """
    s = unicodedata.normalize("NFKC", s).lower().translate(_PUNCT_TABLE)
    return " ".join(w for w in s.split() if w not in _ARTICLES)


# ---------------------------------------------------------------------------------------------- multiple choice

# "B", "(B)", "B.", "B)", "B:", "[B]", "B) text", "B. text", "Option B", "Answer: B", "The answer is (B)".
# Every whitespace run is matched possessively (``\s*+``), once: adjacent backtracking ``\s*`` made a failed match
# cubic in the length of a run of spaces (an answer of "answer", 800 spaces and a digit took 2 s).
_MC_LEAD = re.compile(
    r"^\s*+(?:(?:the\s++)?(?:final\s++)?(?:answer|option|choice)(?:\s++is)?\s*+[:\-]?\s*+)?"
    r"[\(\[]?\s*+([A-Za-z])(?:\s*+[\)\]])?(?:[.:)]|(?=\s)|$)",
    re.IGNORECASE,
)


def _strip_option_label(option: str, i: int) -> str:
    """Option texts sometimes carry their own label ("(A) red", "A. red"): drop it for matching."""
    m = re.match(rf"^\s*[\(\[]?{LETTERS[i]}[\)\].:]\s*", option)
    return option[m.end() :] if m else option


def parse_choice(pred: str, choices: Sequence[str]) -> int | None:
    """Index of the option a prediction names, or None if it names none or more than one.

    >>> parse_choice("The answer is (C).", ["x", "y", "z"])
    2
    >>> parse_choice("y", ["x", "y", "z"])
    1
    >>> parse_choice("A, B", ["x", "y"]) is None
    True
    """
    if not isinstance(pred, str) or not choices:
        return None
    n = len(choices)
    texts = [normalize_text(_strip_option_label(c, i)) for i, c in enumerate(choices)]
    norm = normalize_text(pred)
    # 1. the whole answer is one option's text
    matches = [i for i, t in enumerate(texts) if t and norm == t]
    if len(matches) == 1:
        return matches[0]
    # 2. a leading letter label, optionally followed by that option's text
    m = _MC_LEAD.match(pred)
    if m:
        letter = m.group(1).upper()
        idx = LETTERS.find(letter)
        rest = normalize_text(pred[m.end() :])
        is_word = (
            pred[m.start(1) : m.end(1)].lower() == "a"
            and m.end() < len(pred)
            and not re.match(r"[\s]*[\)\].:]", pred[m.end(1) :])
        )
        if 0 <= idx < n and not is_word:
            if not rest or rest == texts[idx] or (texts[idx] and rest.startswith(texts[idx])):
                # a second label later ("A or B") makes the answer ambiguous
                others = _labels_in(pred[m.end() :], n) - {idx}
                if not others:
                    return idx
            return None
    # 3. exactly one option's text appears as a whole phrase, and no letter label is given
    if not _labels_in(pred, n):
        hits = [i for i, t in enumerate(texts) if t and re.search(rf"(?<!\w){re.escape(t)}(?!\w)", norm)]
        # discard options contained in a longer matching option ("red" vs "dark red")
        hits = [i for i in hits if not any(j != i and texts[i] in texts[j] for j in hits)]
        if len(hits) == 1:
            return hits[0]
    return None


def _labels_in(s: str, n: int) -> set[int]:
    """Option labels written as "(B)", "[B]", "B)" or "B." in ``s``, for the first ``n`` letters."""
    found = set()
    for m in re.finditer(
        r"(?:[\(\[]\s*([A-Z])\s*[\)\]])|(?:(?<![\w])([A-Z])[.)](?!\w))|(?:(?<![\w])([A-Z])(?![\w']))", s
    ):
        letter = m.group(1) or m.group(2) or m.group(3)
        idx = LETTERS.find(letter)
        if letter == "A" and m.group(3):  # a bare capital "A" is usually the article
            continue
        if 0 <= idx < n:
            found.add(idx)
    return found


def _gt_choice(gt: str, choices: Sequence[str]) -> int | None:
    g = gt.strip()
    m = re.fullmatch(r"[\(\[]?\s*([A-Za-z])\s*[\)\].:]?", g)
    if m and (idx := LETTERS.index(m.group(1).upper())) < len(choices):
        return idx
    return parse_choice(g, choices)


# ------------------------------------------------------------------------------------------------ yes / no, numbers


def parse_yes_no(pred: str) -> str | None:
    """``"yes"``/``"no"`` from the first word of a prediction, or None.

    >>> parse_yes_no("No, there is not."), parse_yes_no("maybe")
    ('no', None)
    """
    if not isinstance(pred, str):
        return None
    words = _WORD_RE.findall(pred.lower())
    if not words:
        return None
    if words[0] in _YES:
        return None if any(w in _NO for w in words[1:2]) else "yes"
    if words[0] in _NO:
        return "no"
    return None


def parse_number(pred: str) -> float | None:
    """The number a prediction states (digits or an English word up to twenty), or None when it states none or
    several different ones.

    >>> parse_number("There are 3 cubes."), parse_number("two"), parse_number("2 or 3")
    (3.0, 2.0, None)
    """
    if not isinstance(pred, str):
        return None
    nums = set()
    for m in _NUM_RE.finditer(pred):
        try:
            v = float(m.group(0).replace(",", ""))
        except (ValueError, OverflowError):
            continue
        if math.isfinite(v):
            nums.add(v)
    if not nums:
        words = _WORD_RE.findall(pred.lower())
        nums = {float(_NUMBER_WORDS[w]) for w in words if w in _NUMBER_WORDS and w not in ("no", "none")}
        if not nums and words and words[0] in ("no", "none") and len(words) <= 3:
            nums = {0.0}
    return nums.pop() if len(nums) == 1 else None


# --------------------------------------------------------------------------------------------------- dispatcher


def infer_answer_type(answer: str, choices: Sequence[str] | None = None) -> str:
    """``mc`` when there are choices, ``yesno`` for a yes/no ground truth, ``number`` for a numeric one, else ``text``.

    >>> infer_answer_type("B", ["x", "y"]), infer_answer_type("No"), infer_answer_type("12"), infer_answer_type("red")
    ('mc', 'yesno', 'number', 'text')
    """
    if choices:
        return "mc"
    a = str(answer).strip().lower().rstrip(".")
    if a in ("yes", "no"):
        return "yesno"
    try:
        float(a.replace(",", ""))
        return "number"
    except ValueError:
        pass
    if a in _NUMBER_WORDS and a not in ("no", "none"):
        return "number"
    return "text"


def answer_match(
    pred: str | None,
    gt: str | int | float,
    *,
    choices: Sequence[str] | None = None,
    answer_type: str | None = None,
    abs_tol: float = 0.0,
    rel_tol: float = 0.0,
) -> float:
    """Score a predicted answer against the ground truth: 1.0 for a match, 0.0 otherwise (never raises on ``pred``).

    Args:
        pred: the model's answer (the content of ``<answer>``); None or empty scores 0.
        gt: the ground truth: a letter or option text for ``mc``, yes/no, a number, or short text.
        choices: the option texts of a multiple-choice item (letters A, B, … in order).
        answer_type: one of ``mc``, ``yesno``, ``number``, ``text``; inferred from ``gt``/``choices`` when None.
        abs_tol, rel_tol: a number matches when ``|pred − gt| <= max(abs_tol, rel_tol·|gt|)`` (exact by default).

    Raises:
        ValueError: for a bad ground truth or configuration (unknown type, a GT letter outside the options, …).
    """
    if answer_type is None:
        answer_type = infer_answer_type(str(gt), choices)
    if answer_type not in ANSWER_TYPES:
        raise ValueError(f"unknown answer_type {answer_type!r}; expected one of {ANSWER_TYPES}")
    if abs_tol < 0 or rel_tol < 0:
        raise ValueError(f"tolerances must be >= 0, got abs_tol={abs_tol}, rel_tol={rel_tol}")
    gt_s = str(gt).strip()
    if not gt_s:
        raise ValueError("ground-truth answer is empty")
    if answer_type == "mc":
        if not choices or len(choices) < 2:
            raise ValueError(f"a multiple-choice item needs at least two choices, got {choices!r}")
        if len(choices) > len(LETTERS):
            raise ValueError(f"at most {len(LETTERS)} choices are supported, got {len(choices)}")
        gi = _gt_choice(gt_s, choices)
        if gi is None:
            raise ValueError(f"ground truth {gt_s!r} names none of the choices {list(choices)!r}")
    elif answer_type == "yesno":
        gy = parse_yes_no(gt_s)
        if gy is None:
            raise ValueError(f"ground truth {gt_s!r} is not yes/no")
    elif answer_type == "number":
        gn = parse_number(gt_s)
        if gn is None:
            raise ValueError(f"ground truth {gt_s!r} is not a number")
    if not isinstance(pred, str) or not pred.strip():
        return 0.0
    if answer_type == "mc":
        return 1.0 if parse_choice(pred, choices) == gi else 0.0  # type: ignore[arg-type]
    if answer_type == "yesno":
        return 1.0 if parse_yes_no(pred) == gy else 0.0
    if answer_type == "number":
        pn = parse_number(pred)
        if pn is None:
            return 0.0
        return 1.0 if abs(pn - gn) <= max(abs_tol, rel_tol * abs(gn)) + 1e-12 else 0.0
    return 1.0 if normalize_text(pred) == normalize_text(gt_s) and normalize_text(gt_s) else 0.0

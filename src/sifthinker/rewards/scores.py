"""The four GRPO-SIF scores on one completion (docs/method.md), pure functions shared by RL and evaluation.

Every score reads the completion with :func:`sifthinker.trace.read_lenient`, so a malformed completion still earns
what its parseable areas and answer deserve; none raises on any completion text. They do raise ``ValueError`` on a
bad ground truth or configuration (a GT box outside [0, 1], a depth map with NaNs, a negative tolerance, …).

>>> good = ('<think><area>[{"bbox_2d": [0, 0, 1, 1], "depth": 0.5}]</area><text>The scene.</text>'
...         '<area>[{"bbox_2d": [0, 0, 0.5, 0.5], "depth": 0.25}]</area><text>The cube.</text></think>'
...         '<answer>B</answer>')
>>> format_score(good), box_score(good, [[0, 0, 0.5, 0.5]])
(1.0, 1.0)
>>> import numpy as np
>>> depth_score(good, np.full((4, 4), 0.5, dtype=np.float32))   # 0.5 matches, 0.25 is 50 % off
0.5
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

from ..answers import answer_match
from ..boxes import FULL_IMAGE, clip, hierarchical_iou, iou, validate_box
from ..depth import DepthMap, box_mean, box_means, box_pixel_rect, integral_image, validate_depth
from ..trace import LenientTrace, Region, read_lenient

__all__ = [
    "completion_text",
    "format_score",
    "answer_score",
    "progress_adjust",
    "box_score",
    "box_score_plain",
    "box_parts",
    "depth_score",
    "depth_parts",
    "depth_grounded_score",
    "depth_grounded_parts",
    "search_score",
    "validate_gt_boxes",
]

DEFAULT_DEPTH_TOL = 0.1
DEFAULT_GROUNDED_TOL = 0.1
ROUNDING_SLACK = 0.005  # a depth written with 2 decimals is within this of the true value: full credit


def completion_text(completion) -> str:
    """The text of a completion given as a string, a chat message list, or a message dict; '' if none.

    >>> completion_text([{"role": "assistant", "content": "hi"}])
    'hi'
    >>> parts = [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]
    >>> completion_text([{"role": "assistant", "content": parts}])
    'ab'
    """
    if isinstance(completion, str):
        return completion
    if isinstance(completion, dict):
        return _content_text(completion.get("content"))
    if isinstance(completion, (list, tuple)):
        parts = [m for m in completion if isinstance(m, dict) and m.get("role", "assistant") == "assistant"]
        return "".join(_content_text(m.get("content")) for m in parts)
    return ""


def _content_text(content) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            c.get("text", "") if isinstance(c, dict) and isinstance(c.get("text", ""), str) else "" for c in content
        )
    return ""


# ------------------------------------------------------------------------------------------------------ format


def format_score(text) -> float:
    """1.0 iff the completion obeys the trace grammar of docs/method.md exactly, else 0.0.

    >>> format_score("<answer>B</answer>")
    0.0
    """
    return 1.0 if read_lenient(completion_text(text)).valid else 0.0


# ------------------------------------------------------------------------------------------------------ answer


def answer_score(
    text,
    answer,
    *,
    choices: Sequence[str] | None = None,
    answer_type: str | None = None,
    abs_tol: float = 0.0,
    rel_tol: float = 0.0,
    judge: Callable[[str, str], float] | None = None,
) -> float:
    """Score s ∈ [0, 1] of the completion's ``<answer>`` against the ground truth (no progress term).

    Judge-free by default (:func:`sifthinker.answers.answer_match`). With ``judge(prediction, answer) -> float``
    (e.g. an LLM judge) that score is used instead; a judge's exception propagates — the caller decides how to
    report it, it is never turned into a silent 0. A missing answer scores 0 without asking the judge.

    >>> answer_score("<answer>(B)</answer>", "B", choices=["red", "blue"])
    1.0
    >>> answer_score("no answer tag", "yes")
    0.0
    """
    pred = read_lenient(completion_text(text)).answer
    if judge is not None:
        if not pred:
            return 0.0
        s = float(judge(pred, str(answer)))
        if not math.isfinite(s):
            raise ValueError(f"judge returned {s!r}; expected a score in [0, 1]")
        return min(1.0, max(0.0, s))
    return answer_match(pred, answer, choices=choices, answer_type=answer_type, abs_tol=abs_tol, rel_tol=rel_tol)


def progress_adjust(s: float, previous: float | None) -> float:
    """The progress term of docs/method.md: ``s + (s − p)`` when a previous mean ``p`` exists and ``s ≥ p``, else s.

    >>> progress_adjust(1.0, 0.25), progress_adjust(0.0, 0.5), progress_adjust(0.5, None)
    (1.75, 0.0, 0.5)
    """
    if previous is not None and s >= previous:
        return s + (s - previous)
    return s


# --------------------------------------------------------------------------------------------------------- box


def validate_gt_boxes(gt_boxes) -> list[tuple[float, float, float, float]]:
    """Check ground-truth boxes (a list of normalised boxes; a single box is accepted) and return them."""
    if isinstance(gt_boxes, np.ndarray):
        gt_boxes = gt_boxes.tolist()
    if not isinstance(gt_boxes, (list, tuple)):
        raise ValueError(f"ground-truth boxes: expected a list of [x1, y1, x2, y2], got {type(gt_boxes).__name__}")
    if len(gt_boxes) == 4 and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in gt_boxes):
        gt_boxes = [gt_boxes]
    return [validate_box(b, what=f"ground-truth box {i}") for i, b in enumerate(gt_boxes)]


def _boxes(regions: Sequence[Region]) -> list[tuple[float, float, float, float]]:
    # Coordinates outside the image are clipped to it (what is visible); an inverted box covers nothing.
    return [clip(r.box) for r in regions]


def _start_end(lt: LenientTrace):
    end = _boxes(lt.areas[-1])
    start = [FULL_IMAGE]
    for area in lt.areas:
        if not (len(area) == 1 and tuple(area[0].box) == FULL_IMAGE):
            start = _boxes(area)
            break
    return start, end


def box_parts(text, gt_boxes) -> dict[str, float]:
    """The named parts of the box reward: ``h_end``, ``h_start``, ``bonus`` and ``reward`` (0s if no area).

    >>> box_parts('<area>[{"bbox_2d": [0.5, 0, 1, 1], "depth": 0.5}]</area>'
    ...           '<area>[{"bbox_2d": [0, 0, 0.5, 1], "depth": 0.5}]</area>', [[0, 0, 0.5, 1]])
    {'h_end': 1.0, 'h_start': 0.0, 'bonus': 1.0, 'reward': 2.0}
    """
    gt = validate_gt_boxes(gt_boxes)
    lt = read_lenient(completion_text(text))
    if not lt.areas:
        return {"h_end": 0.0, "h_start": 0.0, "bonus": 0.0, "reward": 0.0}
    start, end = _start_end(lt)
    h_end = hierarchical_iou(end, gt)
    h_start = h_end if start == end else hierarchical_iou(start, gt)
    bonus = max(0.0, h_end - h_start)
    return {"h_end": h_end, "h_start": h_start, "bonus": bonus, "reward": h_end + bonus}


def box_score(text, gt_boxes) -> float:
    """Box reward ∈ [0, 2] (docs/method.md): ``H(end, G) + max(0, H(end, G) − H(start, G))``; 0 with no area.

    ``end`` = the regions of the last area; ``start`` = those of the first area that is not exactly the single full
    image ``[0, 0, 1, 1]`` (the full image if there is none). ``gt_boxes``: a list of normalised boxes.

    >>> box_score("<answer>yes</answer>", [[0.1, 0.1, 0.2, 0.2]])
    0.0
    """
    return box_parts(text, gt_boxes)["reward"]


def box_score_plain(text, gt_boxes) -> float:
    """The official variant without the correction bonus: ``H(end, G)`` ∈ [0, 1]."""
    return box_parts(text, gt_boxes)["h_end"]


def search_score(text, gt_boxes) -> float:
    """The official "search" variant: 1 if the per-area ``H(area, G)`` sequence is non-decreasing and not constant.

    >>> search_score('<area>[{"bbox_2d": [0, 0, 1, 1], "depth": 0.5}]</area>'
    ...              '<area>[{"bbox_2d": [0, 0, 0.5, 1], "depth": 0.5}]</area>', [[0, 0, 0.5, 1]])
    1.0
    """
    gt = validate_gt_boxes(gt_boxes)
    lt = read_lenient(completion_text(text))
    hs = [hierarchical_iou(_boxes(a), gt) for a in lt.areas]
    if len(hs) < 2:
        return 0.0
    ok = all(b >= a for a, b in zip(hs, hs[1:])) and hs[-1] > hs[0]
    return 1.0 if ok else 0.0


# ------------------------------------------------------------------------------------------------------- depth


def _as_depth(depth):
    if isinstance(depth, DepthMap):
        return depth
    return validate_depth(depth)


def depth_parts(text, depth, *, tol: float = DEFAULT_DEPTH_TOL) -> dict[str, float]:
    """The named parts of the depth reward: ``n_regions``, ``n_ok``, ``reward``, ``abs_error`` (mean |d − D̄(b)|
    over regions whose box covers pixels, NaN if none) and ``mean_stated`` (mean stated depth, NaN if none).

    The last two keep a gamed policy visible: stating ~0.9 everywhere passes the 10 % check on far regions while
    ``abs_error`` on near ones grows.
    """
    if not (isinstance(tol, (int, float)) and math.isfinite(tol) and tol >= 0):
        raise ValueError(f"depth tolerance must be a finite number >= 0, got {tol!r}")
    dm = _as_depth(depth)
    lt = read_lenient(completion_text(text))
    regions = lt.regions
    n = len(regions)
    if n == 0:
        return {"n_regions": 0, "n_ok": 0, "reward": 0.0, "abs_error": float("nan"), "mean_stated": float("nan")}
    boxes = [r.box for r in regions]
    means = _region_means(dm, boxes)
    n_ok = 0
    err_sum, n_err, stated_sum = 0.0, 0, 0.0
    for r, m in zip(regions, means.tolist()):
        d = r.depth
        stated_sum += d
        if m == m:  # the box covers pixels
            e = abs(m - d)
            err_sum += e
            n_err += 1
            if m > 0 and e <= tol * m * (1 + 1e-9):
                n_ok += 1
    return {
        "n_regions": n,
        "n_ok": n_ok,
        "reward": n_ok / n,
        "abs_error": err_sum / n_err if n_err else float("nan"),
        "mean_stated": stated_sum / n,
    }


def _region_means(dm, boxes: list) -> np.ndarray:
    if isinstance(dm, DepthMap):
        return dm.box_means(boxes)
    # A few small boxes: slice means are cheaper than a whole integral image; many or large ones: the integral.
    spans = sum(max(0.0, min(1.0, b[2] - b[0])) * max(0.0, min(1.0, b[3] - b[1])) for b in boxes)
    if len(boxes) > 16 or spans > 2.0:
        return box_means(dm, np.asarray(boxes, dtype=np.float64))
    return np.array([box_mean(dm, b) for b in boxes], dtype=np.float64)


def depth_score(text, depth, *, tol: float = DEFAULT_DEPTH_TOL) -> float:
    """Depth consistency ∈ [0, 1] (docs/method.md): the fraction of all regions of all areas whose stated depth d
    satisfies ``D̄(b) > 0`` and ``|D̄(b) − d| / D̄(b) ≤ tol``, D̄(b) the box-mean of ``depth`` over the region's own
    box; 0 when there is no region.

    ``depth``: an H×W array in our convention (0 = nearest, 1 = farthest) or a :class:`~sifthinker.depth.DepthMap`
    (validated once, O(1) per box; use it when scoring many completions against one image).
    """
    return depth_parts(text, depth, tol=tol)["reward"]


# ------------------------------------------------------------------------------------------ grounded depth


def _evidence_sums(dm, gt: list) -> tuple[np.ndarray, np.ndarray]:
    """Integral images of depth·E and of E, E the mask of the evidence (the union of the GT boxes' pixels)."""
    arr = dm.array if isinstance(dm, DepthMap) else np.asarray(dm)
    h, w = arr.shape[:2]
    mask = np.zeros((h, w), dtype=bool)
    for b in gt:
        c0, r0, c1, r1 = box_pixel_rect(b, w, h)
        mask[r0:r1, c0:c1] = True
    return integral_image(np.where(mask, arr, 0.0)), integral_image(mask)


def _rect_sum(s: np.ndarray, rect: tuple[int, int, int, int]) -> float:
    c0, r0, c1, r1 = rect
    if c0 >= c1 or r0 >= r1:
        return 0.0
    return float(s[r1, c1] - s[r0, c1] - s[r1, c0] + s[r0, c0])


def depth_grounded_parts(text, depth, gt_boxes, *, tol: float = DEFAULT_GROUNDED_TOL) -> dict[str, float]:
    """The named parts of the grounded depth reward: ``reward``, ``evidence_error`` (mean |d − target| over the
    matched regions, NaN if none), ``matched`` (regions matched to a GT box with positive IoU) and ``n_last``.

    See :func:`depth_grounded_score`.
    """
    if not (isinstance(tol, (int, float)) and math.isfinite(tol) and tol > 0):
        raise ValueError(f"grounded depth tolerance must be a finite number > 0, got {tol!r}")
    gt = validate_gt_boxes(gt_boxes)
    dm = _as_depth(depth)
    lt = read_lenient(completion_text(text))
    empty = {"reward": 0.0, "evidence_error": float("nan"), "matched": 0, "n_last": 0}
    if not lt.areas or not gt:
        return empty
    last = lt.areas[-1]
    h, w = dm.shape[:2]
    dsum, esum = _evidence_sums(dm, gt)
    n_r, n_g = len(last), len(gt)
    gain = np.zeros((n_r, n_g))
    errs = np.full((n_r,), np.nan)
    for i, r in enumerate(last):
        box = clip(r.box)
        rect = box_pixel_rect(box, w, h)
        n_ev = _rect_sum(esum, rect)
        if n_ev <= 0:  # the region covers no evidence: it earns nothing, whatever it states
            continue
        target = _rect_sum(dsum, rect) / n_ev  # the true depth of the evidence inside the stated box
        errs[i] = abs(r.depth - target)
        closeness = max(0.0, 1.0 - max(0.0, errs[i] - ROUNDING_SLACK) / tol)
        for j, g in enumerate(gt):
            gain[i, j] = iou(box, g) * closeness
    from scipy.optimize import linear_sum_assignment

    rows, cols = linear_sum_assignment(gain, maximize=True)  # one region per GT box (O(R·G²) for R ≫ G)
    total = float(gain[rows, cols].sum())
    covering = errs[errs == errs]
    return {
        "reward": min(1.0, total / max(n_g, n_r)),
        "evidence_error": float(covering.mean()) if covering.size else float("nan"),
        "matched": int((gain[rows, cols] > 0).sum()),
        "n_last": n_r,
    }


def depth_grounded_score(text, depth, gt_boxes, *, tol: float = DEFAULT_GROUNDED_TOL) -> float:
    """Grounded depth reward ∈ [0, 1] (ours): depth that is right where the evidence is.

    The regions of the **last** area are matched one-to-one to the GT boxes (Hungarian, maximising the gain
    below); a region's target is the true mean depth of the evidence pixels inside its own box (E = the union of
    the GT boxes), its closeness ``max(0, 1 − max(0, |d − target| − 0.005) / tol)`` (``tol`` absolute, 0.1; the
    0.005 forgives a depth rounded to 2 decimals), and a matched pair
    gains ``IoU(region, g) · closeness``. The reward is the summed gain over ``max(|G|, |regions|)``, so extra
    boxes dilute it. Consequences, by construction: a region covering no evidence earns nothing; for any boxes,
    stating each region's target depth scores at least as much as any constant or background depth; a chain
    whose last area is exactly the GT boxes with their true depths scores 1; 0 with no area.

    Unlike :func:`depth_score` it cannot be gamed by stating far depths for large background boxes.
    """
    return depth_grounded_parts(text, depth, gt_boxes, tol=tol)["reward"]

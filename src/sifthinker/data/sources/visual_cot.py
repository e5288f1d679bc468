"""Visual-CoT (``viscot_363k.json``): the grounded VQA the official SIF-50K was built from (docs/method.md).

The file is one JSON list of records like (a real ``cub`` record, abridged)::

    {"dataset": "cub", "split": "val", "question_id": 1430,
     "image": ["cot/cub/062.Herring_Gull/Herring_Gull_0049_46508.jpg",
               "cot/cub/062.Herring_Gull/Herring_Gull_0049_46508.jpg###[172, 95, 445, 314]"],
     "conversations": [
        {"from": "human", "value": "<image>\\nDoes the bird in the picture have broad-wings wing and purple leg? "
                                   "Please provide the bounding box coordinate of the region that can help you "
                                   "answer the question better."},
        {"from": "gpt", "value": "[0.344, 0.296, 0.890, 0.734]"},
        {"from": "human", "value": "<image>"},
        {"from": "gpt", "value": "No"}]}

* question = the first human turn without its ``<image>`` placeholder(s) and the trailing box request;
* answer = the last gpt turn; the first gpt turn holds the box as a string;
* ``image[0]`` is the image path (relative to the image root; the released archive unpacks ``cot/...`` as
  ``cot_image_data/...``, hence the ``rewrite_prefix`` option); ``image[1]`` repeats it with ``###[x1, y1, x2, y2]``,
  the box in **pixels of the original image**.

**The box string is not normalised by the image's own width and height.** Visual-CoT pads every image to a square
(``expand2square``: side ``S = max(W, H)``, the image pasted at offset ``(S − W) // 2`` or ``(S − H) // 2``) and
normalises by ``S``. The ``exact`` box mode (default) therefore takes the pixel box of ``image[1]`` and divides by the
real image size (read from the image header, or ``width``/``height`` fields when a record has them); without a
pixel box it converts the string out of the padded square. It also checks that both agree (``consistency_tol``),
which catches a wrong image file. The ``released`` mode uses the string as it is, as the SIFThinker authors did
(no image read; the boxes are off by the padding on every non-square image).

Options: ``exclude_subsets`` (default: the authors' text/document subsets), ``subsets`` (keep only these; naming an
excluded one is refused), ``max_per_subset`` (default None = no cap; the authors used 10,000: the first N good
items of each subset in file order — a bad record does not count), ``box_mode``, ``consistency_tol`` (None turns
the check off), ``rewrite_prefix`` (e.g. ``{"cot/": "cot_image_data/"}``). Item ids are
``viscot-<subset>-<question_id>`` (without a question id: a hash of the file name, question and image, see
:mod:`sifthinker.data.ids`); a repeated id is an item error (a failure row), never renamed; ``extra`` holds
``question_id``, ``split`` and ``image_size`` (exact mode).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from typing import Any

from ...visual_cot_format import from_padded_square, parse_box_string, strip_question
from ..types import GroundedItem, ItemError
from ._common import (
    BOX_EPS,
    Ctx,
    FileSource,
    ImageSizes,
    check_unique,
    id_text,
    normalised_box,
    numbers4,
    record_problem,
    record_size,
)

__all__ = [
    "VisualCoTSource",
    "DEFAULT_EXCLUDE_SUBSETS",
    "OFFICIAL_MAX_PER_SUBSET",
]

# The authors' filter (SIFThinker data_generation/produce.py): text/document subsets dropped, 10,000 per subset.
DEFAULT_EXCLUDE_SUBSETS = ("docvqa", "dude", "textvqa", "sroie", "infographicsvqa", "textcap")
OFFICIAL_MAX_PER_SUBSET = 10_000

# The request Visual-CoT appends to every question (seen in the released records and stripped by the authors).
BOX_MODES = ("exact", "released")


def _names(v: Iterable[str] | str | None, what: str) -> frozenset[str] | None:
    if v is None:
        return None
    if isinstance(v, str):
        v = [v]
    out = []
    for s in v:
        if not isinstance(s, str) or not s:
            raise ValueError(f"visual_cot source: {what} must be subset names, got {s!r}")
        out.append(s.lower())
    return frozenset(out)


class VisualCoTSource(FileSource):
    """Visual-CoT records → :class:`GroundedItem` (see the module docstring for the format and box modes)."""

    name = "visual_cot"

    def __init__(
        self,
        input: str | os.PathLike,
        image_root: str | os.PathLike | None = None,
        *,
        exclude_subsets: Iterable[str] | None = DEFAULT_EXCLUDE_SUBSETS,
        subsets: Iterable[str] | None = None,
        max_per_subset: int | None = None,
        box_mode: str = "exact",
        consistency_tol: float | None = 0.01,
        rewrite_prefix: dict[str, str] | None = None,
    ):
        super().__init__(input, image_root)
        self.exclude_subsets = _names(exclude_subsets, "exclude_subsets") or frozenset()
        self.subsets = _names(subsets, "subsets")
        both = sorted((self.subsets or frozenset()) & self.exclude_subsets)
        if both:
            raise ValueError(
                f"visual_cot source: subset(s) {both} both requested and excluded; pass exclude_subsets=() to keep "
                "the authors' excluded text/document subsets"
            )
        if max_per_subset is not None and (
            isinstance(max_per_subset, bool) or not isinstance(max_per_subset, int) or max_per_subset < 0
        ):
            raise ValueError(
                f"visual_cot source: max_per_subset must be None or an integer >= 0, got {max_per_subset!r}"
            )
        self.max_per_subset = max_per_subset
        if box_mode not in BOX_MODES:
            raise ValueError(f"visual_cot source: box_mode must be one of {', '.join(BOX_MODES)}, got {box_mode!r}")
        self.box_mode = box_mode
        if consistency_tol is not None and not (isinstance(consistency_tol, (int, float)) and consistency_tol > 0):
            raise ValueError(f"visual_cot source: consistency_tol must be None or > 0, got {consistency_tol!r}")
        self.consistency_tol = consistency_tol
        rp = dict(rewrite_prefix or {})
        if not all(isinstance(k, str) and k and isinstance(v, str) for k, v in rp.items()):
            raise ValueError(f"visual_cot source: rewrite_prefix must map path prefixes to prefixes, got {rp!r}")
        self.rewrite_prefix = rp
        self._sizes = ImageSizes()

    # ------------------------------------------------------------------------------------------- iteration

    def __iter__(self) -> Iterator[GroundedItem | ItemError]:
        counts: dict[str, int] = {}
        seen: dict[str, str] = {}
        for ctx, rec in self._records():
            problem = record_problem(rec)
            if problem is not None:
                yield ctx.error(*problem)
                continue
            subset = rec.get("dataset")
            if not isinstance(subset, str) or not subset.strip():
                yield ctx.error(f"expected the subset name as a non-empty string, got {subset!r}"[:200], "dataset")
                continue
            key = subset.lower()
            if key in self.exclude_subsets or (self.subsets is not None and key not in self.subsets):
                continue
            if self.max_per_subset is not None and counts.get(key, 0) >= self.max_per_subset:
                continue
            item = self._checked_item(ctx, rec)
            if isinstance(item, GroundedItem):
                item = check_unique(ctx, item, seen)
            if isinstance(item, GroundedItem):
                counts[key] = counts.get(key, 0) + 1
            yield item

    # ------------------------------------------------------------------------------------------- one record

    def _rewrite(self, path: str) -> str:
        for old, new in self.rewrite_prefix.items():
            if path.startswith(old):
                return new + path[len(old) :]
        return path

    def _image_fields(self, ctx: Ctx, rec: dict) -> tuple[str, Any]:
        """``(image path, pixel-box string or None)`` from ``image`` (a list, or one string)."""
        img = rec.get("image")
        if isinstance(img, str):
            entries = [img]
        elif isinstance(img, list) and img and all(isinstance(e, str) for e in img):
            entries = img
        else:
            raise ctx.error(f"expected a list of image paths, got {img!r}"[:200], "image")
        path = entries[0].split("###", 1)[0]
        if not path.strip():
            raise ctx.error("empty image path", "image[0]")
        pixel = None
        for i, e in enumerate(entries):
            if "###" in e:
                pixel = (i, e.split("###", 1)[1])
                break
        return self._rewrite(path), pixel

    def _item(self, ctx: Ctx, rec: dict) -> GroundedItem:
        subset = rec["dataset"]
        path, pixel = self._image_fields(ctx, rec)
        real = ctx.inside(self.image_root, path, "image[0]")

        conv = rec.get("conversations")
        if not isinstance(conv, list) or not conv:
            raise ctx.error("expected a list of {from, value} turns", "conversations")
        for i, t in enumerate(conv):
            if not isinstance(t, dict) or t.get("from") not in ("human", "gpt") or not isinstance(t.get("value"), str):
                raise ctx.error("expected {'from': 'human'|'gpt', 'value': text}", f"conversations[{i}]")
        humans = [i for i, t in enumerate(conv) if t["from"] == "human"]
        gpts = [i for i, t in enumerate(conv) if t["from"] == "gpt"]
        if not humans:
            raise ctx.error("no human turn holding the question", "conversations")
        q_idx = humans[0]
        question = strip_question(conv[q_idx]["value"])
        if not question:
            raise ctx.error(
                "the question is empty once the <image> prefix and box request are stripped",
                f"conversations[{q_idx}].value",
            )
        box_turns = [i for i in gpts if i > q_idx]
        if len(box_turns) < 2:
            raise ctx.error("expected a gpt turn with the box and a later gpt turn with the answer", "conversations")
        b_idx, a_idx = box_turns[0], box_turns[-1]
        answer = conv[a_idx]["value"].strip()
        if not answer:
            raise ctx.error("the answer is empty", f"conversations[{a_idx}].value")
        b_field = f"conversations[{b_idx}].value"
        string_boxes = parse_box_string(conv[b_idx]["value"])

        extra: dict[str, Any] = {}
        if self.box_mode == "released":
            if string_boxes is None:
                raise ctx.error(
                    f"expected a box string like '[x1, y1, x2, y2]', got {conv[b_idx]['value']!r}"[:200], b_field
                )
            boxes = [normalised_box(ctx, b, b_field, shown=list(b)) for b in string_boxes]
        else:
            size = record_size(ctx, rec) or self._sizes(ctx, real, "image[0]")
            w, h = size
            extra["image_size"] = [w, h]
            pixel_boxes = None
            if pixel is not None:
                pixel_boxes = parse_box_string(pixel[1])
                if pixel_boxes is None or len(pixel_boxes) != 1:
                    raise ctx.error(
                        f"expected 'path###[x1, y1, x2, y2]' in pixels, got {pixel[1]!r}"[:200], f"image[{pixel[0]}]"
                    )
            if pixel_boxes is not None and (string_boxes is None or len(string_boxes) <= 1):
                pb = numbers4(ctx, pixel_boxes[0], f"image[{pixel[0]}]")
                norm = (pb[0] / w, pb[1] / h, pb[2] / w, pb[3] / h)
                box = normalised_box(ctx, norm, f"image[{pixel[0]}]", shown=list(pb))
                if string_boxes is not None and self.consistency_tol is not None:
                    conv_box = from_padded_square(string_boxes[0], w, h)
                    diff = max(abs(a - b) for a, b in zip(box, conv_box))
                    if diff > self.consistency_tol:
                        raise ctx.error(
                            f"the box string {conv[b_idx]['value']!r} disagrees with the pixel box {list(pb)} on a "
                            f"{w}×{h} image by {diff:.3f} (> {self.consistency_tol}); wrong image file or size?",
                            b_field,
                        )
                boxes = [box]
            else:
                if string_boxes is None:
                    raise ctx.error(
                        f"expected a box string like '[x1, y1, x2, y2]', got {conv[b_idx]['value']!r}"[:200], b_field
                    )
                side = max(w, h)
                # the string has 3 decimals: allow its rounding (two units of 0.001·S) beyond the border
                tol = max(BOX_EPS, 0.001 * side / min(w, h))
                boxes = [
                    normalised_box(ctx, from_padded_square(b, w, h), b_field, eps=tol, shown=list(b))
                    for b in string_boxes
                ]

        qid = rec.get("question_id")
        if id_text(qid) is not None:
            item_id = f"viscot-{subset}-{qid}"
            extra["question_id"] = qid
        else:
            item_id = self._content_id(f"viscot-{subset}", ctx, question, path)
        split = rec.get("split")
        if isinstance(split, str) and split:
            extra["split"] = split
        return GroundedItem(
            id=item_id,
            dataset=subset,
            image=path,
            question=question,
            answer=answer,
            gt_boxes=list(boxes),
            extra=extra,
        )

"""The offline template writer: sensible step texts from the frames, the scene objects and the answer, no model.

It is the default writer, so the data engine runs anywhere. Texts name the objects a frame holds when the source
knows them (the synthetic world), state each frame's depth in words, correct a distractor explicitly, and end with
the ground-truth answer.
"""

from __future__ import annotations

import re

from ...boxes import iou
from ...records import LETTERS
from ...trace import Step, Trace, render
from ..types import Frame, GroundedItem, WriteRequest

__all__ = ["TemplateWriter", "describe_depth", "untag"]

_TAG = re.compile(r"<(/?[A-Za-z0-9_]+)>")


def untag(text: str) -> str:
    """Neutralise tag-like sequences (``<b>`` → ``‹b›``) so free text can never break the trace grammar.

    >>> untag("a <b>bold</b> move, a < b")
    'a ‹b›bold‹/b› move, a < b'
    """
    return _TAG.sub(r"‹\1›", text)


def describe_depth(d: float) -> str:
    """A depth in words (0 = nearest, 1 = farthest).

    >>> describe_depth(0.1), describe_depth(0.5), describe_depth(0.9)
    ('close to the camera', 'at middle distance', 'far from the camera')
    """
    if d < 0.33:
        return "close to the camera"
    if d < 0.66:
        return "at middle distance"
    return "far from the camera"


def _obj_name(o: dict) -> str:
    parts = [o.get("size"), o.get("colour"), o.get("shape")]
    return "the " + " ".join(str(p) for p in parts if p)


def _objects_in(item: GroundedItem, box, min_iou: float = 0.5) -> list[dict]:
    objs = item.objects or []
    return [o for o in objs if isinstance(o.get("box"), (list, tuple)) and iou(o["box"], box) >= min_iou]


def _objects_inside(item: GroundedItem, box) -> list[dict]:
    out = []
    for o in item.objects or []:
        b = o.get("box")
        if isinstance(b, (list, tuple)) and len(b) == 4:
            cx, cy = (b[0] + b[2]) / 2, (b[1] + b[3]) / 2
            if box[0] <= cx <= box[2] and box[1] <= cy <= box[3]:
                out.append(o)
    return out


def _answer_text(item: GroundedItem) -> str:
    a = str(item.answer).strip()
    if item.choices and len(a) == 1 and a.upper() in LETTERS[: len(item.choices)]:
        return f"({a.upper()}) {item.choices[LETTERS.index(a.upper())]}"
    return a


class TemplateWriter:
    """Writes a trace whose areas are exactly the frames' regions, with template texts.

    ``concise=True`` writes short texts (no repeated question, depths as numbers only in the evidence step): the
    same chain in about 20 % fewer tokens, for a small model whose every token costs (the CPU demo).
    Deterministic for a request; ``attempt`` is ignored (a template never needs a retry).
    """

    name = "template"
    needs_images = False
    concise = False

    def __init__(self, concise: bool = False) -> None:
        self.concise = concise

    async def write(self, request: WriteRequest) -> str:
        return self.write_sync(request)

    def write_sync(self, request: WriteRequest) -> str:
        item = request.item
        steps = []
        n = len(request.frames)
        for i, frame in enumerate(request.frames):
            steps.append(Step(tuple(frame.regions), untag(self._text(item, frame, i, n))))
        return render(Trace(tuple(steps), untag(str(item.answer).strip())))

    def _text(self, item: GroundedItem, frame: Frame, i: int, n: int) -> str:
        if self.concise:
            return self._short(item, frame, i)
        depth = frame.regions[0].depth if len(frame.regions) == 1 else None
        where = f", {describe_depth(depth)}" if depth is not None else ""
        role = frame.role
        if role == "full" or (i == 0 and role != "gt"):
            k = len(item.objects or [])
            scene = f" It shows {k} object{'s' if k != 1 else ''}." if k else ""
            return f"The whole image.{scene} I look for the part that answers: {item.question.splitlines()[0]}"
        if role == "distractor":
            objs = _objects_inside(item, frame.regions[0].box)
            if objs:
                seen = f"Here I see {_obj_name(objs[0])}{where}"
                return f"{seen}, but that is not what the question is about, so I look elsewhere."
            return f"This region{where} does not hold what the question is about, so I look elsewhere."
        if role == "enclosing":
            return f"The relevant objects lie somewhere in this area{where}."
        if role == "expansion":
            return f"Narrowing down, the evidence is within this part of the image{where}."
        # the ground-truth frame: name what is there, then conclude
        named = []
        for r in frame.regions:
            objs = _objects_in(item, r.box)
            label = _obj_name(objs[0]) if objs else "this region"
            named.append(f"{label} (depth {r.depth:g}, {describe_depth(r.depth)})")
        if len(named) == 1:
            seen = f"Here is {named[0]}."
        else:
            seen = f"Here are {len(named)} regions: " + "; ".join(named) + "."
        return f"{seen} So the answer is {_answer_text(item)}."

    def _short(self, item: GroundedItem, frame: Frame, i: int) -> str:
        depth = frame.regions[0].depth if len(frame.regions) == 1 else None
        where = f", {describe_depth(depth)}" if depth is not None else ""
        role = frame.role
        if role == "full" or (i == 0 and role != "gt"):
            k = len(item.objects or [])
            return f"The whole image: {k} object{'s' if k != 1 else ''}." if k else "The whole image."
        if role == "distractor":
            objs = _objects_inside(item, frame.regions[0].box)
            seen = _obj_name(objs[0]) if objs else "nothing relevant"
            return f"Not here: {seen}{where}."
        if role in ("enclosing", "expansion"):
            return f"The evidence is in this part{where}."
        named = []
        for r in frame.regions:
            objs = _objects_in(item, r.box)
            named.append(f"{_obj_name(objs[0]) if objs else 'this region'} ({r.depth:g})")
        return f"Here: {'; '.join(named)}. So {_answer_text(item)}."

"""A writer that asks a multimodal model behind an OpenAI-compatible endpoint for the trace text (docs/method.md).

The model gets the task and one worked example (system message), then the question with its options and the
ground-truth answer, and every frame in forward order: a sentence giving the frame's regions (boxes and depths as
JSON) followed by the frame image (the boxes drawn in green). It is asked to copy each frame's regions exactly into
one ``<area>``, add one short ``<text>`` per frame, and end with the given answer. The engine checks every reply.

The wording is ours and lives in module-level constants, gathered in :class:`WriterPrompt`; pass a different
``WriterPrompt`` (or a mapping of its fields, e.g. from YAML) to change it. Templates use ``$name`` placeholders.

>>> print(strip_code_fences("```xml\\n<think>…</think><answer>2</answer>\\n```"))
<think>…</think><answer>2</answer>
>>> regions_json([Region((0.0, 0.0, 1.0, 1.0), 0.5)])
'[{"bbox_2d": [0, 0, 1, 1], "depth": 0.5}]'
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from string import Template
from typing import Any

from ...backends.openai_compat import image_part  # stdlib only at import: no client library loads here
from ...records import format_question
from ...trace import Region, format_number
from ..types import WriteRequest

__all__ = [
    "SYSTEM_PROMPT",
    "INSTRUCTION",
    "FRAME_SENTENCE",
    "CLOSING",
    "ROLE_HINTS",
    "WriterPrompt",
    "APIWriter",
    "regions_json",
    "strip_code_fences",
]

SYSTEM_PROMPT = """\
You write the reasoning trace of a visual question-answering model that thinks by looking at regions of an image.

You are given a question about an image, its correct answer, and a sequence of frames. Each frame is the image with \
one or more regions drawn as green boxes; the regions are also given as JSON, each with "bbox_2d" = [x1, y1, x2, y2] \
normalised to [0, 1] by the image width and height, and "depth" from 0 (nearest) to 1 (farthest). The frames start \
from the whole image and focus progressively on the evidence that answers the question; one of them may be a wrong \
region that the reasoning looks at and then turns away from.

Write the trace as the model would think it:
- Inside <think></think>, for every frame in the given order, write exactly one <area></area> holding that frame's \
region list copied exactly (the same boxes and depths, the same numbers, in the same order), followed by exactly one \
<text></text> with a short analysis (one or two sentences) of what that region shows and how it leads to the answer.
- Reason as if looking for the first time: do not mention frames, green boxes or that you were told the answer.
- After </think>, give the final answer inside <answer></answer>: exactly the correct answer you were given.
- Use no other tags and no Markdown. Write nothing before <think> or after </answer>.

Example, for the question "How many cups are on the table?" with the answer "2" and four frames:
<think>
<area>[{"bbox_2d": [0, 0, 1, 1], "depth": 0.512}]</area>
<text>A kitchen with a wooden table in the middle ground; any cups should be on the table.</text>
<area>[{"bbox_2d": [0.05, 0.1, 0.2, 0.35], "depth": 0.874}]</area>
<text>This is a shelf on the far wall with jars, not the table, so the cups are elsewhere.</text>
<area>[{"bbox_2d": [0.25, 0.4, 0.8, 0.85], "depth": 0.43}]</area>
<text>The table top holds a plate and a few small objects near its centre.</text>
<area>[{"bbox_2d": [0.35, 0.5, 0.45, 0.62], "depth": 0.418}, \
{"bbox_2d": [0.55, 0.52, 0.64, 0.63], "depth": 0.425}]</area>
<text>Two white cups stand on the table, one on each side of the plate, at about the same depth.</text>
</think>
<answer>2</answer>"""

INSTRUCTION = """\
Question: $question
Correct answer: $answer

The $n_frames frames follow in order. Write one <area>/<text> pair for each."""

FRAME_SENTENCE = "Frame $index of $n_frames ($role). Its regions: $regions"

CLOSING = """\
Now write the trace: $n_frames <area>/<text> pairs inside <think></think>, each <area> copying its frame's regions \
exactly, then <answer>$answer</answer>."""

ROLE_HINTS: dict[str, str] = {
    "full": "the whole image",
    "distractor": "a wrong region: look at it, see that it does not answer the question, and move on",
    "enclosing": "the area around the evidence",
    "expansion": "closer to the evidence",
    "gt": "the evidence that answers the question",
}

_PLACEHOLDERS = {
    "instruction": {"question", "answer", "n_frames"},
    "frame": {"index", "n_frames", "role", "regions"},
    "closing": {"n_frames", "answer"},
}


@dataclass(frozen=True)
class WriterPrompt:
    """The writer's wording. ``instruction`` (``$question``, ``$answer``, ``$n_frames``) opens the user message,
    ``frame`` (``$index``, ``$n_frames``, ``$role``, ``$regions``) introduces each frame image, ``closing``
    (``$n_frames``, ``$answer``) ends it; ``role_hints`` maps a frame role to the words put in ``$role``."""

    system: str = SYSTEM_PROMPT
    instruction: str = INSTRUCTION
    frame: str = FRAME_SENTENCE
    closing: str = CLOSING
    role_hints: Mapping[str, str] = field(default_factory=lambda: dict(ROLE_HINTS))

    def __post_init__(self) -> None:
        if not isinstance(self.system, str) or not self.system.strip():
            raise ValueError("WriterPrompt.system must be non-empty text")
        for name, allowed in _PLACEHOLDERS.items():
            text = getattr(self, name)
            if not isinstance(text, str):
                raise ValueError(f"WriterPrompt.{name} must be text, got {type(text).__name__}")
            try:
                Template(text).substitute({k: "" for k in allowed})
            except (KeyError, ValueError) as e:
                raise ValueError(
                    f"WriterPrompt.{name}: bad placeholder {e} in {text[:80]!r}; allowed: "
                    f"{', '.join('$' + a for a in sorted(allowed))} (write $$ for a literal $)"
                ) from None
        if not isinstance(self.role_hints, Mapping):
            raise ValueError("WriterPrompt.role_hints must map frame roles to text")

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> WriterPrompt:
        names = [f.name for f in fields(cls)]
        unknown = sorted(set(d) - set(names))
        if unknown:
            raise ValueError(f"unknown writer prompt field(s) {unknown}; valid: {names}")
        return cls(**dict(d))


def regions_json(regions: Sequence[Region]) -> str:
    """A frame's regions as the trace writes them: ``[{"bbox_2d": [x1, y1, x2, y2], "depth": d}, ...]``."""
    parts = []
    for r in regions:
        coords = ", ".join(format_number(c) for c in r.box)
        parts.append(f'{{"bbox_2d": [{coords}], "depth": {format_number(r.depth)}}}')
    return "[" + ", ".join(parts) + "]"


_FENCED_ALL = re.compile(r"\s*```[\w+-]*[ \t]*\n(.*?)\n?[ \t]*```\s*", re.S)
_FENCED_BLOCK = re.compile(r"```[\w+-]*[ \t]*\n(.*?)\n?[ \t]*```", re.S)


def strip_code_fences(text: str) -> str:
    """The reply without Markdown code fences: the inside of a reply fenced as a whole, or of its one fenced block
    holding ``<think>``; otherwise the reply itself (stripped)."""
    m = _FENCED_ALL.fullmatch(text)
    if m:
        return m.group(1).strip()
    blocks = [b for b in _FENCED_BLOCK.findall(text) if "<think>" in b]
    if len(blocks) == 1:
        return blocks[0].strip()
    return text.strip()


class APIWriter:
    """The :class:`~sifthinker.data.types.Writer` of docs/method.md over an OpenAI-compatible chat model.

    Args:
        client: an :class:`~sifthinker.backends.openai_compat.OpenAICompatClient` (anything with
            ``async chat(messages, *, salt=...) -> str``).
        prompt: the wording (:class:`WriterPrompt` or a mapping of its fields); the module constants by default.
        name: the writer's name in records and logs (default ``api:<model>``).
        require_images: a frame without ``image_png`` is an error (True) or sent as text only (False).

    The request's ``attempt`` is the cache salt, so a retry after a rejected reply asks the model again while a
    rerun of the same build is served from the cache.
    """

    def __init__(
        self,
        client: Any,
        prompt: WriterPrompt | Mapping[str, Any] | None = None,
        *,
        name: str | None = None,
        require_images: bool = True,
    ):
        self.client = client
        if prompt is None:
            prompt = WriterPrompt()
        elif not isinstance(prompt, WriterPrompt):
            prompt = WriterPrompt.from_dict(prompt)
        self.prompt = prompt
        model = getattr(getattr(client, "config", None), "model", None)
        self.name = name or (f"api:{model}" if model else "api")
        self.require_images = require_images

    def __repr__(self) -> str:
        return f"APIWriter(name={self.name!r})"

    def build_messages(self, request: WriteRequest) -> list[dict[str, Any]]:
        """The chat messages for one request: the system prompt, then one user message with the instruction,
        each frame's sentence and image in forward order, and the closing line."""
        item, frames = request.item, request.frames
        if not frames:
            raise ValueError(f"item {item.id!r}: a write request needs at least one frame")
        p = self.prompt
        n = str(len(frames))
        answer = str(item.answer)
        question = format_question(item.question, item.choices)
        parts: list[dict[str, Any]] = [
            {
                "type": "text",
                "text": Template(p.instruction).substitute(question=question, answer=answer, n_frames=n),
            }
        ]
        for i, frame in enumerate(frames, 1):
            if not frame.regions:
                raise ValueError(f"item {item.id!r}: frame {i} ({frame.role}) has no regions")
            role = p.role_hints.get(frame.role, frame.role)
            sentence = Template(p.frame).substitute(
                index=str(i), n_frames=n, role=role, regions=regions_json(frame.regions)
            )
            parts.append({"type": "text", "text": sentence})
            if frame.image_png:
                parts.append(image_part(frame.image_png))
            elif self.require_images:
                raise ValueError(
                    f"item {item.id!r}: frame {i} ({frame.role}) has no image_png; the API writer shows the model "
                    f"each frame with its boxes drawn (or build it with require_images=False for text only)"
                )
        closing = Template(p.closing).substitute(n_frames=n, answer=answer)
        if closing.strip():
            parts.append({"type": "text", "text": closing})
        return [{"role": "system", "content": p.system}, {"role": "user", "content": parts}]

    async def write(self, request: WriteRequest) -> str:
        """Ask the model; return its reply (code fences removed) for the engine to check."""
        reply = await self.client.chat(self.build_messages(request), salt=request.attempt)
        return strip_code_fences(reply)

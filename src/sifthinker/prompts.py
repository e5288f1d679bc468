"""The one prompt of SFT, RL, inference and evaluation, and the one place its wording is written.

A SIF prompt is one user turn: ``"Original image: " <rgb> "\\nDepth image: " <depth> "\\n"`` + the question (with
its options, :func:`format_question`) + ``"\\n"`` + the instruction (:data:`DEFAULT_INSTRUCTION` unless given). It
is built as TRL's conversational format — content parts with ``{"type": "image"}`` placeholders, filled in order by
the images of :func:`prompt_images` (RGB first, then the colourised depth image). :func:`user_content` is the same
turn rendered as a SIF record's user string, with ``<image>`` for each placeholder.

>>> msgs = build_prompt("How many cubes?", with_depth=False, instruction="Answer briefly.")
>>> [p["type"] for p in msgs[0]["content"]]
['text', 'image', 'text']
>>> print(render_plain(msgs))
Original image: <image>
How many cubes?
Answer briefly.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from .answers import LETTERS

__all__ = [
    "IMAGE_PLACEHOLDER",
    "RGB_LABEL",
    "DEPTH_LABEL",
    "USER_PREFIX",
    "USER_PREFIX_RGB_ONLY",
    "DEFAULT_INSTRUCTION",
    "format_question",
    "build_prompt",
    "user_content",
    "record_prompt",
    "prompt_images",
    "render_plain",
]

IMAGE_PLACEHOLDER = "<image>"
RGB_LABEL = "Original image: "
DEPTH_LABEL = "Depth image: "
USER_PREFIX = f"{RGB_LABEL}{IMAGE_PLACEHOLDER}\n{DEPTH_LABEL}{IMAGE_PLACEHOLDER}\n"
USER_PREFIX_RGB_ONLY = f"{RGB_LABEL}{IMAGE_PLACEHOLDER}\n"

# The default instruction appended to every question (our wording; a recipe's `instruction` replaces it).
DEFAULT_INSTRUCTION = (
    "Think step by step with the image. Start from the whole image and focus progressively on the regions that "
    'answer the question. Give each focused region as <area>[{"bbox_2d": [x1, y1, x2, y2], "depth": d}]</area> '
    "with coordinates normalised to [0, 1] and depth from 0 (nearest) to 1 (farthest), followed by "
    "<text>what you see there</text>. Put all steps inside <think></think>, then the final answer inside "
    "<answer></answer>."
)


def format_question(problem: str, choices: list[str] | None = None) -> str:
    """The question text shown to the model: the problem, then the options as ``(A) text`` lines.

    >>> print(format_question("Which is closer?", ["the red cube", "the blue ball"]))
    Which is closer?
    Options:
    (A) the red cube
    (B) the blue ball
    """
    if not choices:
        return problem
    lines = [problem.rstrip(), "Options:"]
    lines += [f"({LETTERS[i]}) {c}" for i, c in enumerate(choices)]
    return "\n".join(lines)


def build_prompt(
    question: str,
    choices: list[str] | None = None,
    *,
    with_depth: bool = True,
    instruction: str | None = None,
    system: str | None = None,
) -> list[dict[str, Any]]:
    """The conversational prompt (a list of messages) for one question.

    Args:
        question: the question text (``problem`` of a SIF record).
        choices: the answer options, shown as ``(A) ...`` lines after ``Options:``; None or empty for none.
        with_depth: show the colourised depth image as a second image (the default, as in SFT and inference).
        instruction: the text after the question; None gives :data:`DEFAULT_INSTRUCTION`, an empty string gives no
            instruction (and no newline before it).
        system: an optional system message; None leaves the chat template's default.

    Returns:
        ``[{"role": "system", ...}?, {"role": "user", "content": [parts]}]`` where parts are ``{"type": "text",
        "text": ...}`` and ``{"type": "image"}`` dicts, one image part per image of :func:`prompt_images`.

    >>> [p.get("text") for p in build_prompt("Is it red?", instruction="")[0]["content"]]
    ['Original image: ', None, '\\nDepth image: ', None, '\\nIs it red?']
    """
    if not isinstance(question, str) or not question.strip():
        raise ValueError(f"prompt: the question must be a non-empty string, got {question!r}")
    instruction = DEFAULT_INSTRUCTION if instruction is None else instruction
    tail = "\n" + format_question(question, list(choices) if choices else None)
    if instruction:
        tail += "\n" + instruction
    parts: list[dict[str, Any]] = [{"type": "text", "text": RGB_LABEL}, {"type": "image"}]
    if with_depth:
        parts += [{"type": "text", "text": "\n" + DEPTH_LABEL}, {"type": "image"}]
    parts.append({"type": "text", "text": tail})
    messages: list[dict[str, Any]] = []
    if system:
        messages.append({"role": "system", "content": [{"type": "text", "text": system}]})
    messages.append({"role": "user", "content": parts})
    return messages


def user_content(
    problem: str,
    choices: list[str] | None = None,
    *,
    instruction: str = DEFAULT_INSTRUCTION,
    with_depth: bool = True,
) -> str:
    """The user turn of a SIF record: :func:`build_prompt` rendered with ``<image>`` placeholders.

    >>> user_content("Is it red?", instruction="") == USER_PREFIX + "Is it red?"
    True
    """
    return render_plain(build_prompt(problem, choices, with_depth=with_depth, instruction=instruction))


def record_prompt(
    record: dict,
    *,
    with_depth: bool = True,
    instruction: str | None = None,
    system: str | None = None,
) -> list[dict[str, Any]]:
    """:func:`build_prompt` for a SIF record (its ``problem`` and ``choices``)."""
    problem = record.get("problem")
    if not isinstance(problem, str) or not problem.strip():
        raise ValueError(f"record {record.get('id', '?')!r}: field 'problem': expected the question, got {problem!r}")
    return build_prompt(
        problem, record.get("choices") or None, with_depth=with_depth, instruction=instruction, system=system
    )


def prompt_images(
    record: dict,
    with_depth: bool = True,
    *,
    root: str | os.PathLike | None = None,
    load: bool = False,
) -> list:
    """The images that fill the prompt's placeholders, in order: ``[rgb, depth_colourised]`` (or ``[rgb]``).

    Reads ``image``/``depth_image``, else ``images[0]``/``images[1]`` of the record. Relative paths resolve
    against ``root`` when given. ``load=True`` returns RGB PIL images instead of paths.

    >>> prompt_images({"image": "/d/a.png", "depth_image": "/d/a_depth.png"})
    ['/d/a.png', '/d/a_depth.png']
    """
    images = record.get("images") or []
    rgb = record.get("image") or (images[0] if images else None)
    depth = record.get("depth_image") or (images[1] if len(images) > 1 else None)
    rid = record.get("id", "?")
    if not isinstance(rgb, (str, os.PathLike)):
        raise ValueError(f"record {rid!r}: no RGB image path (expected 'image' or 'images'[0])")
    paths = [rgb]
    if with_depth:
        if not isinstance(depth, (str, os.PathLike)):
            raise ValueError(
                f"record {rid!r}: no colourised depth image (expected 'depth_image' or 'images'[1]); "
                "build the data with depth, or set with_depth=false"
            )
        paths.append(depth)
    if root is not None:
        paths = [p if os.path.isabs(p) else os.path.join(root, p) for p in paths]
    paths = [os.fspath(p) for p in paths]
    if not load:
        return paths
    from PIL import Image

    out = []
    for p in paths:
        with Image.open(Path(p)) as im:
            out.append(im.convert("RGB"))
    return out


def render_plain(messages: list[dict[str, Any]], role: str = "user") -> str:
    """The text of the first ``role`` turn with ``<image>`` for each image part (the SIF record's user string)."""
    for m in messages:
        if m.get("role") != role:
            continue
        content = m.get("content")
        if isinstance(content, str):
            return content
        out = []
        for part in content:
            if part.get("type") == "image" or part.get("image") is not None:
                out.append(IMAGE_PLACEHOLDER)
            elif part.get("text") is not None:
                out.append(part["text"])
        return "".join(out)
    raise ValueError(f"no {role!r} turn in the messages")

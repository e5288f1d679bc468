"""The protocol card of a run (``results["protocol"]``): everything that changes a score besides the model weights,
so that two numbers are put side by side only when they were measured the same way.

It records the prompt template (text and sha256), the image pixel budget, the decoding settings, the answer parser,
the judge (none: scoring is judge-free), the model (path, revision, a hash of its config and weight files' names and
sizes), the package version, the seed and the backend (``hf`` in-process, ``endpoint``, or ``custom``). A predictor
may describe itself with ``protocol() -> dict``; the in-process HF predictor is read from its attributes.

:func:`protocol_differences` lists the fields that differ between runs — the model fields are expected to differ
(a base model next to its fine-tune), everything else must match.

>>> a = {"prompt": {"sha256": "x"}, "decoding": {"temperature": 0}, "model": {"path": "base"}}
>>> protocol_differences([a, {**a, "model": {"path": "tuned"}}])
{}
>>> protocol_differences([a, {**a, "decoding": {"temperature": 1}}])
{'decoding': [{'temperature': 0}, {'temperature': 1}]}
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from .. import __version__
from ..prompts import build_prompt, render_plain
from .scoring import ANSWER_PARSER

__all__ = ["protocol_card", "prompt_template", "model_hash", "protocol_differences", "COMPARED_FIELDS"]

# the fields two runs must share to be compared (the model may differ: that is the comparison)
COMPARED_FIELDS = (
    "benchmark", "items", "prompt", "image_pixels", "decoding", "answer_parser", "judge", "seed",
)  # fmt: skip
_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".gguf")


def prompt_template(with_depth: bool | str = True, instruction: str | None = None) -> dict[str, Any]:
    """The user turn the predictor sends, with ``{question}`` for the question and its options, and its sha256
    (``with_depth="auto"``: the depth image is shown when the item has one; the text shown is the one with it)."""
    shown = with_depth not in (False, "none")
    text = render_plain(build_prompt("{question}", with_depth=shown, instruction=instruction))
    return {"template": text, "sha256": hashlib.sha256(text.encode()).hexdigest(), "with_depth": with_depth}


def model_hash(path: str | os.PathLike | None) -> str | None:
    """sha256 over a local checkpoint's ``config.json`` bytes and its weight files' names and sizes; None when
    ``path`` is not a local folder."""
    if path is None or not Path(path).is_dir():
        return None
    root = Path(path)
    h = hashlib.sha256()
    cfg = root / "config.json"
    if cfg.is_file():
        h.update(cfg.read_bytes())
    for f in sorted(root.rglob("*")):
        if f.is_file() and f.suffix in _WEIGHT_SUFFIXES:
            h.update(f"{f.relative_to(root).as_posix()}:{f.stat().st_size}\n".encode())
    return h.hexdigest()


def _thinker_card(predictor) -> dict[str, Any]:
    """The card of an in-process predictor (``sifthinker.infer``'s ``SIFPredictor`` and its vLLM subclass), read
    from its thinker; ``backend`` is the predictor's (``hf`` unless it says otherwise); what the thinker does not
    expose stays None."""
    th = predictor.thinker
    g = getattr(th, "generation", None)
    ip = getattr(getattr(th, "processor", None), "image_processor", None)
    size = dict(getattr(ip, "size", None) or {})
    cfg = getattr(getattr(th, "model", None), "config", None)
    path = getattr(cfg, "_name_or_path", None) or getattr(th, "model_name", None)
    with_depth = getattr(th, "with_depth", None)
    sampling = bool(getattr(g, "do_sample", False))
    return {
        "backend": getattr(predictor, "backend", "hf"),
        "prompt": prompt_template(with_depth, getattr(th, "instruction", None)) if with_depth is not None else None,
        "depth_mode": getattr(th, "depth_mode", None),
        "image_pixels": {
            "min_pixels": getattr(ip, "min_pixels", None) or size.get("shortest_edge"),
            "max_pixels": getattr(ip, "max_pixels", None) or size.get("longest_edge"),
        },
        "decoding": None if g is None else {
            "max_new_tokens": g.max_new_tokens,
            "do_sample": sampling,
            "temperature": g.temperature if sampling else 0.0,
            "top_p": g.top_p if sampling else 1.0,
        },
        "model": {
            "name": getattr(th, "model_name", None) or type(th).__name__,
            "path": str(path) if path else None,
            "revision": getattr(cfg, "_commit_hash", None),
            "hash": model_hash(path),
        },
    }


def protocol_card(predictor, *, seed: int, benchmark: str, item_ids: list[str]) -> dict[str, Any]:
    """The card of a run with ``predictor`` (None for a score-only run: the fields the predictor would fill stay
    None; the runner then keeps the card of the run that made the predictions). ``items`` identifies the evaluated
    set by its size and a sha256 of its ids (paths differ between machines; the ids do not)."""
    card: dict[str, Any] = {
        "benchmark": benchmark,
        "items": {"n": len(item_ids), "ids_sha256": hashlib.sha256("\n".join(item_ids).encode()).hexdigest()},
        "backend": None,
        "prompt": None,
        "image_pixels": None,
        "decoding": None,
        "answer_parser": ANSWER_PARSER,
        "judge": None,
        "model": None,
        "package_version": __version__,
        "seed": seed,
    }
    if predictor is None:
        return card
    if callable(getattr(predictor, "protocol", None)):
        card.update(predictor.protocol())
    elif hasattr(predictor, "thinker"):
        card.update(_thinker_card(predictor))
    else:
        card["backend"] = "custom"
        card["model"] = {"name": type(predictor).__name__}
    return card


def _canon(v) -> str:
    return json.dumps(v, sort_keys=True, default=str)


def protocol_differences(cards: list[dict | None]) -> dict[str, list]:
    """Field → the values per run, for every :data:`COMPARED_FIELDS` field whose values are not all equal (the
    prompt compared by its sha256)."""
    out: dict[str, list] = {}
    for key in COMPARED_FIELDS:
        vals = []
        for c in cards:
            v = (c or {}).get(key)
            if key == "prompt" and isinstance(v, dict):
                v = v.get("sha256")
            vals.append(v)
        if len({_canon(v) for v in vals}) > 1:
            out[key] = vals
    return out

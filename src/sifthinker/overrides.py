"""``key=value`` options from the command line, read one way everywhere: recipe overrides (``sifthinker train``,
``sifthinker pretrain``) and keyword options (``sifthinker eval --model-arg/--bench-arg``).

A value is read as a YAML scalar or list (``3``, ``0.5``, ``true``, ``[a, b]``, ``null``), with YAML 1.1's
strings-that-look-like-numbers (``1e-5``) read as numbers; an empty value is the empty string, and any other word
(``none``, ``auto``) stays a string.

>>> parse_overrides(["learning_rate=1e-5", "lora.r=16", "reward_funcs=[format, box]", "instruction="])
{'learning_rate': 1e-05, 'lora': {'r': 16}, 'reward_funcs': ['format', 'box'], 'instruction': ''}
>>> parse_value("none"), parse_value("null"), parse_value("1e-5")
('none', None, 1e-05)
"""

from __future__ import annotations

import argparse
from typing import Any

import yaml

__all__ = ["parse_value", "as_number", "parse_overrides", "deep_merge", "key_value"]


def parse_value(text: str) -> Any:
    """The value of one ``key=value`` (see the module docstring)."""
    if text == "":
        return ""
    try:
        v = yaml.safe_load(text)
    except yaml.YAMLError:
        return text
    return as_number(v) if isinstance(v, str) else v


def as_number(v: str) -> Any:
    """``"3"`` → 3, ``"1e-5"`` → 1e-05, anything else as given."""
    try:
        return int(v)
    except ValueError:
        pass
    try:
        return float(v)
    except ValueError:
        return v


def _split(item: str) -> tuple[str, str]:
    key, sep, value = str(item).partition("=")
    key = key.strip()
    if not sep or not key:
        raise ValueError(f"{item!r}: write key=value (e.g. learning_rate=1e-5 or lora.r=16)")
    return key, value


def parse_overrides(items: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """``["a.b=1", "c=x"]`` → ``{"a": {"b": 1}, "c": "x"}``; a dotted key addresses a group."""
    out: dict[str, Any] = {}
    for item in items:
        key, value = _split(item)
        parts = key.split(".")
        if any(not p for p in parts):
            raise ValueError(f"override {item!r}: empty part in the dotted key {key!r}")
        node = out
        for p in parts[:-1]:
            nxt = node.setdefault(p, {})
            if not isinstance(nxt, dict):
                raise ValueError(f"override {item!r}: {p!r} is already set to a value, not a group")
            node = nxt
        node[parts[-1]] = parse_value(value)
    return out


def deep_merge(base: dict, extra: dict) -> dict:
    """``base`` with ``extra`` on top, groups (dicts) merged key by key."""
    out = dict(base)
    for k, v in extra.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = v
    return out


def key_value(text: str) -> tuple[str, Any]:
    """An argparse ``type=``: ``"KEY=VALUE"`` → ``(key, parsed value)``."""
    try:
        key, value = _split(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    return key, parse_value(value)

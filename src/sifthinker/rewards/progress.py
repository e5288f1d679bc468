"""The answer-progress memory of docs/method.md, as an object that training checkpoints and restores.

For each (question, image) it remembers the mean answer score of the group at its last visit; the next visit's
reward adds ``s − p`` when ``s ≥ p``. The authors kept this in a process-global list lost on resume; here it has
``state_dict()`` / ``load_state_dict()`` and atomic JSON ``save()`` / ``load()``.

>>> mem = ProgressMemory()
>>> k = progress_key("How many cubes?", "img/0001.png")
>>> mem.get(k) is None
True
>>> mem.update(k, 0.25); mem.get(k)
0.25
>>> ProgressMemory.from_state_dict(mem.state_dict()).get(k)
0.25
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from pathlib import Path

from ..io import atomic_write_text

__all__ = ["ProgressMemory", "progress_key"]

STATE_VERSION = 1


def progress_key(question: str, image: str) -> str:
    """A stable key for one (question, image) pair (a SHA-1 hex digest, so the memory stays small)."""
    h = hashlib.sha1()
    h.update(str(question).encode("utf-8"))
    h.update(b"\x00")
    h.update(str(image).encode("utf-8"))
    return h.hexdigest()


class ProgressMemory:
    """Remembered group-mean answer score per (question, image) key."""

    def __init__(self) -> None:
        self._mem: dict[str, float] = {}

    def __len__(self) -> int:
        return len(self._mem)

    def __contains__(self, key: str) -> bool:
        return key in self._mem

    def get(self, key: str) -> float | None:
        return self._mem.get(key)

    def update(self, key: str, value: float) -> None:
        v = float(value)
        if not math.isfinite(v):
            raise ValueError(f"progress memory: value for {key!r} must be finite, got {value!r}")
        self._mem[key] = v

    def clear(self) -> None:
        self._mem.clear()

    def state_dict(self) -> dict:
        return {"version": STATE_VERSION, "memory": dict(self._mem)}

    def load_state_dict(self, state: dict) -> None:
        if (
            not isinstance(state, dict)
            or state.get("version") != STATE_VERSION
            or not isinstance(state.get("memory"), dict)
        ):
            raise ValueError(f"progress memory: not a version-{STATE_VERSION} state dict")
        mem = {}
        for k, v in state["memory"].items():
            if (
                not isinstance(k, str)
                or isinstance(v, bool)
                or not isinstance(v, (int, float))
                or not math.isfinite(v)
            ):
                raise ValueError(f"progress memory: bad entry {k!r}: {v!r}")
            mem[k] = float(v)
        self._mem = mem

    @classmethod
    def from_state_dict(cls, state: dict) -> ProgressMemory:
        m = cls()
        m.load_state_dict(state)
        return m

    def save(self, path: str | os.PathLike) -> Path:
        """Write the state as JSON atomically (temporary file + rename)."""
        return atomic_write_text(path, json.dumps(self.state_dict()))

    @classmethod
    def load(cls, path: str | os.PathLike) -> ProgressMemory:
        return cls.from_state_dict(json.loads(Path(path).read_text(encoding="utf-8")))

"""The benchmark registry and the one small :class:`Benchmark` protocol every benchmark satisfies.

A benchmark is a module (one folder under ``benchmarks/``) with ``NAME`` and ``load(path, limit=None, **kw) ->
list[EvalItem]``, and optionally ``summarize(items, scores) -> dict`` — the benchmark's own metrics over the shared
per-item scores; without one, :func:`default_summarize` reports the shared blocks. :func:`get_benchmark` wraps the
module as a :class:`Benchmark` whose ``score(items, predictions, skip_reasons=None)`` scores every item with the
shared rules and then summarises. Modules are imported only when asked for.

>>> sorted(BENCHMARKS)
['cv_bench', 'refcoco', 'sat', 'spatialbench', 'synthetic', 'viscot', 'vstar']
>>> b = get_benchmark("vstar")
>>> b.NAME, isinstance(b, Benchmark)
('vstar', True)
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from ..scoring import ItemScore, base_results, score_items
from ..types import EvalItem

__all__ = ["BENCHMARKS", "Benchmark", "BenchmarkModule", "get_benchmark", "benchmark_names", "default_summarize"]

BENCHMARKS: dict[str, str] = {
    "synthetic": "sifthinker.eval.benchmarks.synthetic",
    "sat": "sifthinker.eval.benchmarks.sat",
    "cv_bench": "sifthinker.eval.benchmarks.cv_bench",
    "spatialbench": "sifthinker.eval.benchmarks.spatialbench",
    "vstar": "sifthinker.eval.benchmarks.vstar",
    "refcoco": "sifthinker.eval.benchmarks.refcoco",
    "viscot": "sifthinker.eval.benchmarks.viscot",
}


@runtime_checkable
class Benchmark(Protocol):
    """What the runner needs from a benchmark."""

    NAME: str

    def load(self, path: Any, limit: int | None = None, **kw: Any) -> list[EvalItem]: ...

    def summarize(self, items: Sequence[EvalItem], scores: Sequence[ItemScore]) -> dict: ...

    def score(
        self,
        items: Sequence[EvalItem],
        predictions: Mapping[str, str | None] | Sequence[str | None],
        skip_reasons: Mapping[str, str] | None = None,
    ) -> dict: ...


def default_summarize(name: str, items: Sequence[EvalItem], scores: Sequence[ItemScore]) -> dict:
    """The shared result blocks (accuracy, per category, trace, focus, grounding when items have boxes)."""
    return base_results(name, scores)


@dataclass(frozen=True)
class BenchmarkModule:
    """A benchmark module seen through the :class:`Benchmark` protocol (``score`` = shared scoring + summary)."""

    NAME: str
    load: Callable[..., list[EvalItem]]
    _summarize: Callable[[Sequence[EvalItem], Sequence[ItemScore]], dict] | None = None

    def summarize(self, items: Sequence[EvalItem], scores: Sequence[ItemScore]) -> dict:
        if self._summarize is None:
            return default_summarize(self.NAME, items, scores)
        return self._summarize(items, scores)

    def score(
        self,
        items: Sequence[EvalItem],
        predictions: Mapping[str, str | None] | Sequence[str | None],
        skip_reasons: Mapping[str, str] | None = None,
    ) -> dict:
        return self.summarize(items, score_items(items, predictions, skip_reasons))


def benchmark_names() -> list[str]:
    return list(BENCHMARKS)


def get_benchmark(name: str) -> BenchmarkModule:
    """The benchmark registered as ``name``; ``ValueError`` listing the choices for an unknown one."""
    key = str(name).strip().lower().replace("-", "_")
    if key not in BENCHMARKS:
        raise ValueError(f"unknown benchmark {name!r}; choose one of: {', '.join(BENCHMARKS)}")
    mod = importlib.import_module(BENCHMARKS[key])
    return BenchmarkModule(mod.NAME, mod.load, getattr(mod, "summarize", None))

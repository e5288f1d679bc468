"""The evaluation harness: benchmark readers behind one :class:`Benchmark` protocol (one folder each under
:mod:`.benchmarks`), the shared judge-free scoring rules (:mod:`.scoring`) and focus metrics (:mod:`.focus`), a
resumable runner writing results with a protocol card (:mod:`.runner`, :mod:`.protocol`), Markdown/PNG reports and
run comparison (:mod:`.report`).

Inference is pluggable: anything with ``predict(items: list[EvalItem]) -> list[str | Prediction]`` is a
:class:`Predictor` — the in-process model (``sifthinker.infer.load_predictor``) or any OpenAI-compatible server
(:class:`~sifthinker.eval.endpoint.EndpointPredictor`). Nothing here imports torch or transformers.
"""

from .benchmarks import BENCHMARKS, Benchmark, benchmark_names, get_benchmark
from .report import compare, results_markdown
from .runner import NothingEvaluated, load_items, read_predictions, run_eval
from .scoring import ItemScore, extract_answer, score_item, score_items
from .types import EvalItem, LoadedItems, Prediction, Predictor

__all__ = [
    "BENCHMARKS",
    "Benchmark",
    "EvalItem",
    "LoadedItems",
    "NothingEvaluated",
    "Prediction",
    "ItemScore",
    "Predictor",
    "benchmark_names",
    "compare",
    "extract_answer",
    "get_benchmark",
    "load_items",
    "read_predictions",
    "results_markdown",
    "run_eval",
    "score_item",
    "score_items",
]

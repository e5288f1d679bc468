"""What a predictor returns for one item, in-process or through a server: the completion, or the error that stopped
it, with the completion's token count and the seconds it took when known. Inference produces it, evaluation reads it
(:mod:`sifthinker.eval` re-exports it).

>>> Prediction("<answer>B</answer>", tokens=7).tokens
7
>>> Prediction(None)
Traceback (most recent call last):
...
ValueError: a Prediction without a completion must carry an error message
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Prediction"]


@dataclass
class Prediction:
    """The completion, or the error that stopped it (a failed request is recorded with its message and retried on
    the next run, never scored as an empty answer), and optionally the completion's token count and the seconds it
    took."""

    completion: str | None
    error: str | None = None
    tokens: int | None = None
    seconds: float | None = None

    def __post_init__(self):
        if self.completion is None and not self.error:
            raise ValueError("a Prediction without a completion must carry an error message")
        if self.completion is not None and not isinstance(self.completion, str):
            raise TypeError(f"Prediction.completion must be a string, got {type(self.completion).__name__}")

"""The app's model side, free of Gradio: one loaded checkpoint, asked with depth estimated / given / off, and the
completion turned into a :class:`~.steps.FocusView` with the true box-mean depths where a depth map is known."""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from ..infer.engine import DecodingConfig, SIFThinker
from .steps import FocusView, focus_view, parse_choices

__all__ = ["AppSession", "AppResult", "DEPTH_CHOICES"]

logger = logging.getLogger(__name__)

# what the user picks → SIFThinker's depth mode
DEPTH_CHOICES = {"estimated": "model", "given": "auto", "off": "none"}


@dataclass
class AppResult:
    view: FocusView
    image: Image.Image
    depth_image: Image.Image | None
    question: str


class AppSession:
    """A checkpoint loaded once (``sif-tiny-sft`` by default) and a :class:`SIFThinker` per depth mode sharing it."""

    def __init__(
        self,
        model: str = "sif-tiny-sft",
        *,
        depth_model: str | None = None,
        device: str | None = None,
        max_new_tokens: int = 512,
    ) -> None:
        from ..models.loading import checkpoint_prompt, load_model

        self.model_name = os.fspath(model)
        self._loaded = load_model(model)
        self.instruction = checkpoint_prompt(model).get("instruction")  # the prompt it was trained with
        self.depth_model = depth_model
        self.device = device
        self.generation = DecodingConfig(max_new_tokens=max_new_tokens)
        self._thinkers: dict[str, SIFThinker] = {}
        self._lock = threading.Lock()  # one generation at a time: the model is not shared across threads

    def thinker(self, depth_choice: str) -> SIFThinker:
        if depth_choice not in DEPTH_CHOICES:
            raise ValueError(f"depth: expected one of {', '.join(DEPTH_CHOICES)}, got {depth_choice!r}")
        if depth_choice not in self._thinkers:
            t = SIFThinker(
                self._loaded, depth=DEPTH_CHOICES[depth_choice], depth_model=self.depth_model,
                device=self.device, generation=self.generation, instruction=self.instruction,
            )  # fmt: skip
            t.model_name = self.model_name
            self._thinkers[depth_choice] = t
        return self._thinkers[depth_choice]

    def _depth(self, thinker: SIFThinker, image: Image.Image, depth_choice: str, depth_file):
        """(map or None, depth image or None) for the chosen mode, with a clear error for a missing or unusable
        input; an estimator that cannot be loaded (offline, no weights) is named."""
        given = None
        if depth_choice == "given":
            if not depth_file:
                raise ValueError(
                    "depth 'given' needs a depth file: a lossless map (.npy or 16-bit PNG, 0 = nearest) or a "
                    "colourised depth PNG; or pick 'off'"
                )
            given = Path(depth_file)
            if not given.is_file():
                raise ValueError(f"depth file {given.name}: not found")
        try:
            return thinker.prepare_depth(image, given)
        except ValueError as e:
            raise ValueError(f"depth file {given.name if given else ''}: {e}") from None
        except (OSError, ImportError, RuntimeError) as e:
            raise ValueError(
                f"depth 'estimated' needs the depth model {thinker.depth_model or 'Depth Anything V2 Small'}, which "
                f"could not be loaded ({type(e).__name__}: {str(e)[:200]}); give --depth-model a local folder, pick "
                "'given' with a depth file, or 'off'"
            ) from None

    def _inputs(self, image, question: str | None, depth_choice: str, depth_file):
        if image is None:
            raise ValueError("no image: upload one or pick an example")
        rgb = image.convert("RGB") if isinstance(image, Image.Image) else Image.open(image).convert("RGB")
        thinker = self.thinker(depth_choice)
        dmap, dimg = self._depth(thinker, rgb, depth_choice, depth_file)
        return thinker, rgb, dmap, dimg

    def ask(self, image, question: str, choices: str | None = None, depth_choice: str = "given", depth_file=None):
        """Generate an answer and read its focus path."""
        if not question or not question.strip():
            raise ValueError("no question: type one")
        opts = parse_choices(choices)
        with self._lock:
            thinker, rgb, dmap, dimg = self._inputs(image, question, depth_choice, depth_file)
            # depth is prepared once above; an "auto" thinker shows it as it is (a "model" one would estimate again)
            if depth_choice != "off":
                thinker = self.thinker("given")
            result = thinker.think(rgb, question.strip(), opts, depth=dmap if dmap is not None else dimg)
        logger.info("app: %d characters generated, well-formed=%s", len(result.text), result.valid)
        return AppResult(focus_view(result.text, dmap), rgb, dimg, question.strip())

    def draw(self, image, completion: str, depth_choice: str = "given", depth_file=None, question: str = ""):
        """Read a completion written elsewhere (``predictions.jsonl``, another model) as if it had been generated."""
        if not completion or not completion.strip():
            raise ValueError("no completion: paste the text a model wrote")
        with self._lock:
            _, rgb, dmap, dimg = self._inputs(image, question, depth_choice, depth_file)
        return AppResult(focus_view(completion, np.asarray(dmap) if dmap is not None else None), rgb, dimg, question)

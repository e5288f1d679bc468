"""Pretraining the tiny base model (``sif-tiny-base``) on perception in the synthetic world.

:mod:`.tasks` (what is asked and the dense vision labels), :mod:`.config` (the recipe), :mod:`.loop` (the
resumable training loop), :mod:`.evaluate` (held-out measurements and the model card).
"""

from .config import Phase, PretrainConfig, load_pretrain_config
from .tasks import TASKS

__all__ = ["Phase", "PretrainConfig", "load_pretrain_config", "TASKS", "pretrain"]


def pretrain(*args, **kwargs):
    """:func:`sifthinker.pretrain.loop.pretrain` (imported lazily: it needs torch)."""
    from .loop import pretrain as _pretrain

    return _pretrain(*args, **kwargs)

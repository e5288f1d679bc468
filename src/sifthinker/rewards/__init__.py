"""The four GRPO-SIF rewards (docs/method.md): pure scores on one completion, and TRL reward functions.

The same scorer serves RL and evaluation: :func:`format_score`, :func:`answer_score`, :func:`box_score` and
:func:`depth_score` score one completion; :func:`get_reward_funcs` builds TRL-compatible batch functions by name
(ours or the authors': ``format``, ``accuracy``, ``accuracy_w_progress``, ``bboxaccuracy``,
``bboxaccuracy_w_progress``, ``depth_consistency``). :func:`depth_grounded_score` (registry name
``depth_grounded``) is our depth reward that pays only for depth that is right on the evidence.
"""

from .functions import (
    AnswerReward,
    BoxReward,
    DepthGroundedReward,
    DepthReward,
    FormatReward,
    SearchReward,
    SIFReward,
)
from .progress import ProgressMemory, progress_key
from .registry import (
    ALIASES,
    REWARDS,
    check_reward_columns,
    check_reward_weights,
    get_reward,
    get_reward_funcs,
    reward_names,
)
from .scores import (
    answer_score,
    box_parts,
    box_score,
    box_score_plain,
    completion_text,
    depth_grounded_parts,
    depth_grounded_score,
    depth_parts,
    depth_score,
    format_score,
    progress_adjust,
    search_score,
    validate_gt_boxes,
)

__all__ = [
    "ALIASES",
    "REWARDS",
    "AnswerReward",
    "BoxReward",
    "DepthGroundedReward",
    "DepthReward",
    "FormatReward",
    "SearchReward",
    "SIFReward",
    "ProgressMemory",
    "progress_key",
    "answer_score",
    "box_parts",
    "box_score",
    "box_score_plain",
    "completion_text",
    "depth_grounded_parts",
    "depth_grounded_score",
    "depth_parts",
    "depth_score",
    "format_score",
    "progress_adjust",
    "search_score",
    "validate_gt_boxes",
    "check_reward_weights",
    "check_reward_columns",
    "get_reward",
    "get_reward_funcs",
    "reward_names",
]

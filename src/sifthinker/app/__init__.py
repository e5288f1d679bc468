"""``sifthinker app``: a local Gradio app to ask a model about an image and see its focus path step by step.

:mod:`.steps` reads a completion into steps (stated vs true depth), :mod:`.draw` draws them, :mod:`.session` holds the
model, :mod:`.examples` renders synthetic scenes to try, :mod:`.ui` is the Gradio layout. Gradio is imported only by
:mod:`.ui` (the optional ``app`` extra).
"""

from .steps import FocusView, RegionView, StepView, focus_view, parse_choices

__all__ = ["FocusView", "RegionView", "StepView", "focus_view", "parse_choices"]

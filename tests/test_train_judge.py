"""An LLM judge for the answer reward, configured in a recipe as endpoint settings, over real HTTP."""

from __future__ import annotations

from types import SimpleNamespace

from fake_openai_server import FakeOpenAIServer

from sifthinker.rewards import AnswerReward
from sifthinker.train.grpo import build_rewards


def test_answer_reward_with_a_judge_from_recipe_settings():
    def responder(body):
        text = str(body["messages"])
        return "1" if "crimson" in text else "0"

    with FakeOpenAIServer(responder) as server:
        judge = {"base_url": server.base_url, "model": "judge", "api_key_env": None, "max_retries": 1}
        cfg = SimpleNamespace(reward_funcs=["format", "accuracy"], reward_options={"accuracy": {"judge": judge}})
        funcs = build_rewards(cfg)
        answer = funcs[1]
        assert isinstance(answer, AnswerReward) and answer.judge is not None
        out = answer(["<answer>crimson</answer>", "<answer>blue</answer>", "no answer"], answer=["red"] * 3)
        assert out == [1.0, 0.0, 0.0]  # the judge's verdicts; a missing answer is 0 without asking
        assert server.hits == 2

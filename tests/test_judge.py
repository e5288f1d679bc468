"""The LLM answer judge against a real loopback server."""

from __future__ import annotations

import asyncio
import re
import time

import pytest
from fake_openai_server import Action, FakeOpenAIServer, fast_sdk_backoff

from sifthinker.backends.openai_compat import BackendError, OpenAICompatClient, OpenAICompatConfig
from sifthinker.judge import JUDGE_SYSTEM, OpenAIJudge, parse_score
from sifthinker.rewards import AnswerReward


def grader(body: dict) -> str:
    """A judge behind HTTP: 1 when the model answer equals the reference (case-insensitive), else 0."""
    user = body["messages"][-1]["content"]
    ref = re.search(r"Reference answer: <<<(.*?)>>>", user).group(1)
    pred = re.search(r"Model answer: <<<(.*?)>>>", user).group(1)
    if pred == "GARBAGE":
        return "I cannot tell."
    if pred == "HALF":
        return "Score: 0.5"
    return "1" if pred.lower() == ref.lower() else "0"


@pytest.fixture
def server():
    with FakeOpenAIServer(grader) as srv:
        yield srv


@pytest.fixture
def make_judge(server, monkeypatch):
    fast_sdk_backoff(monkeypatch)
    clients = []

    def make(judge_kwargs=None, **cfg) -> OpenAIJudge:
        settings = dict(
            base_url=server.base_url,
            model="judge-llm",
            api_key_env=None,
            max_retries=2,
        )
        settings.update(cfg)
        c = OpenAICompatClient(OpenAICompatConfig(**settings))
        clients.append(c)
        return OpenAIJudge(c, **(judge_kwargs or {}))

    yield make
    for c in clients:
        c.close()


@pytest.mark.parametrize(
    "reply, score",
    [
        ("1", 1.0),
        ("0", 0.0),
        ("0.75", 0.75),
        (" 1.0 \n", 1.0),
        ("Score: 0.5", 0.5),
        ("score=1", 1.0),
        ("**1**", 1.0),
        ("`0`", 0.0),
        ('"1"', 1.0),
        ("0.", 0.0),
        (".5", 0.5),
        ("correct", 1.0),
        ("Incorrect.", 0.0),
        ("<think>the colours match</think>\n1", 1.0),
    ],
)
def test_parse_score_accepts(reply, score):
    assert parse_score(reply) == score


@pytest.mark.parametrize(
    "reply",
    ["", "   ", "yes", "1.5", "2", "-0.5", "0.5 because it matches", "1/1", "80%", "correct, mostly", "NaN", "inf"],
)
def test_parse_score_rejects(reply):
    with pytest.raises(ValueError):
        parse_score(reply)


def test_judge_scores_through_http(server, make_judge):
    judge = make_judge()
    assert judge("Yes", "yes") == 1.0
    assert judge("no", "yes") == 0.0
    assert judge("HALF", "2") == 0.5
    body = server.requests[0].body
    assert body["temperature"] == 0.0 and body["max_tokens"] == 32 and body["model"] == "judge-llm"
    assert body["messages"][0] == {"role": "system", "content": JUDGE_SYSTEM}
    assert "Reference answer: <<<yes>>>" in body["messages"][1]["content"]


def test_empty_prediction_scores_zero_without_a_request(server, make_judge):
    assert make_judge()("   ", "yes") == 0.0 and server.hits == 0


def test_garbage_raises_never_a_silent_zero(server, make_judge):
    judge = make_judge(judge_kwargs={"parse_retries": 2})
    with pytest.raises(BackendError, match="not a score") as ei:
        judge("GARBAGE", "yes")
    assert ei.value.reason == "unparsable_reply" and server.hits == 3 and judge.unparsable == 3
    assert len({str(r.body["messages"]) for r in server.requests}) == 1  # the same question, asked again


def test_re_asks_bypass_a_cached_garbage_reply(server, make_judge, tmp_path):
    judge = make_judge(cache_dir=str(tmp_path / "cache"))
    server.queue(Action(content="hmm"))
    assert judge("cat", "cat") == 1.0 and server.hits == 2  # garbage (cached), then a re-ask with a new salt
    assert judge("cat", "cat") == 1.0 and server.hits == 2  # a rerun replays both from the cache


def test_out_of_range_score_raises(server, make_judge):
    judge = make_judge(judge_kwargs={"parse_retries": 0})
    server.queue(Action(content="7"))
    with pytest.raises(BackendError, match="not a score"):
        judge("a", "a")


def test_garbage_then_a_score_on_the_re_ask(server, make_judge):
    judge = make_judge()
    server.queue(Action(content="Let me think about it."))
    assert judge("cat", "Cat") == 1.0 and server.hits == 2 and judge.unparsable == 1


def test_endpoint_failure_propagates(server, make_judge):
    judge = make_judge(max_retries=0)
    server.queue(Action.error(401, "bad key"))
    with pytest.raises(BackendError, match="HTTP 401"):
        judge("a", "a")


def test_judge_many_runs_concurrently_and_returns_exceptions(server, make_judge):
    server.delay = 0.1
    judge = make_judge(max_concurrency=8)
    pairs = [("red", "red"), ("blue", "red"), ("GARBAGE", "red"), ("HALF", "3")] * 2
    t0 = time.perf_counter()
    out = judge.judge_many(pairs)
    elapsed = time.perf_counter() - t0
    assert [o for i, o in enumerate(out) if i % 4 != 2] == [1.0, 0.0, 0.5, 1.0, 0.0, 0.5]
    assert all(isinstance(out[i], BackendError) for i in (2, 6))
    # 8 pairs + 2 re-asks at 0.1 s each: sequential would take >= 1 s.
    assert server.max_in_flight > 1 and elapsed < 0.7


def test_async_judge(server, make_judge):
    judge = make_judge()

    async def main():
        try:
            one = await judge.ajudge("two", "Two", question="How many?")
            many = await judge.ajudge_many([("a", "a"), ("a", "b")])
            return one, many
        finally:
            await judge.client.aclose()

    one, many = asyncio.run(main())
    assert one == 1.0 and many == [1.0, 0.0]
    assert "Question: <<<How many?>>>" in server.requests[0].body["messages"][1]["content"]


def test_sync_judge_inside_a_running_loop(server, make_judge):
    judge = make_judge()

    async def main():
        return judge("x", "x")

    assert asyncio.run(main()) == 1.0


def test_answer_reward_with_the_judge(server, make_judge):
    reward = AnswerReward(progress=False, judge=make_judge())

    def completion(answer: str) -> str:
        area = '<area>[{"bbox_2d": [0, 0, 1, 1], "depth": 0.5}]</area>'
        return f"<think>{area}<text>x</text></think><answer>{answer}</answer>"

    out = reward([completion("Red"), completion("blue"), completion("GARBAGE")], answer=["red", "red", "red"])
    assert out == [1.0, 0.0, None]
    assert reward.last_metrics["judge_errors"] == 1.0


def test_bad_user_template():
    with pytest.raises(ValueError, match="placeholder"):
        OpenAIJudge(object(), user="$prediction vs $reference")

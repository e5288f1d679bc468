"""The API writer against a real loopback server whose responder is a tiny offline writer behind HTTP."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import re

import pytest
from fake_openai_server import Action, FakeOpenAIServer, fast_sdk_backoff
from PIL import Image, ImageDraw

from sifthinker.backends.openai_compat import OpenAICompatClient, OpenAICompatConfig
from sifthinker.data.types import Frame, GroundedItem, Writer, WriteRequest
from sifthinker.data.writers import APIWriter
from sifthinker.data.writers.api import SYSTEM_PROMPT, WriterPrompt, regions_json, strip_code_fences
from sifthinker.records import format_question
from sifthinker.trace import Region, Step, Trace, parse_trace, render

_DECODER = json.JSONDecoder()


def frame_png(regions: list[Region], size: int = 64) -> bytes:
    img = Image.new("RGB", (size, size), (90, 90, 90))
    draw = ImageDraw.Draw(img)
    for r in regions:
        x1, y1, x2, y2 = (round(v * (size - 1)) for v in r.box)
        draw.rectangle([x1, y1, x2, y2], outline=(0, 255, 0), width=1)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def make_request(*, choices=None, answer="2", attempt=0, images=True, item_id="item-1") -> WriteRequest:
    paths = [
        ("full", [Region((0.0, 0.0, 1.0, 1.0), 0.512)]),
        ("distractor", [Region((0.05, 0.1, 0.2, 0.35), 0.874)]),
        ("expansion", [Region((0.25, 0.4, 0.8, 0.85), 0.43)]),
        ("gt", [Region((0.35, 0.5, 0.45, 0.62), 0.418), Region((0.55, 0.52, 0.64, 0.63), 0.425)]),
    ]
    frames = [Frame(regions=regs, role=role, image_png=frame_png(regs) if images else None) for role, regs in paths]
    item = GroundedItem(
        id=item_id,
        dataset="synth",
        image="a.png",
        question="How many cups are on the table?",
        answer=answer,
        gt_boxes=[r.box for r in paths[-1][1]],
        choices=choices,
    )
    return WriteRequest(item=item, frames=frames, attempt=attempt)


def user_texts(body: dict) -> list[str]:
    user = [m for m in body["messages"] if m["role"] == "user"][0]
    return [p["text"] for p in user["content"] if p["type"] == "text"]


def echo_writer(body: dict) -> str:
    """The offline writer: copy every region list found in the user message, answer the stated correct answer."""
    texts = user_texts(body)
    steps = []
    for t in texts:
        i = t.find('[{"bbox_2d"')
        if i < 0:
            continue
        regions, _ = _DECODER.raw_decode(t, i)
        regs = tuple(Region(tuple(r["bbox_2d"]), r["depth"]) for r in regions)
        steps.append(Step(regs, f"Looking at {len(regs)} region(s) here."))
    answer = re.search(r"Correct answer: (.*)", "\n".join(texts)).group(1).strip()
    return render(Trace(tuple(steps), answer))


@pytest.fixture
def server():
    with FakeOpenAIServer(echo_writer) as srv:
        yield srv


@pytest.fixture
def client(server, tmp_path, monkeypatch):
    fast_sdk_backoff(monkeypatch)
    cfg = OpenAICompatConfig(
        base_url=server.base_url,
        model="writer-vlm",
        api_key_env=None,
        max_retries=2,
        cache_dir=str(tmp_path / "cache"),
    )
    c = OpenAICompatClient(cfg)
    yield c
    c.close()


def write(writer: APIWriter, *requests: WriteRequest) -> list[str]:
    async def main():
        try:
            return await asyncio.gather(*(writer.write(r) for r in requests))
        finally:
            await writer.client.aclose()

    return asyncio.run(main())


def test_writer_round_trip_copies_frames(server, client):
    writer = APIWriter(client)
    assert isinstance(writer, Writer) and writer.name == "api:writer-vlm"
    req = make_request()
    (reply,) = write(writer, req)
    trace = parse_trace(reply)
    assert trace.areas == tuple(tuple(f.regions) for f in req.frames)
    assert trace.answer == "2"


def test_request_holds_one_image_per_frame_and_the_regions(server, client):
    req = make_request(choices=["one", "two", "three"], answer="B")
    write(APIWriter(client), req)
    (rec,) = server.requests
    body = rec.body
    assert [m["role"] for m in body["messages"]] == ["system", "user"]
    assert body["messages"][0]["content"] == SYSTEM_PROMPT
    parts = body["messages"][1]["content"]
    images = [p for p in parts if p["type"] == "image_url"]
    assert len(images) == len(req.frames)
    for p, f in zip(images, req.frames):
        url = p["image_url"]["url"]
        assert url.startswith("data:image/png;base64,")
        assert base64.b64decode(url.split(",", 1)[1]) == f.image_png
    # Forward order: each frame's sentence (its regions as JSON) comes right before its image.
    for i, f in enumerate(req.frames):
        j = parts.index(images[i])
        assert parts[j - 1]["type"] == "text" and regions_json(f.regions) in parts[j - 1]["text"]
        assert f"Frame {i + 1} of 4" in parts[j - 1]["text"]
    text = "\n".join(user_texts(body))
    assert format_question(req.item.question, req.item.choices) in text
    assert "(B) two" in text and "Correct answer: B" in text and "<answer>B</answer>" in text
    assert '"depth": 0.418' in text and "[0.35, 0.5, 0.45, 0.62]" in text
    assert "wrong region" in parts[parts.index(images[1]) - 1]["text"]  # the distractor's role hint


def test_attempt_is_the_cache_salt(server, client):
    writer = APIWriter(client)
    write(writer, make_request(attempt=0))
    write(writer, make_request(attempt=0))
    assert server.hits == 1  # a rerun of the build is served from the cache
    write(writer, make_request(attempt=1))
    assert server.hits == 2  # a retry after a rejected reply asks again


def test_code_fences_are_stripped(server, client):
    req = make_request()
    fenced = "```xml\n" + echo_writer({"messages": APIWriter(client).build_messages(req)}) + "\n```"
    server.queue(Action(content=fenced))
    (reply,) = write(APIWriter(client), req)
    assert reply.startswith("<think>") and reply.endswith("</answer>")
    parse_trace(reply)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("<think>x</think><answer>1</answer>", "<think>x</think><answer>1</answer>"),
        ("```\n<think>x</think><answer>1</answer>\n```", "<think>x</think><answer>1</answer>"),
        ("  ```text\n<think>x</think>\n<answer>1</answer>```  ", "<think>x</think>\n<answer>1</answer>"),
        (
            "Sure! Here it is:\n```\n<think>x</think><answer>1</answer>\n```\nDone.",
            "<think>x</think><answer>1</answer>",
        ),
        ("no fences at all", "no fences at all"),
    ],
)
def test_strip_code_fences(text, expected):
    assert strip_code_fences(text) == expected


def test_many_items_concurrently(server, client):
    writer = APIWriter(client)
    reqs = [make_request(item_id=f"i{k}", answer=str(k)) for k in range(6)]
    replies = write(writer, *reqs)
    assert [parse_trace(r).answer for r in replies] == [str(k) for k in range(6)]
    assert server.hits == 6


def test_server_failures_are_retried_by_the_client(server, client):
    server.queue(Action.error(503, "busy"), Action.malformed("empty_content"))
    (reply,) = write(APIWriter(client), make_request())
    assert parse_trace(reply).answer == "2" and server.hits == 3


def test_missing_frame_image(server, client):
    req = make_request(images=False)
    with pytest.raises(ValueError, match="no image_png"):
        APIWriter(client).build_messages(req)
    msgs = APIWriter(client, require_images=False).build_messages(req)
    assert not [p for p in msgs[1]["content"] if p["type"] == "image_url"]
    (reply,) = write(APIWriter(client, require_images=False), req)
    assert len(parse_trace(reply).steps) == 4


def test_custom_prompt(server, client):
    prompt = {
        "system": "Write SIF traces.",
        "instruction": "Q: $question\nCorrect answer: $answer\n($n_frames frames)",
        "frame": "#$index/$n_frames [$role] $regions",
        "closing": "",
        "role_hints": {"gt": "target"},
    }
    writer = APIWriter(client, prompt=prompt, name="custom")
    msgs = writer.build_messages(make_request())
    assert writer.name == "custom" and msgs[0]["content"] == "Write SIF traces."
    texts = [p["text"] for p in msgs[1]["content"] if p["type"] == "text"]
    assert texts[0].startswith("Q: How many cups") and texts[-1].startswith("#4/4 [target] [{")
    assert texts[2].startswith("#2/4 [distractor]")  # a role without a hint is named as is
    (reply,) = write(writer, make_request())
    assert parse_trace(reply).answer == "2"
    with pytest.raises(ValueError, match=r"\$question"):
        WriterPrompt(instruction="Q: $qestion")
    with pytest.raises(ValueError, match="unknown writer prompt"):
        WriterPrompt.from_dict({"sytem": "x"})


def test_worked_example_obeys_the_grammar():
    example = SYSTEM_PROMPT[SYSTEM_PROMPT.index("Example") :]
    start, end = example.index("<think>\n"), example.rindex("</answer>") + len("</answer>")
    trace = parse_trace(example[start:end])
    assert SYSTEM_PROMPT.endswith(example[start:end])
    assert len(trace.steps) == 4 and trace.areas[0][0].box == (0.0, 0.0, 1.0, 1.0) and trace.answer == "2"


def test_empty_frames_are_refused(client):
    req = make_request()
    req.frames = []
    with pytest.raises(ValueError, match="at least one frame"):
        APIWriter(client).build_messages(req)

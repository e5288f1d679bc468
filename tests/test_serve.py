"""The OpenAI-compatible server with the tiny model on loopback: a real client, the data engine's writer and the
judge against it, and its limits (4xx with a message, then it keeps serving)."""

from __future__ import annotations

import base64
import io
import json
import urllib.error
import urllib.request

import numpy as np
import pytest
from PIL import Image

from sifthinker.backends.openai_compat import BackendError, OpenAICompatClient, OpenAICompatConfig, image_part
from sifthinker.data.types import Frame, GroundedItem, WriteRequest
from sifthinker.data.writers.api import APIWriter
from sifthinker.infer import DecodingConfig, SIFThinker
from sifthinker.infer.server import ServeConfig, SIFServer
from sifthinker.judge import OpenAIJudge
from sifthinker.models.tiny import tiny_model_path
from sifthinker.trace import Region


def png(w=56, h=56, seed=0) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(seed).integers(0, 255, (h, w, 3), dtype=np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("images")
    (root / "a.png").write_bytes(png())
    thinker = SIFThinker(str(tiny_model_path()), depth="none", generation=DecodingConfig(max_new_tokens=8))
    cfg = ServeConfig(port=0, model_name="sif-tiny", image_root=str(root), max_request_bytes=200_000,
                      max_image_pixels=128 * 128, max_new_tokens=8, batch_size=4)  # fmt: skip
    with SIFServer(thinker, cfg) as srv:
        yield srv


@pytest.fixture
def client(server):
    c = OpenAICompatClient(OpenAICompatConfig(base_url=server.base_url, model="sif-tiny", api_key_env=None,
                                              max_retries=1))  # fmt: skip
    yield c
    c.close()


def post(server, body: bytes | dict, path="/chat/completions"):
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    req = urllib.request.Request(server.base_url + path, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_routes(server):
    with urllib.request.urlopen(server.base_url.replace("/v1", "/health"), timeout=10) as r:
        assert json.loads(r.read())["status"] == "ok"
    with urllib.request.urlopen(server.base_url + "/models", timeout=10) as r:
        assert json.loads(r.read())["data"][0]["id"] == "sif-tiny"


def test_chat_with_images_through_the_real_client(server, client):
    msgs = [{"role": "user", "content": [{"type": "text", "text": "Original image: "}, image_part(png()),
                                         {"type": "text", "text": "\nHow many cubes?"}]}]  # fmt: skip
    a = client.chat_sync(msgs, temperature=0.0, max_tokens=8, use_cache=False)
    b = client.chat_sync(msgs, temperature=0.0, max_tokens=8, use_cache=False)
    assert isinstance(a, str) and a == b  # greedy at temperature 0
    status, doc = post(server, {"model": "sif-tiny", "messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "a.png"}}, {"type": "text", "text": "Is it red?"}]}],
        "max_tokens": 4})  # fmt: skip
    assert status == 200 and doc["object"] == "chat.completion" and doc["choices"][0]["message"]["role"] == "assistant"
    assert doc["usage"]["prompt_tokens"] > 0 and 0 < doc["usage"]["completion_tokens"] <= 4


def test_writer_and_judge_work_against_it(server, client):
    regions = [Region((0.0, 0.0, 1.0, 1.0), 0.5), Region((0.2, 0.2, 0.6, 0.6), 0.3)]
    frames = [Frame([regions[0]], "full", png()), Frame([regions[1]], "gt", png(seed=1))]
    item = GroundedItem("x", "synth", "a.png", "How many cubes?", "2", [(0.2, 0.2, 0.6, 0.6)])
    writer = APIWriter(client)
    text = client.run_sync(writer.write(WriteRequest(item, frames)))
    assert isinstance(text, str)  # a random tiny model writes garbage; the build's validation would reject it
    judge = OpenAIJudge(client)
    with pytest.raises(BackendError) as ei:  # its reply is not a score: reported, never a silent 0
        judge("two", "2")
    assert ei.value.reason == "unparsable_reply"


@pytest.mark.parametrize(
    "body, status, needle",
    [
        (b"{not json", 400, "not JSON"),
        ({"messages": []}, 400, "non-empty"),
        ({"messages": [{"role": "bot", "content": "hi"}]}, 400, "role"),
        (
            {
                "messages": [
                    {
                        "role": "user",
                        "content": [{"type": "image_url", "image_url": {"url": "data:image/png;base64,!!"}}],
                    }
                ]
            },
            400,
            "data URL",
        ),  # noqa: E501
        (
            {
                "messages": [
                    {
                        "role": "user",
                        "content": [
                            {
                                "type": "image_url",
                                "image_url": {
                                    "url": "data:image/png;base64," + base64.b64encode(b"not an image").decode()
                                },
                            }
                        ],
                    }
                ]
            },
            400,
            "cannot decode",
        ),  # noqa: E501
        (
            {
                "messages": [
                    {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "../../etc/passwd"}}]}
                ]
            },
            403,
            "outside",
        ),  # noqa: E501
        (
            {
                "messages": [
                    {
                        "role": "user",
                        "content": [
                            {
                                "type": "image_url",
                                "image_url": {
                                    "url": "data:image/png;base64," + base64.b64encode(png(300, 300)).decode()
                                },
                            }
                        ],
                    }
                ]
            },
            413,
            "exceeds",
        ),  # noqa: E501
        ({"messages": [{"role": "user", "content": "x" * 300_000}]}, 413, "exceeds"),
        ({"messages": [{"role": "user", "content": "hi"}], "max_tokens": 0}, 400, "max_tokens"),
        ({"messages": [{"role": "user", "content": "hi"}], "stream": True}, 400, "stream"),
        ({"messages": [{"role": "user", "content": [{"type": "audio"}]}]}, 400, "unsupported"),
    ],
)
def test_limits_give_4xx_and_the_server_keeps_serving(server, body, status, needle):
    code, doc = post(server, body)
    assert code == status and needle in doc["error"]["message"]
    code, doc = post(server, {"messages": [{"role": "user", "content": "still there?"}], "max_tokens": 2})
    assert code == 200


def test_unknown_route(server):
    code, doc = post(server, {"x": 1}, path="/completions")
    assert code == 404

"""The build: chain checks, the template writer, records, resumption (also after kill -9), bad input, shards."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from data_helpers import FlakyWriter, SlowWriter, make_synth, synth_items
from PIL import Image

from sifthinker.data.build import BuildConfig, build, output_paths, read_ids, shard_of
from sifthinker.data.check import ChainRejected, check_chain
from sifthinker.data.types import Frame, GroundedItem
from sifthinker.data.writers.template import TemplateWriter, untag
from sifthinker.records import check_record
from sifthinker.rewards import box_score, depth_score, format_score
from sifthinker.trace import Region, parse_trace


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    return make_synth(tmp_path_factory.mktemp("synth"), n=10, size=64)


def cfg(out, root, **kw):
    return BuildConfig(out=out, image_root=root, progress=False, **kw)


def test_check_chain_reasons():
    item = GroundedItem("i", "d", "x.png", "Is it red?", "yes", [(0.1, 0.1, 0.3, 0.3)])
    frames = [Frame([Region((0, 0, 1, 1), 0.5)], "full"), Frame([Region((0.1, 0.1, 0.3, 0.3), 0.2)], "gt")]
    good = (
        '<think><area>[{"bbox_2d": [0, 0, 1, 1], "depth": 0.5}]</area><text>a</text>'
        '<area>[{"bbox_2d": [0.1, 0.1, 0.3, 0.3], "depth": 0.2}]</area><text>b</text></think><answer>Yes</answer>'
    )
    assert check_chain(good, frames, item).answer == "Yes"
    near = good.replace('"depth": 0.2', '"depth": 0.201')  # within ± 0.001
    assert check_chain(near, frames, item)
    cases = {
        "format": good.replace("</think>", ""),
        "areas": good.split('<area>[{"bbox_2d": [0.1')[0] + "</think><answer>yes</answer>",
        "regions": good.replace('"depth": 0.2}]', '"depth": 0.2}, {"bbox_2d": [0.5, 0.5, 0.6, 0.6], "depth": 0.3}]'),
        "box": good.replace("[0.1, 0.1, 0.3, 0.3]", "[0.1, 0.1, 0.303, 0.3]"),
        "depth": good.replace('"depth": 0.2', '"depth": 0.203'),
        "answer": good.replace("Yes", "No"),
    }
    for reason, text in cases.items():
        with pytest.raises(ChainRejected) as ei:
            check_chain(text, frames, item)
        assert ei.value.reason == reason, (reason, str(ei.value))


def test_untag():
    assert untag("x <b> y </b> <1a_> a<b") == "x ‹b› y ‹/b› ‹1a_› a<b"


def test_build_keeps_valid_faithful_records(synth, tmp_path):
    items = synth_items(synth)
    s = build(items, TemplateWriter(), cfg(tmp_path, synth))
    assert s["kept"] == len(items) and s["failed"] == 0
    recs = [json.loads(line) for line in output_paths(tmp_path, (0, 1))["records"].read_text().splitlines()]
    assert sorted(r["id"] for r in recs) == sorted(i.id for i in items)
    for r in recs:
        trace = check_record(r)  # SIF-50K schema with the assistant trace
        assert trace.steps[0].regions[0].box == (0.0, 0.0, 1.0, 1.0)
        assert [list(reg.box) for reg in trace.steps[-1].regions] == r["normalized_solution_round"]["bbox_3d"]
        assert Path(r["image"]).is_file() and Path(r["depth_path"]).is_file() and Path(r["depth_image"]).is_file()
        text = r["messages"][1]["content"]
        depth = np.load(r["depth_path"])
        # the oracle chain is exactly right by the rewards' own measure
        assert format_score(text) == 1.0
        assert box_score(text, r["normalized_solution_round"]["bbox_3d"]) >= 1.0
        assert depth_score(text, depth) == pytest.approx(1.0, abs=0.34)  # 3-decimal rounding near 0 can miss 10 %
        assert r["writer"] == "template" and r["chain_roles"][-1] == "gt"
    summary = json.loads(output_paths(tmp_path, (0, 1))["summary"].read_text())
    assert summary["kept"] == len(items) and summary["items_per_second"] > 0


def test_rerun_skips_finished_ids(synth, tmp_path):
    items = synth_items(synth)
    s1 = build(items, TemplateWriter(), cfg(tmp_path, synth, limit=5))
    assert s1["kept"] == 5
    s2 = build(items, TemplateWriter(), cfg(tmp_path, synth))
    assert s2["kept"] == len(items) - 5 and s2["skipped_done"] == 5 and s2["total_kept"] == len(items)
    ids = read_ids(output_paths(tmp_path, (0, 1))["records"])
    assert Counter(ids) == Counter(i.id for i in items)


def test_kill_minus_nine_then_rerun_loses_nothing(synth, tmp_path):
    out = tmp_path / "out"
    script = textwrap.dedent(
        f"""
        import sys
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from data_helpers import SlowWriter, synth_items
        from sifthinker.data.build import BuildConfig, build
        items = synth_items({str(synth)!r}) * 1
        build(items, SlowWriter(0.15), BuildConfig(out={str(out)!r}, image_root={str(synth)!r}, progress=False,
              flush_every=1, concurrency=1))
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", script])
    records = output_paths(out, (0, 1))["records"]
    deadline = time.time() + 60
    while time.time() < deadline and (not records.exists() or len(records.read_text().splitlines()) < 2):
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done_before = len(read_ids(records))
    items = synth_items(synth)
    assert 2 <= done_before < len(items), "the kill should land mid-run"
    with open(records, "a") as f:  # what a kill inside a write can leave: half a line
        f.write('{"id": "half-writ')
    s = build(items, TemplateWriter(), cfg(out, synth))
    ids = read_ids(records)
    assert Counter(ids) == Counter(i.id for i in items)  # every id exactly once
    assert s["skipped_done"] == done_before


def write_png(path: Path, size=(32, 24)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.zeros((size[1], size[0], 3), dtype=np.uint8)).save(path)


def test_bad_items_become_failure_rows(synth, tmp_path):
    good = synth_items(synth)[0]
    root = synth
    (root / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    bad = [
        GroundedItem("missing", "d", "nope.png", "q?", "yes", [(0.1, 0.1, 0.2, 0.2)], depth_path=good.depth_path),
        GroundedItem("corrupt", "d", "corrupt.png", "q?", "yes", [(0.1, 0.1, 0.2, 0.2)], depth_path=good.depth_path),
        GroundedItem("escape", "d", "../../etc/passwd", "q?", "yes", [(0.1, 0.1, 0.2, 0.2)]),
        GroundedItem("box", "d", good.image, "q?", "yes", [(0.1, 0.1, 1.2, 0.2)], depth_path=good.depth_path),
        GroundedItem("empty", "d", good.image, "  ", "yes", [(0.1, 0.1, 0.2, 0.2)], depth_path=good.depth_path),
        GroundedItem("nodepth", "d", good.image, "q?", "yes", [(0.1, 0.1, 0.2, 0.2)]),
        GroundedItem("badgt", "d", good.image, "q?", "B", [(0.1, 0.1, 0.2, 0.2)], choices=["a", "b"],
                     answer_type="mc", depth_path=good.depth_path),
    ]  # fmt: skip
    bad[-1].answer = "Z"  # names no option: a bad ground truth
    from sifthinker.data.types import ItemError

    stream = [good, ItemError("no question", source="f.jsonl", record="line 7", field="question"), *bad]
    s = build(stream, TemplateWriter(), cfg(tmp_path, root, depth="oracle"))
    rows = {
        json.loads(line)["id"]: json.loads(line)
        for line in output_paths(tmp_path, (0, 1))["failures"].read_text().splitlines()
    }
    assert s["kept"] == 1 and s["failed"] == len(bad) + 1
    assert rows["line 7"]["stage"] == "source" and "question" in rows["line 7"]["detail"]
    assert (rows["missing"]["stage"], rows["missing"]["reason"]) == ("image", "missing")
    assert (rows["corrupt"]["stage"], rows["corrupt"]["reason"]) == ("image", "corrupt")
    assert rows["escape"]["reason"] == "path" and "outside the image root" in rows["escape"]["detail"]
    assert rows["box"]["reason"] == "gt_boxes" and rows["empty"]["reason"] == "question"
    assert rows["nodepth"]["reason"] == "no_oracle"
    assert rows["badgt"]["reason"] == "ground_truth"


@pytest.mark.parametrize(
    "writer, attempts, kept, reason",
    [
        (FlakyWriter(bad=1), 3, True, None),
        (FlakyWriter(bad=5), 3, False, "validate/format"),
        (FlakyWriter(bad=5, mode="wrong_depth"), 2, False, "validate/depth"),
        (FlakyWriter(bad=5, mode="wrong_answer"), 2, False, "validate/answer"),
        (FlakyWriter(mode="raise"), 3, False, "writer/ConnectionError"),
    ],
)
def test_retries_and_rejections(synth, tmp_path, writer, attempts, kept, reason):
    items = synth_items(synth)[:3]
    s = build(items, writer, cfg(tmp_path, synth, max_attempts=attempts))
    if kept:
        assert s["kept"] == 3 and s["attempts"] == {"2": 3}
    else:
        assert s["kept"] == 0 and s["failed_by"] == {reason: 3}
        calls = 3 if reason.startswith("writer") else 3 * attempts
        assert writer.calls == calls


def test_retry_failed_and_shards(synth, tmp_path):
    items = synth_items(synth)
    s = build(items, FlakyWriter(bad=9), cfg(tmp_path, synth, max_attempts=1))
    assert s["failed"] == len(items)
    s = build(items, TemplateWriter(), cfg(tmp_path, synth))
    assert s["kept"] == 0  # failures count as finished
    s = build(items, TemplateWriter(), cfg(tmp_path, synth, retry_failed=True))
    assert s["kept"] == len(items)
    assert read_ids(output_paths(tmp_path, (0, 1))["failures"]) == []
    out = tmp_path / "sharded"
    got = []
    for i in range(3):
        build(items, TemplateWriter(), cfg(out, synth, shard=(i, 3)))
        ids = read_ids(output_paths(out, (i, 3))["records"])
        assert all(shard_of(x, 3) == i for x in ids)
        got += ids
    assert Counter(got) == Counter(i.id for i in items)


def test_concurrency_overlaps_slow_writes(synth, tmp_path):
    items = synth_items(synth)[:8]
    t0 = time.perf_counter()
    build(items, SlowWriter(0.2), cfg(tmp_path / "a", synth, concurrency=8))
    fast = time.perf_counter() - t0
    assert fast < 8 * 0.2 * 0.6  # eight 0.2 s writes overlap


def test_bad_config():
    with pytest.raises(ValueError, match="shard"):
        BuildConfig(out="x", shard=(3, 3))
    with pytest.raises(ValueError, match="depth mode"):
        BuildConfig(out="x", depth="lidar")
    with pytest.raises(ValueError, match="max_attempts"):
        BuildConfig(out="x", max_attempts=0)


def test_parse_of_template_traces_is_stable(synth, tmp_path):
    items = synth_items(synth)[:2]
    build(items, TemplateWriter(), cfg(tmp_path, synth))
    for line in output_paths(tmp_path, (0, 1))["records"].read_text().splitlines():
        t = parse_trace(json.loads(line)["messages"][1]["content"])
        assert all("‹" not in s.text or "›" in s.text for s in t.steps)


def test_frame_png_draws_the_boxes_on_a_copy_and_downscales():
    import io

    from sifthinker.data.frames import GREEN, frame_png

    image = Image.fromarray(np.zeros((100, 200, 3), dtype=np.uint8))
    frame = Frame([Region((0.25, 0.2, 0.75, 0.8), 0.5)], "gt")
    drawn = Image.open(io.BytesIO(frame_png(image, frame, max_side=None)))
    assert drawn.size == (200, 100) and drawn.getpixel((50, 50)) == GREEN and drawn.getpixel((100, 50)) == (0, 0, 0)
    assert image.getextrema() == ((0, 0), (0, 0), (0, 0))  # the source image is left untouched
    assert Image.open(io.BytesIO(frame_png(image, frame, max_side=50))).size == (50, 25)


def test_a_repeated_id_is_counted_even_when_the_first_was_kept_earlier(synth, tmp_path):
    items = synth_items(synth)
    build(items[:3], TemplateWriter(), cfg(tmp_path, synth))
    again = items + [items[0], items[5]]  # two repeats: one of a kept id, one of a new id
    s = build(again, TemplateWriter(), cfg(tmp_path, synth))
    assert s["skipped_done"] == 3 and s["duplicate_ids"] == 2 and s["total_kept"] == len(items)
    assert Counter(read_ids(output_paths(tmp_path, (0, 1))["records"])) == Counter(i.id for i in items)
    # each repeat is a failure row of its own, named by its place (never the kept record's id), once across reruns
    n, fails = len(items), output_paths(tmp_path, (0, 1))["failures"]
    assert read_ids(fails) == [f"{items[0].id} (#{n})", f"{items[5].id} (#{n + 1})"]
    s = build(again, TemplateWriter(), cfg(tmp_path, synth))
    assert s["failed"] == 0 and len(read_ids(fails)) == 2


def test_concise_template_writes_the_same_areas_in_fewer_characters(synth, tmp_path):
    items = synth_items(synth)
    build(items, TemplateWriter(), cfg(tmp_path / "long", synth))
    build(items, TemplateWriter(concise=True), cfg(tmp_path / "short", synth))

    def chains(out):
        path = output_paths(out, (0, 1))["records"]
        return {json.loads(x)["id"]: json.loads(x)["messages"][1]["content"] for x in path.read_text().splitlines()}

    long, short = chains(tmp_path / "long"), chains(tmp_path / "short")
    assert long.keys() == short.keys()
    for k in long:
        a, b = parse_trace(long[k]), parse_trace(short[k])
        assert a.areas == b.areas and a.answer == b.answer
        assert len(short[k]) < len(long[k])

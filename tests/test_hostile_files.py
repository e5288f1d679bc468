"""Hostile input files fail one record at a time (issue 13, findings 2 and 3).

Real files on disk: bad lines (invalid UTF-8, a 5,000-digit integer, 100k nested brackets, an over-long line)
between good ones, through ``iter_json_records``, ``sifthinker validate`` and ``data build`` with the ``jsonl``
source; and images whose header declares too many pixels, which must become a failure row, never a crash.
"""

from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path

import pytest
from data_helpers import make_synth, synth_items
from PIL import Image
from test_records import TRACE

from sifthinker.cli.main import main
from sifthinker.data.build import BuildConfig, build, output_paths
from sifthinker.data.sources.jsonl import JsonlSource
from sifthinker.data.writers.template import TemplateWriter
from sifthinker.images import ImageTooLarge, image_size
from sifthinker.records import RecordError, iter_json_records

BAD_LINES = {  # what each bad line is, and a word its error must contain
    "utf8": (b'{"completion": "caf\xe9"}', "UTF-8"),
    "digits": (b'{"completion": ' + b"7" * 5000 + b"}", "4,300 digits"),
    "nesting": (b"[" * 100_000, "nested too deeply"),
    "long": (b'{"completion": "' + b"x" * 200_000 + b'"}', "too long"),
}


def hostile_lines(good: list[bytes]) -> tuple[bytes, dict[str, int]]:
    """``good[0]``, bad, ``good[1]``, bad, … ; returns the bytes and the 1-based line of each bad kind."""
    out, where = [good[0]], {}
    for k, (kind, (line, _)) in enumerate(BAD_LINES.items()):
        where[kind] = len(out) + 1
        out += [line, good[(k + 1) % len(good)]]
    return b"\n".join(out) + b"\n", where


def test_every_bad_line_fails_alone(tmp_path):
    good = [json.dumps({"completion": TRACE}).encode()]
    data, where = hostile_lines(good)
    p = tmp_path / "c.jsonl"
    p.write_bytes(data)
    items = list(iter_json_records(p, max_line_bytes=150_000))
    errors = {i + 1: str(obj) for i, obj in items if isinstance(obj, RecordError)}
    assert sum(not isinstance(obj, RecordError) for _, obj in items) == 5
    for kind, (_, word) in BAD_LINES.items():
        n = where[kind]
        assert word in errors[n] and f"line {n}" in errors[n], (kind, errors)
    assert len(errors) == len(BAD_LINES)


def test_validate_reports_each_bad_line_and_checks_the_rest(tmp_path, capsys):
    good = [json.dumps({"completion": TRACE}).encode(), json.dumps({"completion": "no tags"}).encode()]
    data, where = hostile_lines(good)
    p = tmp_path / "c.jsonl"
    p.write_bytes(b"\xef\xbb\xbf" + data)  # a BOM on the first line is tolerated
    assert main(["validate", str(p), "--json"]) == 1
    summary = json.loads(capsys.readouterr().out)
    assert summary["items"] == 9 and summary["valid"] == 3  # good[0] three times; good[1] is an invalid trace
    assert summary["kinds"]["unreadable"] == 3  # the 200 kB line is under the default 64 MiB limit
    by_id = {e["id"]: e["error"] for e in summary["errors"]}
    for kind in ("utf8", "digits", "nesting"):
        n = where[kind]
        assert BAD_LINES[kind][1] in by_id[f"line {n}"]


def test_validate_unreadable_json_list_names_the_file(tmp_path, capsys):
    p = tmp_path / "c.json"
    p.write_bytes(b'[{"completion": ' + b"9" * 5000 + b"}]")
    assert main(["validate", str(p)]) == 2
    err = capsys.readouterr().err
    assert str(p) in err and "4,300 digits" in err


# --------------------------------------------------------------------------------------------- data build


def png_declaring(path: Path, width: int, height: int) -> Path:
    """A valid ~60-byte PNG whose header declares ``width``×``height`` (its pixel data is not there)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")
    )
    return path


def test_image_size_refuses_a_decompression_bomb_by_its_header(tmp_path):
    bomb = png_declaring(tmp_path / "bomb.png", 20000, 20000)
    with pytest.raises(ImageTooLarge, match="400,000,000 pixels"):
        image_size(bomb)
    assert image_size(png_declaring(tmp_path / "ok.png", 300, 200)) == (300, 200)


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    return make_synth(tmp_path_factory.mktemp("synth"), n=4, size=64)


def _rec(item, **kw) -> dict:
    rec = {"id": item.id, "image": item.image, "question": item.question, "answer": item.answer,
           "boxes": [list(b) for b in item.gt_boxes], "depth_path": item.depth_path}  # fmt: skip
    rec.update(kw)
    return rec


def test_build_survives_bad_lines_and_huge_images(synth, tmp_path):
    items = synth_items(synth)[:4]
    (synth / "big").mkdir(exist_ok=True)
    Image.new("L", (12000, 1)).save(synth / "big" / "wide.png")  # real pixels, over the cap set below
    png_declaring(synth / "big" / "bomb.png", 20000, 20000)  # over Pillow's own limit
    px = [[1, 1, 5, 5]]
    lines = [
        json.dumps(_rec(items[0])).encode(),
        BAD_LINES["utf8"][0],  # line 2
        json.dumps(_rec(items[1])).encode(),
        BAD_LINES["digits"][0],  # line 4
        json.dumps(_rec(items[2], id="wide", image="big/wide.png")).encode(),
        BAD_LINES["nesting"][0],  # line 6
        json.dumps(_rec(items[2], id="bomb-nosize", image="big/bomb.png", boxes=px, box_units="pixels")).encode(),
        json.dumps(
            _rec(items[2], id="bomb", image="big/bomb.png", boxes=px, box_units="pixels", width=20000, height=20000)
        ).encode(),  # fmt: skip
        json.dumps(_rec(items[3])).encode(),
    ]
    src = synth / "hostile.jsonl"
    src.write_bytes(b"\n".join(lines) + b"\n")
    out = tmp_path / "out"
    config = BuildConfig(out=out, image_root=synth, depth="oracle", progress=False, max_image_pixels=10_000)
    s = build(JsonlSource(src), TemplateWriter(), config)
    assert s["kept"] == 3 and s["failed"] == 6  # items 0, 1, 3 kept; 3 bad lines and 3 big images fail
    rows = {r["id"]: r for r in map(json.loads, output_paths(out, (0, 1))["failures"].read_text().splitlines())}
    for label, word in (("line 2", "UTF-8"), ("line 4", "4,300 digits"), ("line 6", "nested too deeply")):
        assert (
            rows[label]["stage"] == "source"
            and word in rows[label]["detail"]
            and "hostile.jsonl" in rows[label]["detail"]
        )
    wide = rows["wide"]
    assert (wide["stage"], wide["reason"]) == ("image", "too_large")
    assert "12,000 pixels" in wide["detail"] and "10,000" in wide["detail"] and "wide.png" in wide["detail"]
    assert rows["bomb"]["reason"] == "too_large" and "400,000,000 pixels" in rows["bomb"]["detail"]
    nosize = rows["bomb-nosize"]  # the source needs the size for its pixel boxes: the record fails there
    assert nosize["stage"] == "source" and "400,000,000 pixels" in nosize["detail"]
    kept = [json.loads(x)["id"] for x in output_paths(out, (0, 1))["records"].read_text().splitlines()]
    assert sorted(kept) == sorted(it.id for it in (items[0], items[1], items[3]))
    again = build(JsonlSource(src), TemplateWriter(), config)  # a rerun goes on: nothing redone, nothing lost
    assert again["kept"] == 0 and again["failed"] == 0 and again["skipped_done"] == 5

"""The one I/O layer on real files: the resumable appender, done ids, the path-inside-root check."""

from __future__ import annotations

import os

import pytest

from sifthinker.io import JsonlAppender, PathOutsideRoot, done_ids, iter_jsonl_file, path_inside


def test_appender_buffers_then_flushes_whole_lines_and_repairs_a_torn_tail(tmp_path):
    p = tmp_path / "sub" / "rows.jsonl"
    out = JsonlAppender(p, every=3)
    out.add({"id": "a"})
    out.add({"id": "b"})
    assert not p.read_bytes()  # buffered: nothing half-written
    out.add({"id": "c", "text": "café"})
    assert done_ids(p) == ["a", "b", "c"]  # the third row flushed the batch
    out.add({"id": "d"})
    out.close()
    out.close()  # closing twice is harmless
    assert p.read_text(encoding="utf-8").count("\n") == 4 and "café" in p.read_text(encoding="utf-8")
    with open(p, "ab") as f:  # a kill in the middle of a write
        f.write(b'{"id": "e", "te')
    with JsonlAppender(p) as again:  # reopening cuts the partial line off before appending
        again.add({"id": "e"})
    assert done_ids(p) == ["a", "b", "c", "d", "e"]
    with pytest.raises(ValueError, match="every"):
        JsonlAppender(p, every=0)


def test_add_lines_takes_whole_lines_only(tmp_path):
    p = tmp_path / "rows.jsonl"
    with JsonlAppender(p, fsync=False) as out:
        out.add_lines('{"id": 1}\n{"id": 2}\n')
        with pytest.raises(ValueError, match="whole lines"):
            out.add_lines('{"id": 3}')
    assert [row for _, row in iter_jsonl_file(p)] == [{"id": 1}, {"id": 2}]


def test_done_ids_skips_unreadable_rows_and_rows_without_the_key(tmp_path, caplog):
    p = tmp_path / "rows.jsonl"
    p.write_bytes(b'{"id": 1}\n\xff\xfe\n{"other": 2}\n["x"]\n{"scene_id": "s1", "id": null}\n')
    assert done_ids(p) == ["1"]
    assert done_ids(p, key="scene_id") == ["s1"]
    assert "unreadable row skipped" in caplog.text
    assert done_ids(tmp_path / "missing.jsonl") == [] and list(iter_jsonl_file(tmp_path / "missing.jsonl")) == []


def test_path_inside_follows_symlinks(tmp_path):
    root = tmp_path / "root"
    (root / "a").mkdir(parents=True)
    outside = tmp_path / "secret.txt"
    outside.write_text("x")
    os.symlink(outside, root / "a" / "link.txt")
    assert path_inside(root, "a/b.png") == root.resolve() / "a" / "b.png"
    with pytest.raises(PathOutsideRoot, match="link.txt"):
        path_inside(root, "a/link.txt")
    with pytest.raises(PathOutsideRoot):
        path_inside(root, str(outside))  # an absolute path elsewhere
    assert path_inside(root, str(root / "a")) == (root / "a").resolve()  # an absolute path inside is fine

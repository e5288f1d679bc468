"""The one id rule of the data engine, shared by every source.

An item's id is **the source's own id** when the record has one (``id``, or a source-specific key such as
Visual-CoT's and TallyQA's ``question_id``), else **a content hash**: ``<prefix>-<16 hex digits>`` of the source
name, the input file's name, the question and the image path. Both are stable across reruns and across the order
of records in a file, and records of two files built into one folder never share a hashed id (the file name is
part of the hash). Line numbers and list positions are never ids.

A repeated id is never renamed and never dropped silently: a source yields an error for the repeat (one failure
row each) naming where the first one was.

>>> a = content_id("tallyqa", source="tallyqa", file="a/train.jsonl", question="How many?", image="1.jpg")
>>> a
'tallyqa-114f81c724370cb6'
>>> b = content_id("tallyqa", source="tallyqa", file="moved/train.jsonl", question="How many?", image="1.jpg")
>>> c = content_id("tallyqa", source="tallyqa", file="a/test.jsonl", question="How many?", image="1.jpg")
>>> a == b, a == c
(True, False)
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any

__all__ = ["content_id", "id_text"]


def id_text(v: Any) -> str | None:
    """A record's own id as text: a non-empty string or an integer (not a boolean); None for anything else.

    >>> id_text(7), id_text("a"), id_text(""), id_text(True), id_text(None)
    ('7', 'a', None, None, None)
    """
    if isinstance(v, (str, int)) and not isinstance(v, bool) and str(v):
        return str(v)
    return None


def content_id(prefix: str, *, source: str, file: str | os.PathLike, question: str, image: str) -> str:
    """``<prefix>-<hash>`` of ``(source, file name, question, image)``: the id of a record that has none of its own.

    Only the file's *name* counts (not its folder), so moving the input keeps the ids.
    """
    key = json.dumps([source, os.path.basename(os.fspath(file)), question, image], ensure_ascii=False)
    return f"{prefix}-{hashlib.blake2b(key.encode('utf-8'), digest_size=8).hexdigest()}"

"""``sifthinker validate FILE``: check SIF-50K records or raw completions and say what is wrong with each bad one."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import Counter
from pathlib import Path

HELP = "check a JSON/JSONL file of SIF records or raw completions against the schema and trace grammar"
DESCRIPTION = (
    "Reads a .jsonl (one object a line) or .json (a list) file. Each item is a SIF-50K record (an object with "
    "`messages`), or a raw completion (a string, or an object with `completion`, `output`, `text` or "
    "`prediction`). Prints how many are valid and, for each invalid one, its id and the rule it breaks. "
    "Exit status 0 when every item is valid, 1 otherwise, 2 when the file cannot be read."
)

COMPLETION_KEYS = ("completion", "output", "text", "prediction")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", type=Path, help="a .json or .jsonl file")
    p.add_argument(
        "--grounded",
        action="store_true",
        help="records may lack the assistant trace (grounded items, e.g. straight from `sifthinker synth`)",
    )
    p.add_argument(
        "--root",
        type=Path,
        default=None,
        help="also check that each record's image files exist inside this directory (relative paths resolve here)",
    )
    p.add_argument("--max-errors", type=int, default=50, help="list at most this many invalid items (default 50)")
    p.add_argument("--json", action="store_true", help="print a JSON summary instead of text")


def validate_item(item, index: int, *, grounded: bool, root: Path | None) -> tuple[str, str | None, str, str | None]:
    """Return ``(id, error or None, kind, rule or None)`` for one item.

    ``kind`` is ``record``, ``completion``, ``unreadable`` (a line that is not JSON) or ``?`` (neither a record nor
    a completion); ``rule`` is the trace rule an invalid item breaks, or ``schema`` for any other fault.
    """
    from sifthinker.records import RecordError, check_record, record_id
    from sifthinker.trace import TraceFormatError, parse_trace

    if isinstance(item, RecordError):  # a JSONL line that cannot be read: ``index`` is its line index
        return f"line {index + 1}", str(item), "unreadable", "schema"
    if isinstance(item, dict) and "messages" in item:
        rid = record_id(item, index)
        try:
            check_record(item, require_trace=not grounded, index=index)
            if root is not None:
                _check_files(item, root)
        except RecordError as e:
            cause = e.__cause__
            return rid, str(e), "record", cause.rule if isinstance(cause, TraceFormatError) else "schema"
        return rid, None, "record", None
    text = item
    rid = f"#{index}"
    if isinstance(item, dict):
        rid = record_id(item, index)
        text = next((item[k] for k in COMPLETION_KEYS if k in item), None)
        if text is None:
            error = f"record {rid!r}: neither a SIF record (no `messages`) nor a completion {COMPLETION_KEYS}"
            return rid, error, "?", "schema"
    if not isinstance(text, str):
        return rid, f"record {rid!r}: completion is a {type(text).__name__}, expected a string", "completion", "schema"
    try:
        parse_trace(text)
    except TraceFormatError as e:
        return rid, f"record {rid!r}: {e}", "completion", e.rule
    return rid, None, "completion", None


def _check_files(rec: dict, root: Path) -> None:
    from sifthinker.io import PathOutsideRoot, path_inside
    from sifthinker.records import RecordError

    for key in ("image", "depth_image", "depth_path"):
        p = rec.get(key)
        if not isinstance(p, str):
            continue
        try:
            full = path_inside(root, p)
        except PathOutsideRoot as e:
            raise RecordError(key, str(e)) from None
        if not full.is_file():
            raise RecordError(key, f"file {p!r} not found under {os.fspath(root)!r}")


def run(args: argparse.Namespace) -> int:
    from sifthinker.records import RecordError, iter_json_records

    if not args.file.is_file():
        print(f"sifthinker validate: {args.file}: no such file", file=sys.stderr)
        return 2
    total, valid = 0, 0
    kinds: Counter[str] = Counter()
    rules: Counter[str] = Counter()
    errors: list[dict] = []
    try:
        for index, item in iter_json_records(args.file):
            total += 1
            rid, err, kind, rule = validate_item(item, index, grounded=args.grounded, root=args.root)
            kinds[kind] += 1
            if err is None:
                valid += 1
                continue
            rules[rule] += 1
            if len(errors) < args.max_errors:
                errors.append({"id": rid, "error": err})
    except (RecordError, OSError, UnicodeDecodeError) as e:
        print(f"sifthinker validate: {e}", file=sys.stderr)
        return 2
    summary = {
        "file": str(args.file),
        "items": total,
        "valid": valid,
        "invalid": total - valid,
        "kinds": dict(kinds),
        "invalid_by_rule": dict(rules),
        "errors": errors,
    }
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(f"{args.file}: {total} items, {valid} valid, {total - valid} invalid")
        if rules:
            print("invalid by rule: " + ", ".join(f"{k}={v}" for k, v in rules.most_common()))
        for e in errors:
            print(f"  {e['id']}: {e['error']}")
        if total - valid > len(errors):
            print(f"  … and {total - valid - len(errors)} more (raise --max-errors)")
    return 0 if valid == total and total > 0 else 1

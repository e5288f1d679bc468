"""The evaluation browser: one self-contained, offline HTML page per run folder (``browse.html``), or for two runs
side by side (items where they disagree first).

Input (the run folder written by ``sifthinker eval``): ``results.json`` holding a ``protocol`` dict (prompt sha,
model, decoding …) and ``scores.jsonl``, one line per item ``{"item": {...}, "score": {...}, "completion": ...}``.
Traces are parsed here with :mod:`sifthinker.trace` (strictly, else leniently, keeping the parse error) and every
item's steps are embedded as JSON; the page draws the boxes itself over a small JPEG thumbnail of the item's image
(one data URL per distinct image). Rows are rendered in chunks as the list scrolls, so 10,000 items stay usable.
"""

from __future__ import annotations

import html
import json
import os
from pathlib import Path
from typing import Any

from ..io import atomic_write_text, data_url, encode_image, iter_jsonl_file
from ..trace import TraceFormatError, parse_trace, read_lenient
from .browse_page import TEMPLATE
from .report import load_results

__all__ = ["write_browse_page", "write_compare_page", "read_run", "BROWSE_HTML", "STATUSES"]

BROWSE_HTML = "browse.html"
SCORES_JSONL = "scores.jsonl"
STATUSES = ("correct", "wrong", "missing", "invalid", "skipped")
MAX_COMPLETION_CHARS = 4000  # the raw text kept per item on the page (the steps are always whole)


def _check_line(rec: Any, where: str) -> tuple[dict, dict, str | None]:
    if not isinstance(rec, dict):
        raise ValueError(f"{where}: expected an object with item, score and completion, got {type(rec).__name__}")
    item, score, completion = rec.get("item"), rec.get("score"), rec.get("completion")
    if not isinstance(item, dict) or not isinstance(item.get("id"), str) or not item["id"]:
        raise ValueError(f"{where}: field 'item' must be an object with a non-empty string 'id'")
    if not isinstance(score, dict):
        raise ValueError(f"{where}: item {item['id']!r}: field 'score' must be an object")
    if score.get("status") not in STATUSES:
        raise ValueError(f"{where}: item {item['id']!r}: score.status {score.get('status')!r} not in {STATUSES}")
    if completion is not None and not isinstance(completion, str):
        raise ValueError(f"{where}: item {item['id']!r}: 'completion' must be a string or null")
    return item, score, completion


def read_run(run_dir: str | os.PathLike) -> tuple[dict, list[tuple[dict, dict, str | None]]]:
    """``(results dict, [(item, score, completion), ...])`` of a run folder; a clear error naming the file, line and
    field for anything that breaks the contract; a repeated item id is an error too."""
    run = Path(run_dir)
    results = load_results(run)
    path = run / SCORES_JSONL
    if not path.is_file():
        raise FileNotFoundError(f"{run}: no {SCORES_JSONL} (one scored item per line)")
    rows, seen = [], set()
    for i, rec in iter_jsonl_file(path):
        if isinstance(rec, Exception):
            raise ValueError(f"{path}: {rec}")
        item, score, completion = _check_line(rec, f"{path}:{i + 1}")
        if item["id"] in seen:
            raise ValueError(f"{path}:{i + 1}: item id {item['id']!r} appears twice")
        seen.add(item["id"])
        rows.append((item, score, completion))
    return results, rows


def _steps(completion: str | None) -> tuple[list, str | None, bool]:
    """(steps as ``[[[x1, y1, x2, y2, depth], ...], text or None]``, parse error, well-formed)."""
    if completion is None:
        return [], "no completion", False
    try:
        t = parse_trace(completion)
    except TraceFormatError as e:
        lt = read_lenient(completion)
        return [[[[*r.box, r.depth] for r in area], None] for area in lt.areas], str(e), False
    return [[[[*r.box, r.depth] for r in s.regions], s.text] for s in t.steps], None, True


class _Thumbs:
    """Small JPEG data URLs, one per distinct image file (None for an image that cannot be read)."""

    def __init__(self, root: Path, px: int):
        self.root, self.px = root, px
        self.urls: list[str] = []
        self.sizes: list[tuple[int, int]] = []
        self._index: dict[str, int | None] = {}

    def get(self, path: str | None) -> int | None:
        if not path:
            return None
        p = Path(path)
        if not p.is_absolute() and not p.is_file():
            p = self.root / p
        key = os.fspath(p)
        if key not in self._index:
            self._index[key] = self._make(p)
        return self._index[key]

    def _make(self, p: Path) -> int | None:
        from PIL import Image

        try:
            with Image.open(p) as im:
                im = im.convert("RGB")
                im.thumbnail((self.px, self.px))
                jpeg = encode_image(im, "JPEG", quality=70, optimize=True)
        except (OSError, ValueError):
            return None
        self.urls.append(data_url(jpeg, "image/jpeg"))
        self.sizes.append(im.size)
        return len(self.urls) - 1


def _num(v: Any, nd: int = 3) -> float | None:
    return round(float(v), nd) if isinstance(v, (int, float)) and not isinstance(v, bool) and v == v else None


def _result(score: dict, completion: str | None) -> dict:
    steps, perr, valid = _steps(completion)
    comp = completion if completion is None or len(completion) <= MAX_COMPLETION_CHARS else (
        completion[:MAX_COMPLETION_CHARS] + f"\n… ({len(completion) - MAX_COMPLETION_CHARS:,} more characters)"
    )  # fmt: skip
    return {
        "st": score["status"], "ok": bool(score.get("correct")), "pred": score.get("pred"),
        "iou": _num(score.get("iou")), "fiou": _num(score.get("first_iou")), "liou": _num(score.get("last_iou")),
        "derr": _num(score.get("depth_abs_error")), "n": score.get("n_areas"), "tok": score.get("tokens"),
        "sec": _num(score.get("seconds"), 2), "err": score.get("error"), "skip": score.get("skipped"),
        "valid": valid, "perr": perr, "steps": steps, "comp": comp,
    }  # fmt: skip


def _item(item: dict, thumbs: _Thumbs) -> dict:
    images = item.get("images") or []
    boxes = [b for b in item.get("gt_boxes") or [] if isinstance(b, (list, tuple)) and len(b) == 4]
    return {
        "id": item["id"], "cat": str(item.get("category") or "all"), "sub": item.get("subcategory"),
        "q": str(item.get("question") or ""), "ch": item.get("choices") or None, "gt": str(item.get("answer") or ""),
        "at": item.get("answer_type"), "gtb": [[_num(v) for v in b] for b in boxes],
        "th": thumbs.get(images[0] if images else None),
    }  # fmt: skip


def _run_info(run: Path, results: dict, rows: list) -> dict:
    protocol = results.get("protocol")
    counts = {s: 0 for s in STATUSES}
    for _, score, _ in rows:
        counts[score["status"]] += 1
    return {"name": run.name or os.fspath(run), "path": os.fspath(run), "protocol": protocol,
            "benchmark": results.get("benchmark"), "counts": counts}  # fmt: skip


def _write(out: Path, data: dict, title: str) -> Path:
    # "<" escaped inside the JSON so no string can close the script element
    payload = json.dumps(data, ensure_ascii=False, separators=(",", ":")).replace("<", "\\u003c")
    page = TEMPLATE.replace("__TITLE__", html.escape(title), 1).replace("__DATA__", payload, 1)
    return atomic_write_text(out, page)


def write_browse_page(
    run_dir: str | os.PathLike, *, out: str | os.PathLike | None = None, thumb_px: int = 160
) -> Path:
    """Write ``browse.html`` into ``run_dir`` (or to ``out``): every item with its question, ground truth,
    prediction, status, IoU and depth error, filterable, each expandable to its focus path; returns the path."""
    if thumb_px < 16:
        raise ValueError(f"thumb_px must be >= 16, got {thumb_px}")
    run = Path(run_dir)
    results, rows = read_run(run)
    thumbs = _Thumbs(run, thumb_px)
    items = []
    for item, score, completion in rows:
        it = _item(item, thumbs)
        it["r"] = [_result(score, completion)]
        items.append(it)
    info = _run_info(run, results, rows)
    data = {"mode": "run", "runs": [info], "thumbs": thumbs.urls, "sizes": thumbs.sizes, "items": items}
    return _write(Path(out) if out else run / BROWSE_HTML, data, f"{info['name']} — evaluation browser")


def _disagree(a: dict | None, b: dict | None) -> bool:
    if a is None or b is None:
        return True
    return a["st"] != b["st"] or a["ok"] != b["ok"]


def write_compare_page(
    run_a: str | os.PathLike, run_b: str | os.PathLike, out: str | os.PathLike, *, thumb_px: int = 160
) -> Path:
    """Write one page for two runs side by side: items where they disagree (status or correctness, or an item
    only one run has) first, each group in run A's order; returns ``out``."""
    if thumb_px < 16:
        raise ValueError(f"thumb_px must be >= 16, got {thumb_px}")
    ra, rb = Path(run_a), Path(run_b)
    (res_a, rows_a), (res_b, rows_b) = read_run(ra), read_run(rb)
    thumbs = _Thumbs(ra, thumb_px)
    by_id_b = {item["id"]: (item, score, comp) for item, score, comp in rows_b}
    merged = []
    for item, score, comp in rows_a:
        it = _item(item, thumbs)
        other = by_id_b.pop(item["id"], None)
        it["r"] = [_result(score, comp), _result(other[1], other[2]) if other else None]
        merged.append(it)
    for item, score, comp in by_id_b.values():  # items only run B has
        thumbs.root = rb
        it = _item(item, thumbs)
        it["r"] = [None, _result(score, comp)]
        merged.append(it)
    for it in merged:
        it["dis"] = _disagree(*it["r"])
    merged.sort(key=lambda it: not it["dis"])  # stable: each group keeps its order
    data = {
        "mode": "compare", "runs": [_run_info(ra, res_a, rows_a), _run_info(rb, res_b, rows_b)],
        "thumbs": thumbs.urls, "sizes": thumbs.sizes, "items": merged,
    }  # fmt: skip
    return _write(Path(out), data, f"{ra.name} vs {rb.name} — evaluation browser")

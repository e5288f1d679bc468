"""The evaluation browser: one self-contained, offline HTML page per run folder (``browse.html``), or for two runs
side by side (items where they disagree first).

Input (the run folder written by ``sifthinker eval``): ``results.json`` holding a ``protocol`` dict (prompt sha,
model, decoding …) and ``scores.jsonl``, one line per item ``{"item": {...}, "score": {...}, "completion": ...}``.
Traces are parsed here with :mod:`sifthinker.trace` (strictly, else leniently, keeping the parse error) and every
item's steps are embedded as JSON; the page draws the boxes itself over a small JPEG thumbnail of the item's image
(one data URL per distinct image). Rows are rendered in chunks as the list scrolls, so 10,000 items stay usable.
"""

from __future__ import annotations

import base64
import html
import io
import json
import os
from pathlib import Path
from typing import Any

from ..io import atomic_write_text, iter_jsonl_lines
from ..trace import TraceFormatError, parse_trace, read_lenient

__all__ = ["write_browse_page", "write_compare_page", "read_run", "BROWSE_HTML", "STATUSES"]

BROWSE_HTML = "browse.html"
RESULTS_JSON = "results.json"
SCORES_JSONL = "scores.jsonl"
STATUSES = ("correct", "wrong", "missing", "invalid", "skipped")
MAX_COMPLETION_CHARS = 4000  # the raw text kept per item on the page (the steps are always whole)


def _load_results(run: Path) -> dict:
    path = run / RESULTS_JSON
    if not path.is_file():
        raise FileNotFoundError(f"{run}: no {RESULTS_JSON} (expected a finished `sifthinker eval` run folder)")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as e:
        raise ValueError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object, got {type(data).__name__}")
    if "protocol" in data and not isinstance(data["protocol"], dict):
        raise ValueError(f"{path}: field 'protocol' must be an object, got {type(data['protocol']).__name__}")
    return data


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
    results = _load_results(run)
    path = run / SCORES_JSONL
    if not path.is_file():
        raise FileNotFoundError(f"{run}: no {SCORES_JSONL} (one scored item per line)")
    rows, seen = [], set()
    with open(path, "rb") as f:
        for i, rec in iter_jsonl_lines(f):
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
                buf = io.BytesIO()
                im.save(buf, format="JPEG", quality=70, optimize=True)
        except (OSError, ValueError):
            return None
        self.urls.append("data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii"))
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
    page = _TEMPLATE.replace("__TITLE__", html.escape(title), 1).replace("__DATA__", payload, 1)
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


# The page: styles, the embedded data, and the script that filters, renders rows in chunks and draws focus paths.
_TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>__TITLE__</title>
<style>
:root{--ok:#1b873f;--bad:#c62828;--mal:#b26a00;--skip:#6b7280;--line:#e5e7eb;--mut:#6b7280}
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#111827;background:#f8fafc}
header{background:#fff;border-bottom:1px solid var(--line);padding:12px 20px}
h1{font-size:18px;margin:0 0 4px}
summary{cursor:pointer;color:var(--mut);margin-top:6px}
.proto{display:flex;gap:32px;flex-wrap:wrap;margin-top:4px}
.proto table{border-collapse:collapse;font-size:12px}.proto td{padding:1px 10px 1px 0;vertical-align:top}
.proto td:first-child{color:var(--mut);white-space:nowrap}.proto td{word-break:break-all}
.bar{position:sticky;top:0;z-index:2;background:#fff;border-bottom:1px solid var(--line);padding:8px 20px;
display:flex;gap:16px;align-items:center;flex-wrap:wrap}
.bar label{white-space:nowrap}#count{color:var(--mut)}
.badge{display:inline-block;padding:0 7px;border-radius:9px;font-size:12px;font-weight:600;color:#fff;
white-space:nowrap}
.b-correct{background:var(--ok)}.b-wrong{background:var(--bad)}.b-missing,.b-invalid{background:var(--mal)}
.b-skipped{background:var(--skip)}.b-absent{background:#9ca3af}
#list{margin:0 20px 40px;background:#fff;border:1px solid var(--line);border-top:0}
.row{display:grid;grid-template-columns:52px minmax(90px,150px) 110px 112px minmax(200px,1fr) minmax(80px,150px)
minmax(80px,150px) 56px 64px;gap:10px;align-items:center;padding:5px 10px;border-top:1px solid var(--line);
cursor:pointer}
.cmp .row{grid-template-columns:52px minmax(90px,150px) 110px 226px minmax(200px,1fr) minmax(80px,130px)
minmax(140px,220px) 120px}
.cmp .row>div.st{white-space:normal}.cmp .row.dis{box-shadow:inset 4px 0 #f59e0b}
.row:hover{background:#f1f5f9}.row.open{background:#eef2ff}
.row>div{overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
.hdr{font-weight:600;color:var(--mut);font-size:12px;cursor:default;background:#f8fafc}.hdr:hover{background:#f8fafc}
.th{width:48px;height:48px;object-fit:cover;border-radius:3px;background:#e5e7eb;display:block}
.mut{color:var(--mut)}.num{font-variant-numeric:tabular-nums}
.detail{padding:10px 16px 16px 72px;border-top:1px solid var(--line);background:#fcfcfd}
.run{margin-top:10px}.run h3{font-size:14px;margin:6px 0}
.kv span{margin-right:14px}.kv b{font-weight:600}
.steps{display:flex;gap:14px;flex-wrap:wrap;margin-top:6px}.step{width:168px;font-size:12px}
.pic{position:relative;width:160px;background:#d1d5db;border-radius:3px}.pic img{display:block;width:100%}
.noimg{padding-top:100%}.box{position:absolute;border:2px solid;box-sizing:border-box}
.box span{position:absolute;left:-2px;top:-15px;font-size:10px;line-height:13px;padding:0 3px;color:#000;
white-space:nowrap}
.gt{border:2px dashed #fff;box-shadow:0 0 0 1px #000}
.perr{color:var(--bad);font-family:ui-monospace,monospace;font-size:12px;word-break:break-word}
pre{white-space:pre-wrap;word-break:break-word;background:#f3f4f6;padding:8px;font-size:12px;max-height:220px;overflow:auto}
</style></head><body>
<header><h1 id="title"></h1><div id="summary"></div>
<details><summary>Protocol</summary><div class="proto" id="proto"></div></details></header>
<div class="bar"><label>Question type <select id="cat"></select></label>
<span id="groups"></span><label id="dislab" hidden><input type="checkbox" id="dis"> only disagreements</label>
<input id="search" type="search" placeholder="search id or question" size="24"><span id="count"></span></div>
<div id="list"></div><div id="sentinel" style="height:1px"></div>
<script type="application/json" id="data">__DATA__</script>
<script>
"use strict";
const D = JSON.parse(document.getElementById("data").textContent), CMP = D.mode === "compare", CHUNK = 100;
const GROUP = {correct: "right", wrong: "wrong", missing: "malformed", invalid: "malformed", skipped: "skipped"};
const LABEL = {correct: "correct", wrong: "wrong", missing: "no answer", invalid: "invalid", skipped: "skipped"};
const COL = ["#00c853", "#ffab00", "#2979ff", "#d500f9", "#ff1744", "#00b8d4"], $ = i => document.getElementById(i);
const ESC = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"};
const esc = s => String(s ?? "").replace(/[&<>"']/g, c => ESC[c]);
const f3 = v => v == null ? "–" : (+v).toFixed(3), L = i => String.fromCharCode(65 + i);
const badge = r => r ? `<span class="badge b-${r.st}">${LABEL[r.st]}</span>` :
  `<span class="badge b-absent">absent</span>`;
function withChoice(it, a) {  // "B" → "B (the ball)" for a multiple-choice item
  const g = String(a ?? "").trim(), k = g.toUpperCase().charCodeAt(0) - 65;
  return it.at === "mc" && it.ch && g.length === 1 && it.ch[k] != null ? `${g} (${it.ch[k]})` : a;
}
const gtText = it => it.at === "box" ? "box" : withChoice(it, it.gt);
function protoLine(p) {  // the few protocol fields a reader checks first; all of them are under "Protocol"
  if (!p) return "";
  const m = p.model || {}, d = p.decoding || {}, sha = (p.prompt || {}).sha256;
  const bits = [m.name || m.path, sha && `prompt ${String(sha).slice(0, 12)}`,
    d.max_new_tokens != null && `${d.do_sample ? "sampled" : "greedy"}, ≤ ${d.max_new_tokens} tokens`];
  return bits.some(Boolean) ? ` <span class="mut">· ${bits.filter(Boolean).map(esc).join(" · ")}</span>` : "";
}
$("title").textContent = document.title;
if (CMP) document.body.classList.add("cmp");
$("summary").innerHTML = D.runs.map((r, i) => {
  const c = r.counts, n = Object.values(c).reduce((a, b) => a + b, 0), pct = n ? (100 * c.correct / n).toFixed(1) : 0;
  return `<div>${CMP ? `<b>${L(i)}</b> ` : ""}<b>${esc(r.name)}</b> <span class="mut">${esc(r.benchmark || "")}</span>
    · ${n} items · ${c.correct} correct (${pct} %) · ${c.wrong} wrong · ${c.missing + c.invalid} malformed
    · ${c.skipped} skipped${protoLine(r.protocol)}</div>`;
}).join("") + (CMP ? `<div>${D.items.filter(it => it.dis).length} items where the runs disagree (status, ` +
  `correctness, or present in one run only): listed first, marked <span style="color:#f59e0b">▌</span></div>` : "");
function flat(o, p, out) {
  for (const [k, v] of Object.entries(o || {})) {
    if (v && typeof v === "object" && !Array.isArray(v)) flat(v, p + k + ".", out);
    else out.push([p + k, Array.isArray(v) ? JSON.stringify(v) : v]);
  }
  return out;
}
$("proto").innerHTML = D.runs.map((r, i) => `<table><tr><td colspan=2><b>${CMP ? L(i) + " · " : ""}${esc(r.name)}
  </b></td></tr>` + (r.protocol ? flat(r.protocol, "", []).map(([k, v]) =>
  `<tr><td>${esc(k)}</td><td>${esc(v)}</td></tr>`).join("") : "<tr><td colspan=2>no protocol recorded</td></tr>") +
  "</table>").join("");
const cats = {};
for (const it of D.items) cats[it.cat] = (cats[it.cat] || 0) + 1;
$("cat").innerHTML = `<option value="">all (${D.items.length})</option>` + Object.keys(cats).sort().map(c =>
  `<option value="${esc(c)}">${esc(c)} (${cats[c]})</option>`).join("");
$("groups").innerHTML = ["right", "wrong", "malformed", "skipped"].map(g =>
  `<label><input type="checkbox" class="grp" value="${g}" checked> ${g}</label>`).join(" ");
if (CMP) $("dislab").hidden = false;
let view = [], shown = 0;
const list = $("list");
function match(it, cat, groups, dis, q) {
  if ((cat && it.cat !== cat) || (dis && !it.dis)) return false;
  if (!it.r.some(r => r && groups.has(GROUP[r.st]))) return false;
  return !q || it.id.toLowerCase().includes(q) || it.q.toLowerCase().includes(q);
}
function header() {
  const h = document.createElement("div");
  const cols = CMP ? ["", "id", "type", "status A · B", "question", "truth", "prediction A · B", "IoU A · B"] :
    ["", "id", "type", "status", "question", "truth", "prediction", "IoU", "depth err"];
  h.className = "row hdr";
  h.innerHTML = cols.map(c => `<div>${c}</div>`).join("");
  return h;
}
function apply() {
  const groups = new Set([...document.querySelectorAll(".grp:checked")].map(e => e.value));
  const cat = $("cat").value, dis = CMP && $("dis").checked, q = $("search").value.trim().toLowerCase();
  view = D.items.filter(it => match(it, cat, groups, dis, q));
  shown = 0;
  list.replaceChildren(header());
  more();
}
const thumb = it => it.th == null ? `<div class="th"></div>` : `<img class="th" alt="" src="${D.thumbs[it.th]}">`;
const cell = (v, cls) => `<div${cls ? ` class="${cls}"` : ""} title="${esc(v)}">${esc(v)}</div>`;
function row(it) {
  const d = document.createElement("div"), r = it.r, p = x => x ? withChoice(it, x.pred ?? "–") : "–";
  d.className = it.dis ? "row dis" : "row";
  d.innerHTML = `<div>${thumb(it)}</div>` + cell(it.id) + cell(it.cat) +
    `<div class="st">${CMP ? badge(r[0]) + " " + badge(r[1]) : badge(r[0])}</div>` + cell(it.q) + cell(gtText(it)) +
    (CMP ? cell(`${p(r[0])} · ${p(r[1])}`) + cell(`${f3(r[0]?.iou)} · ${f3(r[1]?.iou)}`, "num") :
      cell(p(r[0])) + cell(f3(r[0].iou), "num") + cell(f3(r[0].derr), "num"));
  d.onclick = () => toggle(d, it);
  return d;
}
function more() {
  const f = document.createDocumentFragment(), end = Math.min(view.length, shown + CHUNK);
  for (; shown < end; shown++) f.appendChild(row(view[shown]));
  list.appendChild(f);
  $("count").textContent = `${view.length} of ${D.items.length} match · ${shown} shown`;
  const near = $("sentinel").getBoundingClientRect().top < innerHeight + 400;
  if (shown < view.length && near) requestAnimationFrame(more);  // keep filling a tall window
}
new IntersectionObserver(e => { if (e[0].isIntersecting && shown < view.length) more(); }, {rootMargin: "400px"})
  .observe($("sentinel"));
function boxes(bs, cls, col, lab) {
  return bs.map(b => `<div class="box ${cls}" style="left:${100 * b[0]}%;top:${100 * b[1]}%;` +
    `width:${100 * (b[2] - b[0])}%;height:${100 * (b[3] - b[1])}%;border-color:${col}">` +
    (lab ? `<span style="background:${col}${b[1] < 0.1 ? ";top:0" : ""}">d ${(+b[4]).toFixed(2)}</span>` : "") +
    "</div>").join("");  // a label that would leave the picture at the top goes inside its box
}
const pic = (it, inner) => `<div class="pic">${it.th == null ? `<div class="noimg"></div>` :
  `<img alt="" src="${D.thumbs[it.th]}">`}${inner}</div>`;
function stepHtml(it, s, k) {
  const c = COL[k % COL.length], text = s[1] != null ? esc(s[1]) : '<span class="mut">(no step text)</span>';
  return `<div class="step">${pic(it, boxes(it.gtb, "gt", "#fff", false) + boxes(s[0], "", c, true))}` +
    `<b style="color:${c}">■</b> <b>step ${k + 1}</b> ${text}</div>`;
}
function runHtml(it, r, i) {
  const title = CMP ? `<h3>${L(i)} · ${esc(D.runs[i].name)}</h3>` : "";
  if (!r) return `<div class="run">${title}not in this run</div>`;
  const kv = [["status", badge(r)], ["prediction", esc(withChoice(it, r.pred ?? "–"))], ["IoU", f3(r.iou)],
    ["first → last IoU", `${f3(r.fiou)} → ${f3(r.liou)}`], ["depth error", f3(r.derr)], ["areas", r.n ?? "–"],
    ["tokens", r.tok ?? "–"], ["seconds", r.sec ?? "–"]];
  if (r.skip) kv.push(["skipped", esc(r.skip)]);
  if (r.err) kv.push(["error", esc(r.err)]);
  const steps = r.steps.map((s, k) => stepHtml(it, s, k)).join("") || `<div class="step">` +
    `${pic(it, boxes(it.gtb, "gt", "#fff", false))}<span class="mut">no focus path: no usable area</span></div>`;
  const perr = r.valid ? "" : `<div class="perr">${r.comp == null ? "no completion" :
    "malformed trace: " + esc(r.perr)}</div>`;
  return `<div class="run">${title}<div class="kv">` +
    kv.map(([k, v]) => `<span><span class="mut">${k}</span> <b>${v}</b></span>`).join("") + `</div>${perr}` +
    `<div class="steps">${steps}</div>` +
    (r.comp != null ? `<details><summary>raw completion</summary><pre>${esc(r.comp)}</pre></details>` : "") +
    "</div>";
}
function toggle(d, it) {
  const n = d.nextSibling;
  if (n && n.classList.contains("detail")) { n.remove(); d.classList.remove("open"); return; }
  const x = document.createElement("div");
  const ch = it.ch ? `<div class="mut">${it.ch.map((c, i) => `(${L(i)}) ${esc(c)}`).join(" &nbsp; ")}</div>` : "";
  const gt = it.gtb.length ? `<span class="mut">dashed: ground-truth box${it.gtb.length > 1 ? "es" : ""}</span>` : "";
  x.className = "detail";
  x.innerHTML = `<div><b>${esc(it.q)}</b></div>${ch}<div class="kv"><span><span class="mut">truth</span> ` +
    `<b>${esc(gtText(it))}</b></span><span><span class="mut">item</span> ${esc(it.id)}` +
    `${it.sub ? " · " + esc(it.sub) : ""}</span>${gt}</div>` + it.r.map((r, i) => runHtml(it, r, i)).join("");
  d.after(x);
  d.classList.add("open");
}
for (const id of ["cat", "dis", "search"]) $(id).addEventListener("input", apply);
document.querySelectorAll(".grp").forEach(e => e.addEventListener("change", apply));
apply();
</script></body></html>
"""

"""The page of the evaluation browser (:mod:`.browse`): its styles and the script that filters, renders rows in
chunks and draws focus paths over the thumbnails. ``__TITLE__`` and ``__DATA__`` are filled in by ``browse``."""

# The page: styles, the embedded data, and the script that filters, renders rows in chunks and draws focus paths.
TEMPLATE = """<!doctype html>
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

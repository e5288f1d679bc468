#!/usr/bin/env bash
# Look at the app and the evaluation browser as a person would, in Debian's headless chromium.
#
#   scripts/browser_check.sh [OUT_DIR]        (env: MODEL=sif-tiny-sft PORT=7897 PY=.venv/bin/python)
#
# 1. a small eval run: `sifthinker synth` (8 scenes) and `sifthinker eval` on the synthetic benchmark with $MODEL,
#    twice (depth shown / RGB only), then their browse.html and a compare page;
# 2. `sifthinker app --model $MODEL` on 127.0.0.1;
# 3. chromium (DevTools over a pipe, scripts/chromium.py) opens the app, picks an example, asks, draws a
#    completion, opens the browse and compare pages, expands items, filters; a screenshot after each step.
# Fails on any console error, uncaught exception, failed load, or request that leaves this machine.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
MODEL=${MODEL:-sif-tiny-sft}
PORT=${PORT:-7897}
OUT=${1:-$(mktemp -d /tmp/sif-browser-check.XXXXXX)}
export GRADIO_ANALYTICS_ENABLED=False
mkdir -p "$OUT/shots"
test -x "${CHROMIUM:-/usr/bin/chromium}" || { echo "browser_check: no chromium at ${CHROMIUM:-/usr/bin/chromium}" >&2; exit 2; }

echo "== eval: synthetic benchmark, model $MODEL -> $OUT"
$PY -m sifthinker.cli.main synth --out "$OUT/synth" --n 8 --size 112 --split test --quiet
for variant in depth rgb; do
  extra=()
  [ "$variant" = rgb ] && extra=(--model-arg depth=none)
  $PY -m sifthinker.cli.main eval --bench synthetic --data "$OUT/synth" --out "$OUT/run-$variant" --model "$MODEL" \
    --limit 12 --quiet --model-arg max_new_tokens=400 "${extra[@]}"
done
$PY - "$OUT" <<'PYEOF'
import sys
from pathlib import Path
from sifthinker.eval.browse import write_browse_page, write_compare_page
out = Path(sys.argv[1])
print("wrote", write_browse_page(out / "run-depth"), write_compare_page(out / "run-depth", out / "run-rgb", out / "compare.html"))
PYEOF

echo "== app on 127.0.0.1:$PORT"
$PY -m sifthinker.cli.main app --model "$MODEL" --port "$PORT" >"$OUT/app.log" 2>&1 &
APP=$!
trap 'kill $APP 2>/dev/null || true' EXIT
for _ in $(seq 120); do
  curl -sf -o /dev/null "http://127.0.0.1:$PORT/" && break
  kill -0 $APP 2>/dev/null || { echo "browser_check: the app exited:" >&2; tail -20 "$OUT/app.log" >&2; exit 1; }
  sleep 1
done

echo "== chromium"
$PY - "$OUT" "$PORT" <<'PYEOF'
import sys
import time
from pathlib import Path

sys.path.insert(0, "scripts")
from chromium import Chromium  # noqa: E402

out, port = Path(sys.argv[1]), sys.argv[2]
shots = out / "shots"
TRACE = ('<think><area>[{"bbox_2d": [0.3, 0.2, 0.7, 0.75], "depth": 0.35}]</area><text>The object in the middle.'
         '</text><area>[{"bbox_2d": [0.05, 0.5, 0.35, 0.95], "depth": 0.15}, {"bbox_2d": [0.6, 0.1, 0.95, 0.4], '
         '"depth": 0.6}]</area><text>One near on the left, one far on the right.</text></think><answer>A</answer>')
LOCAL = ("http://127.0.0.1", "file:", "data:", "blob:")
failures = []


def page(name, url, steps, width=1400, height=1000):
    ch = Chromium(width, height)
    try:
        ch.open(url)
        steps(ch)
        bad = [u for u in ch.requests() if not u.startswith(LOCAL)]
        errs = ch.errors() + [f"external request: {u}" for u in bad]
        print(f"{name}: {len(ch.requests())} requests, {len(errs)} problems")
        failures.extend(f"{name}: {e}" for e in errs)
    finally:
        ch.close()


def shot(ch, name, full=False):
    time.sleep(0.4)
    print("  screenshot", ch.screenshot(shots / name, full_page=full))


def click_text(ch, text):
    ok = ch.eval(f"(() => {{ const b = [...document.querySelectorAll('button')].find(b => b.textContent.trim() "
                 f"=== {text!r}); if (b) b.click(); return !!b; }})()")
    assert ok, f"no button {text!r}"


def scroll_to(ch, selector):
    ch.eval(f"window.scrollTo(0, document.querySelector({selector!r}).getBoundingClientRect().top + scrollY - 8)")


def app(ch):
    ch.wait_for("[...document.querySelectorAll('tr')].filter(r => r.querySelector('img')).length > 0", 60)
    shot(ch, "app-1-start.png")
    ch.eval("[...document.querySelectorAll('tr')].filter(r => r.querySelector('img'))[0].click()")
    ch.wait_for("[...document.querySelectorAll('input[type=text], textarea')].some(e => e.value.endsWith('?'))", 30)
    click_text(ch, "Ask the model")
    ch.wait_for("/Answer|Malformed/.test(document.querySelector('.sif-head')?.textContent || '')", 120)
    scroll_to(ch, ".sif-steps")
    shot(ch, "app-2-asked.png")
    ch.eval("[...document.querySelectorAll('button')].find(b => b.textContent.includes('Draw a completion')).click()")
    ch.wait_for("[...document.querySelectorAll('textarea')].some(t => t.placeholder.startsWith('<think>'))", 30)
    ch.eval(f"(() => {{ const t = [...document.querySelectorAll('textarea')].find(t => t.placeholder.startsWith("
            f"'<think>')); t.value = {TRACE!r}; t.dispatchEvent(new Event('input', {{bubbles: true}})); }})()")
    time.sleep(0.5)
    click_text(ch, "Draw this completion")
    ch.wait_for("/well-formed trace of 2 steps/.test(document.querySelector('.sif-head')?.textContent || '')", 60)
    scroll_to(ch, ".sif-steps")
    shot(ch, "app-3-drawn.png")


def browse(ch):
    ch.wait_for("document.querySelectorAll('.row:not(.hdr)').length > 0", 30)
    shot(ch, "browse-1-list.png")
    ch.eval("(() => { const i = view.findIndex(it => it.r[0] && it.r[0].steps.length);"
            " document.querySelectorAll('.row:not(.hdr)')[Math.max(i, 0)].click(); })()")
    shot(ch, "browse-2-open.png", full=True)
    ch.eval("document.querySelectorAll('.grp').forEach(e => { e.checked = e.value === 'malformed';"
            " e.dispatchEvent(new Event('change')); })")
    shot(ch, "browse-3-malformed-only.png")


def compare(ch):
    ch.wait_for("document.querySelectorAll('.row:not(.hdr)').length > 0", 30)
    shot(ch, "compare-1-list.png")
    ch.eval("document.querySelectorAll('.row:not(.hdr)')[0].click()")
    shot(ch, "compare-2-open.png", full=True)


page("app", f"http://127.0.0.1:{port}/", app)
page("browse", (out / "run-depth" / "browse.html").resolve().as_uri(), browse)
page("compare", (out / "compare.html").resolve().as_uri(), compare)
print(f"screenshots in {shots}")
if failures:
    print("FAILED:\n  " + "\n  ".join(failures))
    sys.exit(1)
print("browser check passed: no console error, no failed or external request")
PYEOF

"""The evaluation browser at scale: page size, write time and load time in Debian's headless chromium.

    .venv/bin/python benchmarks/bench_browse.py [--items 10000] [--images 2500] [--keep DIR]

Builds a run folder (results.json + scores.jsonl) of ``--items`` scored items over ``--images`` distinct images
(synthetic scenes, 224 px, varied per file), a sixth of the completions malformed; writes ``browse.html``; opens it
in chromium over the DevTools protocol and prints: the page size (total and thumbnails), the Python write time, the
time to DOMContentLoaded and to the load event, the rows rendered at load, the JS heap, the time of a filter
change, of expanding an item and of scrolling to the end of the list (rows rendered in chunks), and any console
error. The chromium driver is ``scripts/chromium.py``, shared with ``scripts/browser_check.sh``.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
from chromium import Chromium  # noqa: E402

CATEGORIES = ["depth_order", "relation_2d", "counting", "existence", "size_3d", "nearest_object", "attribute"]


def _completion(rng: random.Random) -> tuple[str, int]:
    steps = []
    for _ in range(rng.randint(1, 4)):
        regions = []
        for _ in range(rng.randint(1, 2)):
            x, y = rng.uniform(0, 0.6), rng.uniform(0, 0.6)
            box = [round(x, 2), round(y, 2), round(x + rng.uniform(0.1, 0.4), 2), round(y + rng.uniform(0.1, 0.4), 2)]
            regions.append(f'{{"bbox_2d": {box}, "depth": {round(rng.random(), 2)}}}')
        what = f"{rng.choice(['red', 'blue', 'green'])} {rng.choice(['cube', 'sphere', 'cone'])}"
        steps.append(f"<area>[{', '.join(regions)}]</area><text>The {what} is {rng.choice(['near', 'far'])}.</text>")
    text = f"<think>{''.join(steps)}</think><answer>{rng.choice('AB')}</answer>"
    return (text if rng.random() > 1 / 6 else "Let me look. " + text[: len(text) // 2]), len(steps)


def make_big_run(root: Path, n_items: int, n_images: int, seed: int = 0) -> Path:
    """A run folder of ``n_items`` items over ``n_images`` distinct image files (the scenes varied per file)."""
    import numpy as np
    from PIL import Image

    from sifthinker.synth import render_scene, world_config

    rng = random.Random(seed)
    cfg = world_config("close", image_size=(224, 224))
    scenes = [render_scene(cfg, (seed, k)).rgb for k in range(min(40, n_images))]
    (root / "images").mkdir(parents=True)
    images = []
    for k in range(n_images):
        arr = np.roll(scenes[k % len(scenes)], shift=(k // len(scenes)) * 3, axis=1)
        p = root / "images" / f"im{k:05d}.png"
        Image.fromarray(arr).save(p)
        images.append(str(p))
    protocol = {"prompt_sha256": "0" * 64, "model": "sif-tiny-base", "decoding": {"do_sample": False},
                "max_new_tokens": 400, "seed": seed}  # fmt: skip
    (root / "results.json").write_text(json.dumps({"benchmark": "synthetic", "protocol": protocol}))
    with open(root / "scores.jsonl", "w") as f:
        for i in range(n_items):
            comp, n = _completion(rng)
            status = rng.choices(["correct", "wrong", "missing", "invalid", "skipped"], [50, 30, 8, 7, 5])[0]
            cat = rng.choice(CATEGORIES)
            item = {"id": f"synthetic-{i:06d}", "benchmark": "synthetic", "images": [images[i % n_images]],
                    "question": f"Which object is closer to the camera, the red cube or the blue sphere? ({i})",
                    "choices": ["the red cube", "the blue sphere"], "answer": "A", "answer_type": "mc",
                    "category": cat, "subcategory": None, "gt_boxes": [[0.2, 0.3, 0.5, 0.7]], "depth_path": None}
            score = {"id": item["id"], "category": cat, "status": status, "correct": status == "correct",
                     "skipped": "no_image" if status == "skipped" else None, "pred": "A", "iou": rng.random(),
                     "first_iou": rng.random(), "last_iou": rng.random(), "n_areas": n,
                     "depth_abs_error": rng.random() / 5, "tokens": 120, "seconds": 0.3, "error": None}
            f.write(json.dumps({"item": item, "score": score,
                                "completion": None if status == "skipped" else comp}) + "\n")  # fmt: skip
    return root


def measure(page: Path) -> dict:
    """Load ``page`` in chromium and time what a reader does."""
    ch = Chromium()
    try:
        wall = ch.open(page.resolve().as_uri())
        nav = ch.eval("(() => { const n = performance.getEntriesByType('navigation')[0];"
                      " return {dcl: n.domContentLoadedEventEnd, load: n.loadEventEnd}; })()")  # fmt: skip
        rows = ch.eval("document.querySelectorAll('.row:not(.hdr)').length")
        heap = ch.send("Runtime.getHeapUsage")["usedSize"]
        filt = ch.eval("(() => { const t = performance.now(); const s = document.getElementById('cat');"
                       " s.value = 'counting'; s.dispatchEvent(new Event('input'));"
                       " return performance.now() - t; })()")  # fmt: skip
        expand = ch.eval("(() => { const t = performance.now(); document.querySelector('.row:not(.hdr)').click();"
                         " return performance.now() - t; })()")  # fmt: skip
        ch.eval("document.getElementById('cat').value = ''; document.getElementById('cat')"
                ".dispatchEvent(new Event('input'))")  # fmt: skip
        t = time.perf_counter()
        total = ch.eval("(async () => { while (shown < view.length) { window.scrollTo(0, document.body.scrollHeight);"
                        " await new Promise(r => setTimeout(r, 0)); more(); } return shown; })()", timeout=300)
        scroll = time.perf_counter() - t
        return {"wall_open_s": round(wall, 3), "dcl_ms": round(nav["dcl"]), "load_ms": round(nav["load"]),
                "rows_at_load": rows, "heap_mb": round(heap / 2**20, 1), "filter_ms": round(filt, 1),
                "expand_ms": round(expand, 1), "rows_after_scroll": total, "scroll_all_s": round(scroll, 2),
                "errors": ch.errors()}  # fmt: skip
    finally:
        ch.close()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--items", type=int, default=10_000)
    ap.add_argument("--images", type=int, default=2_500)
    ap.add_argument("--keep", type=Path, default=None, help="build the run folder here and keep it")
    args = ap.parse_args(argv)
    from sifthinker.eval.browse import write_browse_page

    tmp = Path(tempfile.mkdtemp(prefix="bench-browse-"))
    root = args.keep or tmp / "run"
    try:
        t = time.perf_counter()
        make_big_run(root, args.items, args.images)
        print(f"run folder: {args.items:,} items over {args.images:,} images in {time.perf_counter() - t:.1f} s")
        t = time.perf_counter()
        page = write_browse_page(root)
        write_s = time.perf_counter() - t
        html = page.read_text(encoding="utf-8")
        data = json.loads(html.split('id="data">', 1)[1].split("</script>", 1)[0])
        thumbs = sum(len(u) for u in data["thumbs"])
        print(f"browse.html: {len(html.encode()) / 1e6:.2f} MB ({thumbs / 1e6:.2f} MB thumbnails, "
              f"{len(data['thumbs']):,} distinct, {thumbs / max(1, len(data['thumbs'])) / 1e3:.1f} kB each); "
              f"written in {write_s:.2f} s")  # fmt: skip
        m = measure(page)
        print(json.dumps(m, indent=1))
        return 1 if m["errors"] else 0
    finally:
        if args.keep is None:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

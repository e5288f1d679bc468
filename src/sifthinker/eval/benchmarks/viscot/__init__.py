"""The Visual-CoT benchmark (Shao et al. 2024): grounded VQA over 12 subsets — judge-free answer accuracy and the
last area's box against the ground-truth evidence box.

Published with Visual-CoT (``deepcs233/Visual-CoT`` on GitHub / the hub) as
``viscot_benchmark/benchmark/<subset>.json`` (``cub``, ``flickr30k``, ``gqa``, ``openimages``, ``textvqa``,
``docvqa``, …), each a JSON list in the same record format as the 363k training file: ``question_id``, ``image`` =
``["cot/<subset>/<file>", "cot/<subset>/<file>###[x1, y1, x2, y2]"]`` (the second carries the evidence box in
**pixels**), ``conversations`` = human question (``<image>\\n`` + question + a bounding-box request), gpt box string
(normalised on Visual-CoT's padded square), human ``<image>``, gpt answer; sometimes ``width``/``height``. Image
paths are relative to the image root: by default the folder above ``benchmark/``, or a ``playground/data/`` folder
above the files or in the working directory (where Visual-CoT's own scripts resolve them) — the first where the
images are; none: a clear error naming ``--bench-arg image_root=``. The released archive unpacks ``cot/…`` as
``cot_image_data/…``, and both are tried.

The box: the pixel box divided by the real image size (record ``width``/``height`` or the image header); without a
pixel box, the string converted out of the padded square. An item whose image is missing has no box (and is
skipped). The answer: :func:`sifthinker.answers.answer_match` by the inferred answer type — exact after
normalisation for free text, so long free-form answers are judged strictly (the authors used an LLM judge; an
OpenAI-compatible judge can be run over ``predictions.jsonl`` separately).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from ....answers import infer_answer_type
from ....visual_cot_format import from_padded_square, parse_box_string, strip_question
from ...scoring import ItemScore, base_results
from ...types import EvalItem
from .._common import BenchmarkFileError, check_limit, image_size, read_json

NAME = "viscot"

__all__ = ["NAME", "load", "summarize"]


def _resolve(root: Path, rel: str) -> Path:
    cands = [root / rel]
    if rel.startswith("cot/"):
        cands.append(root / ("cot_image_data/" + rel[4:]))
    for c in cands:
        if c.is_file():
            return c
    return cands[0]


def _first_image(rec) -> str | None:
    images = rec.get("image") if isinstance(rec, dict) else None
    rel = images[0] if isinstance(images, list) and images else images
    return rel.split("###")[0] if isinstance(rel, str) else None


def _image_root(default: Path, datasets: list[list]) -> Path:
    """Where the image paths (``cot/<subset>/<file>``) resolve: the folder above ``benchmark/``, or a
    ``playground/data/`` folder (how Visual-CoT ships them) above the benchmark files or in the working directory —
    the first where one of the first records' images exists; a clear error naming ``image_root`` otherwise."""
    probes = [r for data in datasets for r in (_first_image(rec) for rec in data[:20]) if r][:60]
    if not probes:
        return default
    cands = [default, *(a / "playground" / "data" for a in (default, *default.parents)), Path.cwd() / "playground"
             / "data"]  # fmt: skip
    for c in dict.fromkeys(cands):
        if any(_resolve(c, rel).is_file() for rel in probes):
            return c
    raise BenchmarkFileError(
        f"none of the benchmark's images (e.g. {probes[0]}) is under {default} or a playground/data/ folder; "
        "Visual-CoT ships them separately (cot_image_data.tar, unpacked as playground/data/cot/...): pass "
        "--bench-arg image_root=FOLDER (the folder holding cot/)"
    )


def _record_item(rec: dict, subset: str, root: Path, where: str) -> EvalItem:

    try:
        images = rec["image"]
        conv = rec["conversations"]
        question = strip_question(conv[0]["value"])
        answer = str(conv[-1]["value"]).strip()
    except (KeyError, IndexError, TypeError) as e:
        raise BenchmarkFileError(f"{where}: expected image and conversations ({e!r})") from None
    rel = images[0] if isinstance(images, list) else images
    image = _resolve(root, rel.split("###")[0])
    size = (rec["width"], rec["height"]) if rec.get("width") and rec.get("height") else image_size(image)
    boxes = []
    if size is not None:
        w, h = size
        pix = None
        if isinstance(images, list) and len(images) > 1 and "###" in images[1]:
            pix = parse_box_string(images[1].split("###", 1)[1])
        if pix:
            b = pix[0]
            boxes = [(b[0] / w, b[1] / h, b[2] / w, b[3] / h)]
        elif len(conv) > 1 and (sq := parse_box_string(str(conv[1].get("value", "")))):
            boxes = [from_padded_square(sq[0], w, h)]
        boxes = [tuple(min(max(v, 0.0), 1.0) for v in b) for b in boxes]
        boxes = [b for b in boxes if b[0] < b[2] and b[1] < b[3]]
    qid = rec.get("question_id")
    return EvalItem(
        id=f"viscot-{subset}-{qid}",
        benchmark=NAME,
        images=[str(image)],
        question=question,
        answer=answer,
        answer_type=infer_answer_type(answer),
        category=subset,
        gt_boxes=boxes,
        meta={"question_id": qid, "image_size": list(size) if size else None},
    )


def load(
    path: str | os.PathLike,
    limit: int | None = None,
    *,
    image_root: str | os.PathLike | None = None,
    subsets: Sequence[str] | str | None = None,
) -> list[EvalItem]:
    """Items of one benchmark JSON file or of every ``*.json`` in a folder (subset = file stem, sorted)."""
    check_limit(limit)
    path = Path(path)
    if path.is_file():
        files, default_root = [path], path.parent.parent
    elif path.is_dir():
        files, default_root = sorted(path.glob("*.json")), path.parent
    else:
        raise BenchmarkFileError(f"{path}: not found; expected viscot_benchmark/benchmark/ or one of its JSON files")
    if isinstance(subsets, str):
        subsets = [s.strip() for s in subsets.split(",") if s.strip()]
    if subsets:
        files = [f for f in files if f.stem in set(subsets)]
    if not files:
        raise BenchmarkFileError(f"{path}: no benchmark JSON files{' for ' + str(subsets) if subsets else ''}")
    loaded = []
    for f in files:
        data = read_json(f)
        if not isinstance(data, list):
            raise BenchmarkFileError(f"{f}: expected a JSON list of records")
        loaded.append((f, data))
    root = Path(image_root) if image_root is not None else _image_root(default_root, [d for _, d in loaded])
    items: list[EvalItem] = []
    seen: set[str] = set()
    for f, data in loaded:
        for j, rec in enumerate(data):
            if limit is not None and len(items) >= limit:
                return items
            item = _record_item(rec, f.stem, root, f"{f}[{j}]")
            if item.id in seen:
                item.id = f"{item.id}-{j}"
            seen.add(item.id)
            items.append(item)
    return items


def summarize(items: Sequence[EvalItem], scores: Sequence[ItemScore]) -> dict:
    """Answer accuracy (judge-free) overall and per subset, plus mean IoU / Acc@0.5 of the last box."""
    res = base_results(NAME, scores, grounding=True)
    res["metrics"]["mean_iou"] = res["grounding"]["mean_iou"]
    res["metrics"]["box_acc_at_0.5"] = res["grounding"]["acc_at_0.5"]
    res["denominators"]["box_acc_at_0.5"] = res["denominators"]["acc_at_0.5"]
    return res

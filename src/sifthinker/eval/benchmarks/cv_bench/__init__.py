"""CV-Bench (Cambrian-1, Tong et al. 2024): 2,638 vision-centric multiple-choice items, 2D (count, relation on
ADE20K and COCO) and 3D (depth, distance on Omni3D).

Published on the Hugging Face hub as ``nyu-visionx/CV-Bench``: ``test_2d.jsonl`` + ``test_3d.jsonl`` (earlier:
one ``test.jsonl``) and the same as Parquet with embedded images (``test_2d.parquet``, ``test_3d.parquet``; earlier
``test.parquet``). The current ``main`` ships **no** ``img/`` folder (only older revisions had one): when not one
image a JSONL names is on disk, the Parquet files are read instead. Fields: ``idx``, ``type`` (2D/3D), ``task``,
``question``, ``choices``, ``answer`` (``"(C)"``), ``filename`` (``img/2D/count/ade20k_10.png``), ``source``
(ADE20K, COCO, Omni3D), ``image`` (Parquet only).

CV-Bench's own overall score: ``accuracy_2d = mean(acc_ADE20K, acc_COCO)``, ``accuracy_3d = acc_Omni3D``,
``cv_bench_accuracy = mean(accuracy_2d, accuracy_3d)`` — each source accuracy here over all loaded items of that
source, skipped items counting as wrong.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

from ...scoring import ItemScore, base_results, group_accuracy
from ...types import EvalItem, LoadedItems
from .._common import BenchmarkFileError, ImageCache, check_limit, iter_jsonl, parse_letter, read_parquet

NAME = "cv_bench"
LAYOUTS = (
    ("test_2d.jsonl", "test_3d.jsonl"),
    ("test.jsonl",),
    ("test_2d.parquet", "test_3d.parquet"),
    ("test.parquet",),
)

__all__ = ["NAME", "load", "summarize"]

logger = logging.getLogger(__name__)


def _images_absent(files: list[Path]) -> bool:
    """Whether not one image a JSONL layout names is on disk (the current release ships no ``img/`` folder)."""
    for file in files:
        for _, rec in iter_jsonl(file):
            rel = rec.get("filename") or (rec["image"] if isinstance(rec.get("image"), str) else None)
            if rel and (file.parent / rel).is_file():
                return False
    return True


def _files(path: Path) -> list[Path]:
    """The annotation files: the first layout found; a JSONL layout whose images are all absent gives way to the
    Parquet files (images embedded), or fails saying what to download."""
    if path.is_file():
        return [path]
    found_layouts = [[path / f for f in layout if (path / f).is_file()] for layout in LAYOUTS]
    found_layouts = [f for f in found_layouts if f]
    if not found_layouts:
        raise BenchmarkFileError(
            f"{path}: no CV-Bench annotations found; expected one of "
            + ", ".join(" + ".join(layout) for layout in LAYOUTS)
        )
    first = found_layouts[0]
    if first[0].suffix == ".jsonl" and _images_absent(first):
        parquet = next((f for f in found_layouts if f[0].suffix == ".parquet"), None)
        if parquet is None:
            raise BenchmarkFileError(
                f"{path}: {' + '.join(f.name for f in first)} name images under img/ and none is on disk; download "
                "test_2d.parquet + test_3d.parquet (the images are embedded) or the img/ folder"
            )
        logger.info("%s: no img/ folder; reading %s (images embedded)", path, " + ".join(f.name for f in parquet))
        return parquet
    return first


def _records(file: Path, cache_dir) -> list[tuple[dict, str | None]]:
    if file.suffix == ".parquet":
        cache = ImageCache(file, cache_dir)
        out = []
        for row in read_parquet(file):
            img = row.get("image")
            name = f"cvbench-{row.get('idx')}"
            out.append((row, cache.put(img, name) if img is not None else None))
        return out
    return [(rec, None) for _, rec in iter_jsonl(file)]


def load(path: str | os.PathLike, limit: int | None = None, *, cache_dir: str | os.PathLike | None = None):
    """Items of a CV-Bench folder (or one annotation file), in file order; images from ``filename`` under the folder
    (JSONL) or extracted from the Parquet file."""
    check_limit(limit)
    path = Path(path)
    files = _files(path)
    layout = next((lay for lay in LAYOUTS if files[0].name in lay), (files[0].name,))
    missing = [f for f in layout if f not in {p.name for p in files}] if path.is_dir() else []
    items = LoadedItems(missing_files=missing)
    for file in files:
        root = file.parent
        for rec, extracted in _records(file, cache_dir):
            if limit is not None and len(items) >= limit:
                return items
            try:
                choices = [str(c) for c in rec["choices"]]
                letter = parse_letter(rec["answer"], len(choices))
                if letter is None:
                    raise BenchmarkFileError(f"{file}: idx {rec.get('idx')}: bad answer {rec['answer']!r}")
                rel = rec.get("filename") or (rec["image"] if isinstance(rec.get("image"), str) else None)
                image = extracted or (str(root / rel) if rel else None)
                if image is None:
                    raise BenchmarkFileError(f"{file}: idx {rec.get('idx')}: no image (filename) given")
                items.append(
                    EvalItem(
                        id=f"cvbench-{rec['idx']}",
                        benchmark=NAME,
                        images=[image],
                        question=str(rec["question"]).strip(),
                        choices=choices,
                        answer=letter,
                        answer_type="mc",
                        category=str(rec.get("task") or "all"),
                        subcategory=str(rec.get("source") or "unknown"),
                        meta={"type": rec.get("type"), "idx": rec.get("idx"), "source": rec.get("source")},
                    )
                )
            except KeyError as e:
                raise BenchmarkFileError(f"{file}: idx {rec.get('idx')}: missing field {e}") from None
    return items


def summarize(items: Sequence[EvalItem], scores: Sequence[ItemScore]) -> dict:
    """Accuracy per task and per source, the 2D/3D averages and CV-Bench's combined score (headline)."""
    res = base_results(NAME, scores)
    src = {k.lower(): v["accuracy"] for k, v in res.get("per_subcategory", {}).items()}  # subcategory = source
    ade, coco, omni = src.get("ade20k"), src.get("coco"), src.get("omni3d")
    acc_2d = round((ade + coco) / 2, 4) if ade is not None and coco is not None else None
    acc_3d = omni
    combined = round((acc_2d + acc_3d) / 2, 4) if acc_2d is not None and acc_3d is not None else None
    types = {it.id: str(it.meta.get("type") or "") for it in items}
    res["per_type"] = group_accuracy(scores, lambda s: types.get(s.id) or None)
    res["metrics"].update({"accuracy_2d": acc_2d, "accuracy_3d": acc_3d, "cv_bench_accuracy": combined})
    res["denominators"].update(
        {
            "accuracy_2d": "mean of the ADE20K and COCO accuracies (each over all loaded items of that source)",
            "accuracy_3d": "Omni3D accuracy over all loaded Omni3D items",
            "cv_bench_accuracy": "mean of accuracy_2d and accuracy_3d (CV-Bench's definition); None unless all three "
            "sources were loaded",
        }
    )
    if combined is not None:
        res["headline"] = "cv_bench_accuracy"
    return res

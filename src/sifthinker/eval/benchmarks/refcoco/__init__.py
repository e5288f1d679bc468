"""RefCOCO, RefCOCO+ and RefCOCOg (referring expression comprehension): the last area's box is the prediction.

Four published layouts, recognised by the shape of the files (see the README beside this module):

* the ``refer`` toolkit folder — ``refs(unc).p`` / ``refs(umd).p`` + ``instances.json`` (:mod:`.refer`);
* the Visual-CoT / Shikra REC jsonl — ``REC_refcoco_unc_val.jsonl`` and friends (what the SIFThinker authors'
  RefCOCO client reads);
* VLM-R1's ``rec_jsons_processed/*.json`` (and its jsonl);
* the lmms-lab Parquet (``data/val-00000-of-00004.parquet`` …) (:mod:`.files`).

``--data`` is a folder or one file; ``split`` (``val`` default, ``testA``, ``testB``, ``test``) and ``dataset``
(``refcoco``, ``refcoco+``, ``refcocog``, …) choose among the files of a folder. Pixel boxes are normalised by the
image's size (stored, or read from the image header). One item per sentence. Metrics: Acc@0.5 (IoU ≥ 0.5,
headline) and mean IoU, over all loaded items; a completion without a usable area, or a skipped item, scores 0.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from ...scoring import ItemScore, base_results
from ...types import EvalItem, LoadedItems
from .._common import BenchmarkFileError, check_limit, iter_jsonl, read_json
from .files import file_split, read_lmms_parquet, read_record_file, record_kind
from .items import NAME, QUESTION, coco_box_to_normalised
from .refer import find_image_root, is_refer_folder, load_refer, read_refs

__all__ = ["NAME", "QUESTION", "LAYOUTS", "load", "summarize", "read_refs", "coco_box_to_normalised"]

LAYOUTS = (
    "the refer folder: refs(unc).p (refcocog: refs(umd).p) + instances.json",
    "Visual-CoT/Shikra REC jsonl: REC_refcoco_unc_val.jsonl, REC_refcoco+_unc_testA.jsonl, REC_refcocog_umd_test.jsonl"
    " (img_path, expression, bbox, width, height)",
    "VLM-R1 rec_jsons_processed: refcoco_val.json, refcocop_testA.json, refcocog_test.json (image, normal_caption, "
    "solution), or its jsonl (image, conversations)",
    "lmms-lab Parquet: data/val-00000-of-00004.parquet, testA-00000-of-00001.parquet (question_id, image, answer, "
    "bbox)",
)
_ACCEPTED = "; ".join(LAYOUTS)


def _first_record(path: Path) -> dict | None:
    if path.suffix == ".jsonl":
        return next((rec for _, rec in iter_jsonl(path)), None)
    data = read_json(path)
    return data[0] if isinstance(data, list) and data and isinstance(data[0], dict) else None


def _pick(root: Path, split: str, dataset: str | None, file: str | None) -> list[Path]:
    """The annotation file(s) of a folder that is not a refer folder."""
    if file:
        p = root / file
        if not p.is_file():
            raise BenchmarkFileError(f"{p}: not found")
        return [p]
    parquet = sorted(root.glob(f"{split}-*.parquet")) + sorted(root.glob(f"data/{split}-*.parquet"))
    if parquet:
        return parquet
    cands = [f for f in sorted(root.iterdir()) if f.suffix in (".json", ".jsonl") and file_split(f)[1] == split]
    if dataset:
        cands = [f for f in cands if file_split(f)[0].lower() == dataset.lower()]
    if len(cands) == 1:
        return cands
    if cands:
        raise BenchmarkFileError(
            f"{root}: several {split} files ({', '.join(f.name for f in cands)}); choose one with --bench-arg "
            "dataset=refcoco|refcoco+|refcocog or --bench-arg file=NAME"
        )
    raise BenchmarkFileError(f"{root}: no RefCOCO annotations for split {split!r}; accepted layouts: {_ACCEPTED}")


def load(
    path: str | os.PathLike,
    limit: int | None = None,
    *,
    split: str = "val",
    image_root: str | os.PathLike | None = None,
    refs_file: str | None = None,
    dataset: str | None = None,
    file: str | None = None,
    cache_dir: str | os.PathLike | None = None,
) -> list[EvalItem]:
    """The items of any accepted layout at ``path`` (a folder or one file), in file order."""
    check_limit(limit)
    root = Path(path)
    if is_refer_folder(root):
        return LoadedItems(load_refer(root, limit, split=split, image_root=image_root, refs_file=refs_file,
                                      dataset=dataset))  # fmt: skip
    if root.is_dir():
        files = _pick(root, split, dataset, file)
    elif root.is_file():
        files = [root]
    else:
        raise BenchmarkFileError(f"{root}: not found; expected a RefCOCO folder or file ({_ACCEPTED})")
    if all(f.suffix == ".parquet" for f in files):
        return LoadedItems(read_lmms_parquet(files, limit, cache_dir, dataset))
    if len(files) != 1 or files[0].suffix not in (".json", ".jsonl"):
        raise BenchmarkFileError(f"{root}: not a RefCOCO layout; accepted layouts: {_ACCEPTED}")
    first = _first_record(files[0])
    if first is None or record_kind(first) is None:
        shown = sorted(first) if isinstance(first, dict) else "no records"
        raise BenchmarkFileError(f"{files[0]}: records ({shown}) match no accepted layout: {_ACCEPTED}")
    img_root = find_image_root(files[0].parent, image_root)
    items, left_out = read_record_file(files[0], limit, img_root, _ACCEPTED)
    return LoadedItems(items, {"image_missing": left_out})


def summarize(items: Sequence[EvalItem], scores: Sequence[ItemScore]) -> dict:
    """Acc@0.5 (``accuracy``, headline) and mean IoU of the last area's box against the referred object's box."""
    res = base_results(NAME, scores, grounding=True)
    res["metrics"]["acc_at_0.5"] = res["metrics"]["accuracy"]
    res["metrics"]["mean_iou"] = res["grounding"]["mean_iou"]
    res["headline"] = "acc_at_0.5"
    res["denominators"]["accuracy"] = "all loaded items (= Acc@0.5; skipped items and box-less completions miss)"
    return res

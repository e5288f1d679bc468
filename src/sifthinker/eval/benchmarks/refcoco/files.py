"""The single-file RefCOCO/+/g layouts people download, recognised by the shape of their records:

* **Visual-CoT / Shikra REC jsonl** — ``REC_refcoco_unc_val.jsonl``, ``REC_refcoco+_unc_testA.jsonl``,
  ``REC_refcocog_umd_test.jsonl``, …: one ``{"img_path", "expression", "bbox": [x1, y1, x2, y2] (pixels),
  "width", "height", "dataset_name"?}`` per line.
* **VLM-R1** ``rec_jsons_processed/`` — ``refcoco_val.json``, ``refcocop_testA.json``, ``refcocog_test.json``, …:
  a JSON list (or JSONL) of ``{"image", "problem", "normal_caption", "solution": [x1, y1, x2, y2] (pixels)}``; or
  the conversation JSONL ``{"id", "image", "conversations": [{"from": "human", "value": "<image>…"},
  {"from": "gpt", "value": "[x1, y1, x2, y2]"}]}``. No image size is stored: it is read from the image header, and
  an item whose image is missing is left out (counted as ``image_missing``) since its box cannot be normalised.
* **lmms-lab** ``RefCOCO`` / ``RefCOCOplus`` / ``RefCOCOg`` Parquet — ``data/val-00000-of-00004.parquet``, …:
  rows ``{"question_id", "image" (embedded), "question", "answer": [sentences], "bbox": [x, y, w, h] (pixels),
  "file_name"}``; one item per sentence, images extracted once next to the file.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

from ...types import EvalItem
from .._common import BenchmarkFileError, ImageCache, image_size, iter_jsonl, read_json, read_parquet
from .items import coco_box_to_normalised, rec_item, xyxy_to_normalised

__all__ = ["read_record_file", "read_lmms_parquet", "record_kind", "file_split"]

_NUM4 = re.compile(r"\[\s*(-?[\d.]+)\s*,\s*(-?[\d.]+)\s*,\s*(-?[\d.]+)\s*,\s*(-?[\d.]+)\s*\]")


def file_split(path: Path) -> tuple[str, str]:
    """(dataset, split) from a file name: ``REC_refcoco+_unc_testA`` → (refcoco+, testA); ``refcocog_val`` →
    (refcocog, val); ``val-00000-of-00004`` → (the folder's name, val).

    >>> file_split(Path("REC_refcoco+_unc_testA.jsonl")), file_split(Path("refcocop_val.json"))
    (('refcoco+', 'testA'), ('refcocop', 'val'))
    """
    stem = path.stem
    m = re.fullmatch(r"REC_(.+?)_(?:unc|umd|google)_(\w+)", stem)
    if m:
        return m.group(1), m.group(2)
    m = re.fullmatch(r"(\w+?)-\d{5}-of-\d{5}", stem)
    if m:
        folder = path.parent.parent if path.parent.name in ("data", m.group(1)) else path.parent
        return folder.name.lower(), m.group(1)
    head, _, tail = stem.rpartition("_")
    return (head or stem), (tail if head else "")


def record_kind(rec: dict) -> str | None:
    """Which published record shape ``rec`` has: ``rec_jsonl``, ``vlmr1`` or ``vlmr1_conversation`` (None: none)."""
    if {"img_path", "expression", "bbox"} <= rec.keys():
        return "rec_jsonl"
    if {"image", "solution"} <= rec.keys() and ("normal_caption" in rec or "problem" in rec):
        return "vlmr1"
    if {"image", "conversations"} <= rec.keys():
        return "vlmr1_conversation"
    return None


def _records(path: Path) -> list[tuple[str, dict]]:
    if path.suffix == ".jsonl":
        return [(f"{path}:{i}", rec) for i, rec in iter_jsonl(path)]
    data = read_json(path)
    if not isinstance(data, list):
        raise BenchmarkFileError(f"{path}: expected a JSON list of records, got {type(data).__name__}")
    return [(f"{path}[{j}]", rec) for j, rec in enumerate(data)]


def _sentence_of(text: str) -> str:
    text = str(text).replace("<image>", "").strip()
    return text.rsplit("describes:", 1)[-1].strip() if "describes:" in text else text


def read_record_file(path: Path, limit: int | None, image_root: Path, accepted: str) -> tuple[list[EvalItem], int]:
    """The items of one REC jsonl / VLM-R1 file and how many were left out (image missing, size unknown)."""
    recs = _records(path)
    dataset, split = file_split(path)
    items: list[EvalItem] = []
    left_out = 0
    for j, (where, rec) in enumerate(recs):
        if limit is not None and len(items) >= limit:
            break
        kind = record_kind(rec) if isinstance(rec, dict) else None
        if kind is None:
            keys = sorted(rec) if isinstance(rec, dict) else type(rec).__name__
            raise BenchmarkFileError(f"{where}: not a RefCOCO record (fields {keys}); accepted layouts: {accepted}")
        try:
            if kind == "rec_jsonl":
                image, sentence = image_root / rec["img_path"], str(rec["expression"]).strip()
                size = (rec["width"], rec["height"]) if rec.get("width") and rec.get("height") else image_size(image)
                pix = [float(v) for v in rec["bbox"]]
            else:
                image = image_root / rec["image"]
                if kind == "vlmr1":
                    sentence = str(rec.get("normal_caption") or _sentence_of(rec["problem"])).strip()
                    pix = [float(v) for v in rec["solution"]]
                else:
                    conv = rec["conversations"]
                    sentence = _sentence_of(conv[0]["value"])
                    m = _NUM4.search(str(conv[1]["value"]))
                    if m is None:
                        raise BenchmarkFileError(f"{where}: no [x1, y1, x2, y2] box in the gpt turn")
                    pix = [float(v) for v in m.groups()]
                size = image_size(image)
        except (KeyError, IndexError, TypeError, ValueError) as e:
            if isinstance(e, BenchmarkFileError):
                raise
            raise BenchmarkFileError(f"{where}: malformed {kind} record ({e!r})") from None
        if size is None:
            left_out += 1  # no size, no normalised box: counted, not guessed
            continue
        iid = f"{dataset}-{split}-{rec.get('id', rec.get('question_id', j))}" if kind != "rec_jsonl" else \
            f"{dataset}-{split}-{j}"  # fmt: skip
        meta = {"image_size": list(size), "bbox_xyxy": pix, "source": kind}
        items.append(rec_item(iid, image, sentence, xyxy_to_normalised(pix, *size), f"{dataset}_{split}", meta))
    return items, left_out


def read_lmms_parquet(files: list[Path], limit: int | None, cache_dir, dataset: str | None) -> list[EvalItem]:
    """One item per sentence of the lmms-lab Parquet shards (images extracted once next to each file)."""
    from PIL import Image

    items: list[EvalItem] = []
    for file in files:
        name, split = file_split(file)
        name = dataset or name
        cache = ImageCache(file, cache_dir)
        rows = read_parquet(file, ["question_id", "image", "answer", "bbox", "file_name"])
        for j, row in enumerate(rows):
            img = row.get("image") or {}
            data = img.get("bytes") if isinstance(img, dict) else None
            if not data or not row.get("bbox") or len(row["bbox"]) != 4:
                raise BenchmarkFileError(f"{file}: row {j}: expected an embedded image and a bbox [x, y, w, h]")
            with Image.open(io.BytesIO(data)) as im:
                w, h = im.size
            qid = str(row.get("question_id") or j)
            path = cache.put(img, f"{name}-{split}-{re.sub(r'[^A-Za-z0-9._-]', '_', qid)}")
            box = coco_box_to_normalised(row["bbox"], w, h)
            sentences = row.get("answer") or []
            for k, sent in enumerate([sentences] if isinstance(sentences, str) else sentences):
                if limit is not None and len(items) >= limit:
                    return items
                meta = {"question_id": qid, "image_size": [w, h], "bbox_xywh": list(row["bbox"]),
                        "file_name": row.get("file_name"), "source": "lmms-lab"}  # fmt: skip
                items.append(rec_item(f"{name}-{split}-{qid}-{k}", path, str(sent).strip(), box, f"{name}_{split}",
                                      meta))  # fmt: skip
    return items

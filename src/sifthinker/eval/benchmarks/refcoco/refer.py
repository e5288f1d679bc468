"""The ``refer`` toolkit layout of RefCOCO/+/g (lichengunc/refer), the one most REC codebases read::

    <data>/refcoco/refs(unc).p        (refcoco+: refs(unc).p; refcocog: refs(umd).p, also refs(google).p)
    <data>/refcoco/instances.json     COCO-style: images (id, file_name, width, height), annotations (id, bbox)
    <data>/images/mscoco/images/train2014/COCO_train2014_<id>.jpg

``refs(*).p`` is a pickle of a list of refs ``{"ref_id", "ann_id", "image_id", "split", "category_id",
"sentences": [{"sent_id", "sent", "raw", "tokens"}], ...}``; it is read with an unpickler that refuses every
class or function (plain lists, dicts, strings and numbers only), so a tampered file cannot run code. A ref's box
is its annotation's ``bbox`` — **pixel** ``[x, y, w, h]`` — normalised by that image's ``width``/``height``.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path

from ...types import EvalItem
from .._common import BenchmarkFileError, read_json
from .items import coco_box_to_normalised, rec_item

__all__ = ["read_refs", "load_refer", "is_refer_folder", "find_image_root"]


class _PlainUnpickler(pickle.Unpickler):
    def find_class(self, module, name):  # noqa: D102 - refuse any global: refs are plain containers
        raise pickle.UnpicklingError(f"refs file references {module}.{name}; only plain data is accepted")


def read_refs(path: str | os.PathLike) -> list[dict]:
    """The refs of a ``refs(*).p`` file (Python 2 or 3 pickle of plain data)."""
    with open(path, "rb") as f:
        try:
            refs = _PlainUnpickler(f, encoding="utf-8", errors="replace").load()
        except (pickle.UnpicklingError, EOFError, ValueError) as e:
            raise BenchmarkFileError(f"{path}: not a refer refs pickle ({e})") from e
    if not isinstance(refs, list):
        raise BenchmarkFileError(f"{path}: expected a list of refs, got {type(refs).__name__}")
    return refs


def is_refer_folder(root: Path) -> bool:
    return root.is_dir() and any(root.glob("refs(*).p"))


def _refs_file(root: Path, refs_file: str | None) -> Path:
    if refs_file:
        p = root / refs_file
        if not p.is_file():
            raise BenchmarkFileError(f"{p}: not found")
        return p
    found = sorted(root.glob("refs(*).p"))
    if not found:
        raise BenchmarkFileError(
            f"{root}: no refs(*).p file; expected the refer layout (refs(unc).p + instances.json)"
        )
    prefer = "refs(umd).p" if "refcocog" in root.name.lower() else "refs(unc).p"
    for p in found:
        if p.name == prefer:
            return p
    return found[0]


def find_image_root(root: Path, image_root) -> Path:
    """``image_root`` when given, else the first COCO ``train2014`` folder found near ``root``; a clear error
    naming ``--bench-arg image_root=...`` when there is none."""
    if image_root is not None:
        return Path(image_root)
    candidates = [
        root.parent / "images" / "mscoco" / "images" / "train2014",
        root.parent / "images" / "train2014",
        root / "images",
        root / "train2014",
        root.parent / "train2014",
        root / "coco" / "train2014",
        root.parent / "coco" / "train2014",
    ]
    for c in candidates:
        if c.is_dir():
            return c
    raise BenchmarkFileError(
        f"{root}: no COCO train2014 image folder found (looked in {', '.join(str(c) for c in candidates)}); pass "
        "--bench-arg image_root=..."
    )


def load_refer(
    root: Path, limit: int | None, *, split: str, image_root, refs_file: str | None, dataset: str | None
) -> list[EvalItem]:
    """One item per sentence of the refs in ``split``, in file order (refs, then sentences)."""
    refs = read_refs(_refs_file(root, refs_file))
    inst = read_json(root / "instances.json")
    try:
        images = {im["id"]: im for im in inst["images"]}
        anns = {a["id"]: a for a in inst["annotations"]}
    except (KeyError, TypeError) as e:
        raise BenchmarkFileError(f"{root / 'instances.json'}: expected COCO images and annotations ({e!r})") from e
    img_root = find_image_root(root, image_root)
    name = dataset or root.name
    items: list[EvalItem] = []
    for ref in refs:
        if ref.get("split") != split:
            continue
        ann = anns.get(ref.get("ann_id"))
        im = images.get(ref.get("image_id"))
        if ann is None or im is None:
            raise BenchmarkFileError(f"ref {ref.get('ref_id')}: annotation or image missing from instances.json")
        box = coco_box_to_normalised(ann["bbox"], im["width"], im["height"])
        for sent in ref.get("sentences", []):
            if limit is not None and len(items) >= limit:
                return items
            text = str(sent.get("sent") or sent.get("raw") or "").strip()
            if not text:
                continue
            meta = {"ref_id": ref["ref_id"], "ann_id": ref["ann_id"], "sentence": text,
                    "image_size": [im["width"], im["height"]], "bbox_xywh": list(ann["bbox"])}  # fmt: skip
            iid = f"{name}-{split}-{ref['ref_id']}-{sent.get('sent_id')}"
            items.append(rec_item(iid, img_root / im["file_name"], text, box, f"{name}_{split}", meta))
    return items



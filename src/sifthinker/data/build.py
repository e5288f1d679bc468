"""The build: grounded items → depth → focus path → written, validated chain → SIF record, resumably.

Output folder (``--shard i/n`` adds ``.shard-0000i-of-0000n`` before each extension, so shards never share a file)::

    records.jsonl     kept SIF-50K records (§6 fields, ``messages`` with the assistant trace) plus our extras
    failures.jsonl    one row per item that was not kept: id, stage, reason, detail
    summary.json      counts (kept, failed by stage and reason, skipped), throughput, writer statistics
    depth_cache/      depth maps computed by a model, by image digest (lossless .npy + colourised .png)

Both JSONL files are append-only and flushed in small batches. A rerun skips every id already in either file (so
``kill -9`` then a rerun ends with every id exactly once); a partial last line left by a kill is cut off first.
``retry_failed`` forgets earlier failures (rewriting the failures file atomically) and tries those items again.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from ..boxes import validate_box
from ..depth import DepthMap, load_depth
from ..io import atomic_write_text, iter_jsonl_lines, repair_jsonl_tail
from ..records import user_content
from .check import ChainRejected, check_chain
from .depth_stage import DEFAULT_DEPTH_MODEL, DepthAnythingEstimator, DepthCache, image_digest
from .expansion import ExpansionConfig, focus_path, item_seed, round_box
from .frames import attach_depths, frame_png
from .images import DEFAULT_MAX_IMAGE_PIXELS, ImageTooLarge, open_image
from .types import Frame, GroundedItem, ItemError, WriteRequest, resolve_inside

__all__ = ["BuildConfig", "build", "shard_of", "output_paths", "read_ids"]

logger = logging.getLogger(__name__)

DEPTH_MODES = ("auto", "oracle", "model")


@dataclass
class BuildConfig:
    """Options of a build (see the module docstring for the output layout)."""

    out: Path
    image_root: Path | None = None
    depth_root: Path | None = None  # where items' depth_path values resolve (default: the source's, else image_root)
    seed: int = 0
    depth: str = "auto"  # auto: the source's depth when it has one, else the model; oracle; model
    depth_model: str = DEFAULT_DEPTH_MODEL
    device: str | None = None
    depth_batch_size: int = 8
    expansion: ExpansionConfig = field(default_factory=ExpansionConfig)
    max_attempts: int = 3
    concurrency: int = 8
    flush_every: int = 32
    shard: tuple[int, int] = (0, 1)
    limit: int | None = None
    retry_failed: bool = False
    progress: bool = True
    max_image_pixels: int = DEFAULT_MAX_IMAGE_PIXELS  # checked from the header before decoding: a failure row

    def __post_init__(self) -> None:
        self.out = Path(self.out)
        if self.depth not in DEPTH_MODES:
            raise ValueError(f"depth mode {self.depth!r}: expected one of {DEPTH_MODES}")
        i, n = self.shard
        if not (isinstance(i, int) and isinstance(n, int) and n >= 1 and 0 <= i < n):
            raise ValueError(f"shard {i}/{n}: expected 0 <= i < n (e.g. --shard 3/8)")
        for name in ("max_attempts", "concurrency", "flush_every", "depth_batch_size", "max_image_pixels"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")


def shard_of(item_id: str, n: int) -> int:
    """The shard an id belongs to: a hash of the id (stable whatever the source order or the machine)."""
    h = hashlib.blake2b(item_id.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(h, "big") % n


def output_paths(out: Path, shard: tuple[int, int]) -> dict[str, Path]:
    i, n = shard
    tag = "" if n == 1 else f".shard-{i:05d}-of-{n:05d}"
    return {
        "records": out / f"records{tag}.jsonl",
        "failures": out / f"failures{tag}.jsonl",
        "summary": out / f"summary{tag}.json",
    }


def read_ids(path: Path) -> list[str]:
    """Ids of the rows of a JSONL output file (unreadable lines are skipped with a warning)."""
    ids = []
    if not path.exists():
        return ids
    with open(path, "rb") as f:
        for i, row in iter_jsonl_lines(f):  # a corrupt line (bad bytes, huge number, …) is skipped, not fatal
            if isinstance(row, dict) and "id" in row:
                ids.append(str(row["id"]))
            else:
                logger.warning("%s line %d: unreadable row skipped (%s)", path, i + 1, str(row)[:200])
    return ids


class _Appender:
    """Buffered append-only JSONL writer, flushed (and fsynced) every ``every`` rows and on close."""

    def __init__(self, path: Path, every: int) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        repair_jsonl_tail(path)
        self.f = open(path, "a", encoding="utf-8")
        self.every = every
        self.buf: list[str] = []

    def add(self, row: dict) -> None:
        self.buf.append(json.dumps(row, ensure_ascii=False) + "\n")
        if len(self.buf) >= self.every:
            self.flush()

    def flush(self) -> None:
        if self.buf:
            self.f.write("".join(self.buf))
            self.buf.clear()
            self.f.flush()
            os.fsync(self.f.fileno())

    def close(self) -> None:
        self.flush()
        self.f.close()


@dataclass
class _Prepared:
    item: GroundedItem
    image_path: Path
    depth: DepthMap
    depth_path: Path
    depth_image: Path
    size: tuple[int, int]
    image: Image.Image | None


class _Failure(Exception):
    def __init__(self, stage: str, reason: str, detail: str):
        self.stage, self.reason, self.detail = stage, reason, detail
        super().__init__(f"{stage}/{reason}: {detail}")


class _Builder:
    def __init__(self, writer, config: BuildConfig, image_root: Path, depth_root: Path) -> None:
        self.writer = writer
        self.cfg = config
        self.root = image_root
        self.depth_root = depth_root
        self.cache = DepthCache(config.out / "depth_cache")
        self.estimator: DepthAnythingEstimator | None = None
        self.needs_images = bool(getattr(writer, "needs_images", True))

    # ------------------------------------------------------------------------------------------- preparation

    def _open_image(self, item: GroundedItem) -> tuple[Path, tuple[int, int], Image.Image | None]:
        try:
            path = resolve_inside(self.root, item.image, field="image", record=item.id)
        except ItemError as e:
            raise _Failure("source", "path", str(e)) from None
        if not path.is_file():
            raise _Failure("image", "missing", f"image {item.image!r} not found under {self.root}")
        cap = self.cfg.max_image_pixels
        try:
            with open_image(path, cap) as im:  # the size is checked from the header before anything is decoded
                size = im.size
                im.verify()
            image = None
            if self.needs_images or self._wants_model(item):
                with open_image(path, cap) as im:
                    image = im.convert("RGB")
        except ImageTooLarge as e:
            raise _Failure("image", "too_large", f"{item.image!r}: {e}") from None
        except Exception as e:  # PIL raises many types for corrupt files
            raise _Failure("image", "corrupt", f"{item.image!r}: {type(e).__name__}: {e}") from None
        return path, size, image

    def _wants_model(self, item: GroundedItem) -> bool:
        return self.cfg.depth == "model" or (self.cfg.depth == "auto" and not item.depth_path)

    def _oracle(self, item: GroundedItem, size: tuple[int, int]) -> tuple[DepthMap, Path, Path]:
        if not item.depth_path:
            raise _Failure("depth", "no_oracle", "--depth oracle, but the source gives no depth map for this item")
        try:
            dpath = resolve_inside(self.depth_root, item.depth_path, field="depth_path", record=item.id)
            vis = (
                resolve_inside(self.root, item.depth_image, field="depth_image", record=item.id)
                if item.depth_image
                else None
            )
            dm = DepthMap(load_depth(dpath))
        except (ItemError, OSError, ValueError) as e:
            raise _Failure("depth", "oracle", str(e)) from None
        if dm.shape != (size[1], size[0]):
            raise _Failure("depth", "size", f"depth map {dm.shape[1]}×{dm.shape[0]} != image {size[0]}×{size[1]}")
        if vis is None or not vis.is_file():
            key = "oracle-" + hashlib.sha256(str(dpath).encode()).hexdigest()
            _, _, vis = self.cache.get(key) or self.cache.put(key, dm.array)
        return dm, dpath, vis

    @staticmethod
    def _check_item(item: GroundedItem) -> None:
        """The fields every later stage relies on; a bad one is a failure row naming the field."""
        if not isinstance(item.question, str) or not item.question.strip():
            raise _Failure("source", "question", f"empty question {item.question!r}")
        if not str(item.answer).strip():
            raise _Failure("source", "answer", "empty answer")
        if not item.gt_boxes:
            raise _Failure("source", "gt_boxes", "no ground-truth box")
        for i, b in enumerate(item.gt_boxes):
            try:
                validate_box(b, what=f"ground-truth box {i}")
            except ValueError as e:
                raise _Failure("source", "gt_boxes", str(e)) from None
        if item.choices is not None and (len(item.choices) < 2 or not all(str(c).strip() for c in item.choices)):
            raise _Failure("source", "choices", f"expected at least two non-empty options, got {item.choices!r}")

    def prepare(self, items: list[GroundedItem]) -> list[_Prepared | _Failure]:
        """Open images and give every item a depth map: oracle maps read, model maps from cache or computed in
        batches."""
        out: list[_Prepared | _Failure | None] = [None] * len(items)
        todo: list[tuple[int, str, Image.Image, Path, tuple[int, int]]] = []
        for k, item in enumerate(items):
            try:
                self._check_item(item)
                path, size, image = self._open_image(item)
                if self._wants_model(item):
                    key = image_digest(path)
                    hit = self.cache.get(key)
                    if hit is None:
                        todo.append((k, key, image, path, size))
                        continue
                    dm, dpath, vis = hit
                else:
                    dm, dpath, vis = self._oracle(item, size)
                out[k] = _Prepared(item, path, dm, dpath, vis, size, image if self.needs_images else None)
            except _Failure as f:
                out[k] = f
        if todo:
            if self.estimator is None:
                self.estimator = DepthAnythingEstimator(
                    self.cfg.depth_model, device=self.cfg.device, batch_size=self.cfg.depth_batch_size
                )
            try:
                maps = self.estimator.estimate([t[2] for t in todo])
            except Exception as e:
                logger.exception("depth model failed on a batch of %d images", len(todo))
                for k, *_ in todo:
                    out[k] = _Failure("depth", "model", f"{type(e).__name__}: {e}")
            else:
                for (k, key, image, path, size), m in zip(todo, maps, strict=True):
                    dm, dpath, vis = self.cache.put(key, m)
                    out[k] = _Prepared(items[k], path, dm, dpath, vis, size, image if self.needs_images else None)
        return out  # type: ignore[return-value]

    # ---------------------------------------------------------------------------------------------- writing

    def frames(self, p: _Prepared) -> list[Frame]:
        rng = np.random.default_rng(item_seed(self.cfg.seed, p.item.id))
        try:
            path = focus_path(p.item.gt_boxes, p.size[0], p.size[1], self.cfg.expansion, seed=rng)
            frames = attach_depths(path, p.depth, self.cfg.expansion.decimals)
        except (ValueError, RuntimeError) as e:
            raise _Failure("expansion", "error", str(e)) from None
        if p.image is not None:
            for f in frames:
                f.image_png = frame_png(p.image, f)
        return frames

    async def write(self, p: _Prepared) -> tuple[dict, int]:
        frames = self.frames(p)
        last: ChainRejected | None = None
        for attempt in range(self.cfg.max_attempts):
            try:
                text = await self.writer.write(WriteRequest(p.item, frames, attempt))
            except Exception as e:
                raise _Failure("writer", type(e).__name__, str(e)[:500]) from None
            try:
                check_chain(text, frames, p.item)
            except ChainRejected as e:
                last = e
                if e.reason == "ground_truth":
                    break
                continue
            return self.record(p, frames, text), attempt + 1
        reason = last.reason if last is not None else "no_attempt"
        raise _Failure("validate", reason, str(last)[:500])

    def record(self, p: _Prepared, frames: list[Frame], text: str) -> dict:
        item = p.item
        gt = [list(round_box(b)) for b in item.gt_boxes]
        rec: dict[str, Any] = {
            "id": item.id,
            "dataset": item.dataset,
            "image": str(p.image_path),
            "depth_image": str(p.depth_image),
            "problem": item.question,
            "normalized_solution_round": {"bbox_3d": gt, "illegal_content": False},
            "response": str(item.answer),
            "messages": [
                {"role": "user", "content": user_content(item.question, item.choices)},
                {"role": "assistant", "content": text},
            ],
            "images": [str(p.image_path), str(p.depth_image)],
            "depth_path": str(p.depth_path),
            "answer_type": item.answer_type,
            "question_type": item.question_type,
            "chain_roles": [f.role for f in frames],
            "writer": getattr(self.writer, "name", type(self.writer).__name__),
        }
        if item.choices:
            rec["choices"] = list(item.choices)
        for k, v in item.extra.items():
            rec.setdefault(k, v)
        if item.objects is not None:
            rec.setdefault("objects", item.objects)
        return {k: v for k, v in rec.items() if v is not None}


def build(source: Iterable[GroundedItem | ItemError], writer, config: BuildConfig) -> dict[str, Any]:
    """Run a build into ``config.out``; returns (and writes) the summary."""
    return asyncio.run(_build(source, writer, config))


async def _build(source, writer, cfg: BuildConfig) -> dict[str, Any]:
    from tqdm import tqdm

    cfg.out.mkdir(parents=True, exist_ok=True)
    paths = output_paths(cfg.out, cfg.shard)
    for p in (paths["records"], paths["failures"]):
        repair_jsonl_tail(p)
    kept_ids = set(read_ids(paths["records"]))
    failed_ids = set(read_ids(paths["failures"]))
    if cfg.retry_failed and failed_ids:
        atomic_write_text(paths["failures"], "")  # every earlier failure is tried again: the log starts afresh
        failed_ids = set()
    done = kept_ids | failed_ids
    image_root = Path(cfg.image_root or getattr(source, "image_root", None) or ".").resolve()
    depth_root = Path(cfg.depth_root or getattr(source, "depth_root", None) or image_root).resolve()
    b = _Builder(writer, cfg, image_root, depth_root)
    recs = _Appender(paths["records"], cfg.flush_every)
    fails = _Appender(paths["failures"], cfg.flush_every)
    stats: Counter[str] = Counter()
    failed_by: Counter[str] = Counter()
    attempts_hist: Counter[int] = Counter()
    seen: set[str] = set()
    sem = asyncio.Semaphore(cfg.concurrency)
    t0 = time.perf_counter()
    bar = tqdm(desc=f"build shard {cfg.shard[0]}/{cfg.shard[1]}", unit="item", disable=not cfg.progress)

    def fail(item_id: str, stage: str, reason: str, detail: str) -> None:
        fails.add({"id": item_id, "stage": stage, "reason": reason, "detail": detail})
        failed_by[f"{stage}/{reason}"] += 1
        stats["failed"] += 1
        bar.update(1)

    async def one(p: _Prepared) -> None:
        async with sem:
            try:
                rec, n = await b.write(p)
            except _Failure as f:
                fail(p.item.id, f.stage, f.reason, f.detail)
                return
            recs.add(rec)
            stats["kept"] += 1
            attempts_hist[n] += 1
            bar.update(1)

    chunk: list[GroundedItem] = []
    chunk_size = max(2 * cfg.concurrency, cfg.depth_batch_size, 16)

    async def run_chunk(items: list[GroundedItem]) -> None:
        prepared = b.prepare(items)
        tasks = []
        for item, p in zip(items, prepared, strict=True):
            if isinstance(p, _Failure):
                fail(item.id, p.stage, p.reason, p.detail)
            else:
                tasks.append(asyncio.create_task(one(p)))
        if tasks:
            await asyncio.gather(*tasks)

    n_taken = 0
    try:
        for index, item in enumerate(source):
            if isinstance(item, ItemError):
                rid = item.record if item.record is not None else f"#{index}"
                rid = str(rid)
                if shard_of(rid, cfg.shard[1]) != cfg.shard[0] or rid in done or rid in seen:
                    continue
                seen.add(rid)
                fail(rid, "source", item.field or "record", str(item))
                continue
            if shard_of(item.id, cfg.shard[1]) != cfg.shard[0]:
                continue
            if item.id in seen:  # a second record with an id this input already gave (kept earlier or not)
                stats["duplicate_ids"] += 1
                if stats["duplicate_ids"] <= 5:
                    logger.warning("record %d repeats the id %r: it is left out", index, item.id)
                continue
            if item.id in done:
                seen.add(item.id)
                stats["skipped_done"] += 1
                continue
            if cfg.limit is not None and n_taken >= cfg.limit:
                break
            seen.add(item.id)
            n_taken += 1
            chunk.append(item)
            if len(chunk) >= chunk_size:
                await run_chunk(chunk)
                chunk = []
        if chunk:
            await run_chunk(chunk)
    finally:
        recs.close()
        fails.close()
        bar.close()
    seconds = time.perf_counter() - t0
    processed = stats["kept"] + stats["failed"]
    summary = {
        "out": str(cfg.out),
        "shard": list(cfg.shard),
        "kept": stats["kept"],
        "failed": stats["failed"],
        "failed_by": dict(failed_by.most_common()),
        "skipped_done": stats["skipped_done"],
        "duplicate_ids": stats["duplicate_ids"],
        "attempts": {str(k): v for k, v in sorted(attempts_hist.items())},
        "seconds": round(seconds, 3),
        "items_per_second": round(processed / seconds, 2) if seconds > 0 else None,
        "total_kept": len(kept_ids) + stats["kept"],
        "writer": getattr(writer, "name", type(writer).__name__),
        "config": _config_dict(cfg),
    }
    writer_stats = getattr(getattr(writer, "client", None), "stats", None)
    if isinstance(writer_stats, dict):
        summary["writer_stats"] = dict(writer_stats)
    atomic_write_text(paths["summary"], json.dumps(summary, indent=2))
    return summary


def _config_dict(cfg: BuildConfig) -> dict:
    d = asdict(cfg)
    d["out"] = str(cfg.out)
    d["image_root"] = str(cfg.image_root) if cfg.image_root else None
    d["depth_root"] = str(cfg.depth_root) if cfg.depth_root else None
    return d

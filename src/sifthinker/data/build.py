"""The build: grounded items → depth → focus path → written, validated chain → SIF record, resumably.

Output folder (``--shard i/n`` adds ``.shard-0000i-of-0000n`` before each extension, so shards never share a file)::

    records.jsonl     kept SIF-50K records (§6 fields, ``messages`` with the assistant trace) plus our extras
    failures.jsonl    one row per item that was not kept: id, stage, reason, detail
    summary.json      counts (kept, failed by stage and reason, skipped), throughput, writer statistics
    depth_cache/      depth maps computed by a model, by image digest (lossless .npy + colourised .png)

Both JSONL files are append-only and flushed in small batches (:class:`sifthinker.io.JsonlAppender`). A rerun skips
every id already in either file (so ``kill -9`` then a rerun ends with every id exactly once); a partial last line
left by a kill is cut off first. ``retry_failed`` forgets earlier failures (rewriting the failures file atomically)
and tries those items again.

Ids follow :mod:`sifthinker.data.ids`. A record repeating an id an earlier record of the input holds is never
renamed or dropped silently: it gets a failure row of its own, named ``<id> (<where>)`` (its line, or ``#index`` in
the input), so the first record keeps the id and a rerun finds the repeat's row done. The stages live in
:mod:`~sifthinker.data.prepare` (fields, image, depth) and :mod:`~sifthinker.data.compose` (frames, writer, record).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..images import DEFAULT_MAX_IMAGE_PIXELS
from ..io import JsonlAppender, atomic_write_text, done_ids
from .compose import Composer, writer_name
from .depth_stage import DEFAULT_DEPTH_MODEL, DepthCache
from .expansion import ExpansionConfig
from .prepare import Prepared, Preparer, StageFailure
from .types import DEPTH_SOURCES, GroundedItem, ItemError

__all__ = ["BuildConfig", "build", "shard_of", "output_paths", "read_ids", "DEPTH_SOURCES"]

logger = logging.getLogger(__name__)


@dataclass
class BuildConfig:
    """Options of a build (see the module docstring for the output layout)."""

    out: Path
    image_root: Path | None = None
    depth_root: Path | None = None  # where items' depth_path values resolve (default: the source's, else image_root)
    seed: int = 0
    depth: str = "auto"  # one of DEPTH_SOURCES: the source's depth when it has one, else the model; oracle; model
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
        if self.depth not in DEPTH_SOURCES:
            raise ValueError(f"depth mode {self.depth!r}: expected one of {DEPTH_SOURCES}")
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
    return done_ids(path)


def build(source: Iterable[GroundedItem | ItemError], writer, config: BuildConfig) -> dict[str, Any]:
    """Run a build into ``config.out``; returns (and writes) the summary."""
    return asyncio.run(_Run(source, writer, config).run())


class _Run:
    """One build: resume state, the source routed item by item (shard, done, repeats), chunks prepared and written
    concurrently, failure rows, the summary."""

    def __init__(self, source, writer, cfg: BuildConfig) -> None:
        self.source, self.writer, self.cfg = source, writer, cfg
        self.paths = output_paths(cfg.out, cfg.shard)
        self.stats: Counter[str] = Counter()
        self.failed_by: Counter[str] = Counter()
        self.attempts: Counter[int] = Counter()
        self.seen: set[str] = set()  # ids (and failure-row names) this input gave so far
        self.first: dict[str, int] = {}  # id → index of the record that gave it first
        self.taken = 0  # new items taken (for ``limit``)

    # ------------------------------------------------------------------------------------------------- setup

    def _resume(self) -> None:
        """The ids finished by earlier runs (kept or failed); ``retry_failed`` forgets the failed ones."""
        self.kept_before = set(done_ids(self.paths["records"]))
        failed = set(done_ids(self.paths["failures"]))
        if self.cfg.retry_failed and failed:
            atomic_write_text(self.paths["failures"], "")  # every earlier failure is tried again: a fresh log
            failed = set()
        self.done = self.kept_before | failed

    def _stages(self) -> None:
        cfg = self.cfg
        image_root = Path(cfg.image_root or getattr(self.source, "image_root", None) or ".").resolve()
        depth_root = Path(cfg.depth_root or getattr(self.source, "depth_root", None) or image_root).resolve()
        self.prepare = Preparer(
            image_root=image_root,
            depth_root=depth_root,
            cache=DepthCache(cfg.out / "depth_cache"),
            depth=cfg.depth,
            depth_model=cfg.depth_model,
            device=cfg.device,
            depth_batch_size=cfg.depth_batch_size,
            max_image_pixels=cfg.max_image_pixels,
            needs_images=bool(getattr(self.writer, "needs_images", True)),
        )
        self.compose = Composer(self.writer, seed=cfg.seed, expansion=cfg.expansion, max_attempts=cfg.max_attempts)

    # ----------------------------------------------------------------------------------------------- outcomes

    def fail(self, row_id: str, stage: str, reason: str, detail: str) -> None:
        self.fails.add({"id": row_id, "stage": stage, "reason": reason, "detail": detail})
        self.failed_by[f"{stage}/{reason}"] += 1
        self.stats["failed"] += 1
        self.bar.update(1)

    async def _write_one(self, p: Prepared) -> None:
        async with self.sem:
            try:
                rec, n = await self.compose.write(p)
            except StageFailure as f:
                self.fail(p.item.id, f.stage, f.reason, f.detail)
                return
            self.recs.add(rec)
            self.stats["kept"] += 1
            self.attempts[n] += 1
            self.bar.update(1)

    async def _run_chunk(self, items: list[GroundedItem]) -> None:
        tasks = []
        for item, p in zip(items, self.prepare(items), strict=True):
            if isinstance(p, StageFailure):
                self.fail(item.id, p.stage, p.reason, p.detail)
            else:
                tasks.append(asyncio.create_task(self._write_one(p)))
        if tasks:
            await asyncio.gather(*tasks)

    # ------------------------------------------------------------------------------------------------ routing

    def _mine(self, key: str) -> bool:
        return shard_of(key, self.cfg.shard[1]) == self.cfg.shard[0]

    def _source_error(self, index: int, err: ItemError) -> None:
        """A bad record: one failure row, named by its label (by its place too when the label is an id this input
        gave already or a kept record holds)."""
        name = str(err.record if err.record is not None else f"#{index}")
        if not self._mine(name):
            return
        if name in self.seen or name in self.kept_before:
            name = f"{name} ({err.position or f'#{index}'})"
        if name in self.done or name in self.seen:
            return
        self.seen.add(name)
        self.fail(name, "source", err.field or "record", str(err))

    def _take(self, index: int, item: GroundedItem) -> bool | None:
        """Whether ``item`` is to be built now (None: the limit is reached, stop); a repeated id gets its own failure
        row (once, across reruns)."""
        if not self._mine(item.id):
            return False
        if item.id in self.seen:
            self.stats["duplicate_ids"] += 1
            name = f"{item.id} (#{index})"
            if name not in self.done and name not in self.seen:
                self.seen.add(name)
                first = self.first.get(item.id)
                where = f"record #{first}" if first is not None else "an earlier record"
                self.fail(name, "source", "duplicate_id", f"record #{index} repeats the id {item.id!r} of {where}")
            return False
        if item.id in self.done:
            self.seen.add(item.id)
            self.first[item.id] = index
            self.stats["skipped_done"] += 1
            return False
        if self.cfg.limit is not None and self.taken >= self.cfg.limit:
            return None
        self.seen.add(item.id)
        self.first[item.id] = index
        self.taken += 1
        return True

    async def _route(self) -> None:
        chunk: list[GroundedItem] = []
        chunk_size = max(2 * self.cfg.concurrency, self.cfg.depth_batch_size, 16)
        for index, item in enumerate(self.source):
            if isinstance(item, ItemError):
                self._source_error(index, item)
                continue
            take = self._take(index, item)
            if take is None:
                break
            if not take:
                continue
            chunk.append(item)
            if len(chunk) >= chunk_size:
                await self._run_chunk(chunk)
                chunk = []
        if chunk:
            await self._run_chunk(chunk)

    # ----------------------------------------------------------------------------------------------- the run

    async def run(self) -> dict[str, Any]:
        from tqdm import tqdm

        cfg = self.cfg
        cfg.out.mkdir(parents=True, exist_ok=True)
        self._resume()
        self._stages()
        self.recs = JsonlAppender(self.paths["records"], cfg.flush_every)
        self.fails = JsonlAppender(self.paths["failures"], cfg.flush_every)
        self.sem = asyncio.Semaphore(cfg.concurrency)
        self.bar = tqdm(desc=f"build shard {cfg.shard[0]}/{cfg.shard[1]}", unit="item", disable=not cfg.progress)
        t0 = time.perf_counter()
        try:
            await self._route()
        finally:
            self.recs.close()
            self.fails.close()
            self.bar.close()
        summary = self._summary(time.perf_counter() - t0)
        atomic_write_text(self.paths["summary"], json.dumps(summary, indent=2))
        return summary

    def _summary(self, seconds: float) -> dict[str, Any]:
        st = self.stats
        processed = st["kept"] + st["failed"]
        summary = {
            "out": str(self.cfg.out),
            "shard": list(self.cfg.shard),
            "kept": st["kept"],
            "failed": st["failed"],
            "failed_by": dict(self.failed_by.most_common()),
            "skipped_done": st["skipped_done"],
            "duplicate_ids": st["duplicate_ids"],
            "attempts": {str(k): v for k, v in sorted(self.attempts.items())},
            "seconds": round(seconds, 3),
            "items_per_second": round(processed / seconds, 2) if seconds > 0 else None,
            "total_kept": len(self.kept_before) + st["kept"],
            "writer": writer_name(self.writer),
            "config": _config_dict(self.cfg),
        }
        writer_stats = getattr(getattr(self.writer, "client", None), "stats", None)
        if isinstance(writer_stats, dict):
            summary["writer_stats"] = dict(writer_stats)
        return summary


def _config_dict(cfg: BuildConfig) -> dict:
    d = asdict(cfg)
    d["out"] = str(cfg.out)
    d["image_root"] = str(cfg.image_root) if cfg.image_root else None
    d["depth_root"] = str(cfg.depth_root) if cfg.depth_root else None
    return d

"""Writing a synthetic dataset to disk: images, depth, JSONL records (SIF-50K schema), splits, resume, card.

Layout of ``out_dir`` (every path inside a record is **relative to out_dir**)::

    config.json                   seed, test fraction and SynthConfig (a rerun must match it)
    images/0000/<scene>.png       RGB (scenes bucketed by index // 1000)
    depth/0000/<scene>.npy        lossless float32 depth map, 0 = nearest, 1 = farthest (``depth_path``)
    depth_vis/0000/<scene>.png    colourised depth (Spectral_r) shown to the model (``depth_image``)
    train.jsonl, test.jsonl       one record per question (no assistant turn)
    scenes.jsonl                  manifest: one line per finished scene (resume reads it)
    card.json, README.md          dataset card: counts per split, question type, answer

``n`` counts **scenes**; each scene gives ``questions_per_scene`` questions (fewer when a type has no
unambiguous question). Scene ``i`` of seed ``s`` is ``synth-s{s}-{i:06d}``, rendered from
``numpy.random.default_rng([s, i])``, so output is byte-identical for a seed and independent of ``n`` and of
the number of workers; its split is a hash of ``(s, i)`` (stable when ``n`` grows). Records of a scene are written
before its manifest line; on a rerun, scenes in the manifest are skipped and records of unfinished scenes dropped,
so resuming never duplicates an id.

A record has the SIF-50K fields (``dataset`` = "synth", ``image``, ``depth_image``, ``problem``,
``normalized_solution_round`` = {"bbox_3d": evidence boxes, "illegal_content": false}, ``response``, ``images``,
``messages`` = one user turn) and ours: ``id`` (``<scene>-q<k>``), ``choices`` (multiple choice only),
``question_type``, ``answer_type`` ("mc" | "yesno" | "number"), ``answer_text`` (the option's text for "mc"),
``depth_path``, ``scene_id``, ``split``, ``evidence`` (object ids, in the order of ``bbox_3d``), ``image_size``
([W, H]), ``objects`` (every object with visible pixels: id, colour, shape, size class, box, box-mean depth, world
and camera position, distance, elevation, support, visible fraction, askable) and ``question_meta`` (variant).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections import Counter, defaultdict
from pathlib import Path

from ..depth import save_colourised, save_depth
from ..io import JsonlAppender, atomic_write_text, done_ids, iter_jsonl_file, repair_jsonl_tail, temp_path
from ..records import check_record, user_content
from .config import SynthConfig
from .questions import make_questions
from .render import as_rng, render_scene

__all__ = ["generate_dataset", "scene_id", "split_of", "scene_records", "write_card", "FORMAT_VERSION"]

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
DATASET_NAME = "synth"
MANIFEST = "scenes.jsonl"


def scene_id(seed: int, index: int) -> str:
    """The stable id of scene ``index`` of ``seed``: ``synth-s{seed}-{index:06d}``."""
    return f"synth-s{seed}-{index:06d}"


def split_of(seed: int, index: int, test_fraction: float) -> str:
    """``"test"`` for a deterministic ``test_fraction`` of scenes (hash of seed and index), else ``"train"``."""
    if test_fraction <= 0:
        return "train"
    h = hashlib.blake2b(f"{seed}:{index}".encode(), digest_size=8).digest()
    return "test" if int.from_bytes(h, "big") / 2.0**64 < test_fraction else "train"


def _paths(seed: int, index: int) -> tuple[str, str, str]:
    sid = scene_id(seed, index)
    bucket = f"{index // 1000:04d}"
    return f"images/{bucket}/{sid}.png", f"depth_vis/{bucket}/{sid}.png", f"depth/{bucket}/{sid}.npy"


def scene_records(out_dir, seed: int, index: int, config: SynthConfig, split: str, *, write: bool = True):
    """Render scene ``index``, write its three images (if ``write``) and return its records (dicts).

    Deterministic: the scene and its questions come from ``default_rng([seed, index])``.
    """
    from PIL import Image

    rng = as_rng((seed, index))
    scene = render_scene(config, rng)
    questions = make_questions(scene, rng, config)
    img, vis, npy = _paths(seed, index)
    if write:
        root = Path(out_dir)
        (root / img).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(scene.rgb).save(root / img, format="PNG", compress_level=6)
        save_colourised(scene.depth, root / vis)
        save_depth(scene.depth, root / npy)
    sid = scene_id(seed, index)
    objects = [o.to_json() for o in scene.objects if o.n_visible > 0]
    recs = []
    for k, q in enumerate(questions):
        rec = {
            "id": f"{sid}-q{k}",
            "dataset": DATASET_NAME,
            "image": img,
            "depth_image": vis,
            "problem": q.problem,
            "normalized_solution_round": {"bbox_3d": [list(b) for b in q.boxes], "illegal_content": False},
            "response": q.answer,
            "images": [img, vis],
            "messages": [{"role": "user", "content": user_content(q.problem, q.choices)}],
        }
        if q.choices:
            rec["choices"] = list(q.choices)
        rec.update(
            {
                "question_type": q.qtype,
                "answer_type": q.answer_type,
                "answer_text": q.answer_text,
                "depth_path": npy,
                "scene_id": sid,
                "split": split,
                "evidence": list(q.evidence),
                "image_size": list(scene.size),
                "objects": objects,
            }
        )
        if q.meta:
            rec["question_meta"] = dict(q.meta)
        recs.append(rec)
    return recs, len(scene.objects)


def _work(job):
    out_dir, seed, index, config, split = job
    recs, n_obj = scene_records(out_dir, seed, index, config, split)
    for r in recs:
        check_record(r, require_trace=False)
    lines = "".join(json.dumps(r, ensure_ascii=False, separators=(", ", ": ")) + "\n" for r in recs)
    meta = {
        "scene_id": scene_id(seed, index),
        "index": index,
        "split": split,
        "questions": len(recs),
        "objects": n_obj,
    }
    return index, split, lines, meta


# ---------------------------------------------------------------------------------------------------- resume


def _recover(root: Path) -> set[str]:
    """Scene ids finished in an earlier run; records of unfinished scenes are removed from the split files."""
    done = set(done_ids(root / MANIFEST, key="scene_id"))
    for path in sorted(root.glob("*.jsonl")):
        if path.name == MANIFEST:
            continue
        repair_jsonl_tail(path)
        if all(_finished(row, done) for _, row in iter_jsonl_file(path)):
            continue
        tmp = temp_path(path)
        tmp.unlink(missing_ok=True)
        kept = dropped = 0
        with JsonlAppender(tmp, every=256, fsync=False) as out:
            for _, row in iter_jsonl_file(path):
                if _finished(row, done):
                    out.add(row)  # the generator's own serialisation: the line comes back byte for byte
                    kept += 1
                else:
                    dropped += 1
        os.replace(tmp, path)
        logger.warning("%s: dropped %d records of unfinished (or unreadable) scenes (kept %d)", path, dropped, kept)
    return done


def _finished(row, done: set[str]) -> bool:
    return isinstance(row, dict) and row.get("scene_id") in done


def _check_config(root: Path, header: dict) -> None:
    path = root / "config.json"
    if path.exists():
        old = json.loads(path.read_text(encoding="utf-8"))
        if old != header:
            diff = sorted(k for k in set(old) | set(header) if old.get(k) != header.get(k))
            raise ValueError(
                f"{root} holds a synthetic dataset made with different settings ({', '.join(diff)} differ); "
                "resume only with the same seed, config and splits, or choose a new directory"
            )
    else:
        atomic_write_text(path, json.dumps(header, indent=2, sort_keys=True) + "\n")


# ---------------------------------------------------------------------------------------------------- driver


def generate_dataset(
    out_dir: str | os.PathLike,
    n: int,
    seed: int = 0,
    config: SynthConfig | None = None,
    *,
    test_fraction: float = 0.1,
    split: str | None = None,
    start: int = 0,
    workers: int = 1,
    progress: bool = False,
) -> dict:
    """Render scenes ``start … start+n−1`` of ``seed`` into ``out_dir`` and return a summary (the card's counts).

    ``n`` counts scenes. ``split`` forces every scene into one split (e.g. ``"test"``); otherwise a deterministic
    ``test_fraction`` of scenes goes to ``test.jsonl``. An existing ``out_dir`` made with the same settings is
    resumed (finished scenes skipped); one made with other settings is refused (``ValueError``). Records stream to
    disk scene by scene, so memory stays flat. ``workers > 1`` renders in processes; output is identical.
    """
    config = config or SynthConfig()
    if n < 0 or start < 0:
        raise ValueError(f"n and start must be >= 0, got n={n}, start={start}")
    if not 0.0 <= test_fraction < 1.0:
        raise ValueError(f"test_fraction must lie in [0, 1), got {test_fraction}")
    if split is not None and (not split or "/" in split or split == "scenes"):
        raise ValueError(f"bad split name {split!r}")
    root = Path(out_dir)
    header = {
        "generator": "sifthinker.synth",
        "format_version": FORMAT_VERSION,
        "seed": int(seed),
        "test_fraction": float(test_fraction),
        "split": split,
        "config": config.to_dict(),
    }
    _check_config(root, header)
    done = _recover(root)
    t0 = time.perf_counter()
    todo = sum(scene_id(seed, i) not in done for i in range(start, start + n))
    skipped = n - todo
    jobs = (
        (str(root), int(seed), i, config, split or split_of(seed, i, test_fraction))
        for i in range(start, start + n)
        if scene_id(seed, i) not in done
    )
    if skipped:
        logger.info("%s: resuming, %d of %d scenes already done", root, skipped, n)

    from tqdm import tqdm

    written = records = 0
    handles: dict[str, JsonlAppender] = {}
    bar = tqdm(total=n, initial=skipped, disable=not progress, unit="scene", desc="synth", dynamic_ncols=True)
    pool = None
    try:
        if workers > 1 and todo > 1:
            import multiprocessing as mp

            pool = mp.get_context().Pool(workers)
            results = pool.imap(_work, jobs, chunksize=4)
        else:
            results = map(_work, jobs)
        with JsonlAppender(root / MANIFEST, fsync=False) as man:
            for _index, sp, lines, meta in results:
                if lines:  # a scene's records are on disk before its manifest line
                    if sp not in handles:
                        handles[sp] = JsonlAppender(root / f"{sp}.jsonl", fsync=False)
                    handles[sp].add_lines(lines)
                man.add(meta)
                written += 1
                records += meta["questions"]
                bar.update(1)
    finally:
        bar.close()
        for h in handles.values():
            h.close()
        if pool is not None:
            pool.terminate()
            pool.join()
    secs = time.perf_counter() - t0
    card = write_card(root)
    logger.info("%s: %d scenes written (%d skipped), %d records, %.1f s", root, written, skipped, records, secs)
    return {
        "out_dir": str(root),
        "seed": int(seed),
        "scenes_requested": n,
        "scenes_written": written,
        "scenes_skipped": skipped,
        "records_written": records,
        "seconds": round(secs, 3),
        **card,
    }


# ------------------------------------------------------------------------------------------------------ card


def write_card(out_dir: str | os.PathLike) -> dict:
    """Count what ``out_dir`` holds (streaming over its files) and write ``card.json`` and ``README.md``."""
    root = Path(out_dir)
    scenes_per_split: Counter = Counter()
    objects_hist: Counter = Counter()
    for _, m in iter_jsonl_file(root / MANIFEST):
        if isinstance(m, dict):  # an unreadable line is a scene not finished
            scenes_per_split[m["split"]] += 1
            objects_hist[str(m["objects"])] += 1
    per_split: Counter = Counter()
    per_type: Counter = Counter()
    per_answer_type: Counter = Counter()
    answers: dict[str, Counter] = defaultdict(Counter)
    for path in sorted(root.glob("*.jsonl")):
        if path.name == MANIFEST:
            continue
        for _, r in iter_jsonl_file(path):
            if not isinstance(r, dict):
                continue
            per_split[r["split"]] += 1
            per_type[r["question_type"]] += 1
            per_answer_type[r["answer_type"]] += 1
            answers[r["answer_type"]][r["response"]] += 1
    header = {}
    if (root / "config.json").exists():
        header = json.loads((root / "config.json").read_text(encoding="utf-8"))
    card = {
        "dataset": DATASET_NAME,
        "scenes": sum(scenes_per_split.values()),
        "records": sum(per_split.values()),
        "scenes_per_split": dict(sorted(scenes_per_split.items())),
        "records_per_split": dict(sorted(per_split.items())),
        "question_types": dict(sorted(per_type.items())),
        "answer_types": dict(sorted(per_answer_type.items())),
        "answers": {k: dict(sorted(v.items(), key=_answer_order)) for k, v in sorted(answers.items())},
        "objects_per_scene": dict(sorted(objects_hist.items(), key=lambda kv: int(kv[0]))),
        "generation": header,
    }
    atomic_write_text(root / "card.json", json.dumps(card, indent=2) + "\n")
    atomic_write_text(root / "README.md", _card_markdown(card))
    return {k: v for k, v in card.items() if k != "generation"}


def _answer_order(kv):
    return (len(kv[0]), kv[0])  # "2" before "10", "A" before "B"


def _table(title: str, counts: dict) -> str:
    total = sum(counts.values()) or 1
    rows = [f"### {title}", "", "| value | count | share |", "|---|---:|---:|"]
    rows += [f"| {k} | {v} | {100 * v / total:.1f}% |" for k, v in counts.items()]
    return "\n".join(rows) + "\n"


def _card_markdown(card: dict) -> str:
    gen = card.get("generation", {})
    parts = [
        "# Synthetic grounded VQA (sifthinker.synth)",
        "",
        "Procedurally rendered scenes (pinhole camera over a checkerboard ground, coloured cubes, spheres, cylinders "
        "and cones, some raised on pedestals or floating) with questions from the scene graph. Each record follows "
        "the SIF-50K schema (docs/method.md) without an assistant turn; `normalized_solution_round.bbox_3d` holds the "
        "evidence boxes (tight visible boxes, normalised, 3 decimals). Depth: `depth_path` is the lossless float32 "
        "map (0 = nearest, 1 = farthest; camera z clamped at `far`, then min–max per image), `depth_image` its "
        "colourised view. All paths are relative to this directory. `objects` lists each visible object (colour, "
        "shape, size class, box, box-mean depth, 3-D position in world and camera coordinates).",
        "",
        f"- seed: {gen.get('seed')}, test fraction: {gen.get('test_fraction')}, forced split: {gen.get('split')}",
        f"- scenes: {card['scenes']}, records: {card['records']}",
        "",
        _table("Scenes per split", card["scenes_per_split"]),
        _table("Records per split", card["records_per_split"]),
        _table("Question types", card["question_types"]),
        _table("Answer types", card["answer_types"]),
    ]
    for at, counts in card["answers"].items():
        parts.append(_table(f"Answers ({at})", counts))
    parts.append(_table("Objects per scene", card["objects_per_scene"]))
    parts += ["## Generation config", "", "```json", json.dumps(gen.get("config", {}), indent=2), "```", ""]
    return "\n".join(parts)

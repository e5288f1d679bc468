"""The whole of SIFThinker at toy scale on a CPU, from the shipped base model: synthetic world → SIF chains → SFT
(and an answers-only baseline) → GRPO-SIF (and the official depth reward, as an ablation) → evaluation of every
model on the held-out test split → ``report.html``.

Every stage writes into ``out`` and records itself in ``stages.json`` when it finishes, so a rerun into the same
folder skips finished stages (and the synthetic set, the data build and the evaluations resume inside a stage).
Library messages and the trainers' per-step logs go to ``out/demo.log``; the console shows one line per stage and
a progress bar.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..io import atomic_write_text
from .config import DemoConfig

__all__ = ["DemoConfig", "run_demo", "MODELS"]

logger = logging.getLogger(__name__)

# Evaluated models: report label → (stage that trains it, or None for the base; folder under models/)
MODELS: dict[str, tuple[str | None, str | None]] = {
    "base (pretrained, no SFT)": (None, None),
    "answers only (SFT)": ("sft_answers", "answers_only"),
    "SIF chains (SFT)": ("sft", "sft"),
    "SFT + GRPO-SIF": ("grpo", "grpo"),
    "SFT + GRPO, official depth reward": ("grpo_official", "grpo_official"),
}


class _Stages:
    """``stages.json``: which stages finished, with their wall time and a small summary each.

    :meth:`run` runs one stage here; :meth:`run_parallel` runs independent stages in separate one-thread processes
    (two 1-thread jobs use two cores better than one 2-thread job), each with its own progress bar.
    """

    def __init__(self, out: Path, n: int, workers: int = 2) -> None:
        self.out = out
        self.path = out / "stages.json"
        self.done: dict[str, dict] = json.loads(self.path.read_text()) if self.path.exists() else {}
        self.n, self.i, self.workers = n, 0, workers

    def _head(self, name: str, label: str) -> str | None:
        self.i += 1
        head = f"[{self.i}/{self.n}] {label}"
        if name in self.done:
            print(f"{head}: done in an earlier run ({self.done[name]['seconds']:.0f} s)")
            return None
        return head

    def _finish(self, name: str, info: dict | None, seconds: float, label: str = "") -> dict:
        info = info or {}
        info["seconds"] = round(seconds, 1)
        self.done[name] = info
        atomic_write_text(self.path, json.dumps(self.done, indent=2, default=str))
        print(f"      {label + ': ' if label else ''}done in {info['seconds']:.0f} s", flush=True)
        return info

    def run(self, name: str, fn: Callable[[], dict | None], label: str) -> dict:
        head = self._head(name, label)
        if head is None:
            return self.done[name]
        print(f"{head} …", flush=True)
        t0 = time.perf_counter()
        return self._finish(name, fn(), time.perf_counter() - t0)

    def run_parallel(self, jobs: list[tuple[str, str, Callable, dict]]) -> list[dict]:
        """``jobs``: (name, label, top-level function, keyword arguments); results in the order given."""
        todo = []
        for name, label, fn, kw in jobs:
            head = self._head(name, label)
            if head is not None:
                print(f"{head} …", flush=True)
                todo.append((name, label, fn, kw))
        if len(todo) == 1 or self.workers < 2:
            for name, label, fn, kw in todo:
                t0 = time.perf_counter()
                self._finish(name, fn(**kw), time.perf_counter() - t0, label)
        elif todo:
            import multiprocessing as mp
            from concurrent.futures import ProcessPoolExecutor, as_completed

            with ProcessPoolExecutor(min(self.workers, len(todo)), mp_context=mp.get_context("spawn")) as pool:
                futures = {pool.submit(_child, str(self.out), slot % self.workers, fn, kw): (name, label)
                           for slot, (name, label, fn, kw) in enumerate(todo)}  # fmt: skip
                for fut in as_completed(futures):
                    name, label = futures[fut]
                    info, seconds = fut.result()
                    self._finish(name, info, seconds, label)
        return [self.done[name] for name, *_ in jobs]


def _child(out: str, slot: int, fn: Callable, kw: dict) -> tuple[dict, float]:
    """A stage in a worker process: one thread, library output to the demo's log, its bar on line ``slot``."""
    import torch

    from ..logs import quiet_libraries

    torch.set_num_threads(1)
    t0 = time.perf_counter()
    with quiet_libraries(out, "demo.log"):
        info = fn(**kw, bar_position=slot)
    return info, time.perf_counter() - t0


def _answers_only(src: Path, dst: Path) -> int:
    """The baseline's data: the same records with the assistant turn reduced to ``<answer>…</answer>``."""
    from ..records import assistant_text
    from ..trace import read_lenient

    dst.mkdir(parents=True, exist_ok=True)
    rows = []
    for line in (src / "records.jsonl").read_text(encoding="utf-8").splitlines():
        rec = json.loads(line)
        answer = read_lenient(assistant_text(rec) or "").answer or str(rec["response"])
        rec["messages"] = [rec["messages"][0], {"role": "assistant", "content": f"<answer>{answer}</answer>"}]
        rows.append(json.dumps(rec, ensure_ascii=False))
    atomic_write_text(dst / "records.jsonl", "\n".join(rows) + "\n")
    return len(rows)


def _train(cfg: DemoConfig, stage: str, label: str, bar_position: int = 0, **values: Any) -> dict:
    from ..train.configs import load_config

    recipe = cfg.recipes / f"{stage}.yaml"
    values = {**cfg.stage_overrides.get(stage, {}), **values, "seed": cfg.seed}
    config = load_config(stage, recipe, **values)
    if stage == "sft":
        from ..train.sft import main
    else:
        from ..train.grpo import main
    trainer = main(config, progress=label, progress_position=bar_position)
    return {"log_history": trainer.state.log_history, "output_dir": config.output_dir}


def _recipe_rewards(cfg: DemoConfig) -> list[str]:
    """The GRPO recipe's reward names (the ablation swaps the grounded depth reward for the official one)."""
    import yaml

    data = yaml.safe_load((cfg.recipes / "grpo.yaml").read_text(encoding="utf-8")) or {}
    names = cfg.stage_overrides.get("grpo", {}).get("reward_funcs") or data.get("reward_funcs")
    if not names or "depth_grounded" not in names:
        raise ValueError(f"{cfg.recipes / 'grpo.yaml'}: the demo's GRPO uses depth_grounded (its ablation swaps it)")
    return list(names)


def _synth_config(cfg: DemoConfig):
    from ..synth import world_config

    return world_config(cfg.world, image_size=(cfg.image_size, cfg.image_size),
                        questions_per_scene=tuple(cfg.questions_per_scene))  # fmt: skip


def run_demo(cfg: DemoConfig) -> dict[str, Any]:
    """Run (or resume) the demo into ``cfg.out``; return its summary (also in ``demo_summary.json``)."""
    from ..logs import quiet_libraries

    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    with quiet_libraries(out, "demo.log"):
        return _run(cfg, out)


def _run(cfg: DemoConfig, out: Path) -> dict[str, Any]:
    from ..data.build import BuildConfig, build
    from ..data.expansion import ExpansionConfig
    from ..data.sources.synthetic import SyntheticSource
    from ..data.writers.template import TemplateWriter
    from ..models.loading import resolve_model_path
    from ..synth import generate_dataset
    from .analysis import analyse
    from .report import write_report

    atomic_write_text(out / "demo_config.json", json.dumps(cfg.to_dict(), indent=2))
    base = resolve_model_path(cfg.base_model)
    n_stages = 7 + len(MODELS) + (1 if cfg.ablation_steps else -1)  # the ablation: one training, one evaluation
    st = _Stages(out, n_stages, cfg.workers)
    t_start = time.perf_counter()
    synth = st.run(
        "synth",
        lambda: generate_dataset(out / "synth", n=cfg.scenes, seed=cfg.seed, test_fraction=cfg.test_fraction,
                                 config=_synth_config(cfg), progress=True),
        f"rendering {cfg.scenes} synthetic scenes ({cfg.world} camera, {cfg.image_size} px)",
    )  # fmt: skip
    data = st.run(
        "data",
        lambda: build(SyntheticSource(out / "synth", splits=["train"]), TemplateWriter(concise=True),
                      BuildConfig(out=out / "data", seed=cfg.seed,
                                  expansion=ExpansionConfig(decimals=cfg.chain_decimals))),
        "building SIF chains for the train split (exact depth, reverse expansion, template writer)",
    )  # fmt: skip
    st.run("data_answers", lambda: {"records": _answers_only(out / "data", out / "data_answers")},
           "the answers-only baseline's data (the same questions, no chain)")  # fmt: skip
    steps = dict(max_steps=cfg.sft_steps, model_name_or_path=base)
    sft, answers = st.run_parallel([
        ("sft", f"SFT of {cfg.base_model} on the SIF chains ({cfg.sft_steps} steps)", _train,
         dict(cfg=cfg, stage="sft", label="SFT", **steps, train_data=str(out / "data"),
              output_dir=str(out / "models" / "sft"))),
        ("sft_answers", f"the same SFT on the answers alone (baseline, {cfg.sft_steps} steps)", _train,
         dict(cfg=cfg, stage="sft", label="SFT (answers only)", **steps, train_data=str(out / "data_answers"),
              require_trace=False, output_dir=str(out / "models" / "answers_only"))),
    ])  # fmt: skip
    grpo_kw = dict(cfg=cfg, stage="grpo", model_name_or_path=str(out / "models" / "sft"), train_data=str(out / "data"))
    jobs = [("grpo", f"GRPO-SIF from the SFT model ({cfg.grpo_steps} steps; format, answer, box, grounded depth)",
             _train, dict(**grpo_kw, label="GRPO-SIF", max_steps=cfg.grpo_steps,
                          output_dir=str(out / "models" / "grpo")))]  # fmt: skip
    if cfg.ablation_steps:
        official = [("depth_consistency" if r == "depth_grounded" else r) for r in _recipe_rewards(cfg)]
        jobs.append(("grpo_official", f"ablation: the same GRPO with the official depth reward "
                     f"({cfg.ablation_steps} steps)", _train,
                     dict(**grpo_kw, label="GRPO (official depth)", max_steps=cfg.ablation_steps,
                          reward_funcs=official, output_dir=str(out / "models" / "grpo_official"))))  # fmt: skip
    grpo, official = (st.run_parallel(jobs) + [{}])[:2]
    results, evals = {}, []
    for name, (stage, folder) in MODELS.items():
        if stage == "grpo_official" and not cfg.ablation_steps:
            continue
        path = base if folder is None else str(out / "models" / folder)
        run_dir = out / "eval" / (folder or "base")
        evals.append((f"eval_{folder or 'base'}", f"evaluating {name} on the test split", _evaluate,
                      dict(cfg=cfg, out=out, model=path, run_dir=run_dir, label=folder or "base")))  # fmt: skip
        results[name] = run_dir
    st.run_parallel(evals)
    focus = st.run("focus", lambda: _focus_paths(out, str(out / "models" / "grpo"), cfg),
                   "drawing focus paths of the GRPO-SIF model")  # fmt: skip
    analysis = analyse(out / "synth", results)
    elapsed = time.perf_counter() - t_start
    histories = {
        "SFT": sft.get("log_history", []), "answers only": answers.get("log_history", []),
        "GRPO-SIF": grpo.get("log_history", []), "GRPO official": official.get("log_history", []),
    }  # fmt: skip
    report = write_report(out / "report.html", cfg, analysis, histories, focus.get("panels", []),
                          {"synth": synth, "data": data, "seconds": elapsed}, _example_chain(out))  # fmt: skip
    final = {
        "report": str(report),
        "seconds": round(elapsed, 1),
        "accuracy": {k: v["overall"]["accuracy"] for k, v in analysis["models"].items()},
        "spatial_accuracy": {k: v["spatial"]["accuracy"] for k, v in analysis["models"].items()},
        "last_area_iou": {k: v["mean_iou"] for k, v in analysis["models"].items()},
        "depth_error": {k: v["depth"]["abs_error"] for k, v in analysis["models"].items()},
        "depth_error_mean_baseline": {k: v["depth"]["mean_baseline"] for k, v in analysis["models"].items()},
        "format_valid_rate": {k: v["format_valid_rate"] for k, v in analysis["models"].items()},
    }
    atomic_write_text(out / "demo_summary.json", json.dumps(final, indent=2))
    return final


def _evaluate(cfg: DemoConfig, out: Path, model: str, run_dir: Path, label: str, bar_position: int = 0) -> dict:
    from ..eval.runner import run_eval
    from ..infer import load_predictor

    pred = load_predictor(model, batch_size=16, max_new_tokens=cfg.eval_new_tokens, seed=cfg.seed, instruction="")
    res = run_eval("synthetic", out / "synth", pred, run_dir, limit=cfg.eval_limit, batch_size=16, seed=cfg.seed,
                   progress=True, model_name=label, progress_position=bar_position)  # fmt: skip
    return {"accuracy": res["metrics"]["accuracy"], "run_dir": str(run_dir)}


def _example_chain(out: Path) -> str:
    with open(out / "data" / "records.jsonl", encoding="utf-8") as f:
        first = None
        for line in f:
            rec = json.loads(line)
            first = first or rec
            if len(rec.get("chain_roles", [])) >= 4:
                break
        else:
            rec = first
    return f"Q: {rec['problem']}\n" + rec["messages"][1]["content"]


def _focus_paths(out: Path, model: str, cfg: DemoConfig) -> dict:
    """Draw the GRPO model's focus path for one test item of each of a few question types."""
    from ..infer import DecodingConfig, SIFThinker, draw_focus_path

    test = [json.loads(line) for line in (out / "synth" / "test.jsonl").read_text().splitlines()]
    chosen, types, scenes = [], set(), set()
    for r in test:  # one item per question type, each from another scene; spatial types first
        if r["question_type"] not in types and r["scene_id"] not in scenes:
            chosen.append(r)
            types.add(r["question_type"])
            scenes.add(r["scene_id"])
    from .config import SPATIAL_TYPES

    chosen.sort(key=lambda r: r["question_type"] not in SPATIAL_TYPES)
    thinker = SIFThinker(model, instruction="",
                         generation=DecodingConfig(max_new_tokens=cfg.eval_new_tokens, seed=cfg.seed))  # fmt: skip
    panels = []
    root = out / "synth"
    for i, r in enumerate(chosen[: cfg.focus_items]):
        res = thinker.think(root / r["image"], r["problem"], r.get("choices"), depth=root / r["depth_path"])
        p = draw_focus_path(res, out / "focus" / f"{i}_model.png")
        verdict = "valid trace" if res.valid else "malformed trace"
        panels.append((f"{r['question_type']}: {r['problem']} — model ({verdict}) answered "
                       f"{res.lenient.answer!r}; ground truth {r['response']!r}", str(p)))  # fmt: skip
    return {"panels": panels}

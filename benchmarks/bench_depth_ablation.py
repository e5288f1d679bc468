"""Can the depth reward be gamed? GRPO from one SFT model with the official depth reward and with ``depth_grounded``.

Each run optimises the format reward plus one depth reward (nothing else pulls on the depths), side by side in two
one-thread processes, from a finished demo run's SFT model and chains. Both log, over every region they state, the
mean stated depth and its error against the true box-mean depth of that region's box (``<reward>/mean_stated``,
``<reward>/abs_error``); the script prints them per block of steps. A gameable reward shows as a stated depth that
drifts (towards far values) while its error grows.

    .venv/bin/python benchmarks/bench_depth_ablation.py --demo runs/demo --steps 80 --lr 2e-4
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

RECIPE = Path(__file__).resolve().parents[1] / "recipes" / "tiny" / "demo" / "grpo.yaml"


def run(name: str, reward: str, args, out: Path) -> subprocess.Popen:
    cmd = [
        sys.executable, "-m", "sifthinker.cli.main", "train", "grpo", "--config", str(RECIPE),
        f"model_name_or_path={args.demo / 'models' / 'sft'}", f"train_data={args.demo / 'data'}",
        f"output_dir={out / name}", f"max_steps={args.steps}", f"learning_rate={args.lr}", "temperature=1.0",
        f"reward_funcs=[format,{reward}]", "reward_weights=[1.0,1.0]", "disable_tqdm=true", "logging_steps=1",
        "save_strategy=no",
    ]  # fmt: skip
    log = open(out / f"{name}.log", "w")
    return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "OMP_NUM_THREADS": "1"})


def blocks(history: list[dict], key: str, size: int) -> list[float]:
    vals = [h[key] for h in history if key in h]
    return [round(statistics.mean(vals[i : i + size]), 3) for i in range(0, len(vals), size)]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--demo", type=Path, default=Path("runs/demo"), help="a finished demo run folder")
    p.add_argument("--out", type=Path, default=Path("runs/depth_ablation"))
    p.add_argument("--steps", type=int, default=80)
    p.add_argument("--lr", type=float, default=2e-4)
    p.add_argument("--block", type=int, default=10)
    args = p.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    runs = {"official": "depth_consistency", "grounded": "depth_grounded"}
    procs = {name: run(name, reward, args, args.out) for name, reward in runs.items()}
    for name, proc in procs.items():
        if proc.wait() != 0:
            print(f"{name}: training failed, see {args.out / (name + '.log')}")
            return 1
    print(f"GRPO from {args.demo / 'models' / 'sft'}, format + one depth reward, {args.steps} steps, lr {args.lr}, "
          f"T 1.0; means per block of {args.block} steps")  # fmt: skip
    for name, reward in runs.items():
        state = json.loads((args.out / name / "trainer_state.json").read_text())
        key = "depth" if reward == "depth_consistency" else "depth_grounded"
        hist = state["log_history"]
        print(f"{name:>9} reward          {blocks(hist, f'rewards/{key}/mean', args.block)}")
        print(f"{name:>9} mean stated     {blocks(hist, f'{key}/mean_stated', args.block)}")
        print(f"{name:>9} |stated − true| {blocks(hist, f'{key}/abs_error', args.block)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

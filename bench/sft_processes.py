"""Benchmark: SFT optimiser steps per second with one process and with two data-parallel
processes on CPU (``accelerate launch``, gloo), the same examples per step.

One process trains with ``--batch`` examples a step; two processes with half each (what
a step sees is the same). Both run the news agent's training script on the same teacher
data and base model for ``--steps`` steps; the figure is steps over the training's own
seconds (from ``final/manifest.json``), so loading is left out.

Run: ``python bench/sft_processes.py [--base-model smollm2-135m] [--steps 10]``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).parents[1]
SCRIPT = REPO / "training" / "sft" / "train_news_agent.py"


def _config(root: Path, batch: int, steps: int, base: str, data: Path) -> Path:
    path = root / f"news_{batch}.yaml"
    path.write_text(
        f"model:\n  base_model: {base}\ntraining:\n  batch_size: {batch}\n  max_steps: {steps}\n"
        f"  save_steps: {steps}\n  validation_fraction: 0.0\n  report_to: []\n"
        f"data:\n  dataset_path: {data}\n",
        encoding="utf-8",
    )
    return path


def _run(command: list[str], out: Path) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    proc = subprocess.run(command, env=env, capture_output=True, text=True, cwd=REPO)
    if proc.returncode != 0:
        raise SystemExit(proc.stderr[-2000:])
    training = json.loads((out / "final" / "manifest.json").read_text())["training"]
    return {"steps": training["steps"], "seconds": training["seconds"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-model", default="smollm2-135m")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--batch", type=int, default=8)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        data = root / "news_train.jsonl"
        subprocess.run(
            [sys.executable, str(REPO / "scripts" / "generate_synthetic_data.py"),
             "--agent-type", "news", "--num-examples", "200", "--output", str(data),
             "--provider", "expert"],
            check=True, capture_output=True, env={**os.environ, "PYTHONPATH": str(REPO / "src")},
        )  # fmt: skip
        one = _run(
            [sys.executable, str(SCRIPT), "--config",
             str(_config(root, args.batch, args.steps, args.base_model, data)),
             "--output-dir", str(root / "one")],
            root / "one",
        )  # fmt: skip
        two = _run(
            [sys.executable, "-m", "accelerate.commands.launch", "--config_file",
             str(REPO / "config" / "accelerate" / "cpu_2proc.yaml"), str(SCRIPT), "--config",
             str(_config(root, args.batch // 2, args.steps, args.base_model, data)),
             "--output-dir", str(root / "two")],
            root / "two",
        )  # fmt: skip
    print(f"{args.base_model}, {args.batch} examples a step, {args.steps} steps")
    print("| processes | seconds | steps/s | ratio |")
    print("|---:|---:|---:|---:|")
    base = one["steps"] / one["seconds"]
    for n, run in ((1, one), (2, two)):
        rate = run["steps"] / run["seconds"]
        print(f"| {n} | {run['seconds']:.1f} | {rate:.3f} | {rate / base:.2f}x |")


if __name__ == "__main__":
    main()

"""Benchmark: GRPO iterations per second with one process and with two data-parallel
processes on CPU (``accelerate launch``, gloo), the same prompts per iteration.

Collects a small experience library with the expert agents, then runs the guide's GRPO
script (``training/rl/train_strategist_grpo.py``) from the base model for ``--iterations``
iterations of ``--batch`` prompts x ``--group`` completions: alone, then under
``accelerate launch`` with ``config/accelerate/cpu_2proc.yaml`` (each process samples and
scores half the prompts). The figure is iterations over the training's own seconds (from
``final/manifest.json``), so loading is left out; the mean reward of the first and last
iterations is printed beside it.

Run: ``python bench/grpo_processes.py [--base-model smollm2-135m] [--iterations 6]``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from stockagents.backtest.collect import collect_trajectories

REPO = Path(__file__).parents[1]
SCRIPT = REPO / "training" / "rl" / "train_strategist_grpo.py"
ENV = {**os.environ, "PYTHONPATH": str(REPO / "src")}


def _config(root: Path, args: argparse.Namespace, library: Path) -> Path:
    path = root / "grpo.yaml"
    path.write_text(
        f"model:\n  sft_checkpoint: null\n  base_model: {args.base_model}\n"
        f"training:\n  batch_size: {args.batch}\n  group_size: {args.group}\n"
        f"  num_iterations: {args.iterations}\n  save_interval: {args.iterations}\n"
        f"  max_completion_length: {args.completion}\n  validation_examples: 0\n"
        f"  report_to: []\ndata:\n  experience_library: {library}\n",
        encoding="utf-8",
    )
    return path


def _run(command: list[str], out: Path) -> dict[str, float]:
    proc = subprocess.run(command, env=ENV, capture_output=True, text=True, cwd=REPO)
    if proc.returncode != 0:
        raise SystemExit(proc.stdout[-3000:] + proc.stderr[-6000:])
    training = json.loads((out / "final" / "manifest.json").read_text())["training"]
    return training  # type: ignore[no-any-return]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-model", default="smollm2-135m")
    parser.add_argument("--iterations", type=int, default=6)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--group", type=int, default=4)
    parser.add_argument("--completion", type=int, default=64)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        collect_trajectories(
            ["AAPL", "NVDA"], dt.date(2019, 1, 2), dt.date(2021, 6, 30), root / "lib",
            every=5, backend="serial", progress=False,
        )  # fmt: skip
        config = _config(root, args, root / "lib" / "experience_library.db")
        one = _run(
            [sys.executable, str(SCRIPT), "--config", str(config), "--output-dir",
             str(root / "one")],
            root / "one",
        )  # fmt: skip
        two = _run(
            [sys.executable, "-m", "accelerate.commands.launch", "--config_file",
             str(REPO / "config" / "accelerate" / "cpu_2proc.yaml"), str(SCRIPT), "--config",
             str(config), "--output-dir", str(root / "two")],
            root / "two",
        )  # fmt: skip
    print(
        f"{args.base_model}, {args.batch} prompts x {args.group} completions an iteration, "
        f"{args.iterations} iterations, completions up to {args.completion} tokens"
    )
    print("| processes | s/iteration | iterations/s | ratio | reward first -> last |")
    print("|---:|---:|---:|---:|---|")
    base = 1 / one["seconds_per_iteration"]
    for n, run in ((1, one), (2, two)):
        rate = 1 / run["seconds_per_iteration"]
        print(
            f"| {n} | {run['seconds_per_iteration']:.1f} | {rate:.3f} | {rate / base:.2f}x | "
            f"{run['first_reward']:.3f} -> {run['last_reward']:.3f} |"
        )


if __name__ == "__main__":
    main()

"""Benchmark: trajectory collection with model-backed agents on each backend.

Collects the same window (``--symbols`` x ``--days`` trading days from 2023-01-02) with all
four agents answering with the ``tiny`` preset model (a model set whose manifest maps each
agent to ``tiny``: every step costs the analysts' batch and the strategist's), on:

- ``serial``: one process;
- ``process``: the process pool, 2 workers (each loads its own copy of the model);
- ``ray``: Ray tasks on a local cluster of 1, then 2 CPUs (``ray.init(num_cpus=...)``).

Each run is a process of its own, so each pays its own model loading, as a real run does.
Ray gives each task one CPU and sets ``OMP_NUM_THREADS=1`` in its workers, while the serial
run and the pool's workers size torch to every CPU (``core.threads``): so serial and the
pool run twice, with torch's default threads and with ``OMP_NUM_THREADS=1``. The Ray cluster
is started before the clock starts, and its start is printed apart (a cluster normally
runs already); the Ray workers' start and model loading are timed. Prints steps/s for each
and whether its rows equal the serial rows (the library's frame without ids).

With ``--evaluate``, instead, an evaluation of a set whose three analysts answer with the
``tiny`` model (the strategist expert), over the last ``--days`` days of the same symbols,
without the answer cache: serial, then with the analysts on Ray (2 CPUs, the cluster
started before the clock), and whether the two ``evaluation_results.json`` agree (but for
the timings).

Run: ``python bench/collect_backends.py [--symbols AAPL AMZN GOOG NVDA] [--days 40]
[--evaluate]``.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from stockagents.backtest.collect import collect_trajectories
from stockagents.backtest.experience import ExperienceLibrary
from stockagents.backtest.on_ray import ray_session
from stockagents.llm.presets import resolve_model

START = dt.date(2023, 1, 2)
AGENTS = ("news", "technical", "fundamental", "strategist")


def _model_set(root: Path) -> Path:
    models = root / "tiny-set"
    models.mkdir()
    (models / "manifest.json").write_text(json.dumps({"agents": dict.fromkeys(AGENTS, "tiny")}))
    return models


def _collect(
    root: Path, name: str, symbols: list[str], days: int, models: Path, **kwargs: object
) -> tuple[pd.DataFrame, int, float]:
    started = time.perf_counter()
    summary = collect_trajectories(
        symbols,
        START,
        None,
        root / name,
        max_days=days,
        models=models,
        progress=False,
        **kwargs,  # type: ignore[arg-type]
    )
    seconds = time.perf_counter() - started
    frame = ExperienceLibrary(summary.db_path).frame().drop(columns=["id", "run_id"])
    return frame, summary.inserted, seconds


#: (label, backend, workers, OMP_NUM_THREADS or None for torch's default)
RUNS = [
    ("serial", "serial", 1, None),
    ("serial, 1 torch thread", "serial", 1, "1"),
    ("process pool, 2 workers", "process", 2, None),
    ("process pool, 2 workers, 1 torch thread each", "process", 2, "1"),
    ("ray, 1 CPU", "ray", 1, None),
    ("ray, 2 CPUs", "ray", 2, None),
]


def _one(args: argparse.Namespace) -> None:
    """One run (``--run k``), in this process: steps, seconds and the Ray start to ``--out``."""
    _, backend, workers, _ = RUNS[args.run]
    root, models = Path(args.out).parent, Path(args.models)
    up = 0.0
    with contextlib.ExitStack() as stack:
        if backend == "ray":
            started = time.perf_counter()
            stack.enter_context(ray_session(workers))  # the collection reuses it
            up = time.perf_counter() - started
        _, steps, seconds = _collect(
            root, f"run{args.run}", args.symbols, args.days, models, backend=backend,
            workers=workers,
        )  # fmt: skip
    Path(args.out).write_text(json.dumps({"steps": steps, "seconds": seconds, "up": up}))


def _evaluation(root: Path, symbols: list[str], days: int) -> None:
    from stockagents.evaluation.evaluate import evaluate_models

    models = root / "tiny-analysts"
    models.mkdir()
    analysts = dict.fromkeys(AGENTS[:3], "tiny")
    (models / "manifest.json").write_text(json.dumps({"agents": analysts}))
    common = {"symbols": symbols, "test_days": days, "cache": False, "progress": False}
    results, seconds = {}, {}
    for backend in ("serial", "ray"):
        with contextlib.ExitStack() as stack:
            if backend == "ray":
                stack.enter_context(ray_session(2))
            started = time.perf_counter()
            run = evaluate_models(
                [f"tiny:{models}"], output_root=root / f"eval-{backend}", backend=backend,
                workers=2, **common,  # type: ignore[arg-type]
            )  # fmt: skip
            seconds[backend] = time.perf_counter() - started
        found = json.loads((run / "evaluation_results.json").read_text())
        found["created"] = None
        for entry in found["sets"]:
            entry["seconds"] = None
        results[backend] = found
    print(f"\nevaluation, {len(symbols)} symbols x {days} days, analysts on the tiny model:")
    print("| backend | seconds (baseline and tiny) | results equal serial |\n|---|---:|---|")
    print(f"| serial | {seconds['serial']:.1f} | reference |")
    same = results["ray"] == results["serial"]
    print(f"| analysts on Ray, 2 CPUs | {seconds['ray']:.1f} | {same} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--symbols", nargs="+", default=["AAPL", "AMZN", "GOOG", "NVDA"])
    parser.add_argument("--days", type=int, default=40)
    parser.add_argument("--evaluate", action="store_true", help="time an evaluation instead")
    parser.add_argument("--run", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--models", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run is not None:
        _one(args)
        return
    resolve_model("tiny")  # built once, before any clock
    if args.evaluate:
        with tempfile.TemporaryDirectory() as tmp:
            _evaluation(Path(tmp), args.symbols, args.days)
        return
    lines = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        models = _model_set(root)
        frames = {}
        for k, (label, _, _, threads) in enumerate(RUNS):
            env = dict(os.environ)
            env.pop("OMP_NUM_THREADS", None)
            if threads is not None:
                env["OMP_NUM_THREADS"] = threads
            out = root / f"run{k}.json"
            command = [sys.executable, __file__, "--run", str(k), "--out", str(out)]
            command += ["--models", str(models), "--days", str(args.days)]
            subprocess.run([*command, "--symbols", *args.symbols], check=True, env=env)
            result = json.loads(out.read_text())
            db = root / f"run{k}" / "experience_library.db"
            frames[k] = ExperienceLibrary(db).frame().drop(columns=["id", "run_id"])
            same = "reference" if k == 0 else str(frames[k].equals(frames[0]))
            if result["up"]:
                label += f" (cluster start {result['up']:.1f} s, apart)"
            rate = result["steps"] / result["seconds"]
            lines.append(
                f"| {label} | {result['steps']} | {result['seconds']:.1f} | {rate:.2f} | {same} |"
            )
            print(lines[-1], flush=True)
    print(
        f"\n{len(args.symbols)} symbols x {args.days} days, all four agents on the tiny model, "
        f"{os.cpu_count()} CPUs"
    )
    print("| backend | steps | seconds | steps/s | rows equal serial |\n|---|---:|---:|---:|---|")
    print("\n".join(lines))


if __name__ == "__main__":
    main()

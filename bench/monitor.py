"""Benchmark: what the production monitor's daily loop costs.

For a model set in production (``expert``: nothing deployed, the rules answer;
``smollm2``: the technical analyst and the strategist are the prompted SmolLM2-135M base
model, deployed with ``--force``, so a day costs what a trained LoRA set costs), on a
fresh journal in a temporary directory:

- ``monitor run`` of one day over ``--symbols`` (after a warm-up day that loads the
  models): seconds per symbol, and where they go (analysis vs the rest: the paper book,
  the broker, the journal's transaction);
- ``monitor update`` after it;
- ``monitor replay`` of ``--days`` days: seconds per day, run and update together.

Run: ``python bench/monitor.py [--models expert|smollm2] [--symbols AAPL AMZN ...]
[--days 20]``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

from stockagents.cli.output import configure_output
from stockagents.core.config import load_config
from stockagents.deployment import ModelDeployer
from stockagents.llm.presets import resolve_model
from stockagents.monitoring import Monitor

SAMPLE = ["AAPL", "AMZN", "GOOG", "META", "NFLX", "NVDA"]


def _deploy_smollm2(root: Path, models_dir: Path) -> None:
    base = resolve_model("smollm2-135m")
    given = {}
    for agent in ("technical", "strategist"):
        target = root / agent
        shutil.copytree(base, target)
        manifest = {"kind": "full", "agent": agent, "version": "smollm2-135m prompted"}
        (target / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
        given[agent] = target
    ModelDeployer(models_dir, config=load_config(None)).deploy(given, force=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", choices=("expert", "smollm2"), default="expert")
    parser.add_argument("--symbols", nargs="+", default=SAMPLE)
    parser.add_argument("--days", type=int, default=20, help="days replayed")
    args = parser.parse_args()
    configure_output(False)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        models_dir = root / "models"
        if args.models == "smollm2":
            _deploy_smollm2(root, models_dir)
        config = load_config(
            {"deployment": {"models_dir": str(models_dir)},
             "monitor": {"journal": str(root / "journal.db"), "watchlist": args.symbols}}
        )  # fmt: skip
        n = len(args.symbols)
        with Monitor(config) as monitor:
            calendar = monitor.calendar()
            start = len(calendar) - args.days - 2
            monitor.run(calendar[start])  # warm-up: loads the models
            started = time.perf_counter()
            result = monitor.run(calendar[start + 1])
            run_s = time.perf_counter() - started
            started = time.perf_counter()
            monitor.update(calendar[start + 1])
            update_s = time.perf_counter() - started
            print(f"models: {args.models} ({result.release}), {n} symbols")
            print("| step | seconds | per symbol |")
            print("|---|---:|---:|")
            print(f"| monitor run, one day | {run_s:.2f} | {run_s / n:.2f} |")
            print(f"|   of which analysis | {result.seconds:.2f} | {result.seconds / n:.2f} |")
            print(f"| monitor update | {update_s:.2f} | {update_s / n:.2f} |", flush=True)
            started = time.perf_counter()
            monitor.replay(calendar[start + 2], calendar[-1])
            replay_s = time.perf_counter() - started
            status = monitor.status()
    print(f"| replay, {args.days} days (run + update) | {replay_s:.1f} | "
          f"{replay_s / args.days / n:.2f} a symbol-day |")  # fmt: skip
    verdict = status["releases"][0] if status["releases"] else {}
    print(f"last verdict: {verdict.get('verdict')} ({(verdict.get('reasons') or [''])[0]})")


if __name__ == "__main__":
    main()

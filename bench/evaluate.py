"""Benchmark: what an evaluation costs, cold and from the answer cache.

Runs ``evaluate_models`` on ``--models`` twice into a fresh output root: the first run
asks every model (cold), the second answers from the cache. Prints, per model set, the
seconds and the seconds per decision of the cold run, then both runs' wall time and
their ratio (the cache's speed-up), and the rule judge's share of the cold time.

Run: ``python bench/evaluate.py --models baseline:expert sft:RUN/models [--test-days 90]``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from stockagents.evaluation.evaluate import evaluate_models


def _run(
    models: list[str], symbols: list[str], days: int, root: Path, judge: str
) -> tuple[float, dict[str, Any]]:
    started = time.perf_counter()
    out = evaluate_models(
        models, symbols=symbols, test_days=days, output_root=root, judge=judge, progress=False
    )
    seconds = time.perf_counter() - started
    return seconds, json.loads((out / "evaluation_results.json").read_text(encoding="utf-8"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["baseline:expert"])
    parser.add_argument("--symbols", nargs="+", default=["AAPL", "AMZN"])
    parser.add_argument("--test-days", type=int, default=90)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        cold, results = _run(args.models, args.symbols, args.test_days, root, "rules")
        warm, again = _run(args.models, args.symbols, args.test_days, root, "rules")
    decisions = args.test_days * len(results["symbols"])
    symbols = len(results["symbols"])
    print(f"{decisions} decisions per set ({symbols} symbols x {args.test_days} days)")
    for entry in results["sets"]:
        print(
            f"  {entry['name']:>12}: {entry['seconds']:7.1f} s cold, "
            f"{entry['seconds'] / decisions:.2f} s per decision (with the rule judge)"
        )
    print(f"cold run: {cold:7.1f} s  ({results['cache']['misses']} answers computed)")
    print(f"warm run: {warm:7.1f} s  ({again['cache']['hits']} answers from the cache)")
    print(f"cache speed-up: {cold / warm:.1f}x")


if __name__ == "__main__":
    main()

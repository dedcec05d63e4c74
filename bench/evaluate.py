"""Benchmark: decisions per second of a model set in a backtest, one step at a time
against batched, and whether batching changes a decision.

Runs each ``--models`` set through the evaluation runner (no answer cache, the rule
judge off) twice over the same window: with ``coordinator.batch_steps: 1`` (each step's
analysts, then its strategist, alone: how evaluations ran before batching; ``--int8``
also uses the weight format of then for every model) and with the default batching (the
analysts of 32 steps, then a day's strategists, in one model batch each). Prints
decisions per second both ways (after a two-day warm-up run that loads the models and
builds the tiny model if needed), their ratio, and the share of (symbol, day) decisions
the two runs made alike (with its bootstrap interval).

Each way runs in its own process, so each loads the models in its own weight format.

Run: ``python bench/evaluate.py --models sft:RUN/models [--symbols AAPL AMZN --test-days 40]``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from stockagents.cli.output import configure_output
from stockagents.core.config import AppConfig, load_config
from stockagents.data.factory import build_sources
from stockagents.evaluation.metrics import agreement
from stockagents.evaluation.model_sets import parse_model_sets
from stockagents.evaluation.runner import SetRun, run_model_set

AGENTS = ("news", "technical", "fundamental", "strategist")


def _config(batch_steps: int, int8: bool) -> AppConfig:
    app = load_config(None)
    agents = app.agents
    if int8:
        agents = agents.model_copy(
            update={
                name: getattr(agents, name).model_copy(update={"quantize": "int8"})
                for name in AGENTS
            }
        )
    coordinator = app.coordinator.model_copy(update={"batch_steps": batch_steps})
    return app.model_copy(update={"coordinator": coordinator, "agents": agents})


def _actions(run: SetRun) -> dict[tuple[str, str], str]:
    return {(s.symbol, str(s.day)): s.recommendation.decision.action.value for s in run.steps}


def _measure(args: argparse.Namespace) -> None:
    """One way (``--way one`` or ``many``), in this process: its decisions and seconds
    to ``--out`` as JSON."""
    one = args.way == "one"
    config = _config(1 if one else 32, one and args.int8)
    sources = build_sources(load_config(None).data).prices
    prices = {s: sources.prices(s, as_of=sources.date_range(s)[1]) for s in args.symbols}
    calendar = sorted({ts.date() for frame in prices.values() for ts in frame.index})
    window = (calendar[-args.test_days], calendar[-1])
    (models,) = parse_model_sets([args.models[0]])
    data = build_sources(load_config(None).data)
    run_model_set(models, config, data, prices, (calendar[-2], calendar[-1]))  # warm-up
    run = run_model_set(models, config, data, prices, window)
    actions = {f"{k[0]}|{k[1]}": v for k, v in _actions(run).items()}
    Path(args.out).write_text(json.dumps({"seconds": run.seconds, "actions": actions}))


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--models", nargs="+", required=True)
    parser.add_argument("--symbols", nargs="+", default=["AAPL", "AMZN"])
    parser.add_argument("--test-days", type=int, default=40)
    parser.add_argument("--int8", action="store_true", help="one step at a time in int8 too")
    parser.add_argument("--way", choices=["one", "many"], help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    configure_output()
    if args.way:
        _measure(args)
        return
    print(f"{len(args.symbols)} symbols x {args.test_days} days")
    for models in args.models:
        runs = {}
        for way in ("one", "many"):  # each in its own process: its own weight format
            with tempfile.NamedTemporaryFile(suffix=".json") as out:
                command = [sys.executable, __file__, "--models", models, "--way", way]
                command += ["--out", out.name, "--test-days", str(args.test_days)]
                command += ["--symbols", *args.symbols] + (["--int8"] if args.int8 else [])
                subprocess.run(command, check=True)
                runs[way] = json.loads(Path(out.name).read_text())
        a, b = runs["one"]["actions"], runs["many"]["actions"]
        keys = sorted(a)
        same = agreement(
            [a[k] for k in keys], [b[k] for k in keys], days=[k.split("|")[1] for k in keys]
        )
        rate_one = len(keys) / runs["one"]["seconds"]
        rate_many = len(keys) / runs["many"]["seconds"]
        print(
            f"{models.split(':')[0]}: {len(keys)} decisions; one step at a time {rate_one:.2f}/s "
            f"({runs['one']['seconds']:.1f} s), batched {rate_many:.2f}/s "
            f"({runs['many']['seconds']:.1f} s): {rate_many / rate_one:.1f}x; the same action "
            f"on {same['agreement']:.1%} [{same['low']:.1%}, {same['high']:.1%}] of them"
        )


if __name__ == "__main__":
    main()

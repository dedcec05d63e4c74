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

Run: ``python bench/evaluate.py --models sft:RUN/models [--symbols AAPL AMZN --test-days 40]``.
"""

from __future__ import annotations

import argparse

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


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--models", nargs="+", required=True)
    parser.add_argument("--symbols", nargs="+", default=["AAPL", "AMZN"])
    parser.add_argument("--test-days", type=int, default=40)
    parser.add_argument("--int8", action="store_true", help="one step at a time in int8 too")
    args = parser.parse_args()
    configure_output()
    sources = build_sources(load_config(None).data).prices
    prices = {s: sources.prices(s, as_of=sources.date_range(s)[1]) for s in args.symbols}
    calendar = sorted({ts.date() for frame in prices.values() for ts in frame.index})
    window = (calendar[-args.test_days], calendar[-1])
    print(f"{len(args.symbols)} symbols x {args.test_days} days, {window[0]} to {window[1]}")
    for models in parse_model_sets(args.models):
        data = build_sources(load_config(None).data)
        run_model_set(models, _config(32, False), data, prices, (calendar[-2], calendar[-1]))
        one = run_model_set(models, _config(1, args.int8), data, prices, window)
        many = run_model_set(models, _config(32, False), data, prices, window)
        a, b = _actions(one), _actions(many)
        keys = sorted(a)
        same = agreement([a[k] for k in keys], [b[k] for k in keys], days=[k[1] for k in keys])
        rate_one, rate_many = len(one.steps) / one.seconds, len(many.steps) / many.seconds
        print(
            f"{models.name}: {len(keys)} decisions; one step at a time {rate_one:.2f}/s "
            f"({one.seconds:.1f} s), batched {rate_many:.2f}/s ({many.seconds:.1f} s): "
            f"{rate_many / rate_one:.1f}x; the same action on {same['agreement']:.1%} "
            f"[{same['low']:.1%}, {same['high']:.1%}] of them"
        )


if __name__ == "__main__":
    main()

"""Running one model set over the test window: decisions, backtests, signals, grades.

``run_model_set`` drives the coordinator through the backtester exactly as
``stockagents backtest`` does (next-open fills, costs, stops), asking the answer cache
first. It then replays the same decisions without costs, and on each symbol alone (its
own book, the same decisions) for the per-symbol figures, so neither costs a model call.
Every step's recommendation is kept, for the analysts' signal quality, the valid-output
rates and the judge. This module knows nothing about reports or files.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from stockagents.agents.team import SharedAnswers
from stockagents.backtest.engine import BacktestResult, run_backtest
from stockagents.backtest.policy import CoordinatorPolicy, backtest_plan
from stockagents.core.config import AppConfig
from stockagents.core.types import PortfolioContext, Recommendation
from stockagents.data.factory import DataSources
from stockagents.evaluation.cache import AnswerCache, code_fingerprint, model_fingerprint
from stockagents.evaluation.judge import Judge, JudgeItem, Verdict, rubric_version
from stockagents.evaluation.model_sets import ModelSet
from stockagents.features.observation import MIN_BARS, Observation
from stockagents.orchestration import SystemCoordinator

__all__ = ["Prefill", "SetRun", "Step", "run_model_set"]


#: Answers the analysts of a set's plan ahead: ``(models, coordinator, plan, shared)``.
Prefill = Callable[
    [ModelSet, SystemCoordinator, Sequence[tuple[str, dt.date]], SharedAnswers], None
]


@dataclass(frozen=True)
class Step:
    """One decision of the run: the question and the full answer."""

    symbol: str
    day: dt.date
    portfolio: PortfolioContext
    recommendation: Recommendation


@dataclass
class SetRun:
    """What evaluating one model set produced."""

    models: ModelSet
    with_costs: BacktestResult
    without_costs: BacktestResult
    per_symbol: dict[str, tuple[BacktestResult, BacktestResult]]
    steps: list[Step]
    versions: dict[str, str]
    seconds: float
    grades: dict[str, list[tuple[Step, Verdict]]] = field(default_factory=dict)


class _CachedAnswers:
    """The answer cache as the policy's store: a step's recommendation is keyed by the
    set's prefix, the symbol, the day, the portfolio and what the agents read (a change
    to the data misses it)."""

    def __init__(self, cache: AnswerCache, prefix: dict[str, Any]) -> None:
        self.cache = cache
        self.prefix = prefix

    def _key(
        self, symbol: str, day: dt.date, portfolio: PortfolioContext, observation: Observation
    ) -> str:
        seen = dataclasses.asdict(observation)
        return AnswerCache.key(self.prefix, symbol, day, portfolio.model_dump(mode="json"), seen)

    def get(
        self, symbol: str, day: dt.date, portfolio: PortfolioContext, observation: Observation
    ) -> Recommendation | None:
        return self.cache.get(self._key(symbol, day, portfolio, observation))

    def put(
        self,
        symbol: str,
        day: dt.date,
        portfolio: PortfolioContext,
        observation: Observation,
        recommendation: Recommendation,
    ) -> None:
        self.cache.put(self._key(symbol, day, portfolio, observation), recommendation)


def _cache_prefix(config: AppConfig, models: ModelSet) -> dict[str, Any]:
    return {
        "code": code_fingerprint(),
        "models": model_fingerprint(models.agents),
        "config": config.model_dump(mode="json", include={"agents", "coordinator", "data"}),
    }


def _judge_items(
    coordinator: SystemCoordinator, steps: list[Step], samples: int | None
) -> dict[str, list[tuple[Step, JudgeItem]]]:
    """For each agent, up to ``samples`` steps spread over the run, with what it read."""
    chosen = steps
    if samples is not None and len(steps) > samples:
        stride = len(steps) / samples
        chosen = [steps[int(i * stride)] for i in range(samples)]
    out: dict[str, list[tuple[Step, JudgeItem]]] = {}
    for step in chosen:
        rec = step.recommendation
        observation = coordinator.observations.build(step.symbol, step.day)
        for name, agent in coordinator.analysts.items():
            payload = agent.input_payload(observation)
            answer = rec.signals[name].model_dump(mode="json")
            out.setdefault(name, []).append((step, JudgeItem(name, payload, answer)))
        payload = coordinator.strategist.input_payload(observation, rec.signals, step.portfolio)
        answer = rec.decision.model_dump(mode="json")
        out.setdefault("strategist", []).append((step, JudgeItem("strategist", payload, answer)))
    return out


def _grade(judge: Judge, items: list[JudgeItem], cache: AnswerCache | None) -> list[Verdict]:
    """The judge's verdicts; a model judge's are cached (the rule judge is free)."""
    if cache is None or judge.name == "rules":
        return judge.grade(items)
    keys = [
        AnswerCache.key("judge", judge.name, rubric_version(), dataclasses.asdict(i)) for i in items
    ]
    found = [cache.get_json(k) for k in keys]
    todo = [i for i, f in enumerate(found) if f is None]
    fresh = judge.grade([items[i] for i in todo]) if todo else []
    for i, verdict in zip(todo, fresh, strict=True):
        if verdict.valid:
            cache.put_json(keys[i], dataclasses.asdict(verdict))
        found[i] = dataclasses.asdict(verdict)
    return [Verdict(**f) for f in found if f is not None]


def run_model_set(
    models: ModelSet,
    config: AppConfig,
    sources: DataSources,
    prices: dict[str, pd.DataFrame],
    window: tuple[dt.date, dt.date],
    *,
    cache: AnswerCache | None = None,
    judge: Judge | None = None,
    judge_samples: int | None = None,
    tick: Callable[[], None] = lambda: None,
    shared: SharedAnswers | None = None,
    prefill: Prefill | None = None,
) -> SetRun:
    """Evaluate ``models`` on ``prices`` over ``window`` (see the module docstring).
    ``shared`` carries the analysts' answers from set to set: a set that shares an
    analyst (the RL set's SFT analysts) does not ask it again. ``prefill`` answers the
    analysts of every step into ``shared`` before the backtest runs (``on_ray``)."""
    started = time.perf_counter()
    start, end = window
    cfg = config.backtest
    no_costs = cfg.model_copy(update={"commission_bps": 0.0, "slippage_bps": 0.0})
    eligible = {s: f.index[min(MIN_BARS, len(f)) - 1].date() for s, f in prices.items()}
    questions = backtest_plan(prices, *window, eligible)
    with SystemCoordinator(config, sources=sources, models=models.models_dir) as coordinator:
        if prefill is not None:
            shared = shared if shared is not None else {}
            prefill(models, coordinator, questions, shared)
        store = _CachedAnswers(cache, _cache_prefix(config, models)) if cache else None
        policy = CoordinatorPolicy(
            coordinator, questions, eligible=eligible, tick=tick, store=store, shared=shared
        )
        with_costs = run_backtest(prices, policy, cfg, start, end)
        steps = sorted(
            (Step(s, d, p, rec) for (s, d), (p, rec) in policy.steps.items()),
            key=lambda step: (step.day, step.symbol),
        )
        grades: dict[str, list[tuple[Step, Verdict]]] = {}
        if judge is not None and steps:
            for agent, pairs in _judge_items(coordinator, steps, judge_samples).items():
                verdicts = _grade(judge, [item for _, item in pairs], cache)
                grades[agent] = [(s, v) for (s, _), v in zip(pairs, verdicts, strict=True)]
        versions = coordinator.model_versions
    without = run_backtest(prices, policy.replay, no_costs, start, end)
    per_symbol = {
        symbol: (
            run_backtest({symbol: frame}, policy.replay, cfg, start, end),
            run_backtest({symbol: frame}, policy.replay, no_costs, start, end),
        )
        for symbol, frame in prices.items()
    }
    return SetRun(
        models=models,
        with_costs=with_costs,
        without_costs=without,
        per_symbol=per_symbol,
        steps=steps,
        versions=versions,
        seconds=time.perf_counter() - started,
        grades=grades,
    )

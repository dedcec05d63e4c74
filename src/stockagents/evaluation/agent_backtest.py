"""A backtest of the agents against buy-and-hold, with and without costs, as the CLI's
``stockagents backtest`` and the HTTP API's ``POST /backtest`` run it.

Symbols without data (or with fewer bars than the agents need) are skipped and named; a
symbol's decisions start once it has ``MIN_BARS`` bars. The no-cost run replays the same
decisions, so it makes no model call.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import pandas as pd

from stockagents.backtest.benchmark import buy_and_hold
from stockagents.backtest.engine import BacktestResult, run_backtest
from stockagents.backtest.policy import CoordinatorPolicy, backtest_plan
from stockagents.core.errors import DataError
from stockagents.evaluation.backtest_report import backtest_metrics
from stockagents.features.observation import MIN_BARS
from stockagents.orchestration import SystemCoordinator

__all__ = ["AgentBacktest", "backtest_agents"]


@dataclass
class AgentBacktest:
    with_costs: BacktestResult
    without_costs: BacktestResult
    benchmark: BacktestResult
    skipped: dict[str, str] = field(default_factory=dict)

    @property
    def period(self) -> str:
        index = self.with_costs.equity.index
        return f"{index[0].date()} to {index[-1].date()}"

    def metrics(self) -> dict[str, dict[str, float]]:
        return {
            "agents": backtest_metrics(self.with_costs),
            "agents (no costs)": backtest_metrics(self.without_costs),
            "buy & hold": backtest_metrics(self.benchmark),
        }


def backtest_agents(
    coordinator: SystemCoordinator,
    symbols: Sequence[str],
    start: dt.date | None = None,
    end: dt.date | None = None,
    *,
    max_days: int | None = None,
    tick: Callable[[int], Callable[[], None]] | None = None,
) -> AgentBacktest:
    """Backtest ``coordinator``'s agents on ``symbols`` over ``[start, end]``.

    ``max_days`` bounds the window (a ``DataError`` beyond it); ``tick(total)`` returns a
    callback called once per symbol and day (a progress bar)."""
    if start and end and start > end:
        raise DataError(f"start {start} is after end {end}")
    provider = coordinator.sources.prices
    prices: dict[str, pd.DataFrame] = {}
    eligible: dict[str, dt.date] = {}
    skipped: dict[str, str] = {}
    for symbol in symbols:
        try:
            _, last = provider.date_range(symbol)
        except DataError as exc:  # unknown symbol or a malformed file: name it and go on
            skipped[symbol] = str(exc)
            continue
        bars = provider.prices(symbol, as_of=last)
        if len(bars) < MIN_BARS:
            skipped[symbol] = f"fewer than {MIN_BARS} bars"
            continue
        prices[symbol] = bars
        eligible[symbol] = bars.index[MIN_BARS - 1].date()
    if not prices:
        raise DataError(
            f"none of {', '.join(symbols)} has data; available: {', '.join(provider.symbols())}"
        )
    index = pd.DatetimeIndex(sorted(set().union(*(f.index for f in prices.values()))))
    window = index[
        (index >= pd.Timestamp(start or index[0])) & (index <= pd.Timestamp(end or index[-1]))
    ]
    if len(window) < 2:
        raise DataError(
            f"fewer than two trading days from {start or 'the start'} to {end or 'the end'} "
            "in the data"
        )
    if max_days is not None and len(window) > max_days:
        raise DataError(
            f"{len(window)} trading days asked for; at most {max_days} here (narrow start/end)"
        )
    cfg = coordinator.config.backtest
    plan = backtest_plan(prices, window[0].date(), window[-1].date(), eligible)
    # the analysts answer ahead in batches, a day's strategists together
    policy = CoordinatorPolicy(
        coordinator, plan, eligible=eligible,
        tick=tick(len(window) * len(prices)) if tick else None,
    )  # fmt: skip
    with_costs = run_backtest(prices, policy, cfg, start, end)
    free = cfg.model_copy(update={"commission_bps": 0.0, "slippage_bps": 0.0})
    without_costs = run_backtest(prices, policy.replay, free, start, end)
    benchmark = buy_and_hold(prices, cfg, start, end)
    return AgentBacktest(with_costs, without_costs, benchmark, skipped)

"""The paper book and the outcomes of journaled decisions, point in time.

The paper book is the journal's decisions run through ``run_backtest`` from the first
journaled day to ``as_of`` on bars up to ``as_of`` only: next-open fills, costs, stops,
exactly as an evaluation charges them. The daily run reads the book at the close of its
day (``positions_at``) so the strategist decides against the position it holds;
``update`` keeps the book's daily equity and fills each decision's realised outcome once
its horizon has passed (``backtest.outcome``).

A day's return is the book's move from the previous close; it belongs to the release that
made the decisions it held (those of the previous journaled day).
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from stockagents.backtest.engine import BacktestResult, run_backtest
from stockagents.backtest.outcome import decision_outcome
from stockagents.core.config import BacktestConfig
from stockagents.core.types import Action, Decision, PortfolioContext

__all__ = ["PaperBook", "decision_of", "outcomes", "replay_book"]


def decision_of(row: Mapping[str, Any]) -> Decision:
    """The ``Decision`` a journal row records."""
    return Decision(
        symbol=row["symbol"],
        as_of=row["day"],
        action=Action(row["action"]),
        position_size=row["position_size"],
        confidence=row["confidence"],
        stop_loss=row["stop_loss"],
        take_profit=row["take_profit"],
        horizon_days=row["horizon_days"],
        reasoning=row["reasoning"],
    )


@dataclass
class PaperBook:
    """The book after replaying the journal: the backtest, and the positions each
    symbol held at the close of ``as_of``."""

    result: BacktestResult | None
    positions: dict[str, PortfolioContext]

    def rows(self, releases: Mapping[dt.date, str]) -> list[dict[str, Any]]:
        """One row per day for the journal's ``book`` table; ``releases`` maps each
        journaled day to its release (a day's return belongs to the previous one's)."""
        if self.result is None:
            return []
        days = sorted(releases)
        stamps = [pd.Timestamp(t).date() for t in self.result.equity.index]
        equity = self.result.equity.to_numpy(dtype=float)
        returns = self.result.returns.to_numpy(dtype=float)
        weights = self.result.weights.to_numpy(dtype=float)
        symbols = [str(c) for c in self.result.weights.columns]
        out = []
        for i, day in enumerate(stamps):
            before = bisect.bisect_left(days, day)
            owner = releases[days[before - 1]] if before else releases[days[0]]
            out.append(
                {
                    "day": day,
                    "release": owner,
                    "equity": float(equity[i]),
                    "daily_return": float(returns[i]),
                    "positions": {
                        s: round(float(w), 6) for s, w in zip(symbols, weights[i], strict=True) if w
                    },
                }
            )
        return out


def replay_book(
    prices: Mapping[str, pd.DataFrame],
    decisions: Sequence[Mapping[str, Any]],
    config: BacktestConfig,
    as_of: dt.date,
) -> PaperBook:
    """The paper book at the close of ``as_of`` from the journal's decisions before and
    on it; ``prices`` must hold nothing after ``as_of`` (the caller cuts them)."""
    if not decisions:
        return PaperBook(None, {})
    wanted = {(row["symbol"], row["day"]): decision_of(row) for row in decisions}
    start = min(day for _, day in wanted)
    seen: dict[str, PortfolioContext] = {}

    def policy(symbol: str, day: dt.date, book: PortfolioContext) -> Decision | None:
        if day == as_of:
            seen[symbol] = book
        return wanted.get((symbol, day))

    frames = {s: f for s, f in prices.items() if len(f.loc[: pd.Timestamp(start)]) >= 1}
    bars = {ts for f in frames.values() for ts in f.loc[pd.Timestamp(start) :].index}
    if len(bars) < 2:  # the first journaled day: nothing has filled yet
        return PaperBook(None, {})
    result = run_backtest(frames, policy, config, start=start, end=as_of)
    return PaperBook(result, seen)


def positions_at(
    prices: Mapping[str, pd.DataFrame],
    decisions: Sequence[Mapping[str, Any]],
    config: BacktestConfig,
    day: dt.date,
) -> dict[str, PortfolioContext]:
    """What each symbol holds at the close of ``day``, decisions before ``day`` applied."""
    earlier = [row for row in decisions if row["day"] < day]
    return replay_book(prices, earlier, config, day).positions


def outcomes(
    prices: Mapping[str, pd.DataFrame],
    decisions: Sequence[Mapping[str, Any]],
    config: BacktestConfig,
) -> dict[int, dict[str, Any]]:
    """The outcome columns of every decision without one whose horizon has passed in
    ``prices`` (already cut at the monitor's date), by journal id."""
    out: dict[int, dict[str, Any]] = {}
    for row in decisions:
        if row.get("outcome_day") is not None or row["symbol"] not in prices:
            continue
        found = decision_outcome(prices[row["symbol"]], decision_of(row), config)
        if found is not None:
            out[row["id"]] = {
                "outcome_day": found.outcome_day,
                "forward_return": found.forward_return,
                "net_return": found.net_return,
                "exit_reason": found.exit_reason,
            }
    return out

"""The realised outcome of one decision, by the backtester's own rules.

A decision made at the close of ``t`` fills at the open of the next bar; it is held for
``horizon_days`` bars and closed at the open after them, unless its stop or target
exits it first, with commission and slippage on both fills: exactly what ``run_backtest``
does with that one decision (this module runs it). The outcome exists only once the
bar it exits on is known: before that, ``decision_outcome`` returns None, so a caller
that passes bars up to a date learns nothing that date did not know.

``forward_return`` is the raw move from the next open to the close ``horizon_days`` bars
later (``collect.forward_returns``, the label the evaluation scores signals on);
``net_return`` is what the position made on its entry value, costs included (0 for HOLD,
and for SELL when shorting is off: no position is taken).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pandas as pd

from stockagents.backtest.collect import forward_returns
from stockagents.backtest.engine import run_backtest
from stockagents.core.config import BacktestConfig
from stockagents.core.types import Action, Decision, PortfolioContext

__all__ = ["DecisionOutcome", "decision_outcome"]


@dataclass(frozen=True)
class DecisionOutcome:
    """What became of one decision."""

    outcome_day: dt.date
    forward_return: float
    net_return: float
    exit_reason: str


def decision_outcome(
    bars: pd.DataFrame, decision: Decision, config: BacktestConfig
) -> DecisionOutcome | None:
    """The outcome of ``decision`` on ``bars`` (one symbol's history), or None while the
    bar it would exit on is not in ``bars``."""
    index = bars.index
    pos = int(index.searchsorted(pd.Timestamp(decision.as_of), side="right")) - 1
    horizon = decision.horizon_days
    if pos < 0 or pos + horizon + 1 >= len(index):
        return None
    fwd, _ = forward_returns(bars, decision.as_of, [horizon])
    forward = fwd[horizon]
    assert forward is not None
    exit_day = index[pos + horizon + 1].date()
    takes_position = decision.action == Action.BUY or (
        decision.action == Action.SELL and config.allow_short
    )
    if not takes_position or decision.position_size <= 0:
        return DecisionOutcome(exit_day, forward, 0.0, "no position")
    window = bars.iloc[pos : pos + horizon + 2]
    close_on = index[pos + horizon].date()
    flat = Decision(
        symbol=decision.symbol,
        as_of=close_on,
        action=Action.SELL if decision.action == Action.BUY else Action.BUY,
        position_size=0.0,
        confidence=0.0,
        reasoning="horizon reached",
    )

    def policy(symbol: str, day: dt.date, _book: PortfolioContext) -> Decision | None:
        if day == decision.as_of:
            return decision
        return flat if day == close_on else None

    single = config.model_copy(
        update={"max_position": 1.0, "max_gross_exposure": 1.0, "fractional_shares": True}
    )
    result = run_backtest({decision.symbol: window}, policy, single, rebalance_band=0.0)
    trades = result.closed_trades
    if not trades:  # the order could not fill (no cash for it): nothing was held
        return DecisionOutcome(exit_day, forward, 0.0, "not filled")
    trade = trades[0]
    entry_value = trade.entry_price * trade.max_shares
    net = trade.pnl / entry_value if entry_value else 0.0
    return DecisionOutcome(trade.exit_date or exit_day, forward, float(net), trade.exit_reason)

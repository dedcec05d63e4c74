"""A decision's realised outcome is what the backtester makes of it, known only once its
exit bar is."""

from __future__ import annotations

import datetime as dt

import pytest

from stockagents.backtest.outcome import decision_outcome
from stockagents.core.config import BacktestConfig
from stockagents.core.types import Action, Decision
from tests.helpers import make_bars

COSTS = BacktestConfig(commission_bps=5.0, slippage_bps=5.0)


def _decision(action: Action, day: dt.date, **kw: object) -> Decision:
    return Decision(symbol="X", as_of=day, action=action, position_size=0.5, confidence=0.7,
                    horizon_days=3, reasoning="r", **kw)  # type: ignore[arg-type]  # fmt: skip


def test_a_buy_fills_at_the_next_open_and_exits_after_its_horizon() -> None:
    bars = make_bars([100, 101, 102, 103, 104, 105, 106, 107])
    day = bars.index[1].date()
    out = decision_outcome(bars, _decision(Action.BUY, day), COSTS)
    assert out is not None
    entry, exit_ = bars["open"].iloc[2] * 1.0005, bars["open"].iloc[5] * 0.9995
    gross = exit_ / entry - 1
    costs = 0.0005 * (entry + exit_) / entry
    assert out.net_return == pytest.approx(gross - costs, rel=1e-9)
    assert out.forward_return == pytest.approx(bars["close"].iloc[4] / bars["open"].iloc[2] - 1)
    assert out.outcome_day == bars.index[5].date()
    assert out.exit_reason == "signal"


def test_no_outcome_until_the_exit_bar_is_known() -> None:
    bars = make_bars([100, 101, 102, 103, 104])
    day = bars.index[1].date()
    assert decision_outcome(bars, _decision(Action.BUY, day), COSTS) is None  # needs bar 5
    assert decision_outcome(bars.iloc[:5], _decision(Action.HOLD, bars.index[0].date()), COSTS)


def test_hold_and_a_sell_without_shorting_take_no_position() -> None:
    bars = make_bars([100, 99, 98, 97, 96, 95, 94])
    day = bars.index[0].date()
    hold = decision_outcome(bars, _decision(Action.HOLD, day), COSTS)
    sell = decision_outcome(bars, _decision(Action.SELL, day), COSTS)
    assert hold is not None
    assert sell is not None
    assert hold.net_return == sell.net_return == 0.0
    assert sell.forward_return < 0
    short = decision_outcome(bars, _decision(Action.SELL, day), COSTS.model_copy(
        update={"allow_short": True}))  # fmt: skip
    assert short is not None
    assert short.net_return > 0


def test_a_stop_exits_first_at_its_level() -> None:
    bars = make_bars([100, 100, 90, 80, 70, 60, 50])
    day = bars.index[0].date()
    out = decision_outcome(bars, _decision(Action.BUY, day, stop_loss=95.0), COSTS)
    assert out is not None
    assert out.exit_reason.startswith("stop")
    assert out.net_return < -0.04
    assert out.net_return > -0.2

from __future__ import annotations

import datetime as dt

import pytest

from stockagents.backtest.benchmark import buy_and_hold
from stockagents.core.config import BacktestConfig
from stockagents.data.sample import SamplePriceProvider


def test_buy_and_hold_equal_weight_next_open() -> None:
    provider = SamplePriceProvider()
    prices = {s: provider.prices(s, dt.date(2023, 9, 21)) for s in ("AAPL", "NVDA")}
    config = BacktestConfig(commission_bps=0, slippage_bps=0)
    result = buy_and_hold(prices, config, dt.date(2023, 1, 3), dt.date(2023, 9, 21))
    assert [f["date"] for f in result.fills] == [dt.date(2023, 1, 4)] * 2
    cash = config.initial_cash
    expected = 0.0
    for bars in prices.values():
        entry = bars.loc["2023-01-04", "open"]
        expected += cash / 2 / entry * bars.loc["2023-09-21", "close"]
    assert result.equity.iloc[-1] == pytest.approx(expected, rel=1e-9)
    costly = buy_and_hold(prices, BacktestConfig(), dt.date(2023, 1, 3), dt.date(2023, 9, 21))
    assert costly.total_costs > 0
    assert costly.equity.iloc[-1] < result.equity.iloc[-1]


def test_buy_and_hold_buys_late_starters() -> None:
    provider = SamplePriceProvider()
    early = provider.prices("AAPL", dt.date(2023, 9, 21)).loc["2023-06-01":]
    late = provider.prices("NVDA", dt.date(2023, 9, 21)).loc["2023-07-03":]
    result = buy_and_hold(
        {"AAPL": early, "NVDA": late}, BacktestConfig(commission_bps=0, slippage_bps=0)
    )
    filled = {f["symbol"]: f["date"] for f in result.fills}
    assert filled == {"AAPL": dt.date(2023, 6, 2), "NVDA": dt.date(2023, 7, 5)}
    assert result.weights.iloc[-1].sum() > 0.95

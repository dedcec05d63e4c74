from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from stockagents.backtest.engine import run_backtest
from stockagents.core.config import BacktestConfig
from stockagents.core.types import Action, Decision, PortfolioContext
from stockagents.data.sample import SamplePriceProvider

NO_COSTS = BacktestConfig(commission_bps=0, slippage_bps=0)


def _bars(rows: list[tuple[float, float, float, float]], start: str = "2023-01-02") -> pd.DataFrame:
    index = pd.bdate_range(start, periods=len(rows), name="date")
    frame = pd.DataFrame(rows, columns=["open", "high", "low", "close"], index=index)
    frame["volume"] = 1e6
    return frame


FLAT = [(100.0, 101.0, 99.0, 100.0)] * 3


def _decision(day: dt.date, action: str = "BUY", size: float = 1.0, **kw: float) -> Decision:
    return Decision(
        symbol="X",
        as_of=day,
        action=Action(action),
        position_size=size,
        confidence=1.0,
        reasoning="test",
        **kw,
    )


def _on(days: dict[dt.date, Decision]):  # type: ignore[no-untyped-def]
    def policy(symbol: str, day: dt.date, portfolio: PortfolioContext) -> Decision | None:
        return days.get(day)

    return policy


def test_fill_at_next_open_with_costs() -> None:
    bars = _bars([(100, 101, 99, 100), (102, 104, 101, 103), (103, 105, 102, 104)])
    d0 = bars.index[0].date()
    config = BacktestConfig(commission_bps=10, slippage_bps=20)
    result = run_backtest({"X": bars}, _on({d0: _decision(d0)}), config)
    (fill,) = result.fills
    assert fill["date"] == bars.index[1].date()  # the next bar, not the signal's
    assert fill["price"] == pytest.approx(102 * 1.002)  # open + 20 bps slippage
    assert fill["commission"] == pytest.approx(abs(fill["shares"]) * fill["price"] * 0.001)
    assert result.equity.iloc[0] == config.initial_cash  # nothing filled on day 0


def test_decision_on_last_bar_is_never_filled() -> None:
    bars = _bars(FLAT)
    last = bars.index[-1].date()
    result = run_backtest({"X": bars}, _on({last: _decision(last)}), NO_COSTS)
    assert result.fills == []
    assert result.decisions == 1


def test_no_look_ahead_after_fill_day() -> None:
    provider = SamplePriceProvider()
    bars = provider.prices("AAPL", as_of=dt.date(2020, 12, 31)).loc["2020-01-01":]

    def policy_on(frame: pd.DataFrame):  # type: ignore[no-untyped-def]
        # The policy reads the same frame the engine trades, up to the decision's close.
        def policy(symbol: str, day: dt.date, portfolio: PortfolioContext) -> Decision | None:
            window = frame.loc[: pd.Timestamp(day), "close"]
            up = window.iloc[-1] > window.iloc[-20:].mean()
            stop = window.iloc[-1] * 0.95
            return _decision(day, "BUY" if up else "SELL", 0.5, stop_loss=stop)

        return policy

    base = run_backtest({"X": bars}, policy_on(bars))
    for cut in (50, 120, 200):
        t1 = bars.index[cut + 1]
        garbage = bars.copy()
        rng = np.random.default_rng(cut)
        later = garbage.index > t1
        garbage.loc[later, ["open", "close"]] = rng.uniform(1, 1000, (int(later.sum()), 2))
        garbage.loc[later, "high"] = garbage.loc[later, ["open", "close"]].max(axis=1) * 1.1
        garbage.loc[later, "low"] = garbage.loc[later, ["open", "close"]].min(axis=1) * 0.9
        other = run_backtest({"X": garbage}, policy_on(garbage))
        assert base.equity.loc[:t1].equals(other.equity.loc[:t1])
        early = [f for f in base.fills if f["date"] <= t1.date()]
        assert early == [f for f in other.fills if f["date"] <= t1.date()]
        assert not base.equity.equals(other.equity)  # the garbage does matter later


def test_costs_reduce_equity_by_exactly_what_was_charged() -> None:
    provider = SamplePriceProvider()
    bars = {
        s: provider.prices(s, as_of=dt.date(2021, 12, 31)).loc["2021-01-01":]
        for s in ("AAPL", "NVDA")
    }
    rng = np.random.default_rng(5)
    index = bars["AAPL"].index
    targets = pd.DataFrame(
        np.where(
            rng.uniform(size=(len(index), 2)) < 0.1, rng.uniform(0, 0.5, (len(index), 2)), np.nan
        ),
        index=index,
        columns=["AAPL", "NVDA"],
    )
    config = BacktestConfig(commission_bps=7, slippage_bps=11, use_stops=False)
    result = run_backtest(bars, targets=targets, config=config)
    assert result.total_costs > 0
    # Equity = cash + marks; P&L at pre-cost prices minus the costs charged, to the cent.
    last = {s: bars[s]["close"].iloc[-1] for s in bars}
    ref_prices = {
        (f["date"], f["symbol"]): bars[str(f["symbol"])].loc[pd.Timestamp(f["date"]), "open"]
        for f in result.fills
    }
    gross = sum(
        float(f["shares"]) * (last[str(f["symbol"])] - ref_prices[(f["date"], f["symbol"])])
        for f in result.fills
    )
    expected = config.initial_cash + gross - result.total_costs
    assert result.equity.iloc[-1] == pytest.approx(expected, rel=1e-12)
    commission = sum(float(f["commission"]) for f in result.fills)
    slippage = sum(
        abs(float(f["shares"])) * ref_prices[(f["date"], f["symbol"])] * 11e-4 for f in result.fills
    )
    assert result.total_costs == pytest.approx(commission + slippage, rel=1e-12)
    free = run_backtest(
        bars, targets=targets, config=NO_COSTS.model_copy(update={"use_stops": False})
    )
    assert free.total_costs == 0
    assert free.equity.iloc[-1] > result.equity.iloc[-1]


def test_stop_fills_at_level() -> None:
    bars = _bars([(100, 101, 99, 100), (100, 101, 99, 100), (99, 99.5, 94, 96), (96, 97, 95, 96)])
    d0 = bars.index[0].date()
    result = run_backtest({"X": bars}, _on({d0: _decision(d0, stop_loss=95.0)}), NO_COSTS)
    exit_fill = result.fills[-1]
    assert exit_fill["reason"] == "stop"
    assert exit_fill["price"] == 95.0
    assert exit_fill["date"] == bars.index[2].date()
    (trade,) = result.closed_trades
    assert trade.exit_reason == "stop"
    assert trade.pnl == pytest.approx(trade.max_shares * (95 - 100))


def test_stop_gap_fills_at_open() -> None:
    bars = _bars([(100, 101, 99, 100), (100, 101, 99, 100), (90, 92, 88, 91)])
    d0 = bars.index[0].date()
    result = run_backtest({"X": bars}, _on({d0: _decision(d0, stop_loss=95.0)}), NO_COSTS)
    assert result.fills[-1]["reason"] == "stop_gap"
    assert result.fills[-1]["price"] == 90.0


def test_take_profit_and_gap() -> None:
    bars = _bars(
        [(100, 101, 99, 100), (100, 101, 99, 100), (101, 106, 100, 105), (110, 111, 109, 110)]
    )
    d0 = bars.index[0].date()
    hit = run_backtest({"X": bars}, _on({d0: _decision(d0, take_profit=105.0)}), NO_COSTS)
    assert (hit.fills[-1]["reason"], hit.fills[-1]["price"]) == ("take_profit", 105.0)
    gap = run_backtest({"X": bars}, _on({d0: _decision(d0, take_profit=108.0)}), NO_COSTS)
    assert (gap.fills[-1]["reason"], gap.fills[-1]["price"]) == ("take_profit_gap", 110.0)


def test_stop_checked_on_entry_bar_and_wins_ties() -> None:
    bars = _bars([(100, 101, 99, 100), (100, 111, 89, 100), (100, 101, 99, 100)])
    d0 = bars.index[0].date()
    decision = _decision(d0, stop_loss=90.0, take_profit=110.0)
    result = run_backtest({"X": bars}, _on({d0: decision}), NO_COSTS)
    assert result.fills[-1]["reason"] == "stop"
    assert result.fills[-1]["date"] == bars.index[1].date()


def test_long_only_sell_exits_and_short_opens() -> None:
    bars = _bars([(100, 101, 99, 100), (100, 101, 99, 100), (100, 101, 99, 100), (90, 91, 89, 90)])
    d = [ts.date() for ts in bars.index]
    days = {d[0]: _decision(d[0]), d[1]: _decision(d[1], "SELL", 0.5)}
    long_only = run_backtest({"X": bars}, _on(days), NO_COSTS)
    assert long_only.positions["X"].iloc[-1] == 0
    short = run_backtest({"X": bars}, _on(days), NO_COSTS.model_copy(update={"allow_short": True}))
    assert short.positions["X"].iloc[-1] < 0
    assert short.equity.iloc[-1] > short.config.initial_cash  # profited from the drop


def test_exposure_limits() -> None:
    bars = {s: _bars(FLAT) for s in ("A", "B", "C")}
    day = bars["A"].index[0].date()

    def policy(symbol: str, d: dt.date, portfolio: PortfolioContext) -> Decision | None:
        return _decision(d, size=0.6) if d == day else None

    config = NO_COSTS.model_copy(update={"max_position": 0.5, "max_gross_exposure": 0.9})
    result = run_backtest(bars, policy, config)
    weights = result.weights.iloc[1]
    assert weights.sum() == pytest.approx(0.9, rel=1e-9)
    assert (weights <= 0.5 + 1e-12).all()


def test_whole_shares_and_cash_limit() -> None:
    bars = _bars([(100, 101, 99, 100), (333, 334, 332, 333), (333, 334, 332, 333)])
    d0 = bars.index[0].date()
    config = NO_COSTS.model_copy(update={"fractional_shares": False, "initial_cash": 1000.0})
    result = run_backtest({"X": bars}, _on({d0: _decision(d0)}), config)
    assert result.positions["X"].iloc[1] == 3  # floor(1000 / 333)
    assert result.equity.iloc[1] == pytest.approx(1000.0)


def test_deterministic() -> None:
    provider = SamplePriceProvider()
    bars = {"NVDA": provider.prices("NVDA", as_of=dt.date(2019, 12, 31)).loc["2019-01-01":]}
    targets = pd.DataFrame(
        {"NVDA": np.tile([1.0, np.nan, 0.0, np.nan], 70)[: len(bars["NVDA"])]},
        index=bars["NVDA"].index,
    )
    a = run_backtest(bars, targets=targets)
    b = run_backtest(bars, targets=targets)
    assert a.equity.equals(b.equity)
    assert a.fills == b.fills


def test_trade_side_is_the_position_side() -> None:
    bars = _bars([(100, 101, 99, 100), (100, 101, 99, 100), (90, 91, 89, 90), (90, 91, 89, 90)])
    d = [ts.date() for ts in bars.index]
    days = {d[0]: _decision(d[0]), d[1]: _decision(d[1], "SELL", 0.5)}
    (trade,) = run_backtest({"X": bars}, _on(days), NO_COSTS).closed_trades
    assert trade.side == "long"  # a losing long is still a long
    assert trade.pnl == pytest.approx(1000 * (90 - 100))  # 1,000 shares at 100, out at 90


def test_flip_closes_one_trade_and_drops_old_stop() -> None:
    flat = (100, 101, 99, 100)
    bars = _bars([flat, flat, flat, (100, 101, 94, 100), flat])
    d = [ts.date() for ts in bars.index]
    days = {d[0]: _decision(d[0], stop_loss=95.0), d[1]: _decision(d[1], "SELL", 1.0)}
    config = NO_COSTS.model_copy(update={"allow_short": True})
    result = run_backtest({"X": bars}, _on(days), config)
    sides = [t.side for t in result.trades]
    assert sides == ["long", "short"]  # the long closed, the short is still open
    assert result.trades[0].exit_date == d[2]
    # The long's 95 stop must not cover the short on d[3], whose low is 94.
    assert all(f["reason"] == "signal" for f in result.fills)
    assert result.positions["X"].iloc[-1] < 0


def test_short_stop_and_target() -> None:
    bars = _bars([(100, 101, 99, 100), (100, 101, 99, 100), (101, 106, 100, 104)])
    d0 = bars.index[0].date()
    config = NO_COSTS.model_copy(update={"allow_short": True})
    decision = _decision(d0, "SELL", 0.5, stop_loss=105.0, take_profit=90.0)
    result = run_backtest({"X": bars}, _on({d0: decision}), config)
    assert (result.fills[-1]["reason"], result.fills[-1]["price"]) == ("stop", 105.0)
    (trade,) = result.closed_trades
    assert trade.side == "short"
    assert trade.pnl == pytest.approx(-trade.max_shares * 5.0)


def test_entry_bar_open_beyond_stop_exits_at_open() -> None:
    bars = _bars([(100, 106, 99, 105), (100, 101, 98, 100), (100, 101, 99, 100)])
    d0 = bars.index[0].date()
    result = run_backtest({"X": bars}, _on({d0: _decision(d0, stop_loss=102.0)}), NO_COSTS)
    assert [f["reason"] for f in result.fills] == ["signal", "stop_gap"]
    assert result.fills[-1]["price"] == 100.0  # never the untraded 102


def test_gap_through_stop_before_a_top_up() -> None:
    flat = (100, 101, 99, 100)
    bars = _bars([flat, flat, (90, 91, 89, 90), (90, 91, 89, 90)])
    d = [ts.date() for ts in bars.index]
    days = {d[0]: _decision(d[0], size=0.5, stop_loss=95.0), d[1]: _decision(d[1], size=1.0)}
    result = run_backtest({"X": bars}, _on(days), NO_COSTS)
    reasons = [(f["reason"], f["price"]) for f in result.fills]
    assert reasons[1] == ("stop_gap", 90.0)  # the held position exits at the gapped open
    assert all(price != 95.0 for _, price in reasons)


def test_later_buy_keeps_the_tighter_stop() -> None:
    flat = (100, 101, 99, 100)
    bars = _bars([flat, flat, flat, (98, 99, 96.5, 97), flat])
    d = [ts.date() for ts in bars.index]
    days = {d[0]: _decision(d[0], stop_loss=97.0), d[1]: _decision(d[1], stop_loss=93.0)}
    result = run_backtest({"X": bars}, _on(days), NO_COSTS)
    assert (result.fills[-1]["reason"], result.fills[-1]["price"]) == ("stop", 97.0)

"""Benchmark: our engine against backtesting.py on the same SMA crossover.

Same data (the six sample symbols, whole history), same rules: buy with 99.99% of equity
in whole shares at the next open when SMA10 crosses above SMA30, close at the next open
when it crosses below, 10 bps commission on entry and exit, no slippage, open positions
marked at the last close. Prints final equities side by side and bar-decisions per
second; with ``--collect`` also trajectory-collection throughput with the expert agents.

Run: ``python bench/backtest.py [--repeats 3] [--collect]``. Targets: equities agree
within 1e-6 relative; our engine at least half backtesting.py's speed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from backtesting import Backtest, Strategy
from backtesting.lib import crossover

from stockagents.backtest.engine import run_backtest
from stockagents.core.config import BacktestConfig
from stockagents.core.types import Action, Decision, PortfolioContext
from stockagents.data.sample import SAMPLE_SYMBOLS, SamplePriceProvider

FAST, SLOW, COMMISSION, SIZE = 10, 30, 0.001, 0.9999


def _sma(values: np.ndarray, n: int) -> np.ndarray:
    return pd.Series(values).rolling(n).mean().to_numpy()


class SmaCross(Strategy):  # type: ignore[misc]
    def init(self) -> None:
        self.fast = self.I(_sma, self.data.Close, FAST)
        self.slow = self.I(_sma, self.data.Close, SLOW)

    def next(self) -> None:
        if crossover(self.fast, self.slow) and not self.position:
            self.buy(size=SIZE)
        elif crossover(self.slow, self.fast) and self.position:
            self.position.close()


def crossover_targets(bars: pd.DataFrame) -> pd.DataFrame:
    close = bars["close"]
    fast, slow = close.rolling(FAST).mean(), close.rolling(SLOW).mean()
    up = (fast.shift(1) < slow.shift(1)) & (fast > slow)
    down = (slow.shift(1) < fast.shift(1)) & (slow > fast)
    target = pd.Series(np.nan, index=bars.index)
    target[up] = SIZE
    target[down] = 0.0
    return target.to_frame("X")


CONFIG = BacktestConfig(
    commission_bps=COMMISSION * 1e4, slippage_bps=0, fractional_shares=False, use_stops=False
)


def ours(bars: pd.DataFrame) -> np.ndarray:
    """The vectorised path: a frame of target weights."""
    result = run_backtest({"X": bars}, targets=crossover_targets(bars), config=CONFIG)
    return result.equity.to_numpy()


def ours_policy(bars: pd.DataFrame) -> np.ndarray:
    """The path the agents use: a policy called after every close."""
    targets = crossover_targets(bars)["X"]
    by_day = {ts.date(): w for ts, w in zip(targets.index, targets, strict=True) if not np.isnan(w)}

    def policy(symbol: str, day: dt.date, portfolio: PortfolioContext) -> Decision | None:
        weight = by_day.get(day)
        if weight is None:
            return None
        action = Action.BUY if weight > 0 else Action.SELL
        return Decision(
            symbol=symbol,
            as_of=day,
            action=action,
            position_size=weight,
            confidence=1.0,
            reasoning="sma crossover",
        )

    return run_backtest({"X": bars}, policy, CONFIG).equity.to_numpy()


def theirs(bars: pd.DataFrame) -> np.ndarray:
    data = bars.rename(columns=str.capitalize)
    bt = Backtest(data, SmaCross, cash=100_000, commission=COMMISSION, finalize_trades=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        stats = bt.run()
    return np.asarray(stats["_equity_curve"]["Equity"], dtype=float)


def _timed(
    fn: Callable[[pd.DataFrame], np.ndarray], bars: pd.DataFrame, repeats: int
) -> tuple[np.ndarray, float]:
    times, value = [], np.empty(0)
    for _ in range(repeats):
        start = time.perf_counter()
        value = fn(bars)
        times.append(time.perf_counter() - start)
    return value, statistics.median(times)


def collection_throughput(symbols: int, days: int) -> None:
    from stockagents.backtest.collect import collect_trajectories

    for backend in ("serial", "process"):
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            summary = collect_trajectories(
                list(SAMPLE_SYMBOLS[:symbols]),
                start=dt.date(2022, 1, 1),
                end=None,
                output=Path(tmp),
                max_days=days,
                backend=backend,
                progress=False,
            )
            seconds = time.perf_counter() - start
        print(
            f"collection, {backend:8} {summary.inserted} steps in {seconds:.2f} s = "
            f"{summary.inserted / seconds:,.0f} steps/s"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--collect", action="store_true", help="also time trajectory collection")
    args = parser.parse_args()
    provider = SamplePriceProvider()
    totals = {"ours": 0.0, "ours (policy)": 0.0, "backtesting.py": 0.0}
    bars_total = 0
    worst_final = worst_curve = 0.0
    print(f"{'symbol':8}{'ours':>18}{'backtesting.py':>18}{'final diff':>12}{'curve diff':>12}")
    for symbol in SAMPLE_SYMBOLS:
        bars = provider.prices(symbol, as_of=provider.date_range(symbol)[1])
        eq_ours, t_ours = _timed(ours, bars, args.repeats)
        eq_policy, t_policy = _timed(ours_policy, bars, args.repeats)
        eq_theirs, t_theirs = _timed(theirs, bars, args.repeats)
        final = abs(eq_ours[-1] - eq_theirs[-1]) / eq_theirs[-1]
        curve = float(np.max(np.abs(eq_ours - eq_theirs) / eq_theirs))
        curve = max(curve, float(np.max(np.abs(eq_policy - eq_theirs) / eq_theirs)))
        worst_final, worst_curve = max(worst_final, final), max(worst_curve, curve)
        totals["ours"] += t_ours
        totals["ours (policy)"] += t_policy
        totals["backtesting.py"] += t_theirs
        bars_total += len(bars)
        print(f"{symbol:8}{eq_ours[-1]:18,.6f}{eq_theirs[-1]:18,.6f}{final:12.2e}{curve:12.2e}")
    met = worst_curve < 1e-6
    print(
        f"worst relative difference: final equity {worst_final:.2e}, whole curve "
        f"{worst_curve:.2e} (target < 1e-6: {'met' if met else 'NOT met'})"
    )
    reference = bars_total / totals["backtesting.py"]
    for name, seconds in totals.items():
        speed = bars_total / seconds
        print(
            f"bar-decisions/s {name:15} {speed:10,.0f}  ratio to backtesting.py "
            f"{speed / reference:.2f} (target >= 0.5)"
        )
    if args.collect:
        collection_throughput(symbols=6, days=400)
    if not met:
        raise SystemExit(1)


if __name__ == "__main__":
    main()

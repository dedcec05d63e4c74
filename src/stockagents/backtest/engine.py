"""The backtest engine: daily bars, next-open fills, costs, stops, cash accounting.

Rules (each pinned by a test):

- A decision made with data up to the close of day t is filled at the **open of the
  symbol's next bar**; a decision on the last bar is never filled.
- A decision becomes a target weight: BUY -> ``min(position_size, max_position)`` long;
  SELL -> the same short when ``allow_short``, else flat; HOLD -> unchanged. The target
  is turned into shares against equity at the close of t (the decision's information),
  and targets are scaled down together when their gross sum exceeds
  ``max_gross_exposure``. Rebalances smaller than ``rebalance_band`` of equity are skipped.
- Every fill pays slippage (the price moves ``slippage_bps`` against the order) and a
  commission of ``commission_bps`` of the traded value. Sells are filled before buys, and
  a long-only buy is cut to the cash available.
- Stop-loss and take-profit: at each open, a held position whose level the open gapped
  through exits at the open; then orders fill; then every position (new ones included)
  exits at the open if it lies beyond a level already, or at the level when the bar's
  low/high reaches it. When both could trigger in one bar, the stop is assumed first. A
  new position takes its decision's levels; a later decision on the same side keeps the
  tighter stop and the latest target. An order that flips long to short (or back) closes
  one round trip and opens another.
- Equity is cash plus positions marked at the close. Open positions at the end stay open
  (marked, not sold); trades are round trips from flat to flat.

The engine is deterministic and knows nothing about agents or metrics; policies are
callables, and ``stockagents.evaluation.metrics`` turns a result into numbers.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import pandas as pd

from stockagents.core.config import BacktestConfig
from stockagents.core.errors import DataError
from stockagents.core.types import Action, Decision, PortfolioContext

__all__ = [
    "REBALANCE_BAND",
    "BacktestResult",
    "DayPolicy",
    "Policy",
    "Trade",
    "run_backtest",
    "target_weight",
]

#: Rebalances smaller than this share of equity are skipped (``run_backtest``'s default).
REBALANCE_BAND = 0.02

#: ``policy(symbol, day, portfolio) -> Decision | None``, called after the close of ``day``.
Policy = Callable[[str, dt.date, PortfolioContext], Decision | None]


class DayPolicy(Protocol):
    """A policy that decides a whole day at once (one batched model call, say): called as
    ``decide_day(day, [(symbol, portfolio), ...])``, it returns one decision (or None) per
    symbol, in order. It is still called as a ``Policy`` for a single step."""

    def __call__(
        self, symbol: str, day: dt.date, portfolio: PortfolioContext
    ) -> Decision | None: ...

    def decide_day(
        self, day: dt.date, asks: Sequence[tuple[str, PortfolioContext]]
    ) -> Sequence[Decision | None]: ...


@dataclass(frozen=True)
class Trade:
    """One round trip in one symbol, from flat to flat (or open at the end)."""

    symbol: str
    side: str
    entry_date: dt.date
    entry_price: float
    exit_date: dt.date | None
    exit_price: float | None
    max_shares: float
    pnl: float
    costs: float
    exit_reason: str


@dataclass
class BacktestResult:
    """What a backtest produced; ``stockagents.evaluation`` turns it into metrics."""

    equity: pd.Series
    positions: pd.DataFrame
    weights: pd.DataFrame
    trades: list[Trade]
    config: BacktestConfig
    total_costs: float
    traded_notional: float
    decisions: int
    fills: list[dict[str, object]] = field(default_factory=list)

    @property
    def returns(self) -> pd.Series:
        """Daily simple returns of equity, the first against the initial cash."""
        values = np.concatenate([[self.config.initial_cash], self.equity.to_numpy()])
        return pd.Series(values[1:] / values[:-1] - 1.0, index=self.equity.index, name="returns")

    @property
    def closed_trades(self) -> list[Trade]:
        return [t for t in self.trades if t.exit_date is not None]

    def trades_frame(self) -> pd.DataFrame:
        return pd.DataFrame([t.__dict__ for t in self.trades])


@dataclass
class _Position:
    shares: float = 0.0
    stop: float | None = None
    take: float | None = None
    entry_date: dt.date | None = None
    entry_price: float = 0.0
    side: str = ""
    max_shares: float = 0.0
    cash_flow: float = 0.0
    costs: float = 0.0


class _Book:
    """Cash, positions and the round-trip ledger."""

    def __init__(self, config: BacktestConfig, symbols: list[str]) -> None:
        self.config = config
        self.cash = config.initial_cash
        self.positions = {s: _Position() for s in symbols}
        self.trades: list[Trade] = []
        self.total_costs = 0.0
        self.notional = 0.0
        self.fills: list[dict[str, object]] = []
        self.slip = config.slippage_bps / 1e4
        self.comm = config.commission_bps / 1e4

    def fill(self, symbol: str, day: dt.date, shares: float, price: float, reason: str) -> None:
        """Trade ``shares`` (signed) at reference ``price``; slippage moves it against us.

        An order that crosses zero (long to short or back) is split: the first part
        closes the round trip, the rest opens a new one with no stop or target.
        """
        held = self.positions[symbol].shares
        if held != 0 and held * (held + shares) < 0:
            self._fill(symbol, day, -held, price, reason)
            shares += held
        self._fill(symbol, day, shares, price, reason)

    def _fill(self, symbol: str, day: dt.date, shares: float, price: float, reason: str) -> None:
        if shares == 0:
            return
        pos = self.positions[symbol]
        fill_price = price * (1 + self.slip) if shares > 0 else price * (1 - self.slip)
        value = shares * fill_price
        commission = abs(value) * self.comm
        slippage_cost = abs(shares) * abs(fill_price - price)
        self.cash -= value + commission
        self.total_costs += commission + slippage_cost
        self.notional += abs(value)
        self.fills.append(
            {
                "date": day,
                "symbol": symbol,
                "shares": shares,
                "price": fill_price,
                "commission": commission,
                "reason": reason,
            }
        )
        if pos.shares == 0:
            pos.entry_date, pos.entry_price = day, fill_price
            pos.side = "long" if shares > 0 else "short"
            pos.cash_flow, pos.costs, pos.max_shares = 0.0, 0.0, 0.0
        pos.cash_flow -= value + commission
        pos.costs += commission + slippage_cost
        pos.shares += shares
        if abs(pos.shares) < 1e-9:
            pos.shares = 0.0
        pos.max_shares = max(pos.max_shares, abs(pos.shares))
        if pos.shares == 0:
            self._close(symbol, day, fill_price, reason)

    def _close(self, symbol: str, day: dt.date, price: float, reason: str) -> None:
        pos = self.positions[symbol]
        assert pos.entry_date is not None
        self.trades.append(
            Trade(
                symbol,
                pos.side,
                pos.entry_date,
                pos.entry_price,
                day,
                price,
                pos.max_shares,
                pos.cash_flow,
                pos.costs,
                reason,
            )
        )
        self.positions[symbol] = _Position()

    def open_trades(self, day: dt.date, closes: Mapping[str, float]) -> list[Trade]:
        out = []
        for symbol, pos in self.positions.items():
            if pos.shares != 0 and pos.entry_date is not None:
                mark = pos.cash_flow + pos.shares * closes[symbol]
                out.append(
                    Trade(
                        symbol,
                        "long" if pos.shares > 0 else "short",
                        pos.entry_date,
                        pos.entry_price,
                        None,
                        None,
                        pos.max_shares,
                        mark,
                        pos.costs,
                        "open",
                    )
                )
        return out


def _frames_to_arrays(
    prices: Mapping[str, pd.DataFrame], start: dt.date | None, end: dt.date | None
) -> tuple[pd.DatetimeIndex, dict[str, np.ndarray]]:
    if not prices:
        raise DataError("a backtest needs at least one symbol with prices")
    index = pd.DatetimeIndex(sorted(set().union(*(f.index for f in prices.values()))))
    if start is not None:
        index = index[index >= pd.Timestamp(start)]
    if end is not None:
        index = index[index <= pd.Timestamp(end)]
    if len(index) < 2:
        raise DataError(f"a backtest needs at least two bars between {start} and {end}")
    arrays = {}
    for column in ("open", "high", "low", "close"):
        arrays[column] = np.column_stack(
            [f[column].reindex(index).to_numpy(dtype=float) for f in prices.values()]
        )
    return index, arrays


def target_weight(decision: Decision, config: BacktestConfig) -> float | None:
    """The weight a decision asks for (None: HOLD, keep what is held)."""
    size = min(decision.position_size, config.max_position)
    if decision.action == Action.BUY:
        return size
    if decision.action == Action.SELL:
        return -size if config.allow_short else 0.0
    return None


#: A decision waiting for the next open: target weight, equity it was sized against,
#: stop-loss and take-profit.
_Pending = tuple[float, float, float | None, float | None]


@dataclass
class _Simulation:
    """One backtest: the bars as arrays (days x symbols) and the state the days change."""

    symbols: list[str]
    index: pd.DatetimeIndex
    bars: dict[str, np.ndarray]
    config: BacktestConfig
    policy: Policy | None
    targets: np.ndarray | None
    rebalance_band: float
    opens: np.ndarray = field(init=False)
    highs: np.ndarray = field(init=False)
    lows: np.ndarray = field(init=False)
    closes: np.ndarray = field(init=False)
    book: _Book = field(init=False)
    days: list[dt.date] = field(init=False)
    shares_hist: np.ndarray = field(init=False)
    equity_hist: np.ndarray = field(init=False)
    pending: dict[int, _Pending] = field(init=False, default_factory=dict)
    last_close: np.ndarray = field(init=False)
    decisions: int = 0

    def __post_init__(self) -> None:
        n, k = len(self.index), len(self.symbols)
        self.opens, self.highs = self.bars["open"], self.bars["high"]
        self.lows, self.closes = self.bars["low"], self.bars["close"]
        self.days = [ts.date() for ts in self.index]
        self.book = _Book(self.config, self.symbols)
        self.shares_hist = np.zeros((n, k))
        self.equity_hist = np.zeros(n)
        self.last_close = np.full(k, np.nan)

    def run_day(self, i: int) -> None:
        """Day ``i``: exits at the open, fills, exits in the bar, the mark, decisions."""
        day = self.days[i]
        if self.config.use_stops:
            self.exit_gaps(i, day)
        self.fill_pending(i, day)
        if self.config.use_stops:
            self.exit_in_bar(i, day)
        held, marks, equity, valid = self.mark(i)
        self.decide(i, day, equity, valid)
        if self.pending:
            k = len(self.symbols)
            current = {j: held[j] * marks[j] / equity if equity > 0 else 0.0 for j in range(k)}
            _cap_gross(self.pending, current, self.config.max_gross_exposure)

    def exit_gaps(self, i: int, day: dt.date) -> None:
        """1. At the open: held positions whose stop or target the open gapped through."""
        book, opens = self.book, self.opens
        for j, symbol in enumerate(self.symbols):
            pos = book.positions[symbol]
            if pos.shares != 0 and not math.isnan(opens[i, j]):
                level, reason = _gap_level(pos, opens[i, j])
                if level is not None:
                    book.fill(symbol, day, -pos.shares, level, reason)

    def fill_pending(self, i: int, day: dt.date) -> None:
        """2. Fills at the open for decisions made at the previous close (sells first)."""
        book, opens, config = self.book, self.opens, self.config
        for j, delta, stop, take in sorted(self.orders(i), key=lambda o: o[1]):
            symbol = self.symbols[j]
            if delta > 0 and not config.allow_short:
                affordable = book.cash / (opens[i, j] * (1 + book.slip) * (1 + book.comm))
                affordable = max(0.0, affordable)
                if not config.fractional_shares:
                    affordable = math.floor(affordable)
                delta = min(delta, affordable)
            before = book.positions[symbol].shares
            book.fill(symbol, day, delta, opens[i, j], "signal")
            _set_levels(book.positions[symbol], before, stop, take)

    def orders(self, i: int) -> list[tuple[int, float, float | None, float | None]]:
        """The pending decisions of symbols with an open on day ``i``, as share deltas."""
        book, opens, config = self.book, self.opens, self.config
        ready = [j for j in self.pending if not math.isnan(opens[i, j])]
        orders = []
        for j in ready:
            weight, ref_equity, stop, take = self.pending.pop(j)
            pos = book.positions[self.symbols[j]]
            fill_ref = opens[i, j]
            est = fill_ref * (
                1 + book.slip * (1 if weight * ref_equity > pos.shares * fill_ref else -1)
            )
            wanted = weight * ref_equity / (est * (1 + book.comm))
            if not config.fractional_shares:
                wanted = math.floor(wanted) if wanted >= 0 else -math.floor(-wanted)
            delta = wanted - pos.shares
            if abs(delta * fill_ref) < self.rebalance_band * ref_equity and wanted != 0:
                delta = 0.0
            orders.append((j, delta, stop, take))
        return orders

    def exit_in_bar(self, i: int, day: dt.date) -> None:
        """3. During the bar: stops and targets of every position, including new ones."""
        book, opens = self.book, self.opens
        for j, symbol in enumerate(self.symbols):
            pos = book.positions[symbol]
            if pos.shares == 0 or math.isnan(opens[i, j]):
                continue
            level, reason = _gap_level(pos, opens[i, j])
            if level is None:
                level, reason = _bar_level(pos, self.highs[i, j], self.lows[i, j])
            if level is not None:
                book.fill(symbol, day, -pos.shares, level, reason)

    def mark(self, i: int) -> tuple[np.ndarray, np.ndarray, float, np.ndarray]:
        """4. Mark to market at the close: shares held, marks, equity, symbols with a close."""
        valid = ~np.isnan(self.closes[i])
        self.last_close[valid] = self.closes[i, valid]
        held = np.array([self.book.positions[s].shares for s in self.symbols])
        marks = np.where(np.isnan(self.last_close), 0.0, self.last_close)
        equity = self.book.cash + float(held @ marks)
        self.shares_hist[i] = held
        self.equity_hist[i] = equity
        return held, marks, equity, valid

    def decide(self, i: int, day: dt.date, equity: float, valid: np.ndarray) -> None:
        """5. Decisions after the close, filled at the next open. A policy with
        ``decide_day`` (a ``DayPolicy``) is asked once for every symbol of the day: each
        sees the book as the close left it, so the decisions do not depend on each other."""
        if self.targets is not None:
            self.take_targets(i, equity, valid)
            return
        assert self.policy is not None
        asks = [(j, symbol) for j, symbol in enumerate(self.symbols) if valid[j]]
        contexts = [(symbol, self.context(i, j, day, equity)) for j, symbol in asks]
        day_policy = getattr(self.policy, "decide_day", None)
        if day_policy is not None:
            decisions = list(day_policy(day, contexts))
        else:
            decisions = [self.policy(symbol, day, context) for symbol, context in contexts]
        for (j, _), decision in zip(asks, decisions, strict=True):
            if decision is None:
                continue
            self.decisions += 1
            target = target_weight(decision, self.config)
            if target is not None:
                self.pending[j] = (target, equity, decision.stop_loss, decision.take_profit)

    def take_targets(self, i: int, equity: float, valid: np.ndarray) -> None:
        """5 (with target weights instead of a policy): day ``i``'s weights, capped."""
        config = self.config
        assert self.targets is not None
        for j in range(len(self.symbols)):
            weight = self.targets[i, j]
            if not valid[j] or math.isnan(weight):
                continue
            if not config.allow_short:
                weight = max(0.0, weight)
            weight = max(-config.max_position, min(config.max_position, weight))
            self.pending[j] = (weight, equity, None, None)
            self.decisions += 1

    def context(self, i: int, j: int, day: dt.date, equity: float) -> PortfolioContext:
        """What the policy sees of its position in symbol ``j`` at the close of day ``i``."""
        pos = self.book.positions[self.symbols[j]]
        return PortfolioContext(
            position=max(-1.0, min(1.0, pos.shares * self.closes[i, j] / equity))
            if equity > 0
            else 0.0,
            entry_price=pos.entry_price if pos.shares else None,
            days_held=(day - pos.entry_date).days if pos.shares and pos.entry_date else 0,
        )

    def result(self) -> BacktestResult:
        """The finished run: equity, positions, weights, trades (open ones marked)."""
        book, symbols, index = self.book, self.symbols, self.index
        final_closes = {s: float(self.last_close[j]) for j, s in enumerate(symbols)}
        trades = book.trades + book.open_trades(self.days[-1], final_closes)
        equity_series = pd.Series(self.equity_hist, index=index, name="equity")
        positions = pd.DataFrame(self.shares_hist, index=index, columns=symbols)
        marks_frame = pd.DataFrame(self.closes, index=index, columns=symbols).ffill().fillna(0.0)
        weights = positions * marks_frame
        weights = weights.div(equity_series.replace(0.0, np.nan), axis=0).fillna(0.0)
        return BacktestResult(
            equity=equity_series,
            positions=positions,
            weights=weights,
            trades=trades,
            config=self.config,
            total_costs=book.total_costs,
            traded_notional=book.notional,
            decisions=self.decisions,
            fills=book.fills,
        )


def run_backtest(
    prices: Mapping[str, pd.DataFrame],
    policy: Policy | None = None,
    config: BacktestConfig | None = None,
    start: dt.date | None = None,
    end: dt.date | None = None,
    targets: pd.DataFrame | None = None,
    rebalance_band: float = REBALANCE_BAND,
) -> BacktestResult:
    """Simulate ``policy`` (or a frame of target weights) on ``prices``.

    ``targets`` (dates x symbols; NaN means hold) is the fast path for vectorised
    strategies; ``policy`` is called for every symbol with a bar after each close.
    """
    if (policy is None) == (targets is None):
        raise ValueError("pass exactly one of policy or targets")
    config = config or BacktestConfig()
    symbols = list(prices)
    index, bars = _frames_to_arrays(prices, start, end)
    target_arr = None
    if targets is not None:
        target_arr = targets.reindex(index=index, columns=symbols).to_numpy(dtype=float)
    simulation = _Simulation(symbols, index, bars, config, policy, target_arr, rebalance_band)
    for i in range(len(index)):
        simulation.run_day(i)
    return simulation.result()


def _set_levels(pos: _Position, before: float, stop: float | None, take: float | None) -> None:
    """Stop and target after a fill: a new position takes the decision's; one that keeps
    its side keeps the tighter stop and the latest target."""
    if pos.shares == 0:
        return
    if before == 0 or before * pos.shares < 0:
        pos.stop, pos.take = stop, take
        return
    long = pos.shares > 0
    if stop is not None:
        pos.stop = stop if pos.stop is None else (max if long else min)(pos.stop, stop)
    if take is not None:
        pos.take = take


def _gap_level(pos: _Position, open_: float) -> tuple[float | None, str]:
    """The open, when it lies beyond the stop or target already."""
    long = pos.shares > 0
    if pos.stop is not None and (open_ <= pos.stop if long else open_ >= pos.stop):
        return open_, "stop_gap"
    if pos.take is not None and (open_ >= pos.take if long else open_ <= pos.take):
        return open_, "take_profit_gap"
    return None, ""


def _bar_level(pos: _Position, high: float, low: float) -> tuple[float | None, str]:
    """The stop or target level the bar's range reached (the stop first when both)."""
    long = pos.shares > 0
    if pos.stop is not None and (low <= pos.stop if long else high >= pos.stop):
        return pos.stop, "stop"
    if pos.take is not None and (high >= pos.take if long else low <= pos.take):
        return pos.take, "take_profit"
    return None, ""


def _cap_gross(
    pending: dict[int, tuple[float, float, float | None, float | None]],
    current: Mapping[int, float],
    cap: float,
) -> None:
    """Scale pending targets so that they and the untouched positions stay within ``cap``."""
    kept = sum(abs(w) for j, w in current.items() if j not in pending)
    gross = sum(abs(p[0]) for p in pending.values())
    if gross > 0 and kept + gross > cap + 1e-12:
        scale = max(0.0, cap - kept) / gross
        for j, (w, eq, stop, take) in pending.items():
            pending[j] = (w * scale, eq, stop, take)

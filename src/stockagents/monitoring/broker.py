"""Paper brokers: where the day's target positions go after the daily run.

A broker turns the paper book's target weights (symbol -> signed fraction of equity) into
orders and reports what became of them as ``OrderRecord``s, which the monitor writes to
the journal. Two exist:

- ``SimulatedBroker`` (``broker: simulated``, the default): the journal's paper book is
  the book; orders are the rebalances the backtester's rules make at the next open, and
  they are filled by ``stockagents monitor update`` with those rules (``monitoring.book``).
  It sends nothing anywhere;
- ``AlpacaPaperBroker`` (``broker: alpaca-paper``, ``monitoring.alpaca``): market orders
  through Alpaca's paper-trading REST API, keys from the environment; any endpoint that is
  not the paper one is refused.

This module knows nothing about models or metrics.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal, Protocol

from stockagents.backtest.engine import REBALANCE_BAND

__all__ = ["Broker", "OrderRecord", "SimulatedBroker"]

OrderStatus = Literal["planned", "submitted", "filled", "partially_filled", "rejected", "canceled"]


@dataclass(frozen=True)
class OrderRecord:
    """One order for one symbol on one day, as the journal keeps it.

    ``key`` identifies the order across runs (``sa-<day>-<symbol>``): a broker that is
    asked twice for a day sends each order once, and later updates replace the record
    with the same key.
    """

    day: dt.date
    symbol: str
    broker: str
    side: Literal["buy", "sell"]
    quantity: float
    target_weight: float
    status: OrderStatus
    key: str
    broker_order_id: str | None = None
    filled_quantity: float | None = None
    filled_price: float | None = None
    reason: str | None = None

    def as_row(self) -> dict[str, Any]:
        return asdict(self)


def order_key(day: dt.date, symbol: str) -> str:
    """The client order id of ``symbol``'s order on ``day``."""
    return f"sa-{day.isoformat()}-{symbol}"


class Broker(Protocol):
    """What the monitor asks of a broker."""

    @property
    def name(self) -> str: ...

    def rebalance(
        self,
        day: dt.date,
        targets: Mapping[str, float],
        prices: Mapping[str, float],
    ) -> Sequence[OrderRecord]:
        """Send the orders that move the book to ``targets`` (signed fractions of equity;
        ``prices`` are the closes of ``day``). Returns every order made, rejections
        included; an order already sent for (day, symbol) is not sent again."""
        ...

    def updates(self, since: dt.date) -> Sequence[OrderRecord]:
        """What became of the orders of ``since`` and later (fills, rejections)."""
        ...


class SimulatedBroker:
    """The paper book is the broker: it plans the rebalances, and ``update`` fills them at
    the next open with the backtester's rules."""

    name = "simulated"

    def __init__(
        self, holdings: Mapping[str, float] | None = None, band: float = REBALANCE_BAND
    ) -> None:
        self.holdings = dict(holdings or {})
        #: Rebalances smaller than this share of equity are not made (as in a backtest).
        self.band = band

    def rebalance(
        self,
        day: dt.date,
        targets: Mapping[str, float],
        prices: Mapping[str, float],
    ) -> Sequence[OrderRecord]:
        """The planned orders: one per symbol whose target differs from what is held
        (``holdings``, signed fractions of equity) by at least ``band``; ``quantity`` is
        the change as a fraction of equity (shares are known when it fills)."""
        out = []
        for symbol, target in sorted(targets.items()):
            held = self.holdings.get(symbol, 0.0)
            if abs(target - held) < self.band or symbol not in prices:
                continue
            out.append(
                OrderRecord(
                    day=day,
                    symbol=symbol,
                    broker=self.name,
                    side="buy" if target > held else "sell",
                    quantity=round(abs(target - held), 6),
                    target_weight=round(target, 6),
                    status="planned",
                    key=order_key(day, symbol),
                    reason="weight of equity; filled at the next open by monitor update",
                )
            )
        return out

    def updates(self, since: dt.date) -> Sequence[OrderRecord]:
        return []

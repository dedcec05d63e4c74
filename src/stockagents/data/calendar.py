"""Market-time helpers: when a trading day's information is complete.

A decision for ``as_of = t`` may use what was public by the close of t, 16:00 in
New York; ``market_close_utc`` gives that instant in UTC. Which days are trading days
comes from the price data itself, not from a holiday table.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

__all__ = ["MARKET_TZ", "market_close_utc"]

MARKET_TZ = ZoneInfo("America/New_York")
_CLOSE = dt.time(16, 0)


def market_close_utc(day: dt.date) -> dt.datetime:
    """The regular-session close of ``day`` in New York, as an aware UTC datetime."""
    return dt.datetime.combine(day, _CLOSE, tzinfo=MARKET_TZ).astimezone(dt.UTC)

"""Market time: when a day's information is complete, from the NYSE's own calendar.

A decision for ``as_of = t`` may use what was public by the close of t.
``market_close_utc(t)`` gives that instant in UTC, read from the ``XNYS`` calendar of
the ``exchange_calendars`` package, so early closes and holidays are the exchange's,
not a hand-written rule:

- **a session**: its close, 16:00 New York, or 13:00 on an early close (the day after
  Thanksgiving, usually July 3 and December 24). A story published at 13:30 on
  2023-07-03 counts from the next session, 2023-07-05;
- **a day the exchange is shut** (a weekend, a holiday, a closure such as 2012-10-29)
  inside the calendar's range: the close of the last session before it. Nothing new
  trades until the next session, so the information of a closed day is that of the
  last close; what is published on the closed day counts from the next session;
- **a day outside** ``CALENDAR_START`` .. ``CALENDAR_END``, or before the calendar's
  first session: 16:00 New York on that day (``REGULAR_CLOSE``), the regular close,
  since the calendar knows nothing of it. Weekends are not moved there.

Which days a symbol traded comes from its price data, not from this calendar: the
calendar only says when a day's information is complete.

The calendar is built once, on first use (about half a second, mostly the import of
``exchange_calendars``), into a table of session -> close; a lookup is a dict read, or
a binary search for a closed day. Importing this module costs nothing.
"""

from __future__ import annotations

import bisect
import datetime as dt
import threading
import warnings
from dataclasses import dataclass
from zoneinfo import ZoneInfo

__all__ = ["CALENDAR_END", "CALENDAR_START", "MARKET_TZ", "market_close_utc"]

MARKET_TZ = ZoneInfo("America/New_York")
#: The exchange whose sessions decide when a day's information is complete.
CALENDAR_NAME = "XNYS"
#: The range the calendar is built for; days outside it close at ``REGULAR_CLOSE``.
CALENDAR_START = dt.date(1970, 1, 1)
CALENDAR_END = dt.date(2040, 12, 31)
#: The regular close in New York, used only outside the calendar's range.
REGULAR_CLOSE = dt.time(16, 0)


@dataclass(frozen=True)
class _Closes:
    """The calendar's sessions, in order, and each one's close (aware UTC)."""

    sessions: list[dt.date]
    close: dict[dt.date, dt.datetime]


_table: _Closes | None = None
_lock = threading.Lock()


def _build() -> _Closes:
    import exchange_calendars  # here, not at the top: the import takes ~0.4 s

    with warnings.catch_warnings():
        # exchange_calendars 4.13 reads ``Series.values`` of a tz-aware column, which
        # pandas 3.1 deprecates; the values it reads are right.
        warnings.simplefilter("ignore", DeprecationWarning)
        calendar = exchange_calendars.get_calendar(
            CALENDAR_NAME, start=CALENDAR_START.isoformat(), end=CALENDAR_END.isoformat()
        )
        closes = calendar.schedule["close"]
    naive = closes.dt.tz_convert("UTC").dt.tz_localize(None)
    sessions = [ts.date() for ts in closes.index]
    close = {
        day: ts.to_pydatetime().replace(tzinfo=dt.UTC)
        for day, ts in zip(sessions, naive, strict=True)
    }
    return _Closes(sessions=sessions, close=close)


def _closes() -> _Closes:
    """The table, built on first use (once, whichever thread gets there first)."""
    global _table
    if _table is None:
        with _lock:
            if _table is None:
                _table = _build()
    return _table


def market_close_utc(day: dt.date) -> dt.datetime:
    """When the information of ``day`` is complete, as an aware UTC datetime: the XNYS
    close of ``day``, of the last session before it if the exchange is shut that day, or
    16:00 New York outside the calendar's range (see the module doc)."""
    if isinstance(day, dt.datetime):  # a datetime is not a dict key for its date
        day = day.date()
    table = _closes()
    close = table.close.get(day)
    if close is not None:
        return close
    if CALENDAR_START <= day <= CALENDAR_END:
        i = bisect.bisect_right(table.sessions, day)
        if i:
            return table.close[table.sessions[i - 1]]
    return dt.datetime.combine(day, REGULAR_CLOSE, tzinfo=MARKET_TZ).astimezone(dt.UTC)

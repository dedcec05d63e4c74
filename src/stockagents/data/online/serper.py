"""Serper: Google News search (``POST /news`` with ``{"q", "num"}``, key in ``X-API-KEY``).

Serper gives a story's date as Google shows it, either relative ("2 hours ago",
"3 days ago") or absolute ("Jun 29, 2023"). The rules that keep it point in time:

- a **relative** date is read against the moment the answer was fetched (kept in the
  cache with the answer) and is only used **live**, when ``as_of`` falls on or after the
  New York day of that fetch; for a historical ``as_of`` such stories are dropped,
  since "3 days ago" says nothing about which day it was then;
- an **absolute** date has no hour, so the story counts from the end of that day in US
  Pacific time (the latest US zone), i.e. from the next trading day;
- a story with no readable date is dropped.

Google News search returns recent stories, so historical queries mostly come back
empty after this filtering; use Finnhub or NewsAPI for back-tests.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from typing import Any
from zoneinfo import ZoneInfo

from stockagents.core.errors import DataFormatError, UpstreamError
from stockagents.core.redact import excerpt
from stockagents.core.types import NewsItem
from stockagents.data.calendar import MARKET_TZ
from stockagents.data.news import NewsProvider
from stockagents.data.online._common import in_window
from stockagents.data.online._http import ApiClient, Fetched

__all__ = ["SerperNewsProvider", "parse_serper", "parse_serper_date"]

logger = logging.getLogger(__name__)

_PACIFIC = ZoneInfo("America/Los_Angeles")
_RELATIVE = re.compile(
    r"^(?:(an?|\d+)\s+)?(second|sec|minute|min|hour|hr|day|week|month|year)s?\s+ago$"
)
_UNIT_SECONDS = {
    "second": 1,
    "sec": 1,
    "minute": 60,
    "min": 60,
    "hour": 3600,
    "hr": 3600,
    "day": 86400,
    "week": 7 * 86400,
    "month": 30 * 86400,
    "year": 365 * 86400,
}
_ABSOLUTE_FORMATS = ("%b %d, %Y", "%B %d, %Y", "%d %b %Y", "%d %B %Y", "%Y-%m-%d")


def parse_serper_date(text: str, fetched_at: dt.datetime) -> tuple[dt.datetime | None, bool]:
    """``(published UTC, is_relative)`` for a Serper date; ``(None, False)`` if unreadable."""
    value = " ".join(str(text or "").lower().split())
    if not value:
        return None, False
    match = _RELATIVE.match(value)
    if match:
        count_text, unit = match.groups()
        count = 1 if count_text in (None, "a", "an") else int(count_text)
        return fetched_at - dt.timedelta(seconds=count * _UNIT_SECONDS[unit]), True
    if value in ("yesterday",):
        return fetched_at - dt.timedelta(days=1), True
    for fmt in _ABSOLUTE_FORMATS:
        try:
            day = dt.datetime.strptime(value.title(), fmt).date()
        except ValueError:
            continue
        end = dt.datetime.combine(day, dt.time(23, 59, 59), tzinfo=_PACIFIC)
        return end.astimezone(dt.UTC), False
    return None, False


def parse_serper(
    symbol: str, data: Any, fetched_at: dt.datetime, as_of: dt.datetime
) -> list[NewsItem]:
    """News items from a ``/news`` answer that may be shown at ``as_of`` (see module doc)."""
    if not isinstance(data, dict):
        raise DataFormatError("serper: the answer is not a JSON object")
    if "news" not in data:
        message = data.get("message") or data.get("error")
        if message:
            raise UpstreamError(
                f"serper: the answer is an error ({excerpt(message)}); check SERPER_API_KEY",
                "serper",
                "error answer from serper",
            )
        raise DataFormatError("serper: the answer has no 'news' list")
    news = data.get("news") or []
    if not isinstance(news, list):
        raise DataFormatError("serper: 'news' is not a list")
    live = as_of.astimezone(MARKET_TZ).date() >= fetched_at.astimezone(MARKET_TZ).date()
    items = []
    dropped = 0
    for record in news:
        if not isinstance(record, dict):
            continue
        published, relative = parse_serper_date(str(record.get("date") or ""), fetched_at)
        title = str(record.get("title") or "").strip()
        if published is None or (relative and not live) or not title:
            dropped += 1
            continue
        items.append(
            NewsItem(
                symbol=symbol.upper(),
                published_at=published,
                headline=title,
                summary=str(record.get("snippet") or ""),
                source=str(record.get("source") or ""),
                url=str(record.get("link") or ""),
            )
        )
    if dropped:
        logger.debug("serper: dropped %d stories that cannot be placed in time", dropped)
    return items


class SerperNewsProvider(NewsProvider):
    """Google News results for ``query`` (``{symbol}`` is replaced)."""

    name = "serper"

    def __init__(
        self, client: ApiClient, base_url: str, query: str = "{symbol} stock", num: int = 50
    ) -> None:
        self.client = client
        self.base_url = base_url.rstrip("/")
        self.query = query
        self.num = num

    def news(self, symbol: str, as_of: dt.datetime, lookback_days: int = 7) -> list[NewsItem]:
        body = {"q": self.query.format(symbol=symbol.upper()), "num": self.num}

        def parse(fetched: Fetched) -> list[NewsItem]:
            when = dt.datetime.fromtimestamp(fetched.fetched_at, tz=dt.UTC)
            return parse_serper(symbol, fetched.data, when, as_of)

        # No date in the request: the answer changes with time, so no cutoff (short TTL).
        items = self.client.post(f"{self.base_url}/news", body, parse=parse)
        return in_window(items, as_of, lookback_days)

"""What the online providers share beyond HTTP: the time window, de-duplication of the
same story, and the stand-in for a provider that cannot run (a missing key or extra).

Two stories are the same when their URLs match (scheme, ``www.``, query and trailing
slash ignored) or their headlines match (case, punctuation and spacing ignored); the
copy published first is kept, so a story never looks newer than it is.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from urllib.parse import urlsplit

from stockagents.core.errors import ProviderUnavailableError
from stockagents.core.types import FundamentalsSnapshot, NewsItem
from stockagents.data.fundamentals import FundamentalsProvider
from stockagents.data.news import NewsProvider

__all__ = [
    "UnavailableFundamentalsProvider",
    "UnavailableNewsProvider",
    "dedupe",
    "headline_key",
    "in_window",
    "url_key",
]

_NON_WORD = re.compile(r"[^a-z0-9]+")


def headline_key(headline: str) -> str:
    return _NON_WORD.sub(" ", headline.lower()).strip()


def url_key(url: str) -> str:
    if not url:
        return ""
    parts = urlsplit(url.strip().lower())
    host = parts.netloc.removeprefix("www.")
    return f"{host}{parts.path.rstrip('/')}" if host else ""


def dedupe(items: Iterable[NewsItem]) -> list[NewsItem]:
    """One item per story, the earliest published copy (its summary filled from a later
    copy when empty), oldest first."""
    kept: list[NewsItem] = []
    index: dict[str, int] = {}
    for item in sorted(items, key=lambda i: i.published_at):
        keys = [k for k in (f"u:{url_key(item.url)}", f"h:{headline_key(item.headline)}") if k[2:]]
        found = next((index[k] for k in keys if k in index), None)
        if found is None:
            found = len(kept)
            kept.append(item)
        elif not kept[found].summary and item.summary:
            kept[found] = kept[found].model_copy(update={"summary": item.summary})
        for key in keys:
            index.setdefault(key, found)
    return kept


def in_window(items: Iterable[NewsItem], as_of: dt.datetime, lookback_days: int) -> list[NewsItem]:
    """Items published in ``[as_of - lookback_days, as_of]``, de-duplicated, oldest first."""
    start = as_of - dt.timedelta(days=lookback_days)
    return dedupe(i for i in items if start <= i.published_at <= as_of)


class UnavailableNewsProvider(NewsProvider):
    """A configured news provider that cannot run; ``unavailable_reason`` says why."""

    def __init__(self, name: str, reason: str) -> None:
        self.name = name
        self.unavailable_reason = reason

    def news(self, symbol: str, as_of: dt.datetime, lookback_days: int = 7) -> list[NewsItem]:
        raise ProviderUnavailableError(self.unavailable_reason or self.name)


class UnavailableFundamentalsProvider(FundamentalsProvider):
    """A configured fundamentals provider that cannot run; ``unavailable_reason`` says why."""

    def __init__(self, name: str, reason: str) -> None:
        self.name = name
        self.unavailable_reason = reason

    def filings(self, symbol: str, as_of: dt.date) -> list[FundamentalsSnapshot]:
        raise ProviderUnavailableError(self.unavailable_reason or self.name)

"""What the online providers share beyond HTTP: the time window, de-duplication of the
same story, and the stand-in for a provider that cannot run (a missing key or extra).

Two stories are the same when their URLs match (scheme, ``www.``, a trailing slash and
tracking parameters such as ``utm_*``, ``ref`` or ``fbclid`` ignored; the rest of the
query is kept, since it often *is* the story: Finnhub links are
``https://finnhub.io/api/news?id=<hash>``), or when their headlines match (case,
punctuation and spacing ignored) and they were published within
``HEADLINE_MERGE_WINDOW`` (36 h) of each other: the same headline days apart ("Apple
shares fall") is another story. The copy published first is kept, so a story never
looks newer than it is.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from urllib.parse import parse_qsl, urlencode, urlsplit

from stockagents.core.errors import ProviderUnavailableError
from stockagents.core.types import FundamentalsSnapshot, NewsItem
from stockagents.data.calendar import MARKET_TZ, market_close_utc
from stockagents.data.fundamentals import FundamentalsProvider
from stockagents.data.news import NewsProvider

#: How long after a query's last instant its answer is taken as complete (late indexing).
SETTLE = dt.timedelta(hours=1)


def news_cutoff(as_of: dt.datetime) -> float:
    """The cache cutoff of a news query (Unix time): ``as_of`` plus ``SETTLE``. An answer
    fetched later holds every story published by ``as_of`` and never changes."""
    return (as_of + SETTLE).timestamp()


def filings_cutoff(as_of: dt.date) -> float:
    """The cache cutoff of a filings query (Unix time). A filing is visible at ``as_of``
    when filed before the last session on or before it (``visible_filings``), so the last
    visible filing day ends at midnight New York starting that session; an answer fetched
    after that (plus ``SETTLE``) is complete."""
    session = market_close_utc(as_of).astimezone(MARKET_TZ).date()
    midnight = dt.datetime.combine(session, dt.time(0, 0), tzinfo=MARKET_TZ)
    return (midnight + SETTLE).timestamp()


#: Two copies of a headline farther apart than this are two stories.
HEADLINE_MERGE_WINDOW = dt.timedelta(hours=36)

_NON_WORD = re.compile(r"[^a-z0-9]+")
_TRACKING = frozenset(
    {"utm", "ref", "ref_src", "fbclid", "gclid", "dclid", "mc_cid", "mc_eid", "cmpid", "ocid"}
)


def headline_key(headline: str) -> str:
    """A headline with case, punctuation and spacing normalised away."""
    return _NON_WORD.sub(" ", headline.lower()).strip()


def _tracking(name: str) -> bool:
    name = name.lower()
    return name in _TRACKING or name.startswith("utm_")


def url_key(url: str) -> str:
    """A URL without scheme, ``www.``, trailing slash, fragment or tracking parameters;
    the other query parameters are kept, sorted ("" for no URL)."""
    if not url:
        return ""
    parts = urlsplit(url.strip())
    host = parts.netloc.lower().removeprefix("www.")
    if not host:
        return ""
    query = sorted((k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True))
    kept = urlencode([(k, v) for k, v in query if not _tracking(k)])
    return f"{host}{parts.path.rstrip('/')}" + (f"?{kept}" if kept else "")


def dedupe(items: Iterable[NewsItem]) -> list[NewsItem]:
    """One item per story, the earliest published copy (its summary filled from a later
    copy when empty), oldest first. Same URL: one story; same headline: one story only
    when published within ``HEADLINE_MERGE_WINDOW`` of the copy kept."""
    kept: list[NewsItem] = []
    by_url: dict[str, int] = {}
    by_headline: dict[str, int] = {}  # the latest kept story with that headline
    for item in sorted(items, key=lambda i: i.published_at):
        ukey, hkey = url_key(item.url), headline_key(item.headline)
        found = by_url.get(ukey) if ukey else None
        if found is None and hkey in by_headline:
            candidate = by_headline[hkey]
            if item.published_at - kept[candidate].published_at <= HEADLINE_MERGE_WINDOW:
                found = candidate
        if found is None:
            found = len(kept)
            kept.append(item)
            if hkey:
                by_headline[hkey] = found
        elif not kept[found].summary and item.summary:
            kept[found] = kept[found].model_copy(update={"summary": item.summary})
        if ukey:
            by_url.setdefault(ukey, found)
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

"""Finnhub: company news (``GET /company-news``) and basic financials (``GET /stock/metric``).

The key travels in the ``X-Finnhub-Token`` header, never in the URL. News items carry a
Unix publish time and are served point in time. Basic financials (the ``series`` of
``/stock/metric``) carry period ends but **no filing date**, so each period is made
visible only from an *estimated* filing date: period end + 45 days for a quarter, + 90
days for a year (the SEC's latest 10-Q / 10-K deadlines). A "quarter" that ends on a
fiscal year end (within 7 days of an annual period end) is the fourth quarter, whose
figures come from the 10-K: it gets the annual lag. The values are Finnhub's current
ones (restated, split-adjusted), a look-ahead risk. Only ``eps`` maps onto a snapshot;
prefer SEC EDGAR, whose filing dates and figures are as filed.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from typing import Any

from pydantic import ValidationError

from stockagents.core.errors import DataFormatError, UpstreamError
from stockagents.core.redact import excerpt
from stockagents.core.types import FundamentalsSnapshot, NewsItem
from stockagents.data.fundamentals import FundamentalsProvider, visible_filings
from stockagents.data.news import NewsProvider
from stockagents.data.online._common import filings_cutoff, in_window, news_cutoff
from stockagents.data.online._http import ApiClient

__all__ = [
    "FinnhubFundamentalsProvider",
    "FinnhubNewsProvider",
    "estimated_filing_date",
    "parse_finnhub_metrics",
    "parse_finnhub_news",
]

logger = logging.getLogger(__name__)

#: Days from period end to the assumed filing date, when a source gives none.
ESTIMATED_FILING_LAG = {"quarterly": 45, "annual": 90}
_FISCAL_YEAR_END_SLACK = dt.timedelta(days=7)


def estimated_filing_date(
    period_end: dt.date, period: str, annual_ends: Iterable[dt.date]
) -> dt.date:
    """Period end + the filing lag of its form: 90 days for a year and for a quarter that
    ends on a fiscal year end (±7 days of one of ``annual_ends``; it is in the 10-K), 45
    days for another quarter."""
    fiscal_q4 = period == "quarterly" and any(
        abs(period_end - end) <= _FISCAL_YEAR_END_SLACK for end in annual_ends
    )
    lag = ESTIMATED_FILING_LAG["annual" if fiscal_q4 else period]
    return period_end + dt.timedelta(days=lag)


def _check_error(data: Any) -> None:
    """Raise when an answer is Finnhub's ``{"error": ...}`` (quoted short and redacted)."""
    if isinstance(data, dict) and isinstance(data.get("error"), str):
        raise UpstreamError(
            f"finnhub: the answer is an error ({excerpt(data['error'])}); check "
            "FINNHUB_API_KEY and the symbol",
            "finnhub",
            "error answer from finnhub",
        )


#: Unix seconds Finnhub's ``datetime`` may take: 1990 to 2100. Milliseconds, negative or
#: absurd values fall outside and the story is dropped rather than misplaced.
_TIME_RANGE = (631_152_000, 4_102_444_800)


def _published(stamp: Any) -> dt.datetime | None:
    """A story's publish time from Finnhub's Unix ``datetime``; None when 0 (unknown),
    not a number or out of range (milliseconds, say)."""
    if isinstance(stamp, bool) or not isinstance(stamp, (int, float)):
        return None
    if not _TIME_RANGE[0] <= stamp <= _TIME_RANGE[1]:  # also False for NaN
        if stamp:
            logger.debug("finnhub: skipped a story with datetime %r (not Unix seconds)", stamp)
        return None
    return dt.datetime.fromtimestamp(float(stamp), tz=dt.UTC)


def parse_finnhub_news(symbol: str, data: Any) -> list[NewsItem]:
    """News items from a ``/company-news`` answer (a list); undated stories are dropped."""
    _check_error(data)
    if not isinstance(data, list):
        raise DataFormatError("finnhub: company-news answered something other than a list")
    items = []
    for record in data:
        if not isinstance(record, dict):
            continue
        published = _published(record.get("datetime"))
        headline = str(record.get("headline") or "").strip()
        if published is None or not headline:
            continue
        items.append(
            NewsItem(
                symbol=symbol.upper(),
                published_at=published,
                headline=headline,
                summary=str(record.get("summary") or ""),
                source=str(record.get("source") or "finnhub"),
                url=str(record.get("url") or ""),
            )
        )
    return items


class FinnhubNewsProvider(NewsProvider):
    """Company news from Finnhub for ``[as_of - lookback, as_of]``."""

    name = "finnhub"

    def __init__(self, client: ApiClient, base_url: str) -> None:
        self.client = client
        self.base_url = base_url.rstrip("/")

    def news(self, symbol: str, as_of: dt.datetime, lookback_days: int = 7) -> list[NewsItem]:
        start = as_of - dt.timedelta(days=lookback_days)
        params = {
            "symbol": symbol.upper(),
            "from": start.date().isoformat(),
            "to": as_of.date().isoformat(),
        }
        items = self.client.get(
            f"{self.base_url}/company-news",
            params,
            parse=lambda fetched: parse_finnhub_news(symbol, fetched.data),
            cutoff=news_cutoff(as_of),
        )
        return in_window(items, as_of, lookback_days)


def parse_finnhub_metrics(symbol: str, data: Any) -> list[FundamentalsSnapshot]:
    """Snapshots (EPS) from a ``/stock/metric?metric=all`` answer, with estimated dates."""
    _check_error(data)
    if not isinstance(data, dict):
        raise DataFormatError("finnhub: stock/metric answered something other than an object")
    series = data.get("series") or {}
    if not isinstance(series, dict):
        raise DataFormatError("finnhub: stock/metric 'series' is not an object")
    points: dict[str, list[tuple[dt.date, float]]] = {}
    for period in ("annual", "quarterly"):
        section = series.get(period) or {}
        raw = (section.get("eps") if isinstance(section, dict) else None) or []
        for point in raw if isinstance(raw, list) else []:
            try:
                end = dt.date.fromisoformat(str(point["period"]))
                value = float(point["v"])
            except (KeyError, TypeError, ValueError):
                logger.debug("finnhub: skipped a malformed %s eps point %r", period, point)
                continue
            points.setdefault(period, []).append((end, value))
    annual_ends = [end for end, _ in points.get("annual", [])]
    out: list[FundamentalsSnapshot] = []
    for period, values in points.items():
        for end, value in values:
            try:
                out.append(
                    FundamentalsSnapshot(
                        symbol=symbol.upper(),
                        period_end=end,
                        filing_date=estimated_filing_date(end, period, annual_ends),
                        period="annual" if period == "annual" else "quarterly",
                        eps=value,
                    )
                )
            except ValidationError:
                logger.debug("finnhub: skipped an invalid %s eps point at %s", period, end)
    out.sort(key=lambda s: (s.period_end, s.filing_date))
    return out


class FinnhubFundamentalsProvider(FundamentalsProvider):
    """Quarterly and annual EPS from Finnhub's basic financials (estimated filing dates)."""

    name = "finnhub"
    estimated_filing_dates = True
    caveat = (
        "finnhub: filing dates are estimated (period end + 45/90 days) and the figures "
        "are today's (restated, split-adjusted), not as first filed"
    )

    def __init__(self, client: ApiClient, base_url: str) -> None:
        self.client = client
        self.base_url = base_url.rstrip("/")

    def filings(self, symbol: str, as_of: dt.date) -> list[FundamentalsSnapshot]:
        params = {"symbol": symbol.upper(), "metric": "all"}
        snapshots = self.client.get(
            f"{self.base_url}/stock/metric",
            params,
            parse=lambda fetched: parse_finnhub_metrics(symbol, fetched.data),
            cutoff=filings_cutoff(as_of),
        )
        return visible_filings(snapshots, as_of)

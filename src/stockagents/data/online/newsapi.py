"""NewsAPI: ``GET /everything`` searched for the symbol (``query``, default ``{symbol}``).

The key travels in the ``X-Api-Key`` header. Articles carry an ISO ``publishedAt`` in UTC
and are served point in time; articles NewsAPI has withdrawn (title ``[Removed]``) are
dropped. An answer ``{"status": "error", "code", "message"}`` becomes a one-line
``UpstreamError`` (its code and a short, redacted excerpt of its message). The free plan
only reaches about a month back.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from stockagents.core.errors import DataFormatError, UpstreamError
from stockagents.core.redact import excerpt
from stockagents.core.types import NewsItem
from stockagents.data.news import NewsProvider, parse_timestamp
from stockagents.data.online._common import in_window, news_cutoff
from stockagents.data.online._http import ApiClient

__all__ = ["NewsApiProvider", "parse_newsapi"]


def parse_newsapi(symbol: str, data: Any) -> list[NewsItem]:
    """News items from an ``/everything`` answer."""
    if not isinstance(data, dict):
        raise DataFormatError("newsapi: the answer is not a JSON object")
    if data.get("status") == "error":
        raise UpstreamError(
            f"newsapi: the answer is an error ({excerpt(data.get('code') or 'error', 40)}: "
            f"{excerpt(data.get('message') or '')}); check NEWSAPI_KEY and the query",
            "newsapi",
            "error answer from newsapi",
        )
    articles = data.get("articles")
    if not isinstance(articles, list):
        raise DataFormatError("newsapi: the answer has no 'articles' list")
    items = []
    for article in articles:
        if not isinstance(article, dict):
            continue
        published = parse_timestamp(article.get("publishedAt"))
        title = str(article.get("title") or "").strip()
        if published is None or not title or title == "[Removed]":
            continue
        source = article.get("source")
        items.append(
            NewsItem(
                symbol=symbol.upper(),
                published_at=published,
                headline=title,
                summary=str(article.get("description") or ""),
                source=str(source.get("name") or "") if isinstance(source, dict) else "",
                url=str(article.get("url") or ""),
            )
        )
    return items


class NewsApiProvider(NewsProvider):
    """Articles matching ``query`` (``{symbol}`` is replaced) in the lookback window."""

    name = "newsapi"

    def __init__(self, client: ApiClient, base_url: str, query: str = "{symbol}") -> None:
        self.client = client
        self.base_url = base_url.rstrip("/")
        self.query = query

    def news(self, symbol: str, as_of: dt.datetime, lookback_days: int = 7) -> list[NewsItem]:
        start = as_of - dt.timedelta(days=lookback_days)
        stamp = "%Y-%m-%dT%H:%M:%SZ"
        params = {
            "q": self.query.format(symbol=symbol.upper()),
            "from": start.astimezone(dt.UTC).strftime(stamp),
            "to": as_of.astimezone(dt.UTC).strftime(stamp),
            "language": "en",
            "sortBy": "publishedAt",
            "pageSize": 100,
        }
        items = self.client.get(
            f"{self.base_url}/everything",
            params,
            parse=lambda fetched: parse_newsapi(symbol, fetched.data),
            cutoff=news_cutoff(as_of),
        )
        return in_window(items, as_of, lookback_days)

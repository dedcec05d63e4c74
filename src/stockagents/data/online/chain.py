"""A news provider that asks several and merges their stories.

Providers that cannot run (a missing key) are left out with one warning line each; when
none can run, the chain itself is unavailable and says why, which the news analyst
reports as "no source". A provider that fails at request time (network, quota) is
logged in one line and skipped; only when every provider fails is it an error, one
``UpstreamError`` holding each failure (the only one's, as it was, for a chain of one)
and, as its ``summary``, their summaries ("HTTP 401 from finnhub; HTTP 429 from
newsapi"). The same story from several providers appears once, with its earliest
publish time.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence

from stockagents.core.errors import DataError, ProviderUnavailableError, UpstreamError
from stockagents.core.types import NewsItem
from stockagents.data.news import NewsProvider
from stockagents.data.online._common import in_window

__all__ = ["NewsChain"]

logger = logging.getLogger(__name__)


class NewsChain(NewsProvider):
    """The union of ``providers``' stories, de-duplicated, oldest first."""

    def __init__(self, providers: Sequence[NewsProvider]) -> None:
        self.providers: list[NewsProvider] = []
        skipped: list[str] = []
        for provider in providers:
            if provider.unavailable_reason:
                logger.warning("news provider skipped: %s", provider.unavailable_reason)
                skipped.append(provider.unavailable_reason)
            else:
                self.providers.append(provider)
        self.skipped = skipped
        self.name = "+".join(p.name for p in self.providers) or "none"
        if not self.providers:
            self.unavailable_reason = "no news provider is available: " + (
                "; ".join(skipped) or "the chain is empty (set data.news.providers)"
            )

    def news(self, symbol: str, as_of: dt.datetime, lookback_days: int = 7) -> list[NewsItem]:
        stories: list[NewsItem] = []
        failures: list[tuple[NewsProvider, DataError | ProviderUnavailableError]] = []
        for provider in self.providers:
            try:
                stories.extend(provider.news(symbol, as_of, lookback_days))
            except (DataError, ProviderUnavailableError) as exc:
                failures.append((provider, exc))
        if failures and len(failures) == len(self.providers):
            if len(failures) == 1:
                raise failures[0][1]
            raise UpstreamError(
                "every news provider failed: " + "; ".join(str(e) for _, e in failures),
                self.name,
                "; ".join(_summary(failed, e) for failed, e in failures),
            )
        for failed, error in failures:
            logger.warning("news provider %s failed, skipped: %s", failed.name, error)
        return in_window(stories, as_of, lookback_days)


def _summary(provider: NewsProvider, exc: Exception) -> str:
    """What may be said of a provider's failure to anyone (no upstream text)."""
    if isinstance(exc, UpstreamError):
        return exc.summary
    return f"{provider.name} failed ({type(exc).__name__})"

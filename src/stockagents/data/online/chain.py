"""A news provider that asks several and merges their stories.

Providers that cannot run (a missing key) are left out with one warning line each; when
none can run, the chain itself is unavailable and says why, which the news analyst
reports as "no source". A provider that fails at request time (network, quota) is
logged in one line and skipped; only when every provider fails is it an error. The
same story from several providers appears once, with its earliest publish time.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence

from stockagents.core.errors import DataError, ProviderUnavailableError
from stockagents.core.types import NewsItem
from stockagents.data.news import NewsProvider
from stockagents.data.online.common import in_window

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
        failures: list[str] = []
        for provider in self.providers:
            try:
                stories.extend(provider.news(symbol, as_of, lookback_days))
            except (DataError, ProviderUnavailableError) as exc:
                logger.warning("news provider %s failed, skipped: %s", provider.name, exc)
                failures.append(str(exc))
        if failures and len(failures) == len(self.providers):
            raise DataError(f"every news provider failed; first: {failures[0]}")
        return in_window(stories, as_of, lookback_days)

"""Point-in-time market data: prices, news and fundamentals, from local or online sources.

Every public accessor takes ``as_of`` and returns nothing dated after it. Providers know
nothing about indicators, agents or trading.
"""

from __future__ import annotations

from stockagents.data.base import PriceProvider
from stockagents.data.factory import DataSources, build_sources
from stockagents.data.fundamentals import FundamentalsProvider
from stockagents.data.news import NewsProvider

__all__ = ["DataSources", "FundamentalsProvider", "NewsProvider", "PriceProvider", "build_sources"]

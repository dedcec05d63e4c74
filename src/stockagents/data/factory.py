"""Building the configured data sources from ``DataConfig``."""

from __future__ import annotations

from dataclasses import dataclass

from stockagents.core.config import DataConfig
from stockagents.core.settings import Settings, load_settings
from stockagents.data.base import PriceProvider
from stockagents.data.csv_dir import CsvPriceProvider
from stockagents.data.fundamentals import (
    FileFundamentalsProvider,
    FundamentalsProvider,
    NoFundamentalsProvider,
)
from stockagents.data.news import JsonlNewsProvider, NewsProvider, NoNewsProvider
from stockagents.data.sample import SamplePriceProvider
from stockagents.data.yfinance_prices import YFinancePriceProvider

__all__ = ["DataSources", "build_sources"]


@dataclass(frozen=True)
class DataSources:
    """The three point-in-time sources an analysis reads."""

    prices: PriceProvider
    news: NewsProvider
    fundamentals: FundamentalsProvider


def build_sources(
    config: DataConfig | None = None, settings: Settings | None = None
) -> DataSources:
    """Instantiate the providers ``config`` names (the offline sample by default).

    Online news and fundamentals providers read their keys from ``settings`` (the
    environment and ``.env`` when None); one without its key is built unavailable. With
    ``none`` or local providers nothing online is imported, read or built.
    """
    config = config or DataConfig()
    prices: PriceProvider
    if config.prices.provider == "csv":
        assert config.prices.csv_dir is not None  # enforced by PricesConfig
        prices = CsvPriceProvider(config.prices.csv_dir)
    elif config.prices.provider == "yfinance":
        prices = YFinancePriceProvider(config.prices.cache_dir)
    else:
        prices = SamplePriceProvider()
    news: NewsProvider = NoNewsProvider()
    if config.news.provider == "jsonl" and config.news.path is not None:
        news = JsonlNewsProvider(config.news.path)
    elif config.news.provider not in ("none", "jsonl"):
        from stockagents.data.online.build import build_news  # only when online is asked

        settings = settings or load_settings()
        news = build_news(config.news, settings)
    fundamentals: FundamentalsProvider = NoFundamentalsProvider()
    if config.fundamentals.provider == "file" and config.fundamentals.path is not None:
        fundamentals = FileFundamentalsProvider(config.fundamentals.path)
    elif config.fundamentals.provider not in ("none", "file"):
        from stockagents.data.online.build import build_fundamentals

        settings = settings or load_settings()
        fundamentals = build_fundamentals(config.fundamentals, settings)
    return DataSources(prices=prices, news=news, fundamentals=fundamentals)

"""What an agent sees: the point-in-time ``Observation`` of one symbol on one date.

``ObservationBuilder`` reads the configured sources through their ``as_of`` accessors,
computes indicators once per symbol (they are causal, so slicing the full series at a
date equals computing on the data up to it; tests prove it), and assembles the
technical values at the last bar on or before ``as_of``, the news digest of stories
published by that day's close, and the fundamental ratios of statements filed by it.
It knows nothing about how agents turn this into signals.

A source that fails is "no source" with a reason, which reaches the signals' reasoning
and so the CLI and the HTTP API's answers: for an online provider only the error's
``summary`` ("the news source failed: HTTP 401 from finnhub"), never the provider's
own words; the whole message, with its fix, is logged once as a warning.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import threading
from dataclasses import dataclass, field

import pandas as pd

from stockagents.core.errors import (
    DataError,
    DateOutOfRangeError,
    ProviderUnavailableError,
    UpstreamError,
)
from stockagents.core.redact import redact
from stockagents.core.symbols import validate_symbol
from stockagents.data.calendar import market_close_utc
from stockagents.data.factory import DataSources
from stockagents.features.fundamentals import FundamentalRatios, compute_ratios
from stockagents.features.indicators import compute_indicators
from stockagents.features.news_digest import NewsDigest, digest_news

__all__ = ["MIN_BARS", "Observation", "ObservationBuilder"]

logger = logging.getLogger(__name__)

#: Fewest bars of history an analysis accepts.
MIN_BARS = 30
_RECENT_CROSS_BARS = 10


@dataclass(frozen=True)
class Observation:
    """Everything known about ``symbol`` at the close of ``as_of``."""

    symbol: str
    as_of: dt.date
    data_date: dt.date
    source: str
    price: float
    bars: int
    technical: dict[str, float | None]
    news: NewsDigest | None = None
    news_reason: str | None = None
    fundamentals: FundamentalRatios | None = None
    fundamentals_reason: str | None = None
    notes: list[str] = field(default_factory=list)


def _clean(value: float) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


class ObservationBuilder:
    """Builds observations from ``sources``; indicator frames are cached per symbol."""

    def __init__(
        self,
        sources: DataSources,
        news_lookback_days: int = 7,
        news_half_life_days: float = 2.0,
        max_stale_days: int = 5,
    ) -> None:
        self.sources = sources
        self.news_lookback_days = news_lookback_days
        self.news_half_life_days = news_half_life_days
        self.max_stale_days = max_stale_days
        self._indicators: dict[str, pd.DataFrame] = {}
        self._lock = threading.Lock()
        self._logged: set[str] = set()

    def indicators(self, symbol: str) -> pd.DataFrame:
        """The indicator frame of ``symbol`` over all its bars (computed once)."""
        key = symbol.upper()
        frame = self._indicators.get(key)
        if frame is None:
            with self._lock:
                frame = self._indicators.get(key)
                if frame is None:
                    _, last = self.sources.prices.date_range(key)
                    bars = self.sources.prices.prices(key, as_of=last)
                    frame = compute_indicators(bars)
                    self._indicators[key] = frame
        return frame

    def resolve_date(self, symbol: str, as_of: dt.date | None) -> dt.date:
        """``as_of`` checked against the data (None means the last bar)."""
        first, last = self.sources.prices.date_range(symbol)
        if as_of is None:
            return last
        if as_of < first:
            raise DateOutOfRangeError(
                f"{symbol}: no price data on or before {as_of}; the data starts {first}"
            )
        if (as_of - last).days > self.max_stale_days:
            raise DateOutOfRangeError(
                f"{symbol}: the {self.sources.prices.name} price data ends {last}, "
                f"before {as_of}; pass an as-of date on or before {last}, or configure a "
                "source with newer data (data.prices.provider: csv or yfinance)"
            )
        return as_of

    def build(
        self, symbol: str, as_of: dt.date | None = None, news_lookback_days: int | None = None
    ) -> Observation:
        """The observation of ``symbol`` at the close of ``as_of``."""
        symbol = validate_symbol(symbol)
        day = self.resolve_date(symbol, as_of)
        frame = self.indicators(symbol).loc[: pd.Timestamp(day)]
        if len(frame) < MIN_BARS:
            first, _ = self.sources.prices.date_range(symbol)
            raise DateOutOfRangeError(
                f"{symbol}: only {len(frame)} bars on or before {day} (data starts {first}); "
                f"an analysis needs at least {MIN_BARS}"
            )
        row = frame.iloc[-1]
        technical = {str(k): _clean(v) for k, v in row.items()}
        recent = frame["trend_cross"].iloc[-_RECENT_CROSS_BARS:]
        crosses = recent[recent.fillna(0.0) != 0.0]
        technical["recent_cross"] = float(crosses.iloc[-1]) if len(crosses) else 0.0
        data_date = frame.index[-1].date()
        price = self.sources.prices.prices(symbol, as_of=data_date).iloc[-1]["close"]
        notes = []
        if data_date != day:
            notes.append(f"no bar on {day}; using the last bar, {data_date}")
        news, news_reason = self._news(symbol, day, news_lookback_days)
        ratios, fundamentals_reason = self._fundamentals(symbol, day, float(price))
        caveat = self.sources.fundamentals.caveat
        if ratios is not None and caveat:
            notes.append(caveat)
        return Observation(
            symbol=symbol,
            as_of=day,
            data_date=data_date,
            source=self.sources.prices.name,
            price=float(price),
            bars=len(frame),
            technical=technical,
            news=news,
            news_reason=news_reason,
            fundamentals=ratios,
            fundamentals_reason=fundamentals_reason,
            notes=notes,
        )

    def _news(
        self, symbol: str, day: dt.date, lookback_days: int | None
    ) -> tuple[NewsDigest | None, str | None]:
        provider = self.sources.news
        if provider.unavailable_reason:
            return None, provider.unavailable_reason
        lookback = lookback_days or self.news_lookback_days
        cutoff = market_close_utc(day)
        try:
            items = provider.news(symbol, as_of=cutoff, lookback_days=lookback)
        except (DataError, ProviderUnavailableError) as exc:  # "no news", said why
            return None, self._failed("news", exc)
        digest = digest_news(items, cutoff, lookback, self.news_half_life_days)
        if digest.count == 0:
            return digest, f"no news about {symbol} in the {lookback} days to {day}"
        return digest, None

    def _fundamentals(
        self, symbol: str, day: dt.date, price: float
    ) -> tuple[FundamentalRatios | None, str | None]:
        provider = self.sources.fundamentals
        if provider.unavailable_reason:
            return None, provider.unavailable_reason
        try:
            filings = provider.filings(symbol, as_of=day)
        except (DataError, ProviderUnavailableError) as exc:  # "no statements", said why
            return None, self._failed("fundamentals", exc)
        ratios = compute_ratios(filings, price)
        if ratios is None:
            return None, f"no usable statements for {symbol} filed by {day}"
        return ratios, None

    def _failed(self, source: str, exc: Exception) -> str:
        """The reason shown for a failing source (see the module doc)."""
        if not isinstance(exc, UpstreamError):
            return f"the {source} source failed: {redact(str(exc))}"
        message = str(exc)
        with self._lock:
            first = message not in self._logged
            self._logged.add(message)
        if first:
            logger.warning("the %s source failed: %s", source, message)
        return f"the {source} source failed: {exc.summary}"

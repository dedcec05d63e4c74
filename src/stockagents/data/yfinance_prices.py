"""Prices from Yahoo Finance through the optional ``yfinance`` package, with a disk cache.

Only used when ``data.prices.provider`` is ``yfinance``. Histories are downloaded
adjusted (``auto_adjust=True``), normalised like any other source, and cached as
Parquet under ``cache_dir/yfinance/`` for ``max_age_hours``.
"""

from __future__ import annotations

import importlib
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from stockagents.core.errors import ProviderUnavailableError, UpstreamError
from stockagents.core.packages import YFINANCE_INSTALL, require_packages
from stockagents.core.redact import redact
from stockagents.data._paths import file_in
from stockagents.data.base import PriceProvider
from stockagents.data.validation import normalize_ohlcv

__all__ = ["YFinancePriceProvider"]

logger = logging.getLogger(__name__)

Downloader = Callable[[str], pd.DataFrame]


def _yfinance_download(symbol: str) -> pd.DataFrame:
    require_packages("yfinance", needed_by="the yfinance price provider", install=YFINANCE_INSTALL)
    yf: Any = importlib.import_module("yfinance")
    frame: pd.DataFrame = yf.Ticker(symbol).history(period="max", auto_adjust=True)
    return frame


class YFinancePriceProvider(PriceProvider):
    """Daily bars from Yahoo Finance; ``download`` is a seam for tests."""

    name = "yfinance"

    def __init__(
        self,
        cache_dir: str | Path,
        max_age_hours: float = 12.0,
        download: Downloader | None = None,
    ) -> None:
        super().__init__()
        self.cache_dir = Path(cache_dir) / "yfinance"
        self.max_age_hours = max_age_hours
        self._download = download or _yfinance_download

    def symbols(self) -> list[str]:
        if not self.cache_dir.is_dir():
            return []
        return sorted(p.stem for p in self.cache_dir.glob("*.parquet"))

    def _load(self, symbol: str) -> pd.DataFrame:
        cached = file_in(self.cache_dir, f"{symbol}.parquet")
        if cached.is_file() and time.time() - cached.stat().st_mtime < self.max_age_hours * 3600:
            return pd.read_parquet(cached)
        try:
            raw = self._download(symbol)
        except ProviderUnavailableError:
            raise
        except Exception as exc:  # network or upstream failure, reported in one line
            reason = redact(str(exc).splitlines()[0])[:120] if str(exc) else type(exc).__name__
            raise UpstreamError(
                f"yfinance: download of {symbol} failed ({reason}); check the network and "
                "the symbol, or use a csv price directory",
                provider="yfinance",
                summary="download failed from yfinance",
            ) from None
        if raw is None or raw.empty:
            raise self.unknown(symbol)
        frame = normalize_ohlcv(raw, f"yfinance:{symbol}")
        try:
            self.cache_dir.mkdir(parents=True, exist_ok=True)
            tmp = cached.with_suffix(".tmp")
            frame.to_parquet(tmp)
            tmp.replace(cached)
        except OSError as exc:
            logger.warning("could not cache %s under %s: %s", symbol, self.cache_dir, exc)
        return frame

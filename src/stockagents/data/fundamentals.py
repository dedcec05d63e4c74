"""Fundamentals providers: the interface, "no source", and a local JSON or CSV file.

A record is one fiscal period's figures with the date it was filed. Filings often land
after the close (earnings releases do), and a date says nothing about the hour, so a
record is visible from the trading session **after** its ``filing_date``: for
``as_of = t``, only records filed before the last session on or before t
(``visible_filings``; t itself on a trading day). File formats:

- JSON: a list of records, or ``{"AAPL": [records...], ...}``;
- CSV: one record per row, with a header naming at least ``symbol``, ``period_end`` and
  ``filing_date``.

Files are UTF-8.

Fields are those of ``FundamentalsSnapshot`` (``symbol, period_end, filing_date, period,
revenue, gross_profit, operating_income, net_income, eps, shares_outstanding,
total_equity, total_debt, free_cash_flow``); other columns are ignored. Records without a
``filing_date`` are skipped: they cannot be placed in time.
"""

from __future__ import annotations

import datetime as dt
import io
import logging
import math
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import ValidationError

from stockagents.core.errors import DataError, DataFormatError, SymbolError
from stockagents.core.symbols import validate_symbol
from stockagents.core.textfile import parse_json, read_text, skipped_summary
from stockagents.core.types import FundamentalsSnapshot
from stockagents.data.calendar import MARKET_TZ, market_close_utc

__all__ = [
    "FileFundamentalsProvider",
    "FundamentalsProvider",
    "NoFundamentalsProvider",
    "visible_filings",
]

logger = logging.getLogger(__name__)

_FIELDS = set(FundamentalsSnapshot.model_fields)


class FundamentalsProvider(ABC):
    """Filed financial statements, served point in time."""

    name: str = "fundamentals"
    unavailable_reason: str | None = None
    #: True when filing dates are estimated (period end + a lag), not the real ones.
    estimated_filing_dates: bool = False
    #: A standing caveat about the figures, shown with any ratio computed from them.
    caveat: str | None = None

    @abstractmethod
    def filings(self, symbol: str, as_of: dt.date) -> list[FundamentalsSnapshot]:
        """Every snapshot of ``symbol`` filed before ``as_of``, by period end."""


class NoFundamentalsProvider(FundamentalsProvider):
    """The default: no fundamentals source is configured."""

    name = "none"
    unavailable_reason = "no fundamentals source is configured (set data.fundamentals)"

    def filings(self, symbol: str, as_of: dt.date) -> list[FundamentalsSnapshot]:
        return []


def visible_filings(
    snapshots: Iterable[FundamentalsSnapshot], as_of: dt.date
) -> list[FundamentalsSnapshot]:
    """The snapshots filed before the last session on or before ``as_of`` (``as_of``
    itself on a trading day): a filing dated t may have come after t's close, so it
    counts from the next session, and a weekend or holiday sees what its last session saw.
    """
    session = market_close_utc(as_of).astimezone(MARKET_TZ).date()
    return [s for s in snapshots if s.filing_date < session]


def _kind(value: Any) -> str:
    return {bool: "boolean", int: "number", float: "number", str: "string"}.get(
        type(value), type(value).__name__
    )


def _require_object(item: Any, where: str) -> None:
    if not isinstance(item, dict):
        raise DataFormatError(f"{where}: expected an object of fields, got a {_kind(item)}")


def _clean(record: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in record.items():
        if key not in _FIELDS:
            continue
        if value is None or (isinstance(value, float) and math.isnan(value)) or value == "":
            continue
        out[key] = value
    return out


#: Columns a fundamentals CSV must have (the rest are optional or ignored).
_REQUIRED = ("symbol", "period_end", "filing_date")
_UNDATED = "without a filing_date"


class FileFundamentalsProvider(FundamentalsProvider):
    """Snapshots read once from a JSON or CSV file (UTF-8).

    A malformed file or record stops the load with the file, the record and the field; a
    record without a ``filing_date`` is skipped and counted in one warning.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.name = f"file:{self.path}"
        self._by_symbol: dict[str, list[FundamentalsSnapshot]] = {}
        self.skipped: Counter[str] = Counter()
        for number, record in enumerate(self._records(), start=1):
            self._add(record, number)
        for items in self._by_symbol.values():
            items.sort(key=lambda s: (s.period_end, s.filing_date))
        if self.skipped:
            logger.warning("%s: %s", self.path, skipped_summary(self.skipped, "records"))

    @property
    def skipped_undated(self) -> int:
        """Records skipped because they carry no filing date."""
        return self.skipped[_UNDATED]

    def _records(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            raise DataError(
                f"fundamentals file {self.path} does not exist; fix data.fundamentals.path"
            )
        text = read_text(self.path, "fundamentals", "fix data.fundamentals.path", DataFormatError)
        if self.path.suffix.lower() == ".csv":
            return self._csv_records(text)
        return self._json_records(text)

    def _csv_records(self, text: str) -> list[dict[str, Any]]:
        if "\x00" in text:
            raise DataFormatError(f"{self.path}: holds NUL bytes; it is not a CSV text file")
        try:
            frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
        except (ValueError, pd.errors.ParserError) as exc:
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise DataFormatError(f"{self.path}: cannot be parsed as CSV ({reason})") from None
        columns = {str(c).strip() for c in frame.columns}
        missing = [c for c in _REQUIRED if c not in columns]
        if missing:
            raise DataFormatError(
                f"{self.path}: missing column(s) {', '.join(missing)}; a fundamentals CSV "
                f"has a header with {', '.join(_REQUIRED)} and figure columns"
            )
        frame.columns = [str(c).strip() for c in frame.columns]
        return [{str(k): v for k, v in row.items()} for row in frame.to_dict("records")]

    def _json_records(self, text: str) -> list[dict[str, Any]]:
        data = parse_json(text, str(self.path), DataFormatError)
        if isinstance(data, dict):
            records: list[dict[str, Any]] = []
            for symbol, items in data.items():
                if not isinstance(items, list):
                    raise DataFormatError(
                        f"{self.path}: {symbol}: expected a list of records, got a {_kind(items)}"
                    )
                for index, item in enumerate(items, start=1):
                    _require_object(item, f"{self.path}: {symbol}: record {index}")
                    records.append({**item, "symbol": symbol})
            return records
        if isinstance(data, list):
            for index, item in enumerate(data, start=1):
                _require_object(item, f"{self.path}: record {index}")
            return data
        raise DataFormatError(
            f"{self.path}: expected a list of records or a mapping by symbol, got a {_kind(data)}"
        )

    def _add(self, record: dict[str, Any], number: int) -> None:
        fields = _clean(record)
        if "filing_date" not in fields:
            self.skipped[_UNDATED] += 1
            return
        try:
            fields["symbol"] = validate_symbol(fields.get("symbol"), "symbol")
        except SymbolError as exc:
            raise DataFormatError(f"{self.path}: record {number}: {exc}") from None
        try:
            snapshot = FundamentalsSnapshot.model_validate(fields)
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(str(p) for p in first["loc"])
            raise DataFormatError(
                f"{self.path}: record {number}: {field}: {first['msg']}"
            ) from None
        where = f"{self.path}: record {number}"
        for name, value in snapshot.model_dump().items():
            if isinstance(value, float) and not math.isfinite(value):
                raise DataFormatError(f"{where}: {name}: {value} is not a finite number")
        if snapshot.filing_date < snapshot.period_end:
            raise DataFormatError(
                f"{where}: filing_date {snapshot.filing_date} is before period_end "
                f"{snapshot.period_end}; a statement is filed after its period ends"
            )
        self._by_symbol.setdefault(snapshot.symbol, []).append(snapshot)

    def filings(self, symbol: str, as_of: dt.date) -> list[FundamentalsSnapshot]:
        return visible_filings(self._by_symbol.get(symbol.upper(), []), as_of)

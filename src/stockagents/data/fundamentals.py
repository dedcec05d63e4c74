"""Fundamentals providers: the interface, "no source", and a local JSON or CSV file.

A record is one fiscal period's figures with the date it was filed. Filings often land
after the close (earnings releases do), and a date says nothing about the hour, so a
record is visible from the trading day **after** its ``filing_date``: for ``as_of = t``,
only records with ``filing_date < t``. File formats:

- JSON: a list of records, or ``{"AAPL": [records...], ...}``;
- CSV: one record per row with a ``symbol`` column.

Fields are those of ``FundamentalsSnapshot`` (``symbol, period_end, filing_date, period,
revenue, gross_profit, operating_income, net_income, eps, shares_outstanding,
total_equity, total_debt, free_cash_flow``); other columns are ignored. Records without a
``filing_date`` are skipped: they cannot be placed in time.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import ValidationError

from stockagents.core.errors import DataError, DataFormatError
from stockagents.core.types import FundamentalsSnapshot

__all__ = ["FileFundamentalsProvider", "FundamentalsProvider", "NoFundamentalsProvider"]

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


def _clean(record: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in record.items():
        if key not in _FIELDS:
            continue
        if value is None or (isinstance(value, float) and math.isnan(value)) or value == "":
            continue
        out[key] = value
    return out


class FileFundamentalsProvider(FundamentalsProvider):
    """Snapshots read once from a JSON or CSV file."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.name = f"file:{self.path}"
        self._by_symbol: dict[str, list[FundamentalsSnapshot]] = {}
        self.skipped_undated = 0
        for number, record in enumerate(self._records(), start=1):
            self._add(record, number)
        for items in self._by_symbol.values():
            items.sort(key=lambda s: (s.period_end, s.filing_date))
        if self.skipped_undated:
            logger.warning(
                "%s: skipped %d records without a filing_date", self.path, self.skipped_undated
            )

    def _records(self) -> list[dict[str, Any]]:
        if not self.path.is_file():
            raise DataError(
                f"fundamentals file {self.path} does not exist; fix data.fundamentals.path"
            )
        if self.path.suffix.lower() == ".csv":
            try:
                frame = pd.read_csv(self.path)
            except (ValueError, pd.errors.ParserError) as exc:
                raise DataFormatError(f"{self.path}: cannot be parsed ({exc})") from None
            return [{str(k): v for k, v in row.items()} for row in frame.to_dict("records")]
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise DataFormatError(
                f"{self.path}: not valid JSON ({exc.msg}, line {exc.lineno})"
            ) from None
        if isinstance(data, dict):
            return [
                {**record, "symbol": symbol}
                for symbol, records in data.items()
                for record in (records if isinstance(records, list) else [])
            ]
        if isinstance(data, list):
            return [r for r in data if isinstance(r, dict)]
        raise DataFormatError(f"{self.path}: expected a list of records or a mapping by symbol")

    def _add(self, record: dict[str, Any], number: int) -> None:
        fields = _clean(record)
        if "filing_date" not in fields:
            self.skipped_undated += 1
            return
        try:
            snapshot = FundamentalsSnapshot.model_validate(fields)
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(str(p) for p in first["loc"])
            raise DataFormatError(
                f"{self.path}: record {number}: {field}: {first['msg']}"
            ) from None
        symbol = snapshot.symbol.upper()
        self._by_symbol.setdefault(symbol, []).append(
            snapshot.model_copy(update={"symbol": symbol})
        )

    def filings(self, symbol: str, as_of: dt.date) -> list[FundamentalsSnapshot]:
        return [s for s in self._by_symbol.get(symbol.upper(), []) if s.filing_date < as_of]

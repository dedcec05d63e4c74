"""Fundamentals from Yahoo Finance through the optional ``yfinance`` package.

yfinance's statements (``income_stmt``, ``balance_sheet``, ``cashflow`` and their
``quarterly_`` forms) are frames with one row per line item and one column per period
end. They carry **no filing date**, so each period is made visible from an *estimated*
filing date: period end + 45 days for a quarter, + 90 days for a year and for the
quarter ending on a fiscal year end (its figures come from the 10-K; see
``finnhub.estimated_filing_date``). The figures are Yahoo's current ones (restated,
split-adjusted), a look-ahead risk, and Yahoo keeps only the last four or five periods.
Prefer SEC EDGAR for back-tests.

Without the package installed the provider is unavailable and says
``pip install 'stockagents[yfinance]'``.
"""

from __future__ import annotations

import datetime as dt
import importlib
import logging
import math
from collections.abc import Callable, Mapping
from typing import Any

import pandas as pd

from stockagents.core.errors import ProviderUnavailableError, UpstreamError
from stockagents.core.packages import YFINANCE_INSTALL, missing_package, require_packages
from stockagents.core.redact import excerpt
from stockagents.core.types import FundamentalsSnapshot
from stockagents.data.fundamentals import FundamentalsProvider, visible_filings
from stockagents.data.online.finnhub import estimated_filing_date

__all__ = ["YFinanceFundamentalsProvider", "snapshots_from_yfinance"]

logger = logging.getLogger(__name__)

_NEEDED_BY = "the yfinance fundamentals provider"

#: Statement frames, by the attribute name of ``yfinance.Ticker``.
STATEMENTS = (
    "income_stmt",
    "balance_sheet",
    "cashflow",
    "quarterly_income_stmt",
    "quarterly_balance_sheet",
    "quarterly_cashflow",
)
#: Snapshot field -> yfinance line items, first present wins.
_ROWS: dict[str, tuple[str, ...]] = {
    "revenue": ("Total Revenue", "Operating Revenue"),
    "gross_profit": ("Gross Profit",),
    "operating_income": ("Operating Income",),
    "net_income": ("Net Income", "Net Income Common Stockholders"),
    "eps": ("Diluted EPS",),
    "shares_outstanding": ("Ordinary Shares Number", "Share Issued"),
    "total_equity": ("Stockholders Equity", "Common Stock Equity"),
    "total_debt": ("Total Debt", "Long Term Debt"),
    "free_cash_flow": ("Free Cash Flow",),
}

Fetch = Callable[[str], Mapping[str, pd.DataFrame]]


def _yfinance_fetch(symbol: str) -> Mapping[str, pd.DataFrame]:
    require_packages("yfinance", needed_by=_NEEDED_BY, install=YFINANCE_INSTALL)
    try:
        yf: Any = importlib.import_module("yfinance")
    except Exception as exc:  # a broken install fails on import in many ways
        raise ProviderUnavailableError(
            f"yfinance cannot be imported ({type(exc).__name__}: {exc}); reinstall it: "
            "pip install --force-reinstall 'stockagents[yfinance]'"
        ) from None
    ticker = yf.Ticker(symbol)
    return {name: getattr(ticker, name) for name in STATEMENTS}


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else number


def snapshots_from_yfinance(
    symbol: str, frames: Mapping[str, pd.DataFrame | None]
) -> list[FundamentalsSnapshot]:
    """Snapshots from yfinance statement frames, with estimated filing dates."""
    merged: dict[str, dict[dt.date, dict[str, float]]] = {}
    for period, prefix in (("annual", ""), ("quarterly", "quarterly_")):
        by_end = merged.setdefault(period, {})
        for kind in ("income_stmt", "balance_sheet", "cashflow"):
            frame = frames.get(prefix + kind)
            if frame is None or frame.empty:
                continue
            for column in frame.columns:
                try:
                    end = pd.Timestamp(column).date()
                except (TypeError, ValueError):
                    continue
                values = by_end.setdefault(end, {})
                for field, rows in _ROWS.items():
                    if field in values:
                        continue
                    for row in rows:
                        if row in frame.index:
                            number = _number(frame.at[row, column])
                            if number is not None:
                                values[field] = number
                                break
    annual_ends = list(merged["annual"])
    snapshots = []
    for period, by_end in merged.items():
        for end, values in by_end.items():
            if values:
                snapshots.append(
                    FundamentalsSnapshot(
                        symbol=symbol.upper(),
                        period_end=end,
                        filing_date=estimated_filing_date(end, period, annual_ends),
                        period="annual" if period == "annual" else "quarterly",
                        **values,
                    )
                )
    snapshots.sort(key=lambda s: (s.period_end, s.filing_date))
    return snapshots


class YFinanceFundamentalsProvider(FundamentalsProvider):
    """Statements from Yahoo Finance; ``fetch`` is a seam for tests."""

    name = "yfinance"
    estimated_filing_dates = True
    caveat = (
        "yfinance: filing dates are estimated (period end + 45/90 days) and the figures "
        "are today's (restated, split-adjusted), not as first filed"
    )

    def __init__(self, fetch: Fetch | None = None) -> None:
        if fetch is None:
            self.unavailable_reason = missing_package(
                "yfinance", needed_by=_NEEDED_BY, install=YFINANCE_INSTALL
            )
        self._fetch = fetch or _yfinance_fetch
        self._memo: dict[str, list[FundamentalsSnapshot]] = {}

    def filings(self, symbol: str, as_of: dt.date) -> list[FundamentalsSnapshot]:
        if self.unavailable_reason:
            raise ProviderUnavailableError(self.unavailable_reason)
        key = symbol.upper()
        if key not in self._memo:
            try:
                frames = self._fetch(key)
            except ProviderUnavailableError:
                raise
            except Exception as exc:  # network or upstream failure, reported in one line
                raise UpstreamError(
                    f"yfinance: fundamentals of {key} failed ({excerpt(exc)}); try again later",
                    "yfinance",
                    "request to yfinance failed",
                ) from None
            self._memo[key] = snapshots_from_yfinance(key, frames)
        return visible_filings(self._memo[key], as_of)

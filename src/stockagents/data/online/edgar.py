"""SEC EDGAR company facts (``/api/xbrl/companyfacts/CIK##########.json``), no key needed.

The SEC asks every client to identify itself with a ``User-Agent`` such as
``"Jane Doe jane@example.com"`` (``SEC_USER_AGENT``) and to stay under 10 requests a
second; without a User-Agent it answers 403. Tickers map to CIKs through
``company_tickers.json``.

Every fact carries the accession number (``accn``), the form and the date it was
``filed``: that date is the point-in-time date. One snapshot is made per 10-K / 10-Q
(amendments included): its period end is the latest ``end`` the filing reports, its
flows are the facts of that filing ending on that date over a quarter (10-Q) or a year
(10-K), its balance-sheet items the instants on that date, and its share count the
cover page's ``dei:EntityCommonStockSharesOutstanding``. Comparative figures of earlier
periods repeated in later filings are ignored; a figure first filed in a 10-K/A
counts from the amendment's date. As for every fundamentals source, a filing is
visible from the day after it was filed.

Cash flows in a second or third quarter 10-Q are year-to-date, not quarterly, so
``free_cash_flow`` is only set for first quarters and years. A fourth quarter has no
10-Q; the analyst uses the 10-K's annual figures for it.

Per-share figures are as reported: before a later stock split they are not on the
split-adjusted basis of the prices, and the price sources do not expose splits to adjust
them, so the provider carries ``caveat`` (``SPLIT_CAVEAT``), which observations show.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import threading
from collections.abc import Callable
from typing import Any

from stockagents.core.errors import DataError, DataFormatError
from stockagents.core.types import FundamentalsSnapshot
from stockagents.data.fundamentals import FundamentalsProvider, visible_filings
from stockagents.data.online._common import filings_cutoff
from stockagents.data.online._http import ApiClient, Fetched

__all__ = [
    "SPLIT_CAVEAT",
    "EdgarFundamentalsProvider",
    "parse_company_facts",
    "parse_company_tickers",
]

logger = logging.getLogger(__name__)

_FORMS = ("10-K", "10-Q", "10-K/A", "10-Q/A")

#: Snapshot field -> us-gaap tags, first found wins.
_FLOW_TAGS: dict[str, tuple[str, ...]] = {
    "revenue": (
        "Revenues",
        "RevenueFromContractWithCustomerExcludingAssessedTax",
        "RevenueFromContractWithCustomerIncludingAssessedTax",
        "SalesRevenueNet",
    ),
    "gross_profit": ("GrossProfit",),
    "operating_income": ("OperatingIncomeLoss",),
    "net_income": ("NetIncomeLoss",),
    "eps": ("EarningsPerShareDiluted",),
    "operating_cash_flow": ("NetCashProvidedByUsedInOperatingActivities",),
    "capex": ("PaymentsToAcquirePropertyPlantAndEquipment",),
}
_INSTANT_TAGS: dict[str, tuple[str, ...]] = {
    "total_equity": (
        "StockholdersEquity",
        "StockholdersEquityIncludingPortionAttributableToNoncontrollingInterest",
    ),
    "total_debt": ("LongTermDebt", "LongTermDebtNoncurrent"),
}
_SHARES_TAG = "EntityCommonStockSharesOutstanding"
#: Days a flow must span to be a quarter's or a year's.
_SPAN = {"quarterly": (75, 105), "annual": (340, 390)}


def parse_company_tickers(data: Any) -> dict[str, int]:
    """``{TICKER: cik}`` from ``company_tickers.json``."""
    if not isinstance(data, dict):
        raise DataFormatError("edgar: company_tickers.json is not a JSON object")
    out: dict[str, int] = {}
    for row in data.values():
        if isinstance(row, dict) and row.get("ticker") and row.get("cik_str") is not None:
            try:
                out[str(row["ticker"]).upper()] = int(row["cik_str"])
            except (TypeError, ValueError):
                logger.debug("edgar: skipped a ticker row with a bad cik_str: %r", row)
    return out


def _value(entry: dict[str, Any]) -> float | None:
    """A fact's ``val`` as a finite number, else None."""
    try:
        value = float(entry["val"])
    except (KeyError, TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def _entries(facts: dict[str, Any], tag: str) -> list[dict[str, Any]]:
    """A tag's entries in its preferred unit (USD, then any), 10-K / 10-Q forms only."""
    fact = facts.get(tag) if isinstance(facts, dict) else None
    units = fact.get("units") if isinstance(fact, dict) else None
    if not isinstance(units, dict) or not units:
        return []
    unit = next((u for u in ("USD", "USD/shares", "shares") if u in units), next(iter(units)))
    rows = units[unit] if isinstance(units[unit], list) else []
    return [e for e in rows if isinstance(e, dict) and e.get("form") in _FORMS]


def _days(entry: dict[str, Any]) -> int | None:
    try:
        start = dt.date.fromisoformat(str(entry["start"]))
        end = dt.date.fromisoformat(str(entry["end"]))
    except (KeyError, TypeError, ValueError):
        return None
    return (end - start).days


def _filings(by_tag: dict[str, list[dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    """The filings the facts come from: accession number -> form, filed, latest end."""
    filings: dict[str, dict[str, Any]] = {}
    for entries in by_tag.values():
        for entry in entries:
            accn, end, filed = entry.get("accn"), entry.get("end"), entry.get("filed")
            if not (accn and end and filed):
                continue
            known = filings.setdefault(
                str(accn), {"form": entry["form"], "filed": str(filed), "end": str(end)}
            )
            known["end"] = max(known["end"], str(end))
    return filings


def _shares(dei: dict[str, Any], filings: dict[str, dict[str, Any]]) -> dict[str, float]:
    """Shares outstanding per filing: its latest cover-page figure."""
    shares: dict[str, tuple[str, float]] = {}
    for entry in _entries(dei, _SHARES_TAG):
        accn, end = str(entry.get("accn")), str(entry.get("end"))
        value = _value(entry)
        if value is None:
            continue
        if accn in filings and (accn not in shares or end > shares[accn][0]):
            shares[accn] = (end, value)
    return {accn: value for accn, (_, value) in shares.items()}


def _first_values(
    tags_by_field: dict[str, tuple[str, ...]],
    by_tag: dict[str, list[dict[str, Any]]],
    fits: Callable[[dict[str, Any]], bool],
) -> dict[str, float]:
    """Each field's value from the first of its tags with a numeric entry that ``fits``."""
    values: dict[str, float] = {}
    for field, tags in tags_by_field.items():
        for tag in tags:
            found = next((e for e in by_tag[tag] if fits(e) and _value(e) is not None), None)
            if found is not None:
                values[field] = float(found["val"])  # a number: checked above
                break
    return values


def _filing_values(
    by_tag: dict[str, list[dict[str, Any]]], accn: str, end: str, period: str
) -> dict[str, float]:
    """A filing's figures: flows spanning its period, instants at its end, free cash flow."""
    low, high = _SPAN[period]

    def flow(e: dict[str, Any]) -> bool:
        """This filing's figure over a span the length of its period."""
        return e.get("accn") == accn and e.get("end") == end and low <= (_days(e) or 0) <= high

    def instant(e: dict[str, Any]) -> bool:
        """This filing's figure at its period end."""
        return e.get("accn") == accn and e.get("end") == end and "start" not in e

    values = _first_values(_FLOW_TAGS, by_tag, flow)
    values.update(_first_values(_INSTANT_TAGS, by_tag, instant))
    cash, capex = values.pop("operating_cash_flow", None), values.pop("capex", None)
    if cash is not None and capex is not None:
        values["free_cash_flow"] = cash - capex
    return values


def parse_company_facts(symbol: str, data: Any) -> list[FundamentalsSnapshot]:
    """One snapshot per 10-K / 10-Q in a companyfacts answer, by period end."""
    if not isinstance(data, dict) or not isinstance(data.get("facts"), dict):
        raise DataFormatError("edgar: the companyfacts answer has no 'facts' object")
    gaap: dict[str, Any] = data["facts"].get("us-gaap") or {}
    dei: dict[str, Any] = data["facts"].get("dei") or {}
    by_tag = {
        tag: _entries(gaap, tag)
        for tags in (*_FLOW_TAGS.values(), *_INSTANT_TAGS.values())
        for tag in tags
    }
    filings = _filings(by_tag)
    shares = _shares(dei, filings)
    snapshots = []
    for accn, filing in filings.items():
        period = "annual" if str(filing["form"]).startswith("10-K") else "quarterly"
        values = _filing_values(by_tag, accn, filing["end"], period)
        if accn in shares:
            values["shares_outstanding"] = shares[accn]
        try:
            snapshots.append(
                FundamentalsSnapshot(
                    symbol=symbol.upper(),
                    period_end=dt.date.fromisoformat(filing["end"]),
                    filing_date=dt.date.fromisoformat(filing["filed"]),
                    period=period,
                    **values,
                )
            )
        except ValueError as exc:
            logger.debug("edgar: skipped filing %s (%s)", accn, exc)
    snapshots.sort(key=lambda s: (s.period_end, s.filing_date))
    return snapshots


#: EDGAR's per-share figures are as filed; the price sources are split-adjusted.
SPLIT_CAVEAT = (
    "edgar: per-share figures (EPS, shares outstanding) are as reported, not "
    "split-adjusted; P/E and market-cap ratios are off by the split ratio before any "
    "later split"
)


class EdgarFundamentalsProvider(FundamentalsProvider):
    """Snapshots of a symbol's 10-K and 10-Q filings, visible from their filing dates."""

    name = "edgar"
    caveat = SPLIT_CAVEAT

    def __init__(self, client: ApiClient, base_url: str, tickers_url: str) -> None:
        self.client = client
        self.base_url = base_url.rstrip("/")
        self.tickers_url = tickers_url
        self._ciks: dict[str, int] | None = None
        self._lock = threading.Lock()
        #: Parsed company facts by (symbol, fetched_at): one parse per answer, not per day.
        self._parsed: dict[tuple[str, float], list[FundamentalsSnapshot]] = {}

    def cik(self, symbol: str) -> int:
        """The CIK of ``symbol`` (``BRK.B`` and ``BRK-B`` both work)."""
        with self._lock:
            if self._ciks is None:
                self._ciks = self.client.get(
                    self.tickers_url, parse=lambda fetched: parse_company_tickers(fetched.data)
                )
        key = symbol.upper()
        for candidate in (key, key.replace(".", "-"), key.replace("-", ".")):
            if candidate in self._ciks:
                return self._ciks[candidate]
        raise DataError(
            f"edgar: {key} is not in the SEC's company_tickers.json; "
            "EDGAR covers SEC registrants only (check the symbol)"
        )

    def _parse(self, symbol: str, fetched: Fetched) -> list[FundamentalsSnapshot]:
        key = (symbol.upper(), fetched.fetched_at)
        with self._lock:
            found = self._parsed.get(key)
        if found is None:
            found = parse_company_facts(symbol, fetched.data)
            with self._lock:
                self._parsed = {k: v for k, v in self._parsed.items() if k[0] != key[0]}
                self._parsed[key] = found
        return found

    def filings(self, symbol: str, as_of: dt.date) -> list[FundamentalsSnapshot]:
        url = f"{self.base_url}/api/xbrl/companyfacts/CIK{self.cik(symbol):010d}.json"
        snapshots = self.client.get(
            url,
            parse=lambda fetched: self._parse(symbol, fetched),
            cutoff=filings_cutoff(as_of),
        )
        return visible_filings(snapshots, as_of)

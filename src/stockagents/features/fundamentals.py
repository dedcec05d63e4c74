"""Fundamental ratios from filed statements and the price at ``as_of``.

Inputs are snapshots already filtered to those filed by ``as_of``. Trailing figures
(TTM) come from the latest annual report, or from the sum of the last four quarters
when those are more recent. Growth compares the latest TTM figure with the one a year
earlier. A ratio is ``None`` when an input it needs is missing or not meaningful (for
example P/E with non-positive earnings).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict

from stockagents.core.types import FundamentalsSnapshot

__all__ = ["FundamentalRatios", "compute_ratios"]

_FLOWS = ("revenue", "gross_profit", "operating_income", "net_income", "eps", "free_cash_flow")


class FundamentalRatios(BaseModel):
    """Valuation, profitability, leverage and growth ratios at one date."""

    model_config = ConfigDict(frozen=True)

    period_end: dt.date
    filing_date: dt.date
    basis: str
    pe: float | None = None
    ps: float | None = None
    roe: float | None = None
    gross_margin: float | None = None
    operating_margin: float | None = None
    net_margin: float | None = None
    debt_to_equity: float | None = None
    revenue_growth: float | None = None
    earnings_growth: float | None = None
    fcf_yield: float | None = None


def _trailing(
    snapshots: Sequence[FundamentalsSnapshot], end: int
) -> tuple[dict[str, float | None], FundamentalsSnapshot, str] | None:
    """TTM flows ending at ``snapshots[end]`` and the snapshot that closes them."""
    last = snapshots[end]
    if last.period == "annual":
        return {f: getattr(last, f) for f in _FLOWS}, last, "annual"
    quarters = [s for s in snapshots[: end + 1] if s.period == "quarterly"][-4:]
    span = (quarters[-1].period_end - quarters[0].period_end).days if quarters else 0
    if len(quarters) < 4 or span > 300:
        return None
    flows: dict[str, float | None] = {}
    for field in _FLOWS:
        values = [getattr(q, field) for q in quarters]
        flows[field] = None if any(v is None for v in values) else float(sum(values))
    return flows, last, "ttm"


def _latest_trailing(
    snapshots: Sequence[FundamentalsSnapshot], before: dt.date | None = None
) -> tuple[dict[str, float | None], FundamentalsSnapshot, str] | None:
    for end in range(len(snapshots) - 1, -1, -1):
        if before is not None and snapshots[end].period_end > before:
            continue
        found = _trailing(snapshots, end)
        if found is not None:
            return found
    return None


def _ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or denominator is None or denominator == 0:
        return None
    return numerator / denominator


def compute_ratios(
    snapshots: Sequence[FundamentalsSnapshot], price: float
) -> FundamentalRatios | None:
    """Ratios from ``snapshots`` (sorted by period end) at ``price``; None without data."""
    if not snapshots:
        return None
    ordered = sorted(snapshots, key=lambda s: s.period_end)
    current = _latest_trailing(ordered)
    if current is None:
        return None
    flows, last, basis = current
    balance = last
    shares = balance.shares_outstanding
    market_cap = price * shares if shares else None
    eps = flows["eps"]
    if eps is None and flows["net_income"] is not None and shares:
        eps = flows["net_income"] / shares
    year_ago = _latest_trailing(ordered, before=last.period_end - dt.timedelta(days=330))
    revenue_growth = earnings_growth = None
    if year_ago is not None:
        prior = year_ago[0]
        rev, prev_rev = flows["revenue"], prior["revenue"]
        if rev is not None and prev_rev:
            revenue_growth = rev / prev_rev - 1
        ni, prev_ni = flows["net_income"], prior["net_income"]
        if ni is not None and prev_ni is not None and prev_ni > 0:
            earnings_growth = ni / prev_ni - 1
    equity = balance.total_equity
    return FundamentalRatios(
        period_end=last.period_end,
        filing_date=last.filing_date,
        basis=basis,
        pe=price / eps if eps is not None and eps > 0 else None,
        ps=_ratio(market_cap, flows["revenue"]),
        roe=_ratio(flows["net_income"], equity) if equity and equity > 0 else None,
        gross_margin=_ratio(flows["gross_profit"], flows["revenue"]),
        operating_margin=_ratio(flows["operating_income"], flows["revenue"]),
        net_margin=_ratio(flows["net_income"], flows["revenue"]),
        debt_to_equity=_ratio(balance.total_debt, equity) if equity and equity > 0 else None,
        revenue_growth=revenue_growth,
        earnings_growth=earnings_growth,
        fcf_yield=_ratio(flows["free_cash_flow"], market_cap),
    )

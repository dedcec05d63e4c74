from __future__ import annotations

import datetime as dt

import pytest

from stockagents.core.types import FundamentalsSnapshot
from stockagents.features.fundamentals import compute_ratios


def _annual(year: int, revenue: float, net_income: float, **extra: float) -> FundamentalsSnapshot:
    return FundamentalsSnapshot(
        symbol="ABC",
        period_end=dt.date(year, 12, 31),
        filing_date=dt.date(year + 1, 2, 15),
        period="annual",
        revenue=revenue,
        net_income=net_income,
        **extra,
    )


def _quarter(end: dt.date, revenue: float, net_income: float) -> FundamentalsSnapshot:
    return FundamentalsSnapshot(
        symbol="ABC",
        period_end=end,
        filing_date=end + dt.timedelta(days=40),
        period="quarterly",
        revenue=revenue,
        net_income=net_income,
        eps=net_income / 10,
        shares_outstanding=10,
        total_equity=500,
        total_debt=250,
    )


def test_annual_ratios_and_growth() -> None:
    snapshots = [
        _annual(2021, 1000, 100),
        _annual(
            2022,
            1200,
            150,
            eps=1.5,
            shares_outstanding=100,
            total_equity=600,
            total_debt=300,
            gross_profit=480,
            operating_income=240,
            free_cash_flow=120,
        ),
    ]
    r = compute_ratios(snapshots, price=30.0)
    assert r is not None
    assert r.basis == "annual"
    assert r.pe == pytest.approx(20.0)
    assert r.ps == pytest.approx(30 * 100 / 1200)
    assert r.roe == pytest.approx(0.25)
    assert r.gross_margin == pytest.approx(0.4)
    assert r.operating_margin == pytest.approx(0.2)
    assert r.net_margin == pytest.approx(0.125)
    assert r.debt_to_equity == pytest.approx(0.5)
    assert r.revenue_growth == pytest.approx(0.2)
    assert r.earnings_growth == pytest.approx(0.5)
    assert r.fcf_yield == pytest.approx(120 / 3000)


def test_ttm_from_four_quarters() -> None:
    ends = [dt.date(2022, 3, 31), dt.date(2022, 6, 30), dt.date(2022, 9, 30), dt.date(2022, 12, 31)]
    quarters = [_quarter(e, 100 + i, 10) for i, e in enumerate(ends)]
    r = compute_ratios(quarters, price=20.0)
    assert r is not None
    assert r.basis == "ttm"
    # TTM EPS = 4 * 1.0; P/E = 20 / 4.
    assert r.pe == pytest.approx(5.0)
    assert r.net_margin == pytest.approx(40 / 406)
    assert r.revenue_growth is None  # no TTM a year earlier


def test_loss_maker_has_no_pe() -> None:
    r = compute_ratios([_annual(2022, 100, -20, eps=-0.2)], price=10.0)
    assert r is not None
    assert r.pe is None
    assert r.net_margin == pytest.approx(-0.2)


def test_no_data() -> None:
    assert compute_ratios([], price=10.0) is None
    three = [_quarter(dt.date(2022, m, 28), 1, 1) for m in (3, 6, 9)]
    assert compute_ratios(three, price=10.0) is None

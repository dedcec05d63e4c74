"""Seeded synthetic company fundamentals: the fundamental analyst's input offline.

This module owns the documented ranges below and the sampler that draws a
``CompanyProfile`` (a price and two annual ``FundamentalsSnapshot``) from them. It knows
nothing about how ratios are computed or read; ``features.fundamentals.compute_ratios``
turns a profile into the ratios the agent sees, and the tests check that those ratios land
in these ranges.

Sector ranges (annual; margins and growth as fractions; revenue in USD, log-uniform)::

    sector       revenue    gross    operating  net      growth    ROE      D/E
    technology   1e9-4e11   .45-.80  .10-.40    .08-.30  -.05-.30  .12-.45  0.0-1.0
    healthcare   1e9-3e11   .40-.75  .08-.30    .05-.22  -.05-.15  .08-.30  0.1-1.2
    financials   2e9-2e11   (none)   .20-.45    .15-.35  -.05-.12  .08-.18  0.5-3.0
    energy       2e9-4e11   .20-.45  .05-.25    .03-.18  -.20-.25  .06-.25  0.2-1.0
    consumer     1e9-6e11   .25-.60  .05-.20    .03-.14  -.05-.12  .10-.40  0.2-1.5
    industrials  1e9-1e11   .20-.40  .06-.18    .04-.12  -.05-.12  .10-.30  0.3-1.5
    utilities    1e9-5e10   .30-.55  .12-.28    .06-.16  -.02-.08  .07-.12  1.0-2.0

Financials report no gross profit (``gross_profit`` is None, so gross margin is None).
The operating margin is drawn as 1.2-1.6x the net margin, kept inside the sector's
operating range; the gross margin lies between operating margin + 0.10 and the top of the
sector's range. Equity is net income / ROE; debt is equity x D/E.

Archetypes (``ARCHETYPES``; drawn with ``ARCHETYPE_WEIGHTS`` when not given)::

    archetype   growth        net margin            P/E     other
    steady      sector        sector                12-28
    growth      .25-.80       lower half of sector  35-90   D/E x 0.5
    value       -.05-.05      sector                6-13
    loss_maker  .00-.60       -.40 to -.05          none    P/S 1-10, equity .3-1.5 x revenue
    distressed  -.35 to -.08  -.25 to -.03          none    P/S .1-.8, equity .05-.3 x revenue,
                                                            D/E 2-6, price $1-15
    stale       as steady; the latest filing is 200-400 days old

Profitable companies are priced at EPS x P/E; loss-makers at revenue x P/S per share,
with an operating margin of 0.6-1.0x their (negative) net margin.

Dates: the latest annual report is filed 20 - 120 days before ``as_of`` (stale: 200 -
400), 30 - 90 days after its fiscal year end (a month end); the prior year's report ends
one year earlier, so year-on-year growth is computable. Prices are log-uniform in
$8 - $400 except for distressed companies.
"""

from __future__ import annotations

import calendar
import datetime as dt
import math
import random
from dataclasses import dataclass

from stockagents.core.types import FundamentalsSnapshot

__all__ = ["ARCHETYPES", "SECTOR_RANGES", "CompanyProfile", "SectorRanges", "sample_profile"]

Range = tuple[float, float]


@dataclass(frozen=True)
class SectorRanges:
    """The documented ranges of one sector (see the module docstring)."""

    revenue: Range
    gross_margin: Range | None
    operating_margin: Range
    net_margin: Range
    growth: Range
    roe: Range
    debt_to_equity: Range


SECTOR_RANGES: dict[str, SectorRanges] = {
    "technology": SectorRanges((1e9, 4e11), (0.45, 0.80), (0.10, 0.40), (0.08, 0.30),
                               (-0.05, 0.30), (0.12, 0.45), (0.0, 1.0)),
    "healthcare": SectorRanges((1e9, 3e11), (0.40, 0.75), (0.08, 0.30), (0.05, 0.22),
                               (-0.05, 0.15), (0.08, 0.30), (0.1, 1.2)),
    "financials": SectorRanges((2e9, 2e11), None, (0.20, 0.45), (0.15, 0.35),
                               (-0.05, 0.12), (0.08, 0.18), (0.5, 3.0)),
    "energy": SectorRanges((2e9, 4e11), (0.20, 0.45), (0.05, 0.25), (0.03, 0.18),
                           (-0.20, 0.25), (0.06, 0.25), (0.2, 1.0)),
    "consumer": SectorRanges((1e9, 6e11), (0.25, 0.60), (0.05, 0.20), (0.03, 0.14),
                             (-0.05, 0.12), (0.10, 0.40), (0.2, 1.5)),
    "industrials": SectorRanges((1e9, 1e11), (0.20, 0.40), (0.06, 0.18), (0.04, 0.12),
                                (-0.05, 0.12), (0.10, 0.30), (0.3, 1.5)),
    "utilities": SectorRanges((1e9, 5e10), (0.30, 0.55), (0.12, 0.28), (0.06, 0.16),
                              (-0.02, 0.08), (0.07, 0.12), (1.0, 2.0)),
}  # fmt: skip
SECTORS = tuple(SECTOR_RANGES)

ARCHETYPES = ("steady", "growth", "value", "loss_maker", "distressed", "stale")
ARCHETYPE_WEIGHTS: dict[str, float] = {
    "steady": 0.30,
    "growth": 0.20,
    "value": 0.20,
    "loss_maker": 0.12,
    "distressed": 0.08,
    "stale": 0.10,
}
PE_RANGES: dict[str, Range] = {
    "steady": (12.0, 28.0),
    "growth": (35.0, 90.0),
    "value": (6.0, 13.0),
    "stale": (12.0, 28.0),
}
GROWTH_RANGES: dict[str, Range] = {
    "growth": (0.25, 0.80),
    "value": (-0.05, 0.05),
    "loss_maker": (0.0, 0.60),
    "distressed": (-0.35, -0.08),
}
LOSS_MARGINS: dict[str, Range] = {"loss_maker": (-0.40, -0.05), "distressed": (-0.25, -0.03)}
FILING_AGE_DAYS: dict[bool, tuple[int, int]] = {False: (20, 120), True: (200, 400)}

_KNOWN_SECTORS = {
    "AAPL": "technology", "MSFT": "technology", "GOOGL": "technology", "NVDA": "technology",
    "META": "technology", "INTC": "technology", "ORCL": "technology", "AMZN": "consumer",
    "TSLA": "consumer", "WMT": "consumer", "KO": "consumer", "PG": "consumer", "DIS": "consumer",
    "JPM": "financials", "V": "financials", "JNJ": "healthcare", "PFE": "healthcare",
    "UNH": "healthcare", "XOM": "energy", "CVX": "energy", "CAT": "industrials",
    "BA": "industrials", "NEE": "utilities",
}  # fmt: skip


@dataclass(frozen=True)
class CompanyProfile:
    """A synthetic company at ``as_of``: price and its last two annual reports, oldest first."""

    symbol: str
    sector: str
    archetype: str
    price: float
    snapshots: list[FundamentalsSnapshot]


def _uniform(rng: random.Random, bounds: Range) -> float:
    return rng.uniform(*bounds)


def _log_uniform(rng: random.Random, bounds: Range) -> float:
    return math.exp(rng.uniform(math.log(bounds[0]), math.log(bounds[1])))


def _month_end(year: int, month: int) -> dt.date:
    return dt.date(year, month, calendar.monthrange(year, month)[1])


def _dates(
    rng: random.Random, as_of: dt.date, stale: bool
) -> tuple[tuple[dt.date, dt.date], tuple[dt.date, dt.date]]:
    """(period_end, filing_date) of the latest and the prior annual report."""
    filed = as_of - dt.timedelta(days=rng.randint(*FILING_AGE_DAYS[stale]))
    approx = filed - dt.timedelta(days=rng.randint(30, 59))
    # The last month end at least 30 days before filing: a lag of 30..90 days.
    end = _month_end(approx.year, approx.month)
    if (filed - end).days < 30:
        end = end.replace(day=1) - dt.timedelta(days=1)
    prior_end = _month_end(end.year - 1, end.month)
    prior_lag = min(90, max(30, (filed - end).days + rng.randint(-5, 5)))
    prior_filed = prior_end + dt.timedelta(days=prior_lag)
    return (end, filed), (prior_end, prior_filed)


def _margins(
    rng: random.Random, ranges: SectorRanges, archetype: str
) -> tuple[float | None, float, float]:
    """(gross, operating, net) margins of the latest year."""
    if archetype in LOSS_MARGINS:
        net = _uniform(rng, LOSS_MARGINS[archetype])
        operating = net * rng.uniform(0.6, 1.0)
    else:
        low, high = ranges.net_margin
        if archetype == "growth":
            high = (low + high) / 2
        net = rng.uniform(low, high)
        op_low, op_high = ranges.operating_margin
        operating = min(max(net * rng.uniform(1.2, 1.6), op_low, net), op_high)
    gross: float | None = None
    if ranges.gross_margin is not None:
        g_low, g_high = ranges.gross_margin
        gross = rng.uniform(min(max(g_low, operating + 0.10), g_high), g_high)
    return gross, operating, net


@dataclass(frozen=True)
class _Figures:
    """The latest period's figures a profile is drawn with (margins as shares of revenue)."""

    revenue: float
    growth: float
    gross: float | None
    operating: float
    net: float
    price: float
    shares: float
    equity: float
    debt_to_equity: float
    fcf: float

    @property
    def net_income(self) -> float:
        """Revenue times the net margin."""
        return self.revenue * self.net


def _archetype_and_sector(
    rng: random.Random, symbol: str, archetype: str | None, sector: str | None
) -> tuple[str, str]:
    """Draw the archetype and sector that are not given (see ``sample_profile``); check both."""
    if archetype is None:
        archetype = rng.choices(ARCHETYPES, weights=[ARCHETYPE_WEIGHTS[a] for a in ARCHETYPES])[0]
    if archetype not in ARCHETYPES:
        raise ValueError(f"unknown archetype {archetype!r}; use one of {', '.join(ARCHETYPES)}")
    if sector is None:
        sector = _KNOWN_SECTORS.get(symbol.upper()) or rng.choice(SECTORS)
    if sector not in SECTOR_RANGES:
        raise ValueError(f"unknown sector {sector!r}; use one of {', '.join(SECTORS)}")
    return archetype, sector


def _figures(rng: random.Random, ranges: SectorRanges, archetype: str) -> _Figures:
    """Draw the latest period's figures (a loss-maker is priced on sales, others on P/E)."""
    revenue = _log_uniform(rng, ranges.revenue)
    growth = _uniform(rng, GROWTH_RANGES.get(archetype, ranges.growth))
    gross, operating, net = _margins(rng, ranges, archetype)
    net_income = revenue * net
    if archetype in LOSS_MARGINS:
        price = _log_uniform(rng, (1.0, 15.0) if archetype == "distressed" else (8.0, 400.0))
        ps = _uniform(rng, (0.1, 0.8) if archetype == "distressed" else (1.0, 10.0))
        shares = revenue * ps / price
        low, high = (0.05, 0.3) if archetype == "distressed" else (0.3, 1.5)
        equity = revenue * rng.uniform(low, high)
        d_e = (
            rng.uniform(2.0, 6.0)
            if archetype == "distressed"
            else _uniform(rng, ranges.debt_to_equity)
        )
        fcf = revenue * rng.uniform(-0.3, 0.0)
    else:
        price = _log_uniform(rng, (8.0, 400.0))
        pe = _uniform(rng, PE_RANGES[archetype])
        shares = net_income * pe / price
        equity = net_income / _uniform(rng, ranges.roe)
        d_e = _uniform(rng, ranges.debt_to_equity) * (0.5 if archetype == "growth" else 1.0)
        fcf = net_income * rng.uniform(0.7, 1.3)
    shares = float(round(shares))
    return _Figures(revenue, growth, gross, operating, net, price, shares, equity, d_e, fcf)


def _latest_snapshot(
    symbol: str, end: dt.date, filed: dt.date, f: _Figures
) -> FundamentalsSnapshot:
    """The latest filing, from the drawn figures."""
    return FundamentalsSnapshot(
        symbol=symbol,
        period_end=end,
        filing_date=filed,
        revenue=f.revenue,
        gross_profit=None if f.gross is None else f.revenue * f.gross,
        operating_income=f.revenue * f.operating,
        net_income=f.net_income,
        eps=f.net_income / f.shares,
        shares_outstanding=f.shares,
        total_equity=f.equity,
        total_debt=f.equity * f.debt_to_equity,
        free_cash_flow=f.fcf,
    )


def _prior_snapshot(
    rng: random.Random, symbol: str, end: dt.date, filed: dt.date, f: _Figures
) -> FundamentalsSnapshot:
    """The filing a year before: revenue by the growth, the rest drifted a little."""
    prior_revenue = f.revenue / (1.0 + f.growth)
    prior_shares = float(round(f.shares * rng.uniform(0.96, 1.04)))
    drift = rng.uniform(-0.02, 0.02)
    prior_net = prior_revenue * (f.net + drift)
    prior_operating = prior_revenue * (f.operating + drift)
    return FundamentalsSnapshot(
        symbol=symbol,
        period_end=end,
        filing_date=filed,
        revenue=prior_revenue,
        gross_profit=None if f.gross is None else prior_revenue * (f.gross + drift),
        operating_income=prior_operating,
        net_income=prior_net,
        eps=prior_net / prior_shares,
        shares_outstanding=prior_shares,
        total_equity=f.equity * rng.uniform(0.85, 1.05),
        total_debt=f.equity * f.debt_to_equity * rng.uniform(0.85, 1.15),
        free_cash_flow=f.fcf * rng.uniform(0.8, 1.2),
    )


def sample_profile(
    rng: random.Random,
    symbol: str,
    as_of: dt.date,
    archetype: str | None = None,
    *,
    sector: str | None = None,
) -> CompanyProfile:
    """A seeded synthetic profile for ``symbol`` at ``as_of``; see the module docstring.

    ``archetype`` is drawn with ``ARCHETYPE_WEIGHTS`` when None; ``sector`` is the known
    sector of a large US ticker or drawn uniformly when None.
    """
    archetype, sector = _archetype_and_sector(rng, symbol, archetype, sector)
    figures = _figures(rng, SECTOR_RANGES[sector], archetype)
    (end, filed), (prior_end, prior_filed) = _dates(rng, as_of, archetype == "stale")
    latest = _latest_snapshot(symbol, end, filed, figures)
    prior = _prior_snapshot(rng, symbol, prior_end, prior_filed, figures)
    return CompanyProfile(symbol, sector, archetype, round(figures.price, 2), [prior, latest])

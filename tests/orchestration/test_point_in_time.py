"""Point-in-time safety: garbage after t changes nothing decided at t."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from stockagents.data.calendar import market_close_utc
from stockagents.data.csv_dir import CsvPriceProvider
from stockagents.data.factory import DataSources
from stockagents.data.fundamentals import FileFundamentalsProvider
from stockagents.data.news import JsonlNewsProvider
from stockagents.data.sample import SamplePriceProvider
from stockagents.orchestration import SystemCoordinator

DATES = [dt.date(2014, 3, 3), dt.date(2018, 12, 24), dt.date(2020, 3, 16), dt.date(2023, 6, 30)]
SYMBOL = "AAPL"


def _prices(symbol: str) -> pd.DataFrame:
    provider = SamplePriceProvider()
    return provider.prices(symbol, as_of=provider.date_range(symbol)[1])


def _garbage_prices(frame: pd.DataFrame, after: dt.date, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    out = frame.copy()
    mask = out.index > pd.Timestamp(after)
    n = int(mask.sum())
    close = rng.uniform(1, 5000, n)
    open_ = rng.uniform(1, 5000, n)
    out.loc[mask, "open"] = open_
    out.loc[mask, "close"] = close
    out.loc[mask, "high"] = np.maximum(open_, close) * rng.uniform(1.0, 1.5, n)
    out.loc[mask, "low"] = np.minimum(open_, close) * rng.uniform(0.5, 1.0, n)
    out.loc[mask, "volume"] = rng.uniform(0, 1e10, n)
    return out


def _news(dates: list[dt.date], seed: int) -> list[dict[str, Any]]:
    """Stories spread around ``dates``, each a few hours before or after the close."""
    rng = np.random.default_rng(seed)
    tones = [
        "beats estimates and raises guidance",
        "misses estimates, shares plunge",
        "holds meeting",
    ]
    stories = []
    for day in dates:
        for offset_hours in (-60, -30, -5, -0.02, 0.02, 5, 30):
            published = market_close_utc(day) + dt.timedelta(hours=offset_hours)
            tone = tones[int(rng.integers(len(tones)))]
            stories.append(
                {
                    "symbol": SYMBOL,
                    "published_at": published.isoformat(),
                    "headline": f"Apple {tone}",
                }
            )
    return stories


def _fundamentals() -> list[dict[str, Any]]:
    records = []
    for year in range(2012, 2024):
        records.append(
            {
                "symbol": SYMBOL,
                "period_end": f"{year}-09-30",
                "filing_date": f"{year}-11-01",
                "revenue": 1e9 * (100 + 10 * (year - 2012)),
                "net_income": 1e9 * (20 + year - 2012),
                "eps": 1.0 + 0.1 * (year - 2012),
                "shares_outstanding": 1.6e10,
                "total_equity": 6e10,
                "total_debt": 1e11,
            }
        )
    return records


def _garbage_news(stories: list[dict[str, Any]], after: dt.datetime) -> list[dict[str, Any]]:
    out = []
    for story in stories:
        if dt.datetime.fromisoformat(story["published_at"]) > after:
            story = {**story, "headline": "Apple bankruptcy fraud lawsuit collapse plunge"}
        out.append(story)
    # Extra stories after the cutoff, one of them a second after.
    out.append(
        {
            "symbol": SYMBOL,
            "published_at": (after + dt.timedelta(seconds=1)).isoformat(),
            "headline": "Apple soars to record on blowout quarter",
        }
    )
    return out


def _garbage_fundamentals(records: list[dict[str, Any]], after: dt.date) -> list[dict[str, Any]]:
    out = []
    for record in records:
        if dt.date.fromisoformat(record["filing_date"]) > after:
            record = {
                **record,
                "revenue": 1.0,
                "net_income": -1e12,
                "eps": -99.0,
                "total_debt": 1e15,
            }
        out.append(record)
    return out


def _sources(
    root: Path, prices: pd.DataFrame, news: list[dict[str, Any]], fundamentals: list[dict[str, Any]]
) -> DataSources:
    root.mkdir(parents=True)
    prices.reset_index().assign(date=lambda f: f["date"].dt.strftime("%Y-%m-%d")).to_csv(
        root / f"{SYMBOL}.csv", index=False
    )
    (root / "news.jsonl").write_text("\n".join(json.dumps(s) for s in news) + "\n")
    (root / "fundamentals.json").write_text(json.dumps(fundamentals))
    return DataSources(
        CsvPriceProvider(root),
        JsonlNewsProvider(root / "news.jsonl"),
        FileFundamentalsProvider(root / "fundamentals.json"),
    )


def _stable(rec: Any) -> dict[str, Any]:
    return rec.model_dump(exclude={"timings_ms", "data_source", "warnings"})


@pytest.mark.parametrize("as_of", DATES, ids=str)
def test_future_garbage_changes_nothing(tmp_path: Path, as_of: dt.date) -> None:
    prices = _prices(SYMBOL)
    news = _news(DATES, seed=7)
    fundamentals = _fundamentals()
    cutoff = market_close_utc(as_of)
    clean = _sources(tmp_path / "clean", prices, news, fundamentals)
    dirty = _sources(
        tmp_path / "dirty",
        _garbage_prices(prices, as_of, seed=as_of.toordinal()),
        _garbage_news(news, cutoff),
        _garbage_fundamentals(fundamentals, as_of),
    )
    with SystemCoordinator(sources=clean) as a, SystemCoordinator(sources=dirty) as b:
        rec_clean = a.analyze_symbol(SYMBOL, as_of=as_of)
        rec_dirty = b.analyze_symbol(SYMBOL, as_of=as_of)
        # The garbage is real: analyses after t differ.
        later = as_of + dt.timedelta(days=7)
        assert _stable(a.analyze_symbol(SYMBOL, as_of=later)) != _stable(
            b.analyze_symbol(SYMBOL, as_of=later)
        )
    assert _stable(rec_clean) == _stable(rec_dirty)
    # And the inputs were really there: news and fundamentals had something to say.
    assert rec_clean.signals["news"].confidence > 0
    assert rec_clean.signals["fundamental"].confidence > 0

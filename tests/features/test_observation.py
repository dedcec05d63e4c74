from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from stockagents.core.errors import DateOutOfRangeError
from stockagents.data.csv_dir import CsvPriceProvider
from stockagents.data.factory import DataSources
from stockagents.data.fundamentals import NoFundamentalsProvider
from stockagents.data.news import NoNewsProvider
from stockagents.features.observation import MIN_BARS, ObservationBuilder
from tests.helpers import make_bars, write_price_dir


def test_observation_at_a_date(full_sources: DataSources) -> None:
    obs = ObservationBuilder(full_sources).build("aapl", dt.date(2023, 6, 30))
    assert obs.symbol == "AAPL"
    assert obs.data_date == dt.date(2023, 6, 30)
    assert obs.source == "sample"
    assert obs.price == pytest.approx(193.70842, rel=1e-6)
    assert obs.technical["rsi_14"] is not None
    assert obs.technical["sma_200"] is not None
    assert obs.news is not None
    # Stories to 19:59 UTC (15:59 New York) are in; the 20:01 UTC story is not.
    headlines = [item.headline for item in obs.news.items]
    assert "Apple to hold product event in September" in headlines
    assert not any("plunge" in h for h in headlines)
    assert obs.fundamentals is not None
    assert obs.fundamentals.period_end == dt.date(2022, 9, 24)


def test_weekend_uses_last_bar_and_notes_it(sample_sources: DataSources) -> None:
    obs = ObservationBuilder(sample_sources).build("AAPL", dt.date(2023, 7, 2))
    assert obs.as_of == dt.date(2023, 7, 2)
    assert obs.data_date == dt.date(2023, 6, 30)
    assert any("no bar on 2023-07-02" in note for note in obs.notes)


def test_missing_sources_give_reasons(sample_sources: DataSources) -> None:
    obs = ObservationBuilder(sample_sources).build("NVDA", dt.date(2020, 3, 16))
    assert obs.news is None
    assert obs.news_reason is not None
    assert "no news source" in obs.news_reason
    assert obs.fundamentals is None
    assert obs.fundamentals_reason is not None


def test_dates_outside_the_data(sample_sources: DataSources) -> None:
    builder = ObservationBuilder(sample_sources)
    with pytest.raises(DateOutOfRangeError, match="data starts 2013-01-02"):
        builder.build("AAPL", dt.date(2012, 12, 31))
    with pytest.raises(DateOutOfRangeError, match=r"ends 2023-09-21.*on or before 2023-09-21"):
        builder.build("AAPL", dt.date(2023, 10, 15))
    with pytest.raises(DateOutOfRangeError, match=rf"needs at least {MIN_BARS}"):
        builder.build("AAPL", dt.date(2013, 1, 10))


def test_short_history_still_analyses(tmp_path: Path) -> None:
    prices = CsvPriceProvider(
        write_price_dir(tmp_path, {"NEW": make_bars([10 + i * 0.1 for i in range(60)])})
    )
    sources = DataSources(prices, NoNewsProvider(), NoFundamentalsProvider())
    obs = ObservationBuilder(sources).build("NEW")
    assert obs.bars == 60
    assert obs.technical["sma_200"] is None
    assert obs.technical["sma_20"] is not None

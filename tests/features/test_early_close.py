"""Point in time through the real observation path, on an early close and a holiday:
2023-07-03 closed at 13:00 New York and 2023-07-04 was a holiday."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from stockagents.data.calendar import MARKET_TZ
from stockagents.data.factory import DataSources
from stockagents.data.fundamentals import NoFundamentalsProvider
from stockagents.data.news import JsonlNewsProvider
from stockagents.data.sample import SamplePriceProvider
from stockagents.features.observation import ObservationBuilder

BEFORE = "Apple wins approval for new chip before the early close"
AFTER = "Apple announces buyback after the early close"
HOLIDAY = "Apple opens new office in Dublin on the holiday"


def _story(headline: str, day: str, hour: int, minute: int) -> dict[str, str]:
    at = dt.datetime.combine(dt.date.fromisoformat(day), dt.time(hour, minute), MARKET_TZ)
    return {"symbol": "AAPL", "published_at": at.isoformat(), "headline": headline}


@pytest.fixture
def builder(tmp_path: Path) -> ObservationBuilder:
    stories = [
        _story(BEFORE, "2023-07-03", 12, 30),
        _story(AFTER, "2023-07-03", 13, 30),
        _story(HOLIDAY, "2023-07-04", 10, 0),
    ]
    path = tmp_path / "news.jsonl"
    path.write_text("".join(json.dumps(s) + "\n" for s in stories), encoding="utf-8")
    sources = DataSources(SamplePriceProvider(), JsonlNewsProvider(path), NoFundamentalsProvider())
    return ObservationBuilder(sources)


def _headlines(builder: ObservationBuilder, day: dt.date) -> set[str]:
    news = builder.build("AAPL", day).news
    assert news is not None
    return {item.headline for item in news.items}


def test_a_story_after_the_early_close_waits_for_the_next_session(
    builder: ObservationBuilder,
) -> None:
    assert _headlines(builder, dt.date(2023, 7, 3)) == {BEFORE}
    assert _headlines(builder, dt.date(2023, 7, 5)) == {BEFORE, AFTER, HOLIDAY}


def test_a_holiday_sees_what_its_last_session_saw(builder: ObservationBuilder) -> None:
    observation = builder.build("AAPL", dt.date(2023, 7, 4))
    assert observation.data_date == dt.date(2023, 7, 3)
    assert observation.news is not None
    assert {item.headline for item in observation.news.items} == {BEFORE}

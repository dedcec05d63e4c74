from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from stockagents.core.errors import DataError, DataFormatError
from stockagents.data.calendar import market_close_utc
from stockagents.data.news import JsonlNewsProvider, NoNewsProvider, parse_timestamp


def test_as_of_is_respected(fixtures_dir: Path) -> None:
    provider = JsonlNewsProvider(fixtures_dir / "news_aapl.jsonl")
    close = market_close_utc(dt.date(2023, 6, 30))  # 20:00 UTC in summer
    assert close == dt.datetime(2023, 6, 30, 20, 0, tzinfo=dt.UTC)
    items = provider.news("AAPL", as_of=close, lookback_days=7)
    headlines = [i.headline for i in items]
    assert "Apple to hold product event in September" in headlines  # 19:59 UTC
    assert all("plunge" not in h for h in headlines)  # 20:01 UTC, after the close
    assert all("Undated" not in h for h in headlines)
    assert all(i.published_at <= close for i in items)
    assert [i.published_at for i in items] == sorted(i.published_at for i in items)
    # Lookback: the 2023-06-20 story is more than 7 days before.
    assert "Apple shares surge to a record high" not in headlines
    assert provider.skipped_undated == 1


def test_multi_symbol_story_and_offsets(fixtures_dir: Path) -> None:
    provider = JsonlNewsProvider(fixtures_dir / "news_aapl.jsonl")
    msft = provider.news("msft", as_of=market_close_utc(dt.date(2023, 6, 30)))
    assert len(msft) == 1
    # "2023-06-29T15:00:00-04:00" is 19:00 UTC.
    assert msft[0].published_at == dt.datetime(2023, 6, 29, 19, 0, tzinfo=dt.UTC)


def test_directory_of_files(tmp_path: Path) -> None:
    (tmp_path / "a.jsonl").write_text(
        '{"symbol": "X", "published_at": 1688140800, "title": "From epoch"}\n'
    )
    (tmp_path / "b.jsonl").write_text(
        '{"symbol": "X", "published_at": "2023-06-30T10:00:00", "headline": "Naive is UTC"}\n'
    )
    items = JsonlNewsProvider(tmp_path).news(
        "X", as_of=dt.datetime(2023, 7, 1, tzinfo=dt.UTC), lookback_days=3
    )
    # 1688140800 is 2023-06-30 16:00 UTC, after the naive 10:00 (read as UTC).
    assert [i.headline for i in items] == ["Naive is UTC", "From epoch"]
    assert items[0].published_at.hour == 10
    assert items[1].published_at.hour == 16


def test_malformed_line_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"symbol": "X", "published_at": "2023-01-01", "headline": "ok"}\n{oops\n')
    with pytest.raises(DataFormatError, match=rf"{path.name}:2: not valid JSON"):
        JsonlNewsProvider(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist"):
        JsonlNewsProvider(tmp_path / "none.jsonl")


def test_no_news_provider_says_why() -> None:
    provider = NoNewsProvider()
    assert provider.news("AAPL", as_of=dt.datetime.now(dt.UTC)) == []
    assert provider.unavailable_reason is not None
    assert "no news source" in provider.unavailable_reason


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2023-06-30T12:00:00Z", dt.datetime(2023, 6, 30, 12, tzinfo=dt.UTC)),
        ("2023-06-30T08:00:00-04:00", dt.datetime(2023, 6, 30, 12, tzinfo=dt.UTC)),
        (0, dt.datetime(1970, 1, 1, tzinfo=dt.UTC)),
        ("2023-06-30", dt.datetime(2023, 6, 30, 23, 59, 59, tzinfo=dt.UTC)),
        ("", None),
        (None, None),
        ("yesterday", None),
    ],
)
def test_parse_timestamp(value: object, expected: dt.datetime | None) -> None:
    assert parse_timestamp(value) == expected

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


def _story(**fields: object) -> str:
    import json

    record = {"symbol": "AAPL", "published_at": "2023-06-30T12:00:00Z", "headline": "H"}
    record.update(fields)
    return json.dumps({k: v for k, v in record.items() if v is not ...}) + "\n"


@pytest.mark.parametrize(
    ("line", "needle"),
    [
        (_story(published_at=1688140800000), "published_at: 1688140800000 looks like milliseconds"),
        (_story(published_at=1e300), "published_at: 1e+300 looks like milliseconds"),
        (_story(published_at=[2023, 6, 30]), "published_at: a list is not a time"),
        (_story(published_at={"t": 1}), "published_at: a dict is not a time"),
        (_story(published_at=True), "published_at: a bool is not a time"),
        (_story(published_at="last tuesday"), "published_at: 'last tuesday' is not an ISO 8601"),
        (_story(published_at="2023-13-45"), "published_at: '2023-13-45' is not a date"),
        (_story(published_at=..., datetime="soon"), "datetime: 'soon' is not an ISO 8601"),
        (_story(symbols="AAPL"), "symbols must be a list of symbols"),
        (_story(symbol={"ticker": "AAPL"}), "symbol {'ticker': 'AAPL'} is a dict, not a symbol"),
        (_story(symbol="../etc/passwd"), "symbol '../etc/passwd' is not a valid symbol"),
        (_story(symbols=["AAPL", 5]), "symbols: symbol 5 is a int, not a symbol"),
        (_story(headline=42), "headline: expected text, got a int"),
        (_story(summary=["a"]), "summary: expected text, got a list"),
        ("[1, 2]\n", "expected a JSON object per line"),
        ('{"published_at": NaN}\n', "published_at: nan is not a time"),
    ],
)
def test_malformed_story_is_one_line_with_file_line_and_field(
    tmp_path: Path, line: str, needle: str
) -> None:
    path = tmp_path / "news.jsonl"
    path.write_text(_story() + line)
    with pytest.raises(DataFormatError) as info:
        JsonlNewsProvider(path)
    message = str(info.value)
    assert message.startswith(f"{path}:2: ")
    assert needle in message
    assert "\n" not in message


def test_not_utf8_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "news.jsonl"
    path.write_bytes(_story().encode() + b'{"headline": "caf\xe9"}\n')
    with pytest.raises(
        DataFormatError, match=rf"{path.name}:2: not UTF-8 text .*save the file as UTF-8"
    ):
        JsonlNewsProvider(path)


def test_incomplete_stories_are_skipped_and_counted_by_reason(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "news.jsonl"
    path.write_text(
        _story()
        + _story(published_at=None)
        + _story(published_at="")
        + _story(symbol=None)
        + _story(headline="  ")
        + _story(symbols=[], symbol="MSFT")
    )
    with caplog.at_level("WARNING", logger="stockagents.data.news"):
        provider = JsonlNewsProvider(path)
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert warnings == [
        f"{path}: skipped 4 stories: 2 without a publish time, 1 without a symbol, "
        "1 without a headline"
    ]
    assert provider.skipped_undated == 2
    as_of = dt.datetime(2023, 7, 1, tzinfo=dt.UTC)
    assert len(provider.news("AAPL", as_of)) == 1
    assert len(provider.news("MSFT", as_of)) == 1  # an empty "symbols" falls back to "symbol"


def test_directory_without_jsonl_files(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"holds no \*\.jsonl files"):
        JsonlNewsProvider(tmp_path)


def test_parse_timestamp_is_lenient_for_upstream_apis() -> None:
    assert parse_timestamp(1688140800000) is None
    assert parse_timestamp(float("nan")) is None
    assert parse_timestamp([1]) is None

"""Finnhub, NewsAPI and Serper news and the chain, against the loopback fake APIs."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

import pytest

from stockagents.core.config import DataConfig
from stockagents.core.errors import DataError, ProviderUnavailableError, UpstreamError
from stockagents.core.settings import Settings
from stockagents.core.types import NewsItem
from stockagents.data.calendar import market_close_utc
from stockagents.data.factory import build_sources
from stockagents.data.online._common import dedupe, url_key
from stockagents.data.online._http import ApiClient
from stockagents.data.online.chain import NewsChain
from stockagents.data.online.finnhub import FinnhubNewsProvider, parse_finnhub_news
from stockagents.data.online.newsapi import NewsApiProvider
from stockagents.data.online.serper import SerperNewsProvider, parse_serper_date
from tests.fake_data_api import (
    FINNHUB_KEY,
    NEWSAPI_KEY,
    SERPER_KEY,
    DataApi,
    DataReply,
    finnhub_url,
)

CLOSE = market_close_utc(dt.date(2023, 6, 30))  # 2023-06-30 20:00 UTC
UTC = dt.UTC


def _settings(**keys: str) -> Settings:
    return Settings(_env_file=None, **keys)  # type: ignore[call-arg]


def _config(api: DataApi, tmp_path: Path, provider: str, **news: object) -> DataConfig:
    http = {"cache_dir": str(tmp_path / "cache"), "max_retries": 1}
    return DataConfig.model_validate(
        {
            "news": {
                "provider": provider,
                "finnhub": {"base_url": f"{api.url}/finnhub", **http},
                "newsapi": {"base_url": f"{api.url}/newsapi", **http},
                "serper": {"base_url": f"{api.url}/serper", **http},
                **news,
            }
        }
    )


ALL_KEYS = {
    "FINNHUB_API_KEY": FINNHUB_KEY,
    "NEWSAPI_KEY": NEWSAPI_KEY,
    "SERPER_API_KEY": SERPER_KEY,
}


def _client(name: str, tmp_path: Path, header: str, key: str) -> ApiClient:
    return ApiClient(
        name,
        cache_dir=tmp_path,
        secret_headers={header: key},
        max_retries=2,
        sleep=lambda s: None,
    )


def test_finnhub_news_is_normalised_and_point_in_time(data_api: DataApi, tmp_path: Path) -> None:
    client = _client("finnhub", tmp_path, "X-Finnhub-Token", FINNHUB_KEY)
    provider = FinnhubNewsProvider(client, f"{data_api.url}/finnhub")
    items = provider.news("aapl", as_of=CLOSE, lookback_days=7)
    client.close()
    assert items == [
        NewsItem(
            symbol="AAPL",
            published_at=dt.datetime(2023, 6, 29, 14, 0, tzinfo=UTC),
            headline="Apple nears $3 trillion valuation",
            summary="",
            source="Bloomberg",
            url=finnhub_url("0f1e2d3c4b5a69788796a5b4c3d2e1f0"),
        ),
        NewsItem(
            symbol="AAPL",
            published_at=dt.datetime(2023, 6, 29 + 1, 19, 59, tzinfo=UTC),
            headline="Apple to hold product event in September",
            summary="One minute before the close.",
            source="Reuters",
            url=finnhub_url("9c0b1a2d3e4f5061728394a5b6c7d8e9"),
        ),
    ]  # the 20:01 UTC story (after the close) and the undated one never appear
    assert all(item.published_at.tzinfo == UTC for item in items)
    (request,) = data_api.to("/finnhub/company-news")
    assert request.query == {"symbol": "AAPL", "from": "2023-06-23", "to": "2023-06-30"}
    assert request.headers["x-finnhub-token"] == FINNHUB_KEY  # the key is never in the URL


def test_finnhub_next_day_sees_the_after_hours_story(data_api: DataApi, tmp_path: Path) -> None:
    client = _client("finnhub", tmp_path, "X-Finnhub-Token", FINNHUB_KEY)
    provider = FinnhubNewsProvider(client, f"{data_api.url}/finnhub")
    items = provider.news("AAPL", as_of=market_close_utc(dt.date(2023, 7, 3)), lookback_days=4)
    client.close()
    assert [i.headline for i in items] == [
        "Apple to hold product event in September",
        "Apple shares plunge after hours",
    ]


def test_finnhub_empty_and_unknown_symbol(data_api: DataApi, tmp_path: Path) -> None:
    client = _client("finnhub", tmp_path, "X-Finnhub-Token", FINNHUB_KEY)
    provider = FinnhubNewsProvider(client, f"{data_api.url}/finnhub")
    assert provider.news("MSFT", as_of=CLOSE) == []
    data_api.plan("/finnhub/company-news", DataReply(body=[]))
    assert provider.news("AAPL", as_of=market_close_utc(dt.date(2023, 1, 3))) == []
    client.close()


def test_newsapi_news_and_removed_articles(data_api: DataApi, tmp_path: Path) -> None:
    client = _client("newsapi", tmp_path, "X-Api-Key", NEWSAPI_KEY)
    provider = NewsApiProvider(client, f"{data_api.url}/newsapi")
    items = provider.news("AAPL", as_of=CLOSE, lookback_days=7)
    client.close()
    assert [(i.published_at, i.headline, i.source, i.summary, i.url) for i in items] == [
        (
            dt.datetime(2023, 6, 28, 9, 30, tzinfo=UTC),
            "Vision Pro developer kits ship",
            "The Verge",
            "Kits for developers.",
            "https://example.org/vision",
        ),
        (
            dt.datetime(2023, 6, 29, 13, 0, tzinfo=UTC),
            "Apple nears $3 Trillion valuation!",
            "CNBC",
            "Shares of Apple rose.",
            "http://example.com/3t/",
        ),
    ]  # "[Removed]" is dropped
    (request,) = data_api.to("/newsapi/everything")
    assert request.query["from"] == "2023-06-23T20:00:00Z"
    assert request.query["to"] == "2023-06-30T20:00:00Z"
    assert request.query["sortBy"] == "publishedAt"
    assert "apiKey" not in request.query


def test_newsapi_error_body_is_one_line(data_api: DataApi, tmp_path: Path) -> None:
    client = _client("newsapi", tmp_path, "X-Api-Key", "wrong")
    provider = NewsApiProvider(client, f"{data_api.url}/newsapi")
    with pytest.raises(DataError) as caught:
        provider.news("AAPL", as_of=CLOSE)
    client.close()
    assert str(caught.value) == (
        f"newsapi: HTTP 401 (key rejected) from {data_api.url}/newsapi/everything; "
        "check the provider's credentials"
    )  # NewsAPI's own words are not quoted for a rejected key


@pytest.mark.parametrize(
    ("name", "path", "header", "key", "error_body"),
    [
        (
            "finnhub",
            "/finnhub/company-news",
            "X-Finnhub-Token",
            FINNHUB_KEY,
            {"error": "You don't have access to this resource."},
        ),
        (
            "newsapi",
            "/newsapi/everything",
            "X-Api-Key",
            NEWSAPI_KEY,
            {"status": "error", "code": "maximumResultsReached", "message": "Upgrade."},
        ),
        ("serper", "/serper/news", "X-API-KEY", SERPER_KEY, {"message": "Not enough credits"}),
    ],
)
def test_a_200_error_body_is_not_cached(
    data_api: DataApi,
    tmp_path: Path,
    name: str,
    path: str,
    header: str,
    key: str,
    error_body: dict[str, object],
) -> None:
    providers = {
        "finnhub": FinnhubNewsProvider,
        "newsapi": NewsApiProvider,
        "serper": SerperNewsProvider,
    }
    client = _client(name, tmp_path, header, key)
    provider = providers[name](client, f"{data_api.url}/{name}")
    data_api.plan(path, DataReply(200, body=error_body))
    with pytest.raises(DataError, match=f"^{name}: "):
        provider.news("AAPL", as_of=CLOSE)
    assert not list(tmp_path.glob("**/*.json"))  # the error answer was not cached
    assert provider.news("AAPL", as_of=CLOSE)  # so the next call asks again and gets news
    client.close()
    assert len(data_api.to(path)) == 2


def test_newsapi_429_then_ok(data_api: DataApi, tmp_path: Path) -> None:
    waits: list[float] = []
    client = ApiClient(
        "newsapi",
        cache_dir=tmp_path,
        secret_headers={"X-Api-Key": NEWSAPI_KEY},
        rate_limit_per_minute=60_000.0,
        sleep=waits.append,
    )
    data_api.plan(
        "/newsapi/everything",
        DataReply(
            429,
            {"Retry-After": "1"},
            {"status": "error", "code": "rateLimited", "message": "Too many requests."},
        ),
    )
    items = NewsApiProvider(client, f"{data_api.url}/newsapi").news("AAPL", as_of=CLOSE)
    client.close()
    assert len(items) == 2
    assert waits == [1.0]
    assert len(data_api.to("/newsapi/everything")) == 2


def test_serper_relative_dates_only_live(data_api: DataApi, tmp_path: Path) -> None:
    client = _client("serper", tmp_path, "X-API-KEY", SERPER_KEY)
    provider = SerperNewsProvider(client, f"{data_api.url}/serper")
    now = dt.datetime.now(UTC)
    live = provider.news("AAPL", as_of=now + dt.timedelta(minutes=1), lookback_days=7)
    assert [i.headline for i in live] == ["Apple stock hits a record"]  # Jun 29, 2023 is old
    assert abs((now - live[0].published_at) - dt.timedelta(hours=2)) < dt.timedelta(minutes=1)
    # Historical: the relative story is dropped; the dated one counts from the end of its
    # day in US Pacific time (07:00 UTC the next day in summer), so not at the 29th's close.
    assert provider.news("AAPL", as_of=market_close_utc(dt.date(2023, 6, 29))) == []
    (dated,) = provider.news("AAPL", as_of=CLOSE)
    client.close()
    assert dated.published_at == dt.datetime(2023, 6, 30, 6, 59, 59, tzinfo=UTC)
    assert (dated.headline, dated.source, dated.summary, dated.url) == (
        "Apple suppliers rally",
        "Barron's",
        "Suppliers up.",
        "https://example.net/suppliers",
    )
    assert len(data_api.to("/serper/news")) == 1  # the later calls were cache hits
    assert data_api.to("/serper/news")[0].body == {"q": "AAPL stock", "num": 50}


@pytest.mark.parametrize(
    ("text", "delta", "relative"),
    [
        ("2 hours ago", dt.timedelta(hours=2), True),
        ("1 day ago", dt.timedelta(days=1), True),
        ("an hour ago", dt.timedelta(hours=1), True),
        ("3 weeks ago", dt.timedelta(weeks=3), True),
        ("45 mins ago", dt.timedelta(minutes=45), True),
    ],
)
def test_serper_relative_dates(text: str, delta: dt.timedelta, relative: bool) -> None:
    fetched = dt.datetime(2024, 3, 1, 12, tzinfo=UTC)
    assert parse_serper_date(text, fetched) == (fetched - delta, relative)


def test_serper_unreadable_dates() -> None:
    fetched = dt.datetime(2024, 3, 1, 12, tzinfo=UTC)
    assert parse_serper_date("", fetched) == (None, False)
    assert parse_serper_date("sometime", fetched) == (None, False)
    assert parse_serper_date("Jan 5, 2024", fetched) == (
        dt.datetime(2024, 1, 6, 7, 59, 59, tzinfo=UTC),  # PST: UTC-8
        False,
    )


def test_serper_malformed_json(data_api: DataApi, tmp_path: Path) -> None:
    client = _client("serper", tmp_path, "X-API-KEY", SERPER_KEY)
    data_api.plan("/serper/news", DataReply(raw=b"<html>oops"))
    with pytest.raises(DataError, match=r"^serper: .* is not valid JSON \(HTTP 200\)"):
        SerperNewsProvider(client, f"{data_api.url}/serper").news("AAPL", as_of=CLOSE)
    client.close()


def test_dedupe_keeps_the_earliest_copy() -> None:
    late = NewsItem(
        symbol="X",
        published_at=dt.datetime(2023, 1, 2, tzinfo=UTC),
        headline="Big News: X wins",
        url="https://a.com/x",
    )
    early = NewsItem(
        symbol="X",
        published_at=dt.datetime(2023, 1, 1, tzinfo=UTC),
        headline="big news -- x wins",
        summary="",
        url="https://b.com/other",
    )
    same_url = NewsItem(
        symbol="X",
        published_at=dt.datetime(2023, 1, 3, tzinfo=UTC),
        headline="Different words",
        summary="filled",
        url="http://www.a.com/x/?ref=1",
    )
    other = NewsItem(symbol="X", published_at=dt.datetime(2023, 1, 4, tzinfo=UTC), headline="Other")
    # "late" has early's headline; "same_url" has late's URL: one story, the earliest
    # copy, its empty summary filled from a later copy.
    assert dedupe([same_url, late, other, early]) == [
        early.model_copy(update={"summary": "filled"}),
        other,
    ]


def test_finnhub_redirect_links_are_distinct_stories(data_api: DataApi, tmp_path: Path) -> None:
    base = dt.datetime(2023, 6, 26, 14, 0, tzinfo=UTC)
    data_api.finnhub_news = [
        {
            "category": "company",
            "datetime": int((base + dt.timedelta(hours=5 * n)).timestamp()),
            "headline": f"Apple story number {n}",
            "id": n,
            "image": "",
            "related": "AAPL",
            "source": "Reuters",
            "summary": "",
            "url": finnhub_url(f"{n:032x}"),
        }
        for n in range(5)
    ]
    client = _client("finnhub", tmp_path, "X-Finnhub-Token", FINNHUB_KEY)
    items = FinnhubNewsProvider(client, f"{data_api.url}/finnhub").news("AAPL", as_of=CLOSE)
    client.close()
    assert [i.headline for i in items] == [f"Apple story number {n}" for n in range(5)]


def test_finnhub_bad_datetimes_skip_the_story() -> None:
    def story(stamp: object, headline: str) -> dict[str, object]:
        return {"datetime": stamp, "headline": headline, "url": finnhub_url(headline)}

    good = int(dt.datetime(2023, 6, 29, 14, tzinfo=UTC).timestamp())
    records = [
        story(good * 1000, "milliseconds"),
        story(-5, "negative"),
        story(float("nan"), "nan"),
        story(10**20, "absurd"),
        story("2023-06-29", "text"),
        story(True, "bool"),
        story(good, "fine"),
    ]
    assert [i.headline for i in parse_finnhub_news("AAPL", records)] == ["fine"]


def test_url_key_keeps_the_query_but_not_tracking() -> None:
    assert url_key(finnhub_url("a")) != url_key(finnhub_url("b"))
    assert url_key("https://www.a.com/x/?utm_source=t&ref=1&fbclid=z&id=7") == url_key(
        "http://a.com/x?id=7"
    )
    assert url_key("https://a.com/x?b=2&a=1") == url_key("https://a.com/x?a=1&b=2")


def test_same_headline_days_apart_is_two_stories() -> None:
    def item(day: int, hour: int = 14) -> NewsItem:
        return NewsItem(
            symbol="X",
            published_at=dt.datetime(2023, 1, day, hour, tzinfo=UTC),
            headline="X shares fall",
        )

    # 4 days apart: two stories; 30 hours apart: one, the earliest.
    assert dedupe([item(5), item(1)]) == [item(1), item(5)]
    assert dedupe([item(2, 20), item(1)]) == [item(1)]


def test_chain_merges_and_dedupes(data_api: DataApi, tmp_path: Path) -> None:
    config = _config(data_api, tmp_path, "chain", providers=["finnhub", "newsapi"])
    sources = build_sources(config, _settings(**ALL_KEYS))
    assert sources.news.name == "finnhub+newsapi"
    assert sources.news.unavailable_reason is None
    items = sources.news.news("AAPL", as_of=CLOSE, lookback_days=7)
    assert [(i.published_at, i.headline, i.source) for i in items] == [
        (
            dt.datetime(2023, 6, 28, 9, 30, tzinfo=UTC),
            "Vision Pro developer kits ship",
            "The Verge",
        ),
        # Finnhub (14:00) and NewsAPI (13:00) carry the same story: the earlier copy stays
        (dt.datetime(2023, 6, 29, 13, 0, tzinfo=UTC), "Apple nears $3 Trillion valuation!", "CNBC"),
        (
            dt.datetime(2023, 6, 30, 19, 59, tzinfo=UTC),
            "Apple to hold product event in September",
            "Reuters",
        ),
    ]
    assert all(i.published_at <= CLOSE for i in items)


def test_chain_skips_a_provider_without_its_key(
    data_api: DataApi, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = _config(data_api, tmp_path, "chain")
    with caplog.at_level(logging.WARNING):
        sources = build_sources(config, _settings(NEWSAPI_KEY=NEWSAPI_KEY))
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [
        "news provider skipped: finnhub: FINNHUB_API_KEY is not set; add it to the "
        "environment or .env to use finnhub",
        "news provider skipped: serper: SERPER_API_KEY is not set; add it to the "
        "environment or .env to use serper",
    ]
    assert sources.news.name == "newsapi"
    assert len(sources.news.news("AAPL", as_of=CLOSE)) == 2
    assert data_api.to("/finnhub/company-news") == []


def test_no_key_at_all_is_no_source_not_a_crash(data_api: DataApi, tmp_path: Path) -> None:
    chain = build_sources(_config(data_api, tmp_path, "chain"), _settings()).news
    assert chain.unavailable_reason is not None
    assert chain.unavailable_reason.startswith("no news provider is available: finnhub: ")
    assert "NEWSAPI_KEY" in chain.unavailable_reason
    single = build_sources(_config(data_api, tmp_path, "finnhub"), _settings()).news
    assert single.unavailable_reason == (
        "finnhub: FINNHUB_API_KEY is not set; add it to the environment or .env to use finnhub"
    )
    with pytest.raises(ProviderUnavailableError, match="FINNHUB_API_KEY"):
        single.news("AAPL", as_of=CLOSE)
    assert data_api.requests == []


def test_chain_survives_one_failing_provider(
    data_api: DataApi, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = _config(data_api, tmp_path, "chain", providers=["finnhub", "newsapi"])
    data_api.plan("/finnhub/company-news", DataReply(raw=b"not json"))
    sources = build_sources(config, _settings(**ALL_KEYS))
    with caplog.at_level(logging.WARNING):
        items = sources.news.news("AAPL", as_of=CLOSE)
    assert [i.source for i in items] == ["The Verge", "CNBC"]
    assert any("news provider finnhub failed" in r.getMessage() for r in caplog.records)


def test_chain_fails_when_every_provider_fails(data_api: DataApi, tmp_path: Path) -> None:
    config = _config(data_api, tmp_path, "chain", providers=["finnhub"])
    data_api.plan("/finnhub/company-news", DataReply(raw=b"not json"))
    chain = build_sources(config, _settings(**ALL_KEYS)).news
    assert isinstance(chain, NewsChain)
    with pytest.raises(DataError, match=r"^finnhub: the answer from .* is not valid JSON"):
        chain.news("AAPL", as_of=CLOSE)  # a chain of one fails as its provider does


def test_chain_of_several_fails_with_each_failure(data_api: DataApi, tmp_path: Path) -> None:
    config = _config(data_api, tmp_path, "chain", providers=["finnhub", "newsapi"])
    data_api.plan("/finnhub/company-news", DataReply(raw=b"not json"))
    data_api.plan("/newsapi/everything", DataReply(429, {"Retry-After": "3600"}, {}))
    chain = build_sources(config, _settings(**ALL_KEYS)).news
    with pytest.raises(UpstreamError) as caught:
        chain.news("AAPL", as_of=CLOSE)
    assert str(caught.value).startswith("every news provider failed: finnhub: the answer from")
    assert "; newsapi: rate-limited by newsapi" in str(caught.value)
    assert caught.value.summary == (
        "invalid answer from finnhub (HTTP 200); HTTP 429 from newsapi (rate limited)"
    )

"""The online providers' config: defaults offline, fix-it errors, no key in any log."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

import pytest

from stockagents.core.config import AppConfig, DataConfig, EdgarConfig, load_config
from stockagents.core.errors import ConfigError
from stockagents.core.settings import Settings
from stockagents.data.calendar import market_close_utc
from stockagents.data.factory import build_sources
from stockagents.data.fundamentals import NoFundamentalsProvider
from stockagents.data.news import NoNewsProvider
from stockagents.data.online.finnhub import FinnhubFundamentalsProvider, FinnhubNewsProvider
from tests.fake_data_api import FINNHUB_KEY, DataApi, DataReply


def test_default_config_is_offline() -> None:
    sources = build_sources(AppConfig().data, Settings(_env_file=None))  # type: ignore[call-arg]
    assert isinstance(sources.news, NoNewsProvider)
    assert isinstance(sources.fundamentals, NoFundamentalsProvider)


@pytest.mark.parametrize(
    ("news", "needle"),
    [
        ({"provider": "chain", "providers": []}, "provider 'chain' needs providers"),
        ({"providers": ["finnhub", "finnhub"]}, "lists a provider twice"),
        ({"providers": ["reuters"]}, "expected a list of finnhub, newsapi and serper"),
        ({"provider": "bloomberg"}, "'finnhub', 'newsapi', 'serper' or 'chain'"),
        ({"finnhub": {"base_url": "finnhub.io"}}, "base_url must start with http://"),
        ({"finnhub": {"rate_limit_per_minute": 0}}, "the most requests per minute"),
        ({"serper": {"api_key": "x"}}, "data.news.serper.api_key: Extra inputs"),
        ({"newsapi": {"query": "{ticker} stock"}}, "uses {ticker}; the only placeholder is"),
        ({"serper": {"query": "{0} news"}}, "uses {0}; the only placeholder is {symbol}"),
        ({"serper": {"query": "{symbol news"}}, "is not a valid template"),
    ],
)
def test_bad_online_config_says_the_fix(news: dict[str, object], needle: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config({"data": {"news": news}})
    assert needle in str(caught.value)


def test_no_key_in_logs_or_errors(
    data_api: DataApi, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = load_config(
        {
            "data": {
                "news": {
                    "provider": "finnhub",
                    "finnhub": {
                        "base_url": f"{data_api.url}/finnhub",
                        "cache_dir": str(tmp_path),
                        "max_retries": 1,
                    },
                }
            }
        }
    ).data
    settings = Settings(_env_file=None, FINNHUB_API_KEY=FINNHUB_KEY)  # type: ignore[call-arg]
    provider = build_sources(config, settings).news
    data_api.plan("/finnhub/company-news", DataReply(503, {"Retry-After": "0"}, {}))
    with caplog.at_level(logging.DEBUG):
        items = provider.news("AAPL", as_of=market_close_utc(dt.date(2023, 6, 30)))
    assert len(items) == 2
    assert caplog.records  # httpx and the client did log the requests...
    assert all(FINNHUB_KEY not in r.getMessage() for r in caplog.records)  # ...without the key
    assert all("token" not in r.query for r in data_api.requests)


def test_one_rate_limiter_per_provider_per_process(data_api: DataApi, tmp_path: Path) -> None:
    http = {"base_url": f"{data_api.url}/finnhub", "cache_dir": str(tmp_path)}
    config = DataConfig.model_validate(
        {
            "news": {"provider": "finnhub", "finnhub": {**http, "rate_limit_per_minute": 60}},
            "fundamentals": {
                "provider": "finnhub",
                "finnhub": {**http, "rate_limit_per_minute": 30},
            },
        }
    )
    settings = Settings(_env_file=None, FINNHUB_API_KEY=FINNHUB_KEY)  # type: ignore[call-arg]
    sources = build_sources(config, settings)
    again = build_sources(config, settings)
    news, fundamentals = sources.news, sources.fundamentals
    assert isinstance(news, FinnhubNewsProvider)
    assert isinstance(fundamentals, FinnhubFundamentalsProvider)
    assert news.client.limiter is fundamentals.client.limiter  # one Finnhub account
    assert news.client.limiter.interval == 2.0  # the stricter of 60 and 30 a minute
    assert isinstance(again.news, FinnhubNewsProvider)
    assert again.news.client is news.client  # same settings: the same client


def test_edgar_defaults_to_five_requests_a_second() -> None:
    assert EdgarConfig().rate_limit_per_minute == 300.0


def test_offline_config_builds_no_network_object(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("an HTTP client was built for an offline config")

    monkeypatch.setattr("stockagents.data.online._http.ApiClient.__init__", refuse)
    monkeypatch.setattr("stockagents.data.factory.load_settings", refuse)  # no .env read
    for data in (
        DataConfig(),
        DataConfig.model_validate(
            {"news": {"provider": "none"}, "fundamentals": {"provider": "none"}}
        ),
    ):
        sources = build_sources(data)
        assert isinstance(sources.news, NoNewsProvider)
        assert isinstance(sources.fundamentals, NoFundamentalsProvider)

"""The analysts with online sources: they see the loopback APIs' data point in time,
and a missing key or a failing service is "no source", never a crash."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from stockagents.core.config import DataConfig
from stockagents.core.settings import Settings
from stockagents.data.factory import DataSources, build_sources
from stockagents.data.online.edgar import SPLIT_CAVEAT
from stockagents.data.sample import SamplePriceProvider
from stockagents.orchestration import SystemCoordinator
from tests.fake_data_api import EDGAR_AGENT, FINNHUB_KEY, DataApi, DataReply


def _sources(api: DataApi, tmp_path: Path, **keys: str) -> DataSources:
    http = {"cache_dir": str(tmp_path / "cache"), "max_retries": 0}
    config = DataConfig.model_validate(
        {
            "news": {
                "provider": "chain",
                "providers": ["finnhub", "newsapi"],
                "finnhub": {"base_url": f"{api.url}/finnhub", **http},
                "newsapi": {"base_url": f"{api.url}/newsapi", **http},
            },
            "fundamentals": {
                "provider": "edgar",
                "edgar": {
                    "base_url": f"{api.url}/sec",
                    "tickers_url": f"{api.url}/sec/files/company_tickers.json",
                    **http,
                },
            },
        }
    )
    built = build_sources(config, Settings(_env_file=None, **keys))  # type: ignore[call-arg]
    return DataSources(SamplePriceProvider(), built.news, built.fundamentals)


def test_analysts_read_online_sources(data_api: DataApi, tmp_path: Path) -> None:
    sources = _sources(data_api, tmp_path, FINNHUB_API_KEY=FINNHUB_KEY, SEC_USER_AGENT=EDGAR_AGENT)
    with SystemCoordinator(sources=sources) as coordinator:
        observation = coordinator.observations.build("AAPL", dt.date(2023, 6, 30))
    assert observation.news is not None
    assert observation.news.count == 2  # Finnhub's two stories by the close, none after
    assert observation.news_reason is None
    assert observation.fundamentals is not None  # the FY2022 10-K, filed 2022-10-28
    assert observation.fundamentals.filing_date == dt.date(2022, 10, 28)
    # EDGAR's EPS is as reported while the prices are split-adjusted: the analysis says so.
    assert SPLIT_CAVEAT in observation.notes
    assert "not split-adjusted" in SPLIT_CAVEAT


def test_no_keys_and_a_failing_service_are_no_source(data_api: DataApi, tmp_path: Path) -> None:
    sources = _sources(data_api, tmp_path)
    with SystemCoordinator(sources=sources) as coordinator:
        result = coordinator.analyze_symbol("AAPL", as_of="2023-06-30")
    news = result.signals["news"]
    assert (news.signal.value, news.confidence) == ("neutral", 0.0)
    assert data_api.requests == []

    sources = _sources(data_api, tmp_path, FINNHUB_API_KEY=FINNHUB_KEY, SEC_USER_AGENT=EDGAR_AGENT)
    data_api.plan("/finnhub/company-news", DataReply(500, body={"error": "down"}))
    data_api.plan("/sec/files/company_tickers.json", DataReply(500, body={}))
    with SystemCoordinator(sources=sources) as coordinator:
        observation = coordinator.observations.build("AAPL", dt.date(2023, 6, 30))
    assert observation.news is None
    assert observation.news_reason is not None
    assert observation.news_reason == "the news source failed: HTTP 500 from finnhub"
    assert observation.fundamentals is None
    assert observation.fundamentals_reason is not None
    assert observation.fundamentals_reason == "the fundamentals source failed: HTTP 500 from edgar"

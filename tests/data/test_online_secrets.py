"""No key leaves through an error of an online provider.

The fake APIs answer 401, 403 or 500 with a careless body that repeats the request's
headers (the key among them) plain, base64 and URL-quoted. The error, its log lines,
warnings and the analysis built on the failing source hold the provider and the status,
never the key in any form. Logging is left unredacted here (``unredacted_logging``):
these tests see what the providers themselves say, not what the second line of defence
(``core.redact``) would clean up after them.
"""

from __future__ import annotations

import datetime as dt
import logging
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from stockagents.core.config import DataConfig
from stockagents.core.errors import UpstreamError
from stockagents.core.settings import Settings
from stockagents.data.calendar import market_close_utc
from stockagents.data.factory import DataSources, build_sources
from stockagents.data.online._http import ApiClient
from stockagents.data.sample import SamplePriceProvider
from stockagents.orchestration import SystemCoordinator
from tests.fake_data_api import DataApi, DataReply
from tests.leaks import BAD_KEY, leaks, unredacted_logging

CLOSE = market_close_utc(dt.date(2023, 6, 30))

#: provider -> (its route on the fake, the variable of its key)
PROVIDERS = {
    "finnhub": ("/finnhub/company-news", "FINNHUB_API_KEY"),
    "newsapi": ("/newsapi/everything", "NEWSAPI_KEY"),
    "serper": ("/serper/news", "SERPER_API_KEY"),
}
REASONS = {401: "key rejected", 403: "access refused", 500: "upstream error"}


@pytest.fixture(autouse=True)
def _raw_logging() -> Iterator[None]:
    with unredacted_logging():
        yield


def _sources(api: DataApi, tmp_path: Path, provider: str) -> DataSources:
    http = {"cache_dir": str(tmp_path / "cache"), "max_retries": 0}
    config = DataConfig.model_validate(
        {
            "news": {
                "provider": provider,
                "providers": list(PROVIDERS),
                **{name: {"base_url": f"{api.url}/{name}", **http} for name in PROVIDERS},
            }
        }
    )
    settings = Settings(
        _env_file=None, FINNHUB_API_KEY=BAD_KEY, NEWSAPI_KEY=BAD_KEY, SERPER_API_KEY=BAD_KEY
    )
    built = build_sources(config, settings)
    return DataSources(SamplePriceProvider(), built.news, built.fundamentals)


@pytest.mark.parametrize("status", [401, 403, 500])
@pytest.mark.parametrize("name", list(PROVIDERS))
def test_an_echoing_error_leaks_no_key(
    data_api: DataApi,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    name: str,
    status: int,
) -> None:
    path, variable = PROVIDERS[name]
    data_api.plan(path, DataReply(status, echo=True))
    provider = _sources(data_api, tmp_path, name).news
    with caplog.at_level(logging.DEBUG), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(UpstreamError) as error:
            provider.news("AAPL", as_of=CLOSE)
    (request,) = data_api.to(path)
    assert BAD_KEY in request.headers.values()  # the key was sent, and echoed...
    message = str(error.value)
    assert leaks(message, BAD_KEY) == []  # ...but is not in the error
    assert message.startswith(f"{name}: HTTP {status} ({REASONS[status]}")
    assert "\n" not in message
    if status in (401, 403):
        assert message.endswith(f"; check {variable}")
        assert "bad key" not in message  # the body is not quoted at all for a key error
    else:
        assert "(upstream error: bad key ***" in message  # a redacted excerpt
        assert len(message) < 400
    assert (error.value.provider, error.value.summary) == (name, f"HTTP {status} from {name}")
    assert all(leaks(r.getMessage(), BAD_KEY) == [] for r in caplog.records)
    assert all(leaks(str(w.message), BAD_KEY) == [] for w in caught)


def test_a_key_in_the_url_is_not_shown(data_api: DataApi, tmp_path: Path) -> None:
    client = ApiClient("finnhub", cache_dir=tmp_path, max_retries=0, auth_hint="check X")
    data_api.plan("/finnhub/company-news", DataReply(401, echo=True))
    url = f"{data_api.url}/finnhub/company-news?symbol=AAPL&token={BAD_KEY}"
    with pytest.raises(UpstreamError) as error:
        client.get_json(url)
    client.close()
    assert str(error.value) == (
        f"finnhub: HTTP 401 (key rejected) from {data_api.url}/finnhub/company-news"
        "?symbol=AAPL&token=***; check X"
    )


def test_a_200_error_answer_is_quoted_short_and_redacted(data_api: DataApi, tmp_path: Path) -> None:
    data_api.plan("/finnhub/company-news", DataReply(200, echo=True))
    provider = _sources(data_api, tmp_path, "finnhub").news
    with pytest.raises(UpstreamError) as error:
        provider.news("AAPL", as_of=CLOSE)
    message = str(error.value)
    assert message.startswith("finnhub: the answer is an error (bad key *** *** ***; request")
    assert leaks(message, BAD_KEY) == []
    assert error.value.summary == "error answer from finnhub"


def test_the_analysis_says_the_status_not_the_body(
    data_api: DataApi, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    data_api.plan("/finnhub/company-news", DataReply(401, echo=True))
    data_api.plan("/newsapi/everything", DataReply(500, echo=True))
    data_api.plan("/serper/news", DataReply(403, echo=True))
    sources = _sources(data_api, tmp_path, "chain")
    with caplog.at_level(logging.DEBUG), SystemCoordinator(sources=sources) as coordinator:
        result = coordinator.analyze_symbol("AAPL", as_of="2023-06-30")
    news = result.signals["news"]
    assert news.reasoning == (
        "No news view: the news source failed: HTTP 401 from finnhub; HTTP 500 from newsapi; "
        "HTTP 403 from serper."
    )
    assert leaks(result.model_dump_json(), BAD_KEY) == []
    assert "bad key" not in result.model_dump_json()  # no upstream words reach an answer
    # the whole message, with each fix, is logged once for whoever runs it
    (logged,) = [r.getMessage() for r in caplog.records if "source failed" in r.getMessage()]
    assert "check FINNHUB_API_KEY" in logged
    assert "check SERPER_API_KEY" in logged
    assert all(leaks(r.getMessage(), BAD_KEY) == [] for r in caplog.records)

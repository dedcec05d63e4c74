"""The shared HTTP client against a real loopback server: retries, Retry-After, the
rate limit, the cache, one-line errors."""

from __future__ import annotations

import datetime as dt
import email.utils
import json
import logging
from pathlib import Path

import pytest

from stockagents.core.errors import DataError, UpstreamError
from stockagents.data.calendar import market_close_utc
from stockagents.data.online._common import filings_cutoff, news_cutoff
from stockagents.data.online._http import ApiClient, Fetched, RateLimiter
from tests.fake_data_api import FINNHUB_KEY, DataApi, DataReply, running_api


class FakeClock:
    """A clock that only moves when something sleeps; records every sleep."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(round(seconds, 6))
        self.now += seconds


def _client(
    tmp_path: Path, clock: FakeClock, *, key: str = FINNHUB_KEY, **kwargs: object
) -> ApiClient:
    options: dict[str, object] = {
        "max_retries": 3,
        "rate_limit_per_minute": 6000.0,
        "cache_dir": tmp_path / "cache",
        "secret_headers": {"X-Finnhub-Token": key},
        "auth_hint": "check FINNHUB_API_KEY",
        "clock": clock,
        "sleep": clock.sleep,
        **kwargs,
    }
    return ApiClient("finnhub", **options)  # type: ignore[arg-type]


def _news_url(api: DataApi) -> str:
    return f"{api.url}/finnhub/company-news"


PARAMS = {"symbol": "AAPL", "from": "2023-06-23", "to": "2023-06-30"}


def test_429_retry_after_is_honoured(data_api: DataApi, tmp_path: Path) -> None:
    clock = FakeClock()
    data_api.plan(
        "/finnhub/company-news",
        DataReply(429, {"Retry-After": "1"}, {"error": "API limit reached."}),
    )
    client = _client(tmp_path, clock)
    fetched = client.get_json(_news_url(data_api), PARAMS)
    client.close()
    assert len(fetched.data) == 3  # the stories of 2023-06-29/30 (the undated one included)
    assert len(data_api.to("/finnhub/company-news")) == 2
    assert clock.sleeps == [1.0]  # exactly what Retry-After said, no backoff on top


def test_retry_after_as_http_date(data_api: DataApi, tmp_path: Path) -> None:
    clock = FakeClock()
    when = email.utils.formatdate(clock.now + 7, usegmt=True)
    data_api.plan("/finnhub/company-news", DataReply(503, {"Retry-After": when}, {}))
    client = _client(tmp_path, clock)
    client.get_json(_news_url(data_api), PARAMS)
    client.close()
    assert clock.sleeps == [7.0]


def test_5xx_backs_off_then_fails_in_one_line(data_api: DataApi, tmp_path: Path) -> None:
    clock = FakeClock()
    data_api.plan(
        "/finnhub/company-news", *[DataReply(500, body={"error": "internal"}) for _ in range(3)]
    )
    client = _client(tmp_path, clock, max_retries=2)
    with pytest.raises(DataError) as caught:
        client.get_json(_news_url(data_api), PARAMS)
    client.close()
    message = str(caught.value)
    assert "\n" not in message
    assert message == (
        f"finnhub: HTTP 500 (upstream error: internal) from {_news_url(data_api)} after 3 "
        "attempts; the service is failing; try again later"
    )
    assert isinstance(caught.value, UpstreamError)
    assert caught.value.summary == "HTTP 500 from finnhub"
    assert FINNHUB_KEY not in message
    assert clock.sleeps == [1.0, 2.0]  # exponential backoff without Retry-After
    assert len(data_api.to("/finnhub/company-news")) == 3


def test_retry_after_beyond_max_wait_fails_at_once(data_api: DataApi, tmp_path: Path) -> None:
    clock = FakeClock()
    data_api.plan("/finnhub/company-news", DataReply(429, {"Retry-After": "3600"}, {}))
    client = _client(tmp_path, clock, max_wait=30.0)
    with pytest.raises(DataError) as caught:
        client.get_json(_news_url(data_api), PARAMS)
    client.close()
    assert str(caught.value).endswith("; retry after 3600 s")
    assert "rate-limited by finnhub" in str(caught.value)
    assert clock.sleeps == []  # no early retry the server would refuse again
    assert len(data_api.requests) == 1


@pytest.mark.parametrize("status", [501, 520, 599])
def test_every_5xx_is_retried(data_api: DataApi, tmp_path: Path, status: int) -> None:
    clock = FakeClock()
    data_api.plan("/finnhub/company-news", DataReply(status, body={}))
    client = _client(tmp_path, clock)
    assert len(client.get_json(_news_url(data_api), PARAMS).data) == 3
    client.close()
    assert clock.sleeps == [1.0]


def test_one_request_has_a_deadline(data_api: DataApi, tmp_path: Path) -> None:
    clock = FakeClock()
    data_api.plan(
        "/finnhub/company-news", *[DataReply(503, {"Retry-After": "30"}, {}) for _ in range(5)]
    )
    client = _client(tmp_path, clock, max_retries=5, deadline=45.0)
    with pytest.raises(
        DataError,
        match=r"HTTP 503 \(upstream error\) from .* after 2 attempts and 30 s \(deadline 45 s\)",
    ):
        client.get_json(_news_url(data_api), PARAMS)
    client.close()
    assert clock.sleeps == [30.0]  # a second 30 s wait would pass the deadline


def test_rate_limit_runs_on_the_monotonic_clock(data_api: DataApi, tmp_path: Path) -> None:
    wall, steady = FakeClock(), FakeClock(start=100.0)
    client = _client(
        tmp_path,
        wall,
        rate_limit_per_minute=60.0,
        cache_dir=None,
        monotonic=steady,
        sleep=steady.sleep,
    )
    client.get_json(_news_url(data_api), PARAMS)
    wall.now -= 3600  # the wall clock is set back an hour (NTP, DST bug, ...)
    client.get_json(_news_url(data_api), PARAMS)
    client.close()
    assert steady.sleeps == [1.0]  # one interval, not an hour


def test_sec_rate_threshold_403_is_a_rate_limit(data_api: DataApi, tmp_path: Path) -> None:
    page = b"<html><h1>Your Request Rate Threshold Exceeded</h1>Your Request Rate "
    data_api.plan("/finnhub/company-news", DataReply(403, raw=page + b"Threshold Exceeded"))
    client = _client(tmp_path, FakeClock(), auth_hint="set SEC_USER_AGENT to 'Name email'")
    with pytest.raises(DataError) as caught:
        client.get_json(_news_url(data_api), PARAMS)
    client.close()
    assert "rate-limited by finnhub" in str(caught.value)
    assert "SEC_USER_AGENT" not in str(caught.value)


def test_other_httpx_errors_are_one_line(data_api: DataApi, tmp_path: Path) -> None:
    # A body that claims gzip but is not: httpx raises DecodingError, not a TransportError.
    data_api.plan(
        "/finnhub/company-news", DataReply(200, {"Content-Encoding": "gzip"}, raw=b"plain")
    )
    client = _client(tmp_path, FakeClock())
    with pytest.raises(DataError, match=r"^finnhub: .* failed \(DecodingError: .*\)") as caught:
        client.get_json(_news_url(data_api), PARAMS)
    client.close()
    assert "\n" not in str(caught.value)


def test_same_origin_redirect_is_followed(data_api: DataApi, tmp_path: Path) -> None:
    data_api.plan(
        "/finnhub/old", DataReply(301, {"Location": "/finnhub/company-news?symbol=AAPL"}, {})
    )
    client = _client(tmp_path, FakeClock())
    fetched = client.get_json(f"{data_api.url}/finnhub/old")
    client.close()
    assert isinstance(fetched.data, list)
    (request,) = data_api.to("/finnhub/company-news")
    assert request.headers["x-finnhub-token"] == FINNHUB_KEY


def test_cross_origin_redirect_keeps_the_key_home(data_api: DataApi, tmp_path: Path) -> None:
    with running_api() as elsewhere:  # another loopback port: another origin
        data_api.plan(
            "/finnhub/company-news",
            DataReply(302, {"Location": f"{elsewhere.url}/finnhub/company-news"}, {}),
        )
        client = _client(tmp_path, FakeClock())
        with pytest.raises(DataError, match="another host; not followed"):
            client.get_json(_news_url(data_api), PARAMS)
        client.close()
        assert elsewhere.requests == []


def test_bad_key_is_not_retried(data_api: DataApi, tmp_path: Path) -> None:
    clock = FakeClock()
    client = _client(tmp_path, clock, key="wrong")
    with pytest.raises(UpstreamError) as caught:
        client.get_json(_news_url(data_api), PARAMS)
    client.close()
    assert str(caught.value) == (
        f"finnhub: HTTP 401 (key rejected) from {_news_url(data_api)}; check FINNHUB_API_KEY"
    )  # the API's own words ("Invalid API key") are not quoted for a rejected key
    assert (caught.value.summary, caught.value.status) == ("HTTP 401 from finnhub", 401)
    assert len(data_api.requests) == 1
    assert clock.sleeps == []


def test_malformed_json_is_one_line(data_api: DataApi, tmp_path: Path) -> None:
    data_api.plan("/finnhub/company-news", DataReply(200, raw=b'[{"headline": "cut off'))
    client = _client(tmp_path, FakeClock())
    with pytest.raises(DataError) as caught:
        client.get_json(_news_url(data_api), PARAMS)
    client.close()
    assert "\n" not in str(caught.value)
    assert "is not valid JSON" in str(caught.value)
    assert not list((tmp_path / "cache").glob("**/*.json"))  # nothing cached


def test_connection_failure_is_retried(data_api: DataApi, tmp_path: Path) -> None:
    clock = FakeClock()
    client = _client(tmp_path, clock, timeout=0.3, max_retries=1)
    with pytest.raises(DataError, match=r"connection failed \(ConnectError\) after 2 attempts"):
        client.get_json("http://127.0.0.1:9/finnhub/company-news", PARAMS)  # nothing listens
    client.close()
    assert clock.sleeps == [1.0]


def test_cache_hit_sends_nothing_and_keeps_no_secret(data_api: DataApi, tmp_path: Path) -> None:
    clock = FakeClock()
    first = _client(tmp_path, clock)
    one = first.get_json(_news_url(data_api), PARAMS)
    first.close()
    # A new client (another process, say) with another key reads the same cache entry.
    second = _client(tmp_path, clock, key="another-key")
    two = second.get_json(_news_url(data_api), PARAMS)
    second.close()
    assert two.cached
    assert not one.cached
    assert two.data == one.data
    assert two.fetched_at == one.fetched_at
    assert len(data_api.requests) == 1
    files = list((tmp_path / "cache" / "finnhub").glob("*.json"))
    assert len(files) == 1
    assert FINNHUB_KEY not in files[0].read_text()
    assert json.loads(files[0].read_text())["fetched_at"] == clock.now
    # Other parameters are another request.
    third = _client(tmp_path, clock)
    third.get_json(_news_url(data_api), {**PARAMS, "symbol": "MSFT"})
    third.close()
    assert len(data_api.requests) == 2


CUTOFF = 1_700_000_000.0  # the query's cutoff, as a news or filings query computes it


def test_entry_fetched_before_the_cutoff_expires(data_api: DataApi, tmp_path: Path) -> None:
    clock = FakeClock(start=CUTOFF - 6 * 3600)  # fetched at 10:00 for a 16:00 close
    client = _client(tmp_path, clock, cache_ttl_minutes=15.0)
    client.get_json(_news_url(data_api), PARAMS, cutoff=CUTOFF)
    clock.now += 14 * 60
    assert client.get_json(_news_url(data_api), PARAMS, cutoff=CUTOFF).cached
    clock.now += 2 * 60
    again = client.get_json(_news_url(data_api), PARAMS, cutoff=CUTOFF)
    assert not again.cached  # incomplete and older than 15 minutes: fetched again
    assert again.fetched_at == clock.now
    # Once fetched after the cutoff, the answer is complete and kept for good.
    clock.now = CUTOFF + 60
    client.get_json(_news_url(data_api), PARAMS, cutoff=CUTOFF)
    clock.now += 30 * 86400
    assert client.get_json(_news_url(data_api), PARAMS, cutoff=CUTOFF).cached
    client.close()
    assert len(data_api.requests) == 3


def test_entry_fetched_after_the_cutoff_is_reused_days_later(
    data_api: DataApi, tmp_path: Path
) -> None:
    clock = FakeClock(start=CUTOFF + 1)
    client = _client(tmp_path, clock, cache_ttl_minutes=15.0)
    client.get_json(_news_url(data_api), PARAMS, cutoff=CUTOFF)
    clock.now += 5 * 86400
    assert client.get_json(_news_url(data_api), PARAMS, cutoff=CUTOFF).cached
    # Without a cutoff (a Serper search), only the short TTL applies.
    assert not client.get_json(_news_url(data_api), PARAMS).cached
    client.close()
    assert len(data_api.requests) == 2


@pytest.mark.parametrize(
    "content", ["[1, 2]", '"text"', '{"data": []}', '{"fetched_at": "x", "data": []}', "{"]
)
def test_corrupt_cache_file_is_a_miss_and_overwritten(
    data_api: DataApi, tmp_path: Path, caplog: pytest.LogCaptureFixture, content: str
) -> None:
    clock = FakeClock()
    client = _client(tmp_path, clock)
    key = client.cache_key("GET", _news_url(data_api), PARAMS, None)
    path = tmp_path / "cache" / "finnhub" / f"{key}.json"
    path.parent.mkdir(parents=True)
    path.write_text(content, encoding="utf-8")
    with caplog.at_level(logging.WARNING):
        fetched = client.get_json(_news_url(data_api), PARAMS)
    client.close()
    assert not fetched.cached
    assert "is corrupt" in caplog.text
    assert json.loads(path.read_text())["fetched_at"] == clock.now


def test_an_answer_the_parser_rejects_is_not_cached(data_api: DataApi, tmp_path: Path) -> None:
    def parse(fetched: Fetched) -> list[object]:
        if not isinstance(fetched.data, list):
            raise DataError("finnhub: not a list")
        return list(fetched.data)

    data_api.plan("/finnhub/company-news", DataReply(200, body={"error": "no access"}))
    client = _client(tmp_path, FakeClock())
    with pytest.raises(DataError, match="not a list"):
        client.get(_news_url(data_api), PARAMS, parse=parse)
    assert not list((tmp_path / "cache").glob("**/*.json"))
    assert len(client.get(_news_url(data_api), PARAMS, parse=parse)) == 3
    client.close()
    assert len(data_api.requests) == 2


def test_rate_limit_spaces_requests(data_api: DataApi, tmp_path: Path) -> None:
    clock = FakeClock()
    client = _client(tmp_path, clock, rate_limit_per_minute=120.0, cache_dir=None)
    for _ in range(3):
        client.get_json(_news_url(data_api), PARAMS)
    client.close()
    assert clock.sleeps == [0.5, 0.5]  # 120 a minute: one every half second
    assert client.requests_sent == 3


def test_rate_limiter_does_not_wait_when_idle() -> None:
    clock = FakeClock()
    limiter = RateLimiter(60.0, clock=clock, sleep=clock.sleep)
    limiter.wait()
    clock.now += 5
    limiter.wait()
    limiter.wait()
    assert clock.sleeps == [1.0]


def test_query_cutoffs() -> None:
    close = market_close_utc(dt.date(2023, 8, 4))  # 20:00 UTC
    assert news_cutoff(close) == (close + dt.timedelta(hours=1)).timestamp()
    # A filing is visible at as_of when filed before its last session: for Monday
    # Aug 7 the last visible filing day (Aug 6) ends at midnight New York (04:00 UTC)
    # starting Aug 7; plus the hour to settle. Saturday Aug 5 sees what Friday saw.
    expected = dt.datetime(2023, 8, 7, 5, 0, tzinfo=dt.UTC).timestamp()
    assert filings_cutoff(dt.date(2023, 8, 7)) == expected
    friday = dt.datetime(2023, 8, 4, 5, 0, tzinfo=dt.UTC).timestamp()
    assert filings_cutoff(dt.date(2023, 8, 5)) == friday

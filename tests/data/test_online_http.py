"""The shared HTTP client against a real loopback server: retries, Retry-After, the
rate limit, the cache, one-line errors."""

from __future__ import annotations

import email.utils
import json
from pathlib import Path

import pytest

from stockagents.core.errors import DataError
from stockagents.data.online.http import ApiClient, RateLimiter
from tests.fake_data_api import FINNHUB_KEY, DataApi, DataReply


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
        "auth_hint": "set FINNHUB_API_KEY to a valid key",
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
    assert "HTTP 500 (internal) after 3 attempts" in message
    assert FINNHUB_KEY not in message
    assert clock.sleeps == [1.0, 2.0]  # exponential backoff without Retry-After
    assert len(data_api.to("/finnhub/company-news")) == 3


def test_retry_after_is_capped(data_api: DataApi, tmp_path: Path) -> None:
    clock = FakeClock()
    data_api.plan("/finnhub/company-news", DataReply(429, {"Retry-After": "3600"}, {}))
    client = _client(tmp_path, clock, max_wait=30.0)
    client.get_json(_news_url(data_api), PARAMS)
    client.close()
    assert clock.sleeps == [30.0]


def test_bad_key_is_not_retried(data_api: DataApi, tmp_path: Path) -> None:
    clock = FakeClock()
    client = _client(tmp_path, clock, key="wrong")
    with pytest.raises(DataError, match=r"HTTP 401 \(Invalid API key\); set FINNHUB_API_KEY"):
        client.get_json(_news_url(data_api), PARAMS)
    client.close()
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


def test_cache_expires(data_api: DataApi, tmp_path: Path) -> None:
    clock = FakeClock()
    client = _client(tmp_path, clock, cache_ttl_hours=1.0)
    client.get_json(_news_url(data_api), PARAMS)
    clock.now += 3601
    again = client.get_json(_news_url(data_api), PARAMS)
    client.close()
    assert not again.cached
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

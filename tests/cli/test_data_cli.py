"""``stockagents data news`` and ``data fundamentals`` against the loopback fake APIs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from stockagents.cli.main import main
from stockagents.data.online import build
from stockagents.data.sample import SamplePriceProvider
from tests.fake_data_api import EDGAR_AGENT, FINNHUB_KEY, NEWSAPI_KEY, DataApi

KEYS = ("FINNHUB_API_KEY", "NEWSAPI_KEY", "SERPER_API_KEY", "SEC_USER_AGENT")


@pytest.fixture
def online_config(data_api: DataApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A config whose online providers all point at the fake APIs; no key set yet."""
    monkeypatch.chdir(tmp_path)  # no .env
    monkeypatch.setenv("COLUMNS", "220")  # wide tables: no cell is cut
    for name in KEYS:
        monkeypatch.delenv(name, raising=False)
    http = {"cache_dir": str(tmp_path / "cache"), "max_retries": 0}
    config = {
        "data": {
            "news": {
                "provider": "chain",
                "providers": ["finnhub", "newsapi", "serper"],
                "finnhub": {"base_url": f"{data_api.url}/finnhub", **http},
                "newsapi": {"base_url": f"{data_api.url}/newsapi", **http},
                "serper": {"base_url": f"{data_api.url}/serper", **http},
            },
            "fundamentals": {
                "provider": "edgar",
                "edgar": {
                    "base_url": f"{data_api.url}/sec",
                    "tickers_url": f"{data_api.url}/sec/files/company_tickers.json",
                    **http,
                },
            },
        }
    }
    path = tmp_path / "online.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_data_news_json(
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    online_config: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FINNHUB_API_KEY", FINNHUB_KEY)
    monkeypatch.setenv("NEWSAPI_KEY", NEWSAPI_KEY)
    code, out, err = _run(
        capsys, "data", "news", "AAPL", "--days", "7", "--as-of", "2023-06-30",
        "--config", str(online_config), "--json",
    )  # fmt: skip
    assert code == 0, err
    data = json.loads(out)
    assert data["source"] == "finnhub+newsapi"
    assert data["cutoff"] == "2023-06-30T20:00:00+00:00"
    assert [(i["published_at"], i["source"]) for i in data["items"]] == [
        ("2023-06-28T09:30:00Z", "The Verge"),
        ("2023-06-29T13:00:00Z", "CNBC"),
        ("2023-06-30T19:59:00Z", "Reuters"),
    ]
    skipped = [r.getMessage() for r in caplog.records if "skipped" in r.getMessage()]
    assert len(skipped) == 1  # one warning for the provider without its key
    assert "SERPER_API_KEY is not set" in skipped[0]


def test_data_news_table(
    capsys: pytest.CaptureFixture[str], online_config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FINNHUB_API_KEY", FINNHUB_KEY)
    code, out, _ = _run(
        capsys, "data", "news", "AAPL", "--as-of", "2023-06-30", "-c", str(online_config)
    )
    assert code == 0
    assert "2 stories in the 7 days to the close of 2023-06-30" in out
    assert "Apple to hold product event" in out
    assert "plunge" not in out  # 20:01 UTC, after the close


def test_data_news_without_any_key_is_one_line(
    capsys: pytest.CaptureFixture[str], online_config: Path, data_api: DataApi
) -> None:
    code, out, err = _run(capsys, "data", "news", "AAPL", "-c", str(online_config))
    assert code == 1
    assert out == ""
    last = err.strip().splitlines()[-1]
    assert last.startswith("error: no news provider is available: finnhub: FINNHUB_API_KEY")
    assert data_api.requests == []


def test_data_news_default_config_is_offline(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(capsys, "data", "news", "AAPL")
    assert code == 1
    assert err.strip() == ("error: no news source is configured (set data.news in the config)")


def test_data_fundamentals(
    capsys: pytest.CaptureFixture[str], online_config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SEC_USER_AGENT", EDGAR_AGENT)
    code, out, err = _run(
        capsys, "data", "fundamentals", "AAPL", "--as-of", "2023-08-04",
        "-c", str(online_config), "--json",
    )  # fmt: skip
    assert code == 0, err
    data = json.loads(out)
    assert data["source"] == "edgar"
    assert data["estimated_filing_dates"] is False
    assert "as reported, not split-adjusted" in data["caveat"]
    assert [(f["period_end"], f["filing_date"]) for f in data["filings"]] == [
        ("2022-09-24", "2022-10-28")
    ]  # the 10-Q filed on 2023-08-04 (a Friday) is visible from the next session, Monday
    code, out, _ = _run(
        capsys, "data", "fundamentals", "AAPL", "--as-of", "2023-08-07", "-c", str(online_config)
    )
    assert code == 0
    assert "2 filings before 2023-08-07, from edgar" in out
    assert "81.80B" in out


def test_data_fundamentals_without_user_agent(
    capsys: pytest.CaptureFixture[str], online_config: Path
) -> None:
    code, _, err = _run(capsys, "data", "fundamentals", "AAPL", "-c", str(online_config))
    assert code == 1
    assert err.startswith("error: edgar: SEC_USER_AGENT is not set")
    assert len(err.strip().splitlines()) == 1


def test_data_news_defaults_follow_the_analysts(
    capsys: pytest.CaptureFixture[str], online_config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FINNHUB_API_KEY", FINNHUB_KEY)
    config = yaml.safe_load(online_config.read_text())
    config["agents"] = {"news": {"lookback_days": 3}}
    online_config.write_text(yaml.safe_dump(config))
    code, out, err = _run(capsys, "data", "news", "AAPL", "-c", str(online_config), "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["days"] == 3  # agents.news.lookback_days, not a CLI constant
    _, last_bar = SamplePriceProvider().date_range("AAPL")
    assert data["as_of"] == last_bar.isoformat()  # the last price bar, as analyze uses
    assert not build._clients  # the HTTP clients were closed


def test_data_fundamentals_defaults_to_the_last_bar(
    capsys: pytest.CaptureFixture[str], online_config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SEC_USER_AGENT", EDGAR_AGENT)
    code, out, err = _run(
        capsys, "data", "fundamentals", "AAPL", "-c", str(online_config), "--json"
    )
    assert code == 0, err
    _, last_bar = SamplePriceProvider().date_range("AAPL")
    assert json.loads(out)["as_of"] == last_bar.isoformat()

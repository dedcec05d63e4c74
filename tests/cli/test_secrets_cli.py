"""``stockagents data news`` with a rejected key: one error line, the status and the fix,
no key in any form, even when the server echoes it back; and the CLI edge redacts
whatever it prints."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
import yaml

from stockagents.cli.edge import guarded
from stockagents.cli.main import main
from stockagents.core.errors import DataError
from tests.fake_data_api import DataApi, DataReply
from tests.leaks import BAD_KEY, leaks, unredacted_logging


@pytest.fixture
def finnhub_config(
    data_api: DataApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    """Finnhub news on the fake API, with ``BAD_KEY`` as the key (from the environment)."""
    monkeypatch.chdir(tmp_path)  # no .env
    monkeypatch.setenv("FINNHUB_API_KEY", BAD_KEY)
    news = {
        "provider": "finnhub",
        "finnhub": {
            "base_url": f"{data_api.url}/finnhub",
            "cache_dir": str(tmp_path / "cache"),
            "max_retries": 0,
        },
    }
    path = tmp_path / "online.yaml"
    path.write_text(yaml.safe_dump({"data": {"news": news}}))
    with unredacted_logging():  # main() installs log redaction: undone afterwards
        yield path


@pytest.mark.parametrize(
    ("status", "shown"),
    [
        (401, "HTTP 401 (key rejected) from {url}/finnhub/company-news; check FINNHUB_API_KEY"),
        (500, "HTTP 500 (upstream error: bad key *** *** ***; request "),
    ],
)
def test_data_news_with_a_rejected_key_prints_one_line_without_it(
    capsys: pytest.CaptureFixture[str],
    data_api: DataApi,
    finnhub_config: Path,
    status: int,
    shown: str,
) -> None:
    data_api.plan("/finnhub/company-news", DataReply(status, echo=True))
    code = main(["data", "news", "AAPL", "-c", str(finnhub_config), "--as-of", "2023-06-30"])
    out, err = capsys.readouterr()
    (request,) = data_api.to("/finnhub/company-news")
    assert request.headers["x-finnhub-token"] == BAD_KEY  # sent, and echoed back
    assert code == 1
    assert out == ""
    assert len(err.strip().splitlines()) == 1
    assert err.startswith("error: finnhub: " + shown.format(url=data_api.url))
    assert leaks(out + err, BAD_KEY) == []


@pytest.mark.parametrize("error", [DataError, RuntimeError])
def test_the_edge_redacts_whatever_it_prints(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, error: type[Exception]
) -> None:
    monkeypatch.setenv("NEWSAPI_KEY", BAD_KEY)

    def run() -> None:
        raise error(f"a message that slipped through: Basic {quote(BAD_KEY, safe='')}")

    with unredacted_logging():
        code = guarded(run)
    err = capsys.readouterr().err
    assert code == (1 if error is DataError else 2)
    assert "a message that slipped through: Basic ***" in err
    assert leaks(err, BAD_KEY) == []

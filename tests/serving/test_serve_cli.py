"""``stockagents serve``: refuses an open API on a non-loopback interface and limits
below one, each in one line, before uvicorn starts."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from stockagents.cli.main import main


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[dict[str, Any]]:
    """No key in the environment or a ``.env``; uvicorn records instead of serving."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("STOCKAGENTS_API_KEY", raising=False)
    runs: list[dict[str, Any]] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: runs.append(kwargs))
    return runs


def _error_line(capsys: pytest.CaptureFixture[str]) -> str:
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert lines[0].startswith("error: ")
    return lines[0]


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("--max-backtest-days", "-5"),
        ("--max-backtest-days", "0"),
        ("--max-concurrent-backtests", "0"),
    ],
)
def test_limits_below_one_are_refused_in_one_line(
    started: list[dict[str, Any]], capsys: pytest.CaptureFixture[str], option: str, value: str
) -> None:
    assert main(["serve", "--models", "expert", option, value]) == 1
    line = _error_line(capsys)
    assert f"{option} must be a whole number of at least 1, not {value}" in line
    assert started == []


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.10"])
def test_a_public_interface_without_a_key_is_refused(
    started: list[dict[str, Any]], capsys: pytest.CaptureFixture[str], host: str
) -> None:
    assert main(["serve", "--models", "expert", "--host", host]) == 1
    line = _error_line(capsys)
    assert f"refusing to serve on {host} without an API key" in line
    assert "--insecure-no-auth" in line
    assert started == []


def test_insecure_no_auth_serves_with_a_warning(
    started: list[dict[str, Any]], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        code = main(["serve", "--models", "expert", "--host", "0.0.0.0", "--insecure-no-auth"])
    assert code == 0
    assert started == [{"host": "0.0.0.0", "port": 8000, "log_level": "info"}]
    assert "without an API key (--insecure-no-auth)" in caplog.text


def test_a_key_or_loopback_serves_without_a_warning(
    started: list[dict[str, Any]],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with caplog.at_level(logging.WARNING):
        assert main(["serve", "--models", "expert"]) == 0
        monkeypatch.setenv("STOCKAGENTS_API_KEY", "a-long-enough-key")
        assert main(["serve", "--models", "expert", "--host", "0.0.0.0", "--port", "8123"]) == 0
    assert [run["host"] for run in started] == ["127.0.0.1", "0.0.0.0"]
    assert "without an API key" not in caplog.text

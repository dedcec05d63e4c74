from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from stockagents.backtest.experience import ExperienceLibrary
from stockagents.cli.main import main
from stockagents.data.sample import SamplePriceProvider


def _reject(token: str) -> None:
    raise AssertionError(f"non-standard JSON constant {token}")


def test_backtest_writes_metrics_plot_and_manifest(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    out = tmp_path / "bt"
    code = main(
        [
            "backtest",
            "--symbols",
            "AAPL",
            "NVDA",
            "--start",
            "2023-03-01",
            "--end",
            "2023-09-21",
            "--output",
            str(out),
            "--json",
        ]
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    data = json.loads(captured.out, parse_constant=_reject)  # strict: no NaN or Infinity
    metrics = data["metrics"]
    assert set(metrics) == {"agents", "agents (no costs)", "buy & hold"}
    assert metrics["agents"]["decisions"] > 0
    assert metrics["agents"]["total_costs"] > 0  # the agents traded in this window
    assert metrics["agents (no costs)"]["total_costs"] == 0
    assert metrics["agents"]["final_equity"] < metrics["agents (no costs)"]["final_equity"]
    assert metrics["buy & hold"]["win_rate"] is None  # no closed trade: null, not NaN
    for name in ("manifest.json", "metrics.json"):
        json.loads((out / name).read_text(), parse_constant=_reject)
    png = (out / "equity_curve.png").read_bytes()
    assert png.startswith(b"\x89PNG")
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["kind"] == "backtest"
    assert manifest["symbols"] == ["AAPL", "NVDA"]
    assert (out / "trades.csv").exists()


def test_backtest_table(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code = main(["backtest", "NFLX", "--start", "2023-06-01", "--output", str(tmp_path / "b")])
    out = capsys.readouterr().out
    assert code == 0
    assert "sharpe" in out
    assert "buy & hold" in out
    assert "fills at the next open" in out


def test_backtest_without_data_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["backtest", "--symbols", "MSFT", "TSLA"])
    err = capsys.readouterr().err
    assert code == 1
    assert "error: none of MSFT, TSLA has data; available: AAPL" in err
    assert "Traceback" not in err


def test_backtest_model_dir_needs_runtime(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["backtest", "AAPL", "--models", "models/production"])
    assert code == 1
    assert "no such model set" in capsys.readouterr().err


def test_collect_guide_flags(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    out = tmp_path / "traj"
    code = main(
        [
            "collect",
            "--symbols",
            "AAPL",
            "MSFT",
            "--start-date",
            "2023-09-01",
            "--end-date",
            "2023-12-31",
            "--backend",
            "serial",
            "--output",
            str(out),
        ]
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "skipped MSFT" in captured.out
    days = len(
        SamplePriceProvider()
        .prices("AAPL", SamplePriceProvider().date_range("AAPL")[1])
        .loc["2023-09-01":]
    )
    assert ExperienceLibrary(out / "experience_library.db").count() == days
    assert json.loads((out / "manifest.json").read_text())["status"] == "complete"


def test_collect_bad_backend(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code = main(["collect", "AAPL", "--backend", "spark", "--output", str(tmp_path / "x")])
    assert code == 1
    assert "choose process, serial or ray" in capsys.readouterr().err


def test_collect_ray_missing_is_clear(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from stockagents.core import packages

    monkeypatch.setattr(packages, "is_installed", lambda package: package != "ray")
    code = main(
        [
            "collect",
            "AAPL",
            "--start",
            "2023-09-01",
            "--backend",
            "ray",
            "--output",
            str(tmp_path / "r"),
        ]
    )
    assert code == 1
    assert "pip install 'ray[default]'" in capsys.readouterr().err


def test_backtest_start_after_end(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["backtest", "AAPL", "--start", "2023-06-01", "--end", "2023-01-01"])
    assert code == 1
    assert "--start 2023-06-01 is after --end 2023-01-01" in capsys.readouterr().err


def test_backtest_skips_a_malformed_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    prices = tmp_path / "prices"
    prices.mkdir()
    (prices / "BAD.csv").write_text("date,open,high,low,close,volume\n2023-01-02,1,2,0.5,,10\n")
    good = SamplePriceProvider().prices("NFLX", dt.date(2023, 9, 21)).loc["2023-01-01":]
    good.reset_index().assign(date=lambda f: f["date"].dt.strftime("%Y-%m-%d")).to_csv(
        prices / "NFLX.csv", index=False
    )
    config = tmp_path / "c.yaml"
    config.write_text(f"data:\n  prices:\n    provider: csv\n    csv_dir: {prices}\n")
    code = main(
        ["backtest", "BAD", "NFLX", "--config", str(config), "--output", str(tmp_path / "o")]
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "skipping BAD" in captured.err
    assert "BAD.csv" in captured.err.replace("\n", "")  # the terminal may wrap a long path
    code = main(["data", "symbols", "--config", str(config), "--json"])
    rows = {r["symbol"]: r for r in json.loads(capsys.readouterr().out)["symbols"]}
    assert code == 0
    assert "missing, non-numeric or infinite" in rows["BAD"]["error"]
    assert rows["NFLX"]["first"] == "2023-01-03"

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from stockagents.cli.main import main
from stockagents.data.sample import SamplePriceProvider


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
    data = json.loads(captured.out)
    metrics = data["metrics"]
    assert set(metrics) == {"agents", "agents (no costs)", "buy & hold"}
    assert metrics["agents"]["total_costs"] >= 0
    assert metrics["agents (no costs)"]["total_costs"] == 0
    if metrics["agents"]["trades"] > 0:
        assert metrics["agents"]["final_equity"] < metrics["agents (no costs)"]["final_equity"]
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
    assert "use --models expert" in capsys.readouterr().err


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
    assert f"{days}" in captured.out
    assert (out / "experience_library.db").exists()
    assert json.loads((out / "manifest.json").read_text())["status"] == "complete"


def test_collect_bad_backend(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code = main(["collect", "AAPL", "--backend", "spark", "--output", str(tmp_path / "x")])
    assert code == 1
    assert "choose process, serial or ray" in capsys.readouterr().err


def test_collect_ray_missing_is_clear(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    if importlib.util.find_spec("ray") is not None:
        pytest.skip("Ray is installed here; this test checks the message when it is not")
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

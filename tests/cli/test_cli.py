from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from stockagents.cli.main import main


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_analyze_table(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "analyze", "AAPL", "--as-of", "2023-06-30")
    assert code == 0
    assert "AAPL as of 2023-06-30" in out
    assert "Recommendation:" in out
    for agent in ("news", "technical", "fundamental", "strategist"):
        assert agent in out


def test_analyze_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "analyze", "NVDA", "--as-of", "2022-01-03", "--json")
    assert code == 0
    data = json.loads(out)
    assert data["symbol"] == "NVDA"
    assert data["recommendation"] in {"BUY", "SELL", "HOLD"}
    assert data["data_date"] == "2022-01-03"
    assert data["data_source"] == "sample"
    assert set(data["signals"]) == {"news", "technical", "fundamental"}


def test_data_symbols(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "data", "symbols", "--json")
    assert code == 0
    data = json.loads(out)
    assert data["source"] == "sample"
    assert [r["symbol"] for r in data["symbols"]] == [
        "AAPL",
        "AMZN",
        "GOOG",
        "META",
        "NFLX",
        "NVDA",
    ]
    assert all(r["first"] == "2013-01-02" and r["last"] == "2023-09-21" for r in data["symbols"])


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("analyze", "MSFT"), "available: AAPL, AMZN, GOOG, META, NFLX, NVDA"),
        (("analyze", "AAPL", "--as-of", "2031-01-01"), "ends 2023-09-21"),
        (("analyze", "AAPL", "--as-of", "tomorrow"), "use YYYY-MM-DD"),
        (("analyze", "AAPL", "--config", "missing.yaml"), "config file not found"),
    ],
)
def test_errors_are_one_line(
    capsys: pytest.CaptureFixture[str], args: tuple[str, ...], needle: str
) -> None:
    code, out, err = _run(capsys, *args)
    assert code == 1
    assert out == ""
    assert err.startswith("error: ")
    assert needle in err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_bad_config_names_file_and_field(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    file = tmp_path / "bad.yaml"
    file.write_text("agents:\n  strategist:\n    max_position: two\n")
    code, _, err = _run(capsys, "analyze", "AAPL", "--config", str(file))
    assert code == 1
    assert str(file) in err
    assert "agents.strategist.max_position" in err


def test_malformed_csv_via_config(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    (tmp_path / "XYZ.csv").write_text(
        "date,open,high,low,close,volume\n2023-01-03,1,2,0.5,nan,10\n"
    )
    config = tmp_path / "c.yaml"
    config.write_text(f"data:\n  prices:\n    provider: csv\n    csv_dir: {tmp_path}\n")
    code, _, err = _run(capsys, "analyze", "XYZ", "--config", str(config))
    assert code == 1
    assert "XYZ.csv" in err
    assert "dropna" in err


def test_unexpected_errors_have_no_traceback(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from stockagents.orchestration import coordinator

    def boom(*args: object, **kwargs: object) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(coordinator.SystemCoordinator, "analyze_symbol", boom)
    code, _, err = _run(capsys, "analyze", "AAPL")
    assert code == 2
    assert "unexpected RuntimeError: disk on fire" in err
    assert "STOCKAGENTS_DEBUG=1" in err
    assert "Traceback" not in err


def test_usage_error_exit_code(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(capsys, "analyze")
    assert code == 2
    assert "Missing argument" in err


@pytest.mark.slow
def test_console_script_end_to_end() -> None:
    exe = Path(sys.executable).with_name("stockagents")
    env = {k: v for k, v in os.environ.items() if k != "STOCKAGENTS_DEBUG"}
    ok = subprocess.run(
        [str(exe), "analyze", "AAPL"], capture_output=True, text=True, env=env, timeout=120
    )
    assert ok.returncode == 0, ok.stderr
    assert "Recommendation:" in ok.stdout
    bad = subprocess.run(
        [str(exe), "analyze", "TSLA"], capture_output=True, text=True, env=env, timeout=120
    )
    assert bad.returncode == 1
    assert bad.stderr.startswith("error: unknown symbol 'TSLA'")
    assert "Traceback" not in bad.stderr


def test_analyze_with_a_model_set(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    from tests.helpers import make_tiny_adapter

    models = tmp_path / "production"
    make_tiny_adapter(models / "technical", seed=5, agent="technical")
    code = main(["analyze", "AAPL", "--as-of", "2023-06-30", "--json", "--models", str(models)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    data = json.loads(captured.out)
    assert data["model_versions"]["technical"].startswith("test-5 on tiny")
    assert data["model_versions"]["news"] == "expert-3"
    assert data["signals"]["technical"]["valid"] is True
    assert "technical" in data["completions"]


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (
            ("backtest", "AAPL", "--start", "2023-06-01", "--output", "afile"),
            "afile: exists and is",
        ),
        (
            ("backtest", "AAPL", "--start", "2023-06-01", "--output", "afile/x"),
            "a file stands where",
        ),
        (("analyze", "AAPL", "--models", "afile"), "is a file, not a model-set directory"),
        (("analyze", "AAPL", "--config", "adir"), "is a directory, not a config file"),
        (
            ("datagen", "--agent-type", "news", "--num-examples", "2", "--output", "adir"),
            "--output adir: is a directory, not a file",
        ),
    ],
)
def test_a_file_where_a_directory_belongs_and_the_reverse(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    args: tuple[str, ...],
    needle: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "afile").write_text("x")
    (tmp_path / "adir").mkdir()
    code, _, err = _run(capsys, *args)
    assert code == 1
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, err
    assert needle in lines[0]
    assert "unexpected" not in err
    assert "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["adir", "afile"]
    assert list((tmp_path / "adir").iterdir()) == []

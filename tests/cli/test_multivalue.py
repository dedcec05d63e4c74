"""Options with several values after one flag, as the guide writes them (``--models A B``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from stockagents.cli.main import main


def _capture(monkeypatch: pytest.MonkeyPatch, target: str, name: str) -> dict[str, Any]:
    seen: dict[str, Any] = {}

    def record(*args: Any, **kwargs: Any) -> None:
        seen.update(args=args, kwargs=kwargs)
        raise SystemExit(0)

    monkeypatch.setattr(f"{target}.{name}", record)
    return seen


def test_evaluate_reads_every_value_after_a_flag(monkeypatch: pytest.MonkeyPatch) -> None:
    seen = _capture(monkeypatch, "stockagents.cli.evaluate", "evaluate_models")
    code = main(["evaluate", "--models", "baseline:expert", "sft:a", "rl:b", "--test-symbols",
                 "AAPL", "MSFT", "--test-days", "30", "--models=more:c"])  # fmt: skip
    assert code == 0
    assert seen["args"] == (["baseline:expert", "sft:a", "rl:b", "more:c"],)
    assert seen["kwargs"]["symbols"] == ["AAPL", "MSFT"]
    assert seen["kwargs"]["test_days"] == 30
    code = main(["evaluate", "--models", "x:a", "--models", "y:b", "--symbols", "NVDA"])
    assert code == 0
    assert seen["args"] == (["x:a", "y:b"],)
    assert seen["kwargs"]["symbols"] == ["NVDA"]


def test_deploy_reads_every_value_after_a_flag(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    seen = _capture(monkeypatch, "stockagents.deployment.ModelDeployer", "deploy")
    code = main(["deploy", "--models", "news:a", "strategist:b", "--min-sharpe", "0.5",
                 "--symbols", "AAPL", "NVDA", "--force", "--models-dir", str(tmp_path)])  # fmt: skip
    assert code == 0
    assert seen["args"][1:] == ({"news": "a", "strategist": "b"},)  # after self
    assert seen["kwargs"]["symbols"] == ["AAPL", "NVDA"]
    assert seen["kwargs"]["min_sharpe"] == 0.5
    assert seen["kwargs"]["force"] is True


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("evaluate", "--models"), "'--models' requires at least one value"),
        (("evaluate", "--models", "--test-days", "3"), "'--models' requires at least one"),
        (("evaluate", "--models", "x:a", "--test-symbols"), "'--test-symbols' requires"),
        (("deploy",), "Missing option '--models'"),
        (("deploy", "--models", "--force"), "'--models' requires at least one value"),
    ],
)
def test_a_flag_without_values_is_a_usage_error(
    args: tuple[str, ...], needle: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(list(args)) == 2
    err = capsys.readouterr().err
    assert "Usage:" in err
    assert needle in " ".join(err.replace("│", " ").split())


def test_deploy_rollback_is_a_subcommand(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["deploy", "rollback", "--models-dir", str(tmp_path)]) == 1
    assert capsys.readouterr().err.startswith("error: no backup in")

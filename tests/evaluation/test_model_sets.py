"""Model-set specs, training windows from manifests, and the deployment criteria."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from stockagents.core.config import DeploymentConfig
from stockagents.core.errors import AgentError, ConfigError
from stockagents.core.provenance import TrainingWindow, training_window
from stockagents.evaluation.criteria import check_criteria
from stockagents.evaluation.model_sets import check_test_window, parse_model_sets

REPO = Path(__file__).parents[2]


def _adapter(path: Path, manifest: dict[str, object]) -> Path:
    path.mkdir(parents=True)
    (path / "adapter_config.json").write_text("{}", encoding="utf-8")
    (path / "manifest.json").write_text(json.dumps({"kind": "lora", **manifest}), encoding="utf-8")
    return path


def test_specs_name_sets_and_the_baseline_words() -> None:
    sets = parse_model_sets(["expert", f"base:{REPO / 'models' / 'baseline'}"])
    assert [s.name for s in sets] == ["expert", "base"]
    assert all(s.is_baseline for s in sets)
    assert all(s.models_dir == "expert" for s in sets)
    assert sets[1].path == REPO / "models" / "baseline"
    with pytest.raises(ConfigError, match="at least one"):
        parse_model_sets([])
    with pytest.raises(AgentError, match="the baseline is the word 'expert'"):
        parse_model_sets(["baseline:/missing/baseline"])


def test_a_set_records_the_agents_it_lacks(tmp_path: Path) -> None:
    root = tmp_path / "models"
    _adapter(
        root / "strategist" / "final", {"trained_on": {"start": "2015-01-02", "end": "2020-06-30"}}
    )
    (root / "manifest.json").write_text(
        json.dumps({"agents": {"strategist": "strategist/final", "news": "expert"}}),
        encoding="utf-8",
    )
    (models,) = parse_model_sets([str(root)])
    assert models.name == "models"
    assert not models.is_baseline
    assert models.as_expert == ["technical", "fundamental"]  # news is expert on purpose
    assert models.agents["news"] == "expert"
    window = models.windows["strategist"]
    assert window is not None
    assert window.end == dt.date(2020, 6, 30)
    described = models.describe()
    assert described["trained_on"]["strategist"]["start"] == "2015-01-02"


def test_training_window_falls_back_to_the_training_file_and_the_sft_start(tmp_path: Path) -> None:
    data = tmp_path / "train.jsonl"
    data.write_text(
        "\n".join(json.dumps({"as_of": d}) for d in ("2019-05-01", "2018-01-03", "2021-02-26")),
        encoding="utf-8",
    )
    sft = _adapter(tmp_path / "sft", {"data": {"path": str(data)}})
    assert training_window(sft) == TrainingWindow(dt.date(2018, 1, 3), dt.date(2021, 2, 26), 3)
    rl = _adapter(tmp_path / "rl", {"training": {"sft_checkpoint": str(sft)}})
    assert training_window(rl) == training_window(sft)  # an old RL manifest: at least its start
    assert training_window(_adapter(tmp_path / "bare", {})) is None
    window = TrainingWindow.from_dates(["2020-01-02", None, dt.date(2019, 3, 1)])
    assert window is not None
    assert (window.start, window.end, window.examples) == (
        dt.date(2019, 3, 1),
        dt.date(2020, 1, 2),
        2,
    )


def test_the_test_window_must_clear_training_and_its_label_horizon(tmp_path: Path) -> None:
    calendar = [dt.date(2022, 1, 3) + dt.timedelta(days=i) for i in range(200)]
    root = tmp_path / "set"
    _adapter(
        root / "strategist",
        {"trained_on": {"start": "2022-01-03", "end": "2022-03-01", "label_horizon_days": 20}},
    )
    (models,) = parse_model_sets([f"sft:{root}"])
    seen_until = calendar[calendar.index(dt.date(2022, 3, 1)) + 20]
    clean = [d for d in calendar if d > seen_until]
    assert check_test_window([models], clean, calendar) == []
    with pytest.raises(
        ConfigError, match=f"its labels saw prices to {seen_until}.*--test-days {len(clean)} or"
    ):
        check_test_window([models], [seen_until, *clean], calendar)
    unknown = tmp_path / "unknown"
    _adapter(unknown / "strategist", {})
    warnings = check_test_window(parse_model_sets([f"u:{unknown}"]), clean, calendar)
    assert len(warnings) == 1
    assert "does not record the dates it trained on" in warnings[0]


def test_criteria_pass_and_fail_as_the_guide_states() -> None:
    good = {"sharpe": 0.8, "max_drawdown": -0.1, "win_rate": 0.55, "profit_factor": 1.6}
    checks = check_criteria(good)
    assert all(c["passed"] for c in checks.values())
    assert checks["max_drawdown"]["rule"] == "depth < 0.2"
    bad = check_criteria(
        {**good, "max_drawdown": -0.25, "win_rate": 0.5, "profit_factor": float("nan")}
    )
    assert [n for n, c in bad.items() if not c["passed"]] == [
        "max_drawdown",
        "win_rate",
        "profit_factor",
    ]
    assert bad["profit_factor"]["value"] is None  # undefined fails: no evidence, no pass
    strict = check_criteria(good, DeploymentConfig(min_sharpe=1.0))
    assert not strict["sharpe"]["passed"]
    assert strict["sharpe"]["threshold"] == 1.0

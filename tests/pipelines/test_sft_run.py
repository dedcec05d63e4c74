"""The SFT run end to end on the tiny profile: files, model set, report, resume."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stockagents.orchestration import SystemCoordinator
from stockagents.pipelines.sft import run_sft_training
from stockagents.training.synthetic.teachers import make_teacher


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("runs")
    return run_sft_training(
        make_teacher("expert"), profile="tiny", agents=["technical", "strategist"],
        num_examples=24, max_steps=6, output_root=root, progress=False,
    )  # fmt: skip


def test_run_writes_data_models_and_report(run: Path) -> None:
    assert run.name.startswith("sft_run_")
    for agent in ("technical", "strategist"):
        assert (run / "data" / f"{agent}_train.jsonl").is_file()
        assert (run / "data" / f"{agent}_heldout.jsonl").is_file()
        final = run / "models" / f"{agent}_agent" / "final"
        manifest = json.loads((final / "manifest.json").read_text())
        assert manifest["kind"] == "lora"
        assert manifest["agent"] == agent
        result = json.loads((run / "models" / f"{agent}_agent" / "heldout_eval.json").read_text())
        held = result["heldout"]
        assert held["n"] > 0
        assert 0.0 <= held["agreement"] <= 1.0
        assert held["valid_after_repair"] == 1.0  # constrained decoding: always valid
        assert set(held["per_class"]) <= {"bullish", "neutral", "bearish", "BUY", "SELL", "HOLD"}
        assert "agreement" in result["base"]
        assert "predictions" not in held  # they have their own file
        rows = [
            json.loads(line)
            for line in (run / "models" / f"{agent}_agent" / "heldout_predictions.jsonl").open()
        ]
        assert len(rows) == held["n"]
        hits = sum(row["label"] == row["predicted"] for row in rows)
        assert hits / len(rows) == pytest.approx(held["agreement"])
        assert all(row["raw"].startswith("{") for row in rows)
        assert 0.0 <= held["mean_confidence_gap"] <= 1.0
        assert 0.0 <= held["ece_teacher_confidence"] <= 1.0
    report = json.loads((run / "report.json").read_text())
    assert report["manifest"]["status"] == "done"
    assert (run / "agreement.png").stat().st_size > 1000
    assert "| technical |" in (run / "report.md").read_text()
    assert "confidence gap" in (run / "report.md").read_text()


def test_models_dir_is_a_model_set(run: Path) -> None:
    with SystemCoordinator(models=run / "models") as coordinator:
        rec = coordinator.analyze_symbol("AAPL", as_of="2023-06-30")
    assert rec.decision.action.value in ("BUY", "SELL", "HOLD")
    assert any("sft-technical" in v for v in rec.model_versions.values())


def test_resume_keeps_finished_agents(run: Path) -> None:
    before = (run / "models" / "technical_agent" / "final" / "manifest.json").read_text()
    data = (run / "data" / "technical_train.jsonl").read_bytes()
    again = run_sft_training(
        make_teacher("expert"), profile="tiny", agents=["technical"], resume=run,
        compare_base=False, progress=False,
    )  # fmt: skip
    assert again == run
    assert (run / "models" / "technical_agent" / "final" / "manifest.json").read_text() == before
    assert (run / "data" / "technical_train.jsonl").read_bytes() == data


def test_profiles_give_each_agent_its_steps(run: Path) -> None:
    from stockagents.pipelines.profiles import SFT_PROFILES

    cpu = SFT_PROFILES["cpu"]
    assert cpu.steps_for("strategist") == 80
    assert cpu.steps_for("technical") == cpu.max_steps
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["max_steps"] == {"technical": 6, "strategist": 6}  # --max-steps: all
    assert "| technical | 24 | 6 |" in (run / "report.md").read_text()

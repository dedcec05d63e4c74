"""The complete run on the tiny profile: six stages, a failure and its resume, the
summary, the deployment of the best passing set, bad options."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from stockagents.cli.main import main
from stockagents.core.errors import ConfigError, DataError
from stockagents.core.registry import production_manifest
from stockagents.pipelines import complete
from stockagents.pipelines.complete import (
    STAGES,
    CompleteOptions,
    StageRecord,
    run_complete_training,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny run on AAPL killed in the middle of RL (after its first checkpoint), then
    resumed through a differently spelled path (4 SFT steps: nothing here needs more)."""
    from transformers import TrainerCallback

    from stockagents.pipelines import rl as rl_pipeline

    root = tmp_path_factory.mktemp("runs")
    options = CompleteOptions(
        profile="tiny", symbols=("AAPL", "MSFT"), sft_steps=4, rl_iterations=2
    )
    real = rl_pipeline.train_grpo

    class Kill(TrainerCallback):  # type: ignore[misc]
        def on_save(self, *args: object, **kwargs: object) -> None:
            raise KeyboardInterrupt

    def killed(config: object, rows: object, reward: object) -> object:
        return real(config, rows, reward, callbacks=[Kill()])  # type: ignore[arg-type]

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("STOCKAGENTS_MODELS_DIR", str(tmp_path_factory.mktemp("models")))
        patch.setattr(rl_pipeline, "train_grpo", killed)
        with pytest.raises(KeyboardInterrupt):
            run_complete_training(options, output_root=root, progress=False)
    (path,) = root.glob("complete_run_*")
    manifest = json.loads((path / "manifest.json").read_text())
    assert [manifest["stages"][s]["status"] for s in STAGES] == [
        "done", "done", "done", "failed", "pending", "pending",
    ]  # fmt: skip
    assert manifest["stages"]["rl"]["error"] == "KeyboardInterrupt"
    assert (path / "rl" / "models" / "checkpoint-1").is_dir()
    assert not (path / "rl" / "models" / "final").exists()
    adapter = path / "sft" / "models" / "strategist_agent" / "final" / "adapter_model.safetensors"
    before = adapter.stat().st_mtime_ns
    seen: list[tuple[str, str]] = []
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("STOCKAGENTS_MODELS_DIR", str(tmp_path_factory.mktemp("models")))
        again = run_complete_training(
            resume=Path(os.path.relpath(path)), progress=False,
            on_stage=lambda name, i, record: seen.append((name, record.status)),
        )  # fmt: skip
    assert again == path
    assert adapter.stat().st_mtime_ns == before  # SFT was not redone
    assert seen[:3] == [("data", "done"), ("sft", "done"), ("trajectories", "done")]
    assert ("rl", "running") in seen
    final = json.loads((path / "rl" / "models" / "final" / "manifest.json").read_text())
    assert final["training"]["iterations"] == 2  # continued from checkpoint-1 to the end
    assert final["training"]["resumed_from"].endswith("checkpoint-1")
    return path


def test_every_stage_ran_and_the_summary_says_so(run: Path) -> None:
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["kind"] == "complete-run"
    assert all(manifest["stages"][s]["status"] == "done" for s in STAGES)
    options = manifest["options"]
    assert options["symbols"] == ["AAPL"]  # MSFT is not in the sample: skipped up front
    sizes = ("sft_examples", "sft_steps", "rl_iterations", "test_days")
    assert tuple(options[k] for k in sizes) == (24, 4, 2, 60)
    for agent in ("news", "technical", "fundamental", "strategist"):
        assert (run / "sft" / "data" / f"{agent}_train.jsonl").is_file()
        assert (run / "sft" / "models" / f"{agent}_agent" / "final" / "manifest.json").is_file()
    assert (run / "rl" / "experience_library.db").is_file()
    assert (run / "rl" / "models" / "final" / "manifest.json").is_file()
    # the RL set: the SFT analysts with the RL strategist, by paths relative to the set
    agents = json.loads((run / "sets" / "rl" / "manifest.json").read_text())["agents"]
    assert not any(os.path.isabs(p) for p in agents.values())
    assert (run / "sets" / "rl" / agents["strategist"]).resolve() == (
        run / "rl" / "models" / "final"
    ).resolve()
    assert (run / "sets" / "rl" / agents["news"]).resolve() == (
        run / "sft" / "models" / "news_agent" / "final"
    ).resolve()
    (evaluation,) = (run / "evaluation").glob("eval_*")
    results = json.loads((evaluation / "evaluation_results.json").read_text())
    assert [s["name"] for s in results["sets"]] == ["baseline", "sft", "rl"]
    assert results["window"]["days"] == 60
    assert (evaluation / "comparison_plots.png").stat().st_size > 10_000
    summary = json.loads((run / "summary.json").read_text())
    assert set(summary["sets"]) == {"baseline", "sft", "rl", "buy & hold"}
    assert summary["sets"]["baseline"]["sharpe"] == pytest.approx(
        results["sets"][0]["metrics"]["with_costs"]["sharpe"]
    )
    text = (run / "summary.md").read_text()
    assert "| rl | done |" in text
    assert "| baseline |" in text
    assert "(60 days x 1 symbols)" in text
    assert "; symbols AAPL; " in text  # SFT, RL and evaluation on the same one
    # the paired comparisons: each set against the baseline, and RL against its SFT start
    pairs = [(c["set"], c["against"]) for c in summary["comparisons"]]
    assert pairs == [("sft", "baseline"), ("rl", "baseline"), ("rl", "sft")]
    assert "| rl | sft | 60 |" in text
    # the RL validation reward against its SFT start, paired prompt by prompt
    gain = summary["rl"]["validation_gain"]["rl (grpo) - sft start"]
    assert gain["low"] <= gain["difference"] <= gain["high"]
    assert "- rl (grpo) - sft start: " in text


def test_the_summary_names_the_wider_symbols_of_rl_and_the_evaluation() -> None:
    from stockagents.pipelines.complete_report import _symbols

    six = ["AAPL", "AMZN", "GOOG", "META", "NFLX", "NVDA"]
    both = {"rl_symbols": six, "evaluation": {"symbols": six}}
    assert _symbols(["AAPL", "AMZN"], both) == (
        "symbols AAPL, AMZN (SFT); RL and evaluation on " + ", ".join(six)
    )
    only_rl = {"rl_symbols": six, "evaluation": {"symbols": ["AAPL", "AMZN"]}}
    assert _symbols(["AAPL", "AMZN"], only_rl).endswith("(SFT); RL on " + ", ".join(six))
    assert _symbols(["AAPL"], {"rl_symbols": [], "evaluation": {}}) == "symbols AAPL"


def test_nothing_is_deployed_when_no_set_passes(run: Path) -> None:
    deployment = json.loads((run / "manifest.json").read_text())["stages"]["deployment"]
    outputs = deployment["outputs"]
    assert outputs["deployed"] is None
    assert "no set passed" in outputs["reason"]
    assert set(outputs["verdicts"]) == {"sft", "rl"}
    assert all(v["failed"] for v in outputs["verdicts"].values())
    assert "Not deployed" in (run / "summary.md").read_text()


def test_resume_of_a_finished_run_redoes_nothing(run: Path) -> None:
    before = json.loads((run / "manifest.json").read_text())["stages"]
    seen: list[tuple[str, str]] = []

    def on_stage(name: str, index: int, record: StageRecord) -> None:
        seen.append((name, record.status))

    run_complete_training(resume=run, progress=False, on_stage=on_stage)
    assert seen == [(s, "done") for s in STAGES]
    assert json.loads((run / "manifest.json").read_text())["stages"] == before


def test_the_best_passing_set_is_deployed(
    run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With criteria every set meets, the deployment stage installs the RL set (ties go
    to rl) through the gated deployer, which finds the run's own evaluation."""
    import shutil

    copy = tmp_path / run.name
    shutil.copytree(run, copy, symlinks=True)
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["stages"]["deployment"] = {"status": "pending", "seconds": 0.0, "outputs": {}}
    (copy / "manifest.json").write_text(json.dumps(manifest))

    def passes(metrics: object, criteria: object = None) -> dict[str, object]:
        return {"sharpe": {"value": 1.0, "threshold": 0.5, "rule": "> 0.5", "passed": True}}

    monkeypatch.setattr(complete, "check_criteria", passes)
    monkeypatch.setattr("stockagents.deployment.gate.check_criteria", passes)
    run_complete_training(resume=copy, progress=False)
    outputs = json.loads((copy / "manifest.json").read_text())["stages"]["deployment"]["outputs"]
    assert outputs["deployed"] == "rl"
    # the run's recorded config says where production lives (its models_dir at start)
    production = production_manifest(Path(outputs["production"]).parent)
    assert production is not None
    assert production.deployment == outputs["deployment"]
    strategist = json.loads((copy / "rl" / "models" / "final" / "manifest.json").read_text())[
        "version"
    ]
    assert production.versions["strategist"] == strategist
    assert "Deployed: **rl**" in (copy / "summary.md").read_text()


def test_resume_refuses_other_options_and_config(
    run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(ConfigError, match="give no others"):
        run_complete_training(CompleteOptions(profile="tiny"), resume=run)
    other = tmp_path / "config.yaml"
    other.write_text("backtest:\n  commission_bps: 50\n")
    with pytest.raises(ConfigError, match="--config differs"):
        run_complete_training(resume=run, config=other)
    assert main(["run-complete", "--resume", str(run), "--no-deploy", "--test-days", "90"]) == 1
    err = capsys.readouterr().err.strip()
    assert "drop --test-days, --no-deploy" in err or "drop --no-deploy, --test-days" in err
    with pytest.raises(ConfigError, match="not a complete run"):
        run_complete_training(resume=run / "sft")


def test_bad_options_are_one_line_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(ConfigError, match="--profile 'huge'"):
        CompleteOptions(profile="huge").resolved()
    with pytest.raises(ConfigError, match="--rl-iterations must be at least 1"):
        CompleteOptions(rl_iterations=0).resolved()
    with pytest.raises(ConfigError, match="grpo or ppo"):
        CompleteOptions(algorithm="dqn").resolved()
    capped = CompleteOptions(
        profile="tiny", rl_iterations=100, sft_examples=100, rl_trajectories=500, sft_steps=500
    ).resolved()
    assert (capped.rl_iterations, capped.sft_examples, capped.rl_trajectories) == (3, 24, 48)
    assert capped.sft_steps == 6
    with pytest.raises(ConfigError, match="--test-days 20: deployment needs"):
        CompleteOptions(test_days=20).resolved()
    assert CompleteOptions(test_days=20, deploy=False).resolved().test_days == 20
    with pytest.raises(DataError, match="none of MSFT, TSLA"):
        run_complete_training(
            CompleteOptions(profile="tiny", symbols=("MSFT", "TSLA")), output_root=tmp_path
        )
    assert main(["run-complete", "--symbols", "--output-root", str(tmp_path)]) == 1
    assert "'--output-root' is an option, not a symbol" in capsys.readouterr().err
    assert main(["run-complete", "--resume", str(tmp_path / "nope")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: --resume")
    assert "no manifest.json" in err
    assert len(err.splitlines()) == 1


def test_the_test_segment_grows_to_hold_the_evaluation_window() -> None:
    from stockagents.core.config import AppConfig
    from stockagents.pipelines.complete import _room_for_the_test
    from stockagents.pipelines.profiles import COMPLETE_PROFILES

    app = AppConfig()
    cpu = CompleteOptions().resolved()
    assert COMPLETE_PROFILES["cpu"].test_symbols == "all"  # every symbol with prices
    assert cpu.test_days is not None
    assert cpu.test_days > app.splits.test_days
    grown = _room_for_the_test(app, cpu)
    assert grown.splits.test_days == cpu.test_days  # training dates stay out of the window
    assert grown.splits.validation_days == app.splits.validation_days
    assert _room_for_the_test(app, CompleteOptions(test_days=60).resolved()) is app

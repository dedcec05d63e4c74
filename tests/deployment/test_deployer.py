"""Deployment (the guide's step 4): the gate, backup, atomic install, verification,
rollback, the lock, bad input, and a process killed at every step."""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from stockagents.cli.main import main
from stockagents.core.config import AppConfig
from stockagents.core.errors import DeploymentError
from stockagents.core.registry import content_hash, production_manifest, release_evaluation
from stockagents.deployment import STEPS, ModelDeployer
from stockagents.deployment.store import DeployLock, Store
from stockagents.evaluation.cache import code_fingerprint
from stockagents.orchestration import SystemCoordinator
from tests.helpers import make_tiny_adapter

REPO = Path(__file__).parents[2]


@pytest.fixture(scope="module")
def adapters(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two tiny strategists and a tiny technical analyst, each with a complete manifest."""
    root = tmp_path_factory.mktemp("adapters")
    return {
        "a": make_tiny_adapter(root / "strategist_a", 1, agent="strategist"),
        "b": make_tiny_adapter(root / "strategist_b", 2, agent="strategist"),
        "tech": make_tiny_adapter(root / "technical", 3, agent="technical"),
    }


def _evaluation(
    root: Path, hashes: dict[str, str], sharpe: float, name: str = "x", **changes: Any
) -> Path:
    """An evaluation result of the set with these hashes, under this config and code (as
    evaluate_models writes it); ``changes`` override parts of its manifest or window."""
    metrics = {"sharpe": sharpe, "max_drawdown": -0.05, "win_rate": 0.6, "profit_factor": 2.0}
    run = root / f"eval_2026010{len(list(root.glob('eval_*')))}_000000"
    run.mkdir(parents=True)
    manifest = {"config": AppConfig().model_dump(mode="json"), "code": code_fingerprint()}
    manifest.update(changes.get("manifest", {}))
    body = {"window": {"start": "2023-05-15", "end": "2023-09-21", "days": changes.get("days", 90)},
            "sets": [{"name": name, "model_hashes": hashes, "metrics": {"with_costs": metrics}}],
            "manifest": manifest}  # fmt: skip
    (run / "evaluation_results.json").write_text(json.dumps(body), encoding="utf-8")
    return run


def _hashes(**given: Path) -> dict[str, str]:
    out = dict.fromkeys(("news", "technical", "fundamental", "strategist"), "expert")
    out.update({agent: content_hash(path) for agent, path in given.items()})
    return out


def _production(models_dir: Path) -> dict[str, str]:
    manifest = production_manifest(models_dir)
    assert manifest is not None
    return manifest.hashes


def test_deploy_backs_up_installs_verifies_and_records(
    adapters: dict[str, Path], tmp_path: Path, models_dir: Path
) -> None:
    evals = tmp_path / "evals"
    _evaluation(evals, _hashes(strategist=adapters["a"]), sharpe=0.9)
    deployer = ModelDeployer(evaluations_dir=evals)
    assert deployer.models_dir == models_dir  # the config's default ($STOCKAGENTS_MODELS_DIR)
    first = deployer.deploy({"strategist": adapters["a"]}, min_sharpe=0.5)
    assert first["outcome"] == "deployed"
    assert first["backup"] is None  # nothing was deployed before
    assert first["evaluation"]["passed"] is True
    assert first["verification"]["symbol"] == "AAPL"
    production = models_dir / "production"
    assert production.is_symlink()
    assert _production(models_dir)["strategist"] == content_hash(adapters["a"])
    assert content_hash(production / "strategist") == content_hash(adapters["a"])
    assert (production / f"{first['id']}.json").is_file()  # the guide's record path
    # SystemCoordinator() with no arguments answers with production, and says so
    result = SystemCoordinator().analyze_symbol("AAPL")
    assert result.model_set == f"production ({first['id']})"
    assert result.model_versions["strategist"].startswith("test-1 on tiny")
    assert result.model_versions["technical"] == "expert-3"

    _evaluation(evals, _hashes(strategist=adapters["b"], technical=adapters["tech"]), sharpe=0.7)
    second = deployer.deploy({"strategist": adapters["b"], "technical": adapters["tech"]})
    backup = Path(second["backup"])
    assert backup.parent == models_dir / "backups"
    assert backup.name.startswith("backup_")
    assert content_hash(backup / "strategist") == content_hash(adapters["a"])  # the old one
    assert _production(models_dir)["technical"] == content_hash(adapters["tech"])
    records = sorted(p.name for p in production.glob("deployment_*.json"))
    assert records == sorted([f"{first['id']}.json", f"{second['id']}.json"])  # history travels
    assert len(list((models_dir / "releases").iterdir())) == 2  # current and the one before

    # a partial deployment keeps production's other agents
    _evaluation(evals, _hashes(strategist=adapters["a"], technical=adapters["tech"]), sharpe=0.8)
    third = deployer.deploy({"strategist": adapters["a"]})
    assert third["agents"]["technical"]["origin"] == "production"
    assert _production(models_dir)["technical"] == content_hash(adapters["tech"])


def test_the_gate_refuses_without_a_passing_evaluation(
    adapters: dict[str, Path], tmp_path: Path, models_dir: Path
) -> None:
    evals = tmp_path / "evals"
    deployer = ModelDeployer(evaluations_dir=evals)
    with pytest.raises(DeploymentError, match="refused: no evaluation of this model set"):
        deployer.deploy({"strategist": adapters["a"]})
    _evaluation(evals, _hashes(strategist=adapters["a"]), sharpe=0.3)
    with pytest.raises(DeploymentError, match=r"fails the criteria: sharpe 0\.3 \(needs > 0\.5\)"):
        deployer.deploy({"strategist": adapters["a"]})
    assert deployer.deploy({"strategist": adapters["a"]}, min_sharpe=0.2)["outcome"] == "deployed"
    # an evaluation of the same bytes under other costs, or too short, does not apply
    other = AppConfig().model_dump(mode="json")
    other["backtest"]["commission_bps"] = 0.0
    _evaluation(evals, _hashes(strategist=adapters["a"]), sharpe=2.0, manifest={"config": other})
    with pytest.raises(DeploymentError, match="does not apply: its backtest settings differ"):
        deployer.deploy({"strategist": adapters["a"]})
    _evaluation(evals, _hashes(strategist=adapters["a"]), sharpe=2.0, days=20)
    with pytest.raises(DeploymentError, match="its window has 20 trading days"):
        deployer.deploy({"strategist": adapters["a"]})
    # a different model (other bytes) does not match that evaluation
    with pytest.raises(DeploymentError, match="no evaluation of this model set"):
        deployer.deploy({"strategist": adapters["b"]})
    forced = deployer.deploy({"strategist": adapters["b"]}, force=True)
    assert forced["forced"] is True
    assert "no evaluation" in forced["forced_because"]
    outcomes = [r["outcome"] for r in deployer.status()["records"]]
    assert outcomes == [
        "refused",
        "refused",
        "deployed",
        "refused",
        "refused",
        "refused",
        "deployed",
    ]


def test_bad_models_are_refused_and_production_is_unchanged(
    adapters: dict[str, Path], tmp_path: Path, models_dir: Path
) -> None:
    deployer = ModelDeployer(evaluations_dir=tmp_path / "evals")
    deployer.deploy({"strategist": adapters["a"]}, force=True)
    before = _production(models_dir)
    broken = tmp_path / "broken"
    shutil.copytree(adapters["b"], broken)
    (broken / "adapter_config.json").write_text("{not json", encoding="utf-8")
    incomplete = tmp_path / "incomplete"
    shutil.copytree(adapters["b"], incomplete)
    (incomplete / "manifest.json").write_text(json.dumps({"kind": "lora", "agent": "strategist"}))
    cases = [
        ({"../../etc": adapters["a"]}, "unknown agent '../../etc'"),
        ({"strategist": tmp_path / "missing"}, "is not a directory"),
        ({"news": adapters["a"]}, "is the strategist agent's model; pass it as strategist:"),
        ({"strategist": incomplete}, "lacks base_model, version"),
        ({"strategist": broken}, "strategist: does not load"),
    ]
    for models, message in cases:
        with pytest.raises(DeploymentError, match=message.replace("(", r"\(").replace(")", r"\)")):
            deployer.deploy(models, force=True)
        assert _production(models_dir) == before
    assert not list((models_dir / "releases").glob(".staging-*"))
    assert not [p for p in models_dir.rglob("etc")]  # nothing written by the traversal name


def test_failed_verification_leaves_production_and_is_recorded(
    adapters: dict[str, Path], tmp_path: Path, models_dir: Path
) -> None:
    deployer = ModelDeployer(evaluations_dir=tmp_path / "evals")
    deployer.deploy({"strategist": adapters["a"]}, force=True)
    before = _production(models_dir)
    dead = tmp_path / "api-strategist"  # an OpenAI-compatible server that is not there
    dead.mkdir()
    (dead / "manifest.json").write_text(json.dumps(
        {"kind": "openai", "model": "m", "base_url": "http://127.0.0.1:9/v1", "agent": "strategist"}
    ))  # fmt: skip
    with pytest.raises(
        DeploymentError, match="verification failed: strategist gave invalid output"
    ):
        deployer.deploy({"strategist": dead}, force=True)
    assert _production(models_dir) == before
    record = deployer.status()["records"][-1]
    assert record["outcome"] == "failed"
    assert record["production"].endswith(deployer.store.current().name)  # type: ignore[union-attr]


def test_a_swap_that_does_not_match_is_undone(
    adapters: dict[str, Path], tmp_path: Path, models_dir: Path
) -> None:
    ModelDeployer(evaluations_dir=tmp_path).deploy({"strategist": adapters["a"]}, force=True)
    before = _production(models_dir)

    def tamper(step: str) -> None:
        if step == "confirm":  # something changed the new release under us
            (models_dir / "production" / "strategist" / "adapter_config.json").write_text("{}")

    deployer = ModelDeployer(evaluations_dir=tmp_path, on_step=tamper)
    with pytest.raises(DeploymentError, match="does not match what was staged; swapped back"):
        deployer.deploy({"strategist": adapters["b"]}, force=True)
    assert _production(models_dir) == before
    assert content_hash(models_dir / "production" / "strategist") == content_hash(adapters["a"])


@pytest.mark.parametrize(
    ("error", "message"),
    [
        (OSError(errno.ENOSPC, "No space left on device", "adapter_model.safetensors"),
         "No space left on device; production is unchanged"),
        (PermissionError(errno.EACCES, "Permission denied", "adapter_model.safetensors"),
         "Permission denied; production is unchanged"),
    ],
)  # fmt: skip
def test_a_full_disk_or_unreadable_source_is_one_clear_error(
    adapters: dict[str, Path], tmp_path: Path, models_dir: Path,
    monkeypatch: pytest.MonkeyPatch, error: OSError, message: str,
) -> None:  # fmt: skip
    deployer = ModelDeployer(evaluations_dir=tmp_path)
    deployer.deploy({"strategist": adapters["a"]}, force=True)
    before = _production(models_dir)
    from stockagents.deployment import store

    real = shutil.copy2

    def failing(src: str, dst: str, *args: Any, **kwargs: Any) -> Any:
        if "strategist_b" in str(src):
            raise error
        return real(src, dst, *args, **kwargs)

    monkeypatch.setattr(store.shutil, "copy2", failing)
    with pytest.raises(DeploymentError, match=message) as caught:
        deployer.deploy({"strategist": adapters["b"]}, force=True)
    assert "\n" not in str(caught.value)
    assert _production(models_dir) == before
    assert not list((models_dir / "releases").glob(".staging-*"))


def test_two_deployments_cannot_interleave(
    adapters: dict[str, Path], tmp_path: Path, models_dir: Path
) -> None:
    with (
        DeployLock(models_dir),
        pytest.raises(DeploymentError, match="another deployment is running \\(pid"),
    ):
        ModelDeployer(evaluations_dir=tmp_path).deploy({"strategist": adapters["a"]}, force=True)
    ModelDeployer(evaluations_dir=tmp_path).deploy({"strategist": adapters["a"]}, force=True)


def test_rollback_restores_a_backup_and_backs_up_what_it_replaces(
    adapters: dict[str, Path], tmp_path: Path, models_dir: Path
) -> None:
    deployer = ModelDeployer(evaluations_dir=tmp_path)
    with pytest.raises(DeploymentError, match="no backup in"):
        deployer.rollback()
    deployer.deploy({"strategist": adapters["a"]}, force=True)
    second = deployer.deploy(
        {"strategist": adapters["b"], "technical": adapters["tech"]}, force=True
    )
    rolled = deployer.rollback(second["backup"])
    assert rolled["outcome"] == "rolled back"
    hashes = _production(models_dir)
    assert hashes["strategist"] == content_hash(adapters["a"])
    assert hashes["technical"] == "expert"
    assert content_hash(Path(rolled["backup"]) / "strategist") == content_hash(adapters["b"])
    for bad in ("/etc", str(tmp_path), str(models_dir / "backups" / "backup_nope")):
        with pytest.raises(DeploymentError, match=r"not a backup|does not exist"):
            deployer.rollback(bad)
    assert _production(models_dir)["strategist"] == content_hash(adapters["a"])


def test_a_release_carries_its_evaluation_and_a_rollback_carries_it_back(
    adapters: dict[str, Path], tmp_path: Path, models_dir: Path
) -> None:
    evals = tmp_path / "evals"
    _evaluation(evals, _hashes(strategist=adapters["a"]), sharpe=0.9, name="sft")
    deployer = ModelDeployer(evaluations_dir=evals)
    deployer.deploy({"strategist": adapters["a"]})
    carried = release_evaluation(models_dir / "production")
    assert carried is not None
    assert carried["set"]["name"] == "sft"
    assert carried["set"]["metrics"]["with_costs"]["sharpe"] == 0.9
    assert carried["window"]["days"] == 90
    assert carried["path"] == str(next(evals.glob("eval_*")))
    deployer.deploy({"strategist": adapters["b"]}, force=True)
    assert release_evaluation(models_dir / "production") is None  # forced: none to carry
    deployer.rollback()
    assert release_evaluation(models_dir / "production") == carried


_KILLER = """
import os, signal, sys
from stockagents.deployment import ModelDeployer

step = sys.argv[1]
def kill(name):
    if name == step:
        os.kill(os.getpid(), signal.SIGKILL)
ModelDeployer(evaluations_dir=sys.argv[2], on_step=kill).deploy({"strategist": sys.argv[3]}, force=True)
"""


@pytest.mark.slow
@pytest.mark.parametrize("step", STEPS)
def test_a_deployment_killed_at_any_step_leaves_production_whole(
    adapters: dict[str, Path], tmp_path: Path, models_dir: Path, step: str
) -> None:
    ModelDeployer(evaluations_dir=tmp_path).deploy({"strategist": adapters["a"]}, force=True)
    old, new = content_hash(adapters["a"]), content_hash(adapters["b"])
    script = tmp_path / "kill.py"
    script.write_text(_KILLER, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    proc = subprocess.run(
        [sys.executable, str(script), step, str(tmp_path), str(adapters["b"])],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == -9, proc.stderr[-500:]  # killed, not finished
    hashes = _production(models_dir)
    on_disk = content_hash(models_dir / "production" / "strategist")
    assert hashes["strategist"] == on_disk  # manifest and files agree: whole
    assert on_disk in (old, new)
    if STEPS.index(step) < STEPS.index("swap"):
        assert on_disk == old
    elif step in ("confirm", "done"):
        assert on_disk == new
    # the next deployment cleans up, marks the interrupted one, and succeeds
    after = ModelDeployer(evaluations_dir=tmp_path)
    after.deploy({"strategist": adapters["a"]}, force=True)
    outcomes = [r["outcome"] for r in after.status()["records"]]
    assert outcomes[-2:] == ["interrupted", "deployed"]
    assert not list((models_dir / "releases").glob(".staging-*"))
    assert len(list((models_dir / "releases").iterdir())) <= 2  # current and the one before


def test_cli_deploy_list_and_rollback(
    adapters: dict[str, Path], tmp_path: Path, models_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["--evaluations", str(tmp_path)]
    assert main(["deploy", "--models", f"strategist:{adapters['a']}", *args]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: refused: no evaluation of this model set")
    assert main(["deploy", "--models", f"strategist:{adapters['a']}", "--force", *args]) == 0
    assert main(["deploy", "--models", f"strategist:{adapters['b']}", "--force", *args]) == 0
    assert "deployed" in capsys.readouterr().out
    assert main(["models", "list"]) == 0
    listed = capsys.readouterr().out
    assert "production:" in listed
    assert "backups: 1" in listed
    # analyze answers with production by default, and with the rules when asked
    assert main(["analyze", "AAPL", "--as-of", "2023-06-30", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["model_set"].startswith("production (deployment_")
    assert main(["analyze", "AAPL", "--as-of", "2023-06-30", "--json", "--models", "expert"]) == 0
    assert json.loads(capsys.readouterr().out)["model_set"] == "expert"
    assert main(["deploy", "rollback"]) == 0
    assert "rolled back" in capsys.readouterr().out
    assert _production(models_dir)["strategist"] == content_hash(adapters["a"])
    assert main(["deploy", "--models", "strategist"]) == 1
    assert "write AGENT:DIR" in capsys.readouterr().err


@pytest.mark.slow
def test_the_guides_verify_and_rollback_snippets_run(
    adapters: dict[str, Path], tmp_path: Path, models_dir: Path
) -> None:
    deployer = ModelDeployer(evaluations_dir=tmp_path)
    deployer.deploy({"strategist": adapters["a"]}, force=True)
    backup = deployer.deploy({"strategist": adapters["b"]}, force=True)["backup"]
    verify = textwrap.dedent("""
        from stockagents.orchestration.coordinator import SystemCoordinator
        coordinator = SystemCoordinator()
        result = coordinator.analyze_symbol('AAPL')
        print(f'Recommendation: {result["recommendation"]}')
        print(f'Confidence: {result["confidence"]:.2f}')
    """)
    rollback = textwrap.dedent(f"""
        from scripts.deploy_models import ModelDeployer
        deployer = ModelDeployer()
        deployer.rollback('{backup}')
    """)
    for snippet in (verify, rollback):
        proc = subprocess.run([sys.executable, "-c", snippet], cwd=REPO, capture_output=True,
                              text=True, timeout=300)  # fmt: skip
        assert proc.returncode == 0, proc.stderr[-800:]
    assert (
        "Recommendation: "
        in subprocess.run(
            [sys.executable, "-c", verify], cwd=REPO, capture_output=True, text=True, timeout=300
        ).stdout
    )
    assert _production(models_dir)["strategist"] == content_hash(adapters["a"])


def test_collection_never_uses_production(
    adapters: dict[str, Path], tmp_path: Path, models_dir: Path
) -> None:
    import datetime as dt

    from stockagents.backtest.collect import collect_trajectories

    ModelDeployer(evaluations_dir=tmp_path).deploy({"strategist": adapters["a"]}, force=True)
    summary = collect_trajectories(
        ["AAPL"], dt.date(2023, 6, 1), dt.date(2023, 6, 5), tmp_path / "collect",
        backend="serial", progress=False,
    )  # fmt: skip
    manifest = json.loads((tmp_path / "collect" / "manifest.json").read_text(encoding="utf-8"))
    assert summary.inserted > 0
    assert set(manifest["model_versions"].values()) == {"expert-3"}


def test_a_relative_models_dir_swaps_back(
    adapters: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    ModelDeployer("models", evaluations_dir="evals").deploy(
        {"strategist": adapters["a"]}, force=True
    )

    def tamper(step: str) -> None:
        if step == "confirm":
            (tmp_path / "models" / "production" / "strategist" / "adapter_config.json").write_text(
                "{}"
            )

    deployer = ModelDeployer("models", evaluations_dir="evals", on_step=tamper)
    with pytest.raises(DeploymentError, match="swapped back to release_"):
        deployer.deploy({"strategist": adapters["b"]}, force=True)
    assert _production(Path("models"))["strategist"] == content_hash(adapters["a"])


def test_a_full_disk_while_writing_is_one_line_and_drops_its_backup(
    adapters: dict[str, Path], tmp_path: Path, models_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    deployer = ModelDeployer(evaluations_dir=tmp_path)
    deployer.deploy({"strategist": adapters["a"]}, force=True)
    before = _production(models_dir)
    from stockagents.deployment import deployer as module

    real = module.write_manifest

    def full(path: Path, value: Any) -> Path:
        if path.name == "manifest.json":
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return real(path, value)

    monkeypatch.setattr(module, "write_manifest", full)
    with pytest.raises(DeploymentError, match=r"No space left on device; production is release_"):
        deployer.deploy({"strategist": adapters["b"]}, force=True)
    assert _production(models_dir) == before
    assert len(list((models_dir / "backups").iterdir())) == 0  # no backup of a failed attempt
    assert deployer.status()["records"][-1]["outcome"] == "failed"


def test_a_kill_inside_adopt_loses_nothing(
    adapters: dict[str, Path], models_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    handmade = models_dir / "production"
    shutil.copytree(adapters["a"], handmade / "strategist")
    (handmade / "manifest.json").write_text(json.dumps(
        {"kind": "production", "agents": {"strategist": "strategist"}, "deployment": "by hand"}
    ))  # fmt: skip
    store = Store(models_dir)
    link = Store._link
    monkeypatch.setattr(
        Store, "_link", lambda self, release: (_ for _ in ()).throw(KeyboardInterrupt)
    )
    with pytest.raises(KeyboardInterrupt):  # killed between the move and the link
        store.adopt()
    assert not handmade.exists()
    monkeypatch.setattr(Store, "_link", link)
    store.sweep()  # what the next deployment does first
    assert content_hash(handmade / "strategist") == content_hash(adapters["a"])
    assert SystemCoordinator().model_set == "production (by hand)"

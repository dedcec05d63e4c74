"""Runs that are killed or interrupted (SIGKILL, SIGTERM, Ctrl-C) leave nothing behind:
no orphaned backup that a rollback would reinstall, no ``started`` record, and no more
backups than ``deployment.keep_backups``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from stockagents.core.config import AppConfig, load_config
from stockagents.core.errors import DeploymentError
from stockagents.core.registry import set_identity
from stockagents.deployment import STEPS, ModelDeployer
from stockagents.deployment.store import DeployLock
from tests.helpers import make_tiny_adapter

REPO = Path(__file__).parents[2]


@pytest.fixture(scope="module")
def adapters(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("adapters")
    return {
        "a": make_tiny_adapter(root / "strategist_a", 1, agent="strategist"),
        "b": make_tiny_adapter(root / "strategist_b", 2, agent="strategist"),
        "tech": make_tiny_adapter(root / "technical", 3, agent="technical"),
    }


def _config(keep_backups: int) -> AppConfig:
    """The default config with ``deployment.keep_backups`` set."""
    return load_config({"deployment": {"keep_backups": keep_backups}})


def _production(models_dir: Path) -> str | None:
    return set_identity(models_dir / "production")


@pytest.fixture(autouse=True)
def _in_tmp(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # evaluation_results/ (none: every deployment is forced)


def _die_at(step: str, models: dict[str, str | Path]) -> None:
    """What SIGKILL at ``step`` leaves, in this process: the run stops there and none of
    its own cleanup runs (the lock goes, as the kernel releases a dead process's flock)."""

    def stop(name: str) -> None:
        if name == step:
            raise KeyboardInterrupt

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ModelDeployer, "_fail", lambda self, record, exc: None)
        with pytest.raises(KeyboardInterrupt):
            ModelDeployer(on_step=stop).deploy(models, force=True)


def _orphans(models_dir: Path) -> list[str]:
    """Backups whose run did not install its release."""
    out = []
    for backup in sorted((models_dir / "backups").glob("backup_*")):
        record = models_dir / "records" / f"deployment_{backup.name.removeprefix('backup_')}.json"
        if record.is_file():
            data = json.loads(record.read_text(encoding="utf-8"))
            if data["outcome"] not in ("deployed", "rolled back") and not data.get("swapped"):
                out.append(backup.name)
    return out


def _count_backups(models_dir: Path) -> int:
    return len(list((models_dir / "backups").glob("*")))


def _outcomes(models_dir: Path) -> list[str]:
    return [r.outcome for r in ModelDeployer(models_dir).store.history()]


@pytest.mark.slow
def test_rollback_after_a_kill_between_backup_and_swap_goes_to_the_release_before(
    adapters: dict[str, Path], models_dir: Path
) -> None:
    deployer = ModelDeployer()
    deployer.deploy({"strategist": adapters["a"]}, force=True)
    first = _production(models_dir)
    deployer.deploy({"strategist": adapters["b"]}, force=True)
    second = _production(models_dir)
    assert first != second
    for expected in (first, second, first):  # seen three times in a row before the fix
        before = _production(models_dir)
        _die_at(
            "swap", {"technical": adapters["tech"]}
        )  # backed up, staged, verified; killed before the swap
        assert _production(models_dir) == before
        assert _orphans(models_dir)  # the dead run's copy of the unchanged production
        assert "started" in _outcomes(models_dir)
        rolled = ModelDeployer().rollback()
        assert _production(models_dir) == expected != before  # never the set in production
        assert set_identity(rolled["rollback_to"]) == expected
        assert _orphans(models_dir) == []  # the next run cleared it
        assert "started" not in _outcomes(models_dir)
        assert not list((models_dir / "releases").glob(".staging-*"))
        assert len(list((models_dir / "releases").iterdir())) <= 2


def test_the_next_run_or_listing_clears_what_a_dead_run_left(
    adapters: dict[str, Path], models_dir: Path
) -> None:
    ModelDeployer().deploy({"strategist": adapters["a"]}, force=True)
    ModelDeployer().deploy({"strategist": adapters["b"]}, force=True)
    _die_at("verify", {"technical": adapters["tech"]})
    dead = ModelDeployer().store.history()[-1]
    assert dead.outcome == "started"
    assert dead.pid == os.getpid()
    with DeployLock(models_dir):  # a run is going on: the listing leaves its files alone
        assert ModelDeployer().status()["records"][-1]["outcome"] == "started"
    status = ModelDeployer().status()
    assert status["records"][-1]["outcome"] == "interrupted"
    assert status["records"][-1]["swapped"] is False
    assert _orphans(models_dir) == []
    assert len(status["backups"]) == 1
    assert status["rollback_to"] == status["backups"][0]["path"]
    assert len(list((models_dir / "releases").iterdir())) == 2  # its release is gone too


@pytest.mark.parametrize("step", STEPS[1:])
def test_ctrl_c_at_any_step_cleans_up_and_records_interrupted(
    adapters: dict[str, Path], models_dir: Path, step: str
) -> None:
    ModelDeployer().deploy({"strategist": adapters["a"]}, force=True)
    old = _production(models_dir)

    def interrupt(name: str) -> None:
        if name == step:
            raise KeyboardInterrupt

    deployer = ModelDeployer(on_step=interrupt)
    with pytest.raises(KeyboardInterrupt):
        deployer.deploy({"strategist": adapters["b"]}, force=True)
    record = deployer.store.history()[-1]
    assert record.outcome == "interrupted"
    assert record.error == "interrupted (Ctrl-C)"
    swapped = STEPS.index(step) > STEPS.index("swap")
    assert record.swapped is swapped
    assert _orphans(models_dir) == []
    assert not list((models_dir / "releases").glob(".staging-*"))
    assert not list((models_dir / "backups").glob(".tmp-*"))
    if swapped:  # production is the new set, whole; its backup is what rollback needs
        assert _production(models_dir) != old
        assert record.backup is not None
        assert Path(record.backup).is_dir()
        ModelDeployer().rollback()
        assert _production(models_dir) == old
    else:
        assert _production(models_dir) == old
        assert record.backup is None
        assert not (models_dir / "backups").exists() or not any((models_dir / "backups").iterdir())


@pytest.mark.slow
def test_backups_are_pruned_to_keep_backups_and_rollback_still_works(
    adapters: dict[str, Path], models_dir: Path
) -> None:
    deployer = ModelDeployer(config=_config(keep_backups=3))
    sets: list[dict[str, str | Path]] = [{"strategist": adapters["a"]}, {"strategist": "expert"}]
    for i in range(11):
        deployer.deploy(sets[i % 2], force=True)
        assert _count_backups(models_dir) == min(i, 3)
    last = _production(models_dir)
    deployer.rollback()
    assert _production(models_dir) != last
    deployer.rollback()  # a second rollback undoes the first
    assert _production(models_dir) == last
    assert _count_backups(models_dir) == 3
    assert len(_outcomes(models_dir)) == 13  # records are all kept


def test_pruning_never_removes_the_backup_rollback_needs(
    adapters: dict[str, Path], models_dir: Path
) -> None:
    deployer = ModelDeployer(config=_config(keep_backups=1))
    deployer.deploy({"strategist": adapters["a"]}, force=True)
    first = _production(models_dir)
    deployer.deploy({"strategist": adapters["b"]}, force=True)
    deployer.deploy({"strategist": adapters["b"]}, force=True)  # its backup: the same set
    assert _count_backups(models_dir) == 2  # the newest, and the needed
    deployer.rollback()
    assert _production(models_dir) == first


def test_rollback_without_another_set_says_so(adapters: dict[str, Path], models_dir: Path) -> None:
    deployer = ModelDeployer()
    deployer.deploy({"strategist": adapters["a"]}, force=True)
    with pytest.raises(DeploymentError, match=r"no backup in .* production .* is the only"):
        deployer.rollback()
    deployer.deploy({"strategist": adapters["a"]}, force=True)  # backs up the same set
    with pytest.raises(DeploymentError, match=r"no backup in .* production .* is the only"):
        deployer.rollback()
    named = deployer.rollback(deployer.store.list_backups()[-1])  # named: installed as asked
    assert named["outcome"] == "rolled back"


def test_a_hand_made_manifest_has_the_identity_of_the_deployed_set(
    adapters: dict[str, Path], tmp_path: Path, models_dir: Path
) -> None:
    ModelDeployer().deploy({"strategist": adapters["a"]}, force=True)
    handmade = tmp_path / "handmade"
    (handmade / "strategist").mkdir(parents=True)
    for file in adapters["a"].iterdir():
        (handmade / "strategist" / file.name).write_bytes(file.read_bytes())
    (handmade / "manifest.json").write_text(
        json.dumps({"kind": "production", "agents": {"strategist": "strategist"}})
    )
    assert set_identity(handmade) == _production(models_dir)
    assert set_identity(tmp_path) is None


_PAUSED = """
import os, signal, sys, time
from pathlib import Path
from stockagents.cli.main import main
from stockagents.deployment.store import Store

signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a terminal, even when
signal.signal(signal.SIGTERM, signal.SIG_DFL)  # started with them ignored

ready = Path(sys.argv[1])
swap = Store.swap

def paused(self, release):  # backed up, staged and verified: wait here to be stopped
    ready.write_text(str(os.getpid()))
    time.sleep(120)
    return swap(self, release)

Store.swap = paused
sys.exit(main(["deploy", "--models", "technical:" + sys.argv[2], "--force"]))
"""


def _stopped_at_the_swap(tmp_path: Path, technical: Path, signum: int) -> int:
    """Run ``stockagents deploy`` in a process, send ``signum`` once it waits before its
    swap, and return its exit status."""
    script = tmp_path / "paused.py"
    script.write_text(_PAUSED, encoding="utf-8")
    ready = tmp_path / "ready"
    ready.unlink(missing_ok=True)
    proc = subprocess.Popen(
        [sys.executable, str(script), str(ready), str(technical)],
        env={**os.environ, "PYTHONPATH": str(REPO / "src")},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while not ready.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert ready.exists(), proc.communicate(timeout=10)[1][-800:]
        proc.send_signal(signum)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode in (-signal.SIGKILL, 128 + signum), err[-800:]
    return proc.returncode


@pytest.mark.slow
@pytest.mark.parametrize(
    ("signum", "status", "rounds"),
    [(signal.SIGKILL, -9, 3), (signal.SIGTERM, 143, 1), (signal.SIGINT, 130, 1)],
    ids=["SIGKILL", "SIGTERM", "SIGINT"],
)
def test_a_deploy_stopped_by_a_signal_before_its_swap(
    adapters: dict[str, Path], tmp_path: Path, models_dir: Path,
    signum: int, status: int, rounds: int,
) -> None:  # fmt: skip
    """SIGTERM and Ctrl-C run the cleanup (record ``interrupted``, no orphan); after a
    SIGKILL the next run clears up. Either way rollback goes to the set before."""
    deployer = ModelDeployer()
    deployer.deploy({"strategist": adapters["a"]}, force=True)
    first = _production(models_dir)
    deployer.deploy({"strategist": adapters["b"]}, force=True)
    expected = [first, _production(models_dir)]
    for i in range(rounds):
        before = _production(models_dir)
        assert _stopped_at_the_swap(tmp_path, adapters["tech"], signum) == status
        assert _production(models_dir) == before
        record = ModelDeployer().store.history()[-1]
        if signum == signal.SIGKILL:
            assert record.outcome == "started"
            assert _orphans(models_dir)
        else:
            assert record.outcome == "interrupted"
            assert (record.error or "").startswith(("terminated (SIGTERM)", "interrupted (Ctrl-C)"))
            assert _orphans(models_dir) == []
        ModelDeployer().rollback()
        assert _production(models_dir) == expected[i % 2] != before
        assert _orphans(models_dir) == []
        assert "started" not in _outcomes(models_dir)

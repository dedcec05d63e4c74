"""GRPO data parallel on CPU: ``accelerate launch --num_processes 2`` (gloo) shares each
batch's prompts between two processes, trains one adapter (written once, by the main
process) and raises the reward as the single-process run does; PPO refuses a launch."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import launch_two_processes
from tests.training.test_rl import sharp_tiny  # noqa: F401  (the fixture)

_TRAIN = """
import json, logging, os, sys
logging.basicConfig(level=logging.INFO)
from pathlib import Path
import torch
from tests.training.test_rl import PROMPTS, toy_config, vowel_share
from stockagents.training.rl.grpo import train_grpo
from stockagents.training.rl.ppo import train_ppo
from stockagents.core.errors import ConfigError
base, out, algorithm = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
report = out.parent / f"rank-{os.environ['RANK']}.json"  # the ranks share stdout: a file each
torch.manual_seed(0)
config = toy_config(base, out, algorithm)
if algorithm == "ppo":
    try:
        train_ppo(config, PROMPTS, vowel_share, progress=False)
    except ConfigError as exc:
        report.write_text(json.dumps({"refused": str(exc)}))
    sys.exit(0)
result = train_grpo(config, PROMPTS, vowel_share)
rewards = [h["reward"] for h in result.history]
report.write_text(json.dumps({
    "iterations": result.iterations, "logged": len(rewards),
    "first": sum(rewards[:10]) / 10, "last": sum(rewards[-10:]) / 10,
    "version": result.manifest.version,
}))
"""


def _launch(tmp_path: Path, base: Path, algorithm: str) -> subprocess.CompletedProcess[str]:
    return launch_two_processes(_TRAIN, [str(base), str(tmp_path / "out"), algorithm], tmp_path)


def _report(tmp_path: Path, rank: int) -> dict[str, Any]:
    path = tmp_path / f"rank-{rank}.json"
    assert path.is_file(), f"rank {rank} left no report"
    report: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return report


@pytest.mark.slow
def test_two_processes_raise_the_reward_like_one(tmp_path: Path, sharp_tiny: Path) -> None:  # noqa: F811
    proc = _launch(tmp_path, sharp_tiny, "grpo")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stderr.count("data parallel on CPU: 2 processes (gloo)") == 2
    main, other = (_report(tmp_path, rank) for rank in (0, 1))  # both ranks finished
    assert (main["iterations"], main["logged"]) == (30, 30)
    assert other["version"] == main["version"]  # the adapter the main process wrote
    # the bar the single-process test holds (test_rl_raises_the_reward_and_changes_the_weights)
    first, last = main["first"], main["last"]
    assert last > first + 0.08, f"mean reward {first:.3f} -> {last:.3f}"
    final = tmp_path / "out" / "final"
    manifest = json.loads((final / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["agent"] == "strategist"
    assert manifest["training"]["algorithm"] == "grpo"
    assert (final / "adapter_model.safetensors").is_file()
    assert not (tmp_path / "out" / ".final-tmp").exists()  # written once, whole
    history = json.loads((tmp_path / "out" / "history.json").read_text(encoding="utf-8"))
    assert len(history) == 30


@pytest.mark.slow
def test_ppo_refuses_several_processes(tmp_path: Path, sharp_tiny: Path) -> None:  # noqa: F811
    proc = _launch(tmp_path, sharp_tiny, "ppo")
    assert proc.returncode == 0, proc.stderr[-3000:]
    refused = [_report(tmp_path, rank)["refused"] for rank in (0, 1)]
    assert "PPO trains in one process (this launch started 2)" in refused[0]


def test_several_processes_need_a_collected_library(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from stockagents.core.errors import ConfigError
    from stockagents.pipelines.rl import train_strategist
    from stockagents.training.rl.config import load_rl_config

    monkeypatch.setenv("WORLD_SIZE", "2")
    config = load_rl_config(
        {"model": {"sft_checkpoint": None}, "training": {"output_dir": str(tmp_path)}}, "grpo"
    )
    with pytest.raises(ConfigError, match="several training processes read one library"):
        train_strategist(config, progress=False)
    assert not (tmp_path / "trajectories").exists()  # refused before collecting


def test_a_batch_that_does_not_split_over_the_processes_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from stockagents.core.errors import ConfigError
    from stockagents.training.rl.grpo import _args
    from tests.training.test_rl import toy_config

    monkeypatch.setenv("WORLD_SIZE", "2")
    config = toy_config(tmp_path, tmp_path / "out", "grpo", batch_size=3)
    with pytest.raises(ConfigError, match="3 prompts do not split evenly over 2 processes"):
        _args(config, tmp_path / "out", [])
    monkeypatch.setenv("WORLD_SIZE", "1")
    assert _args(config, tmp_path / "out", []).per_device_train_batch_size == 12

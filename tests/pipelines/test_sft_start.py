"""Where RL starts: the newest SFT strategist across the run layouts, and the guide's
default checkpoint replaced by it when missing."""

from __future__ import annotations

from pathlib import Path

import pytest

from stockagents.pipelines.rl import DEFAULT_SFT_START, _with_sft_start, find_sft_strategist
from stockagents.training.rl.config import load_rl_config


def _adapter(path: Path) -> Path:
    path.mkdir(parents=True)
    (path / "adapter_config.json").write_text("{}")
    return path


def test_the_newest_run_wins_and_the_guides_layout_wins_a_tie(tmp_path: Path) -> None:
    assert find_sft_strategist(tmp_path) is None
    old = _adapter(tmp_path / "sft_run_20260101_000000/models/strategist/final")
    assert find_sft_strategist(tmp_path) == old
    new = _adapter(tmp_path / "sft_run_20260101_000000/models/strategist_agent/final")
    assert find_sft_strategist(tmp_path) == new  # same run: the guide's layout
    complete = _adapter(tmp_path / "complete_run_20260102_000000/sft/models/strategist_agent/final")
    assert find_sft_strategist(tmp_path) == complete  # a newer run of another kind
    later = _adapter(tmp_path / "sft_run_20260103_000000/models/strategist_agent/final")
    assert find_sft_strategist(tmp_path) == later
    (tmp_path / "sft_run_20260104_000000/models/strategist_agent/final").mkdir(parents=True)
    assert find_sft_strategist(tmp_path) == later  # no adapter in it: not a start


def test_the_guides_default_start_falls_back_to_the_newest_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    config = load_rl_config({"algorithm": "grpo"}, algorithm="grpo")
    assert config.model.sft_checkpoint == DEFAULT_SFT_START
    assert _with_sft_start(config) is config  # nothing to fall back to: unchanged
    found = _adapter(Path("training_runs/sft_run_20260101_000000/models/strategist_agent/final"))
    assert _with_sft_start(config).model.sft_checkpoint == found
    _adapter(DEFAULT_SFT_START)
    assert _with_sft_start(config) is config  # the configured start exists: kept
    other = load_rl_config({"algorithm": "grpo", "model": {"sft_checkpoint": "x/final"}})
    assert _with_sft_start(other) is other  # only the guide's default is replaced

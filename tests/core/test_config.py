from __future__ import annotations

from pathlib import Path

import pytest

from stockagents.core.config import AppConfig, load_config
from stockagents.core.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]


def test_defaults_are_offline() -> None:
    config = load_config(None)
    assert config.data.prices.provider == "sample"
    assert config.data.news.provider == "none"
    assert config.agents.strategist.allow_short is False


def test_shipped_config_files_validate() -> None:
    files = sorted((REPO / "config").glob("*.yaml"))
    assert files, "config/*.yaml should exist"
    for file in files:
        assert isinstance(load_config(file), AppConfig)


def test_yaml_values_are_read(tmp_path: Path) -> None:
    file = tmp_path / "c.yaml"
    file.write_text("agents:\n  strategist:\n    max_position: 0.1\n    allow_short: true\n")
    config = load_config(file)
    assert config.agents.strategist.max_position == 0.1
    assert config.agents.strategist.allow_short is True


def test_error_names_file_field_and_fix(tmp_path: Path) -> None:
    file = tmp_path / "bad.yaml"
    file.write_text("agents:\n  strategist:\n    max_position: 1.5\n")
    with pytest.raises(ConfigError) as info:
        load_config(file)
    message = str(info.value)
    assert str(file) in message
    assert "agents.strategist.max_position" in message
    assert "got 1.5" in message
    assert "expected a fraction of equity in (0, 1]" in message


def test_unknown_key_is_rejected_with_fix(tmp_path: Path) -> None:
    file = tmp_path / "typo.yaml"
    file.write_text("data:\n  prices:\n    provdier: csv\n")
    with pytest.raises(ConfigError, match=r"data\.prices\.provdier.*check its spelling"):
        load_config(file)


def test_cross_field_rule(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="csv_dir"):
        load_config({"data": {"prices": {"provider": "csv"}}})


@pytest.mark.parametrize(
    ("text", "pattern"),
    [
        ("agents: [1, 2\n", r"invalid YAML at line \d+"),
        ("- just\n- a list\n", "expected a mapping"),
    ],
)
def test_malformed_yaml(tmp_path: Path, text: str, pattern: str) -> None:
    file = tmp_path / "broken.yaml"
    file.write_text(text)
    with pytest.raises(ConfigError, match=pattern):
        load_config(file)


def test_missing_file() -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_config("does/not/exist.yaml")


def test_empty_file_is_defaults(tmp_path: Path) -> None:
    file = tmp_path / "empty.yaml"
    file.write_text("")
    assert load_config(file) == AppConfig()


def test_embargo_must_cover_the_strategist_horizon() -> None:
    with pytest.raises(ConfigError, match=r"splits.embargo_days \(20\).*30 days"):
        load_config({"agents": {"strategist": {"horizon_days": 30}}})
    with pytest.raises(ConfigError, match=r"splits\.embargo_days"):
        load_config({"splits": {"embargo_days": 2}})
    ok = load_config(
        {"agents": {"strategist": {"horizon_days": 30}}, "splits": {"embargo_days": 30}}
    )
    assert ok.splits.embargo_days == 30


def test_local_model_options_are_read_and_checked(tmp_path: Path) -> None:
    file = tmp_path / "c.yaml"
    file.write_text("agents:\n  news:\n    quantize: none\n    batch_size: 4\n")
    config = load_config(file)
    assert (config.agents.news.quantize, config.agents.news.batch_size) == ("none", 4)
    file.write_text("agents:\n  news:\n    quantize: int4\n")
    with pytest.raises(
        ConfigError, match=r"agents\.news\.quantize.*auto, bf16, int8, fp16 or none"
    ):
        load_config(file)

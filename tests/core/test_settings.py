from __future__ import annotations

import logging
from pathlib import Path

import pytest

from stockagents.core.settings import Settings, load_settings

KEYS = [
    "OPENAI_API_KEY",
    "ANTHROPIC_API_KEY",
    "FINNHUB_API_KEY",
    "NEWSAPI_KEY",
    "SERPER_API_KEY",
    "WANDB_API_KEY",
]


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in KEYS:
        monkeypatch.delenv(key, raising=False)


def test_env_example_lists_every_key() -> None:
    text = (Path(__file__).resolve().parents[2] / ".env.example").read_text()
    for key in KEYS:
        assert f"{key}=" in text


def test_keys_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-123")
    settings = load_settings(env_file=None)
    assert settings.openai_api_key is not None
    assert settings.openai_api_key.get_secret_value() == "sk-test-123"
    assert settings.available()["openai_api_key"] is True
    assert settings.available()["anthropic_api_key"] is False


def test_keys_from_dotenv_and_blank_is_unset(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text("FINNHUB_API_KEY=fh-secret\nNEWSAPI_KEY=\n")
    settings = load_settings(env_file=str(env))
    assert settings.finnhub_api_key is not None
    assert settings.newsapi_key is None


def test_secrets_never_appear_in_repr_or_logs(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-very-secret")
    settings = Settings(_env_file=None)
    with caplog.at_level(logging.INFO):
        logging.getLogger("test").info("settings: %s %r", settings, settings)
    assert "sk-ant-very-secret" not in repr(settings)
    assert "sk-ant-very-secret" not in str(settings)
    assert "sk-ant-very-secret" not in caplog.text
    assert "sk-ant-very-secret" not in settings.model_dump_json()

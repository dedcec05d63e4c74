"""Secrets and environment settings.

API keys come only from the environment or a ``.env`` file, as ``SecretStr`` so that
they never appear in a repr, a log line or an exception. Nothing else in the package
reads ``os.environ`` for keys.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings", "load_settings"]


class Settings(BaseSettings):
    """API keys for teachers, judges, data providers and tracking; all optional."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", frozen=True)

    openai_api_key: SecretStr | None = Field(default=None, alias="OPENAI_API_KEY")
    anthropic_api_key: SecretStr | None = Field(default=None, alias="ANTHROPIC_API_KEY")
    finnhub_api_key: SecretStr | None = Field(default=None, alias="FINNHUB_API_KEY")
    newsapi_key: SecretStr | None = Field(default=None, alias="NEWSAPI_KEY")
    serper_api_key: SecretStr | None = Field(default=None, alias="SERPER_API_KEY")
    #: Who is asking, for SEC EDGAR ("Jane Doe jane@example.com"); not a secret.
    sec_user_agent: str | None = Field(default=None, alias="SEC_USER_AGENT")
    wandb_api_key: SecretStr | None = Field(default=None, alias="WANDB_API_KEY")
    #: When set, the HTTP API asks every request for it in the ``X-API-Key`` header.
    stockagents_api_key: SecretStr | None = Field(default=None, alias="STOCKAGENTS_API_KEY")
    #: Alpaca's paper-trading keys, for ``monitor`` with ``broker: alpaca-paper``.
    apca_api_key_id: SecretStr | None = Field(default=None, alias="APCA_API_KEY_ID")
    apca_api_secret_key: SecretStr | None = Field(default=None, alias="APCA_API_SECRET_KEY")

    @field_validator("*", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    def available(self) -> dict[str, bool]:
        """Which keys are set, without revealing any of them."""
        return {name: getattr(self, name) is not None for name in type(self).model_fields}


def load_settings(env_file: str | None = ".env") -> Settings:
    """Settings from the environment and, when present, ``env_file``."""
    return Settings(_env_file=env_file)

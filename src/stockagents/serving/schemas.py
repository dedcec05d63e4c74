"""Request and response models of the HTTP API (each route declares its ``response_model``)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from stockagents.core.types import Recommendation

__all__ = [
    "AnalyzeBatch",
    "AnalyzeRequest",
    "BacktestRequest",
    "BacktestResponse",
    "Health",
    "ModelsInfo",
    "Problem",
]

MAX_SYMBOLS = 20
MAX_BACKTEST_SYMBOLS = 5


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Health(BaseModel):
    status: str = "ok"
    version: str
    model_set: str = Field(description="production (deployment_...), expert, a path or config")


class ModelsInfo(BaseModel):
    model_set: str
    model_versions: dict[str, str]
    production: dict[str, Any] | None = Field(description="the deployed set's manifest, if any")


class AnalyzeRequest(_Request):
    symbols: list[str] = Field(min_length=1, max_length=MAX_SYMBOLS, description="1-20 symbols")
    as_of: dt.date | None = Field(default=None, description="data up to this date's close")


class AnalyzeBatch(BaseModel):
    results: list[Recommendation]
    errors: dict[str, str] = Field(description="symbol -> why it has no result")


class BacktestRequest(_Request):
    symbols: list[str] = Field(min_length=1, max_length=MAX_BACKTEST_SYMBOLS)
    start: dt.date | None = None
    end: dt.date | None = None


class BacktestResponse(BaseModel):
    period: str
    symbols: list[str]
    skipped: dict[str, str]
    metrics: dict[str, dict[str, float | None]] = Field(
        description="agents, agents (no costs), buy & hold; metrics module names"
    )


class Problem(BaseModel):
    """Every error answer: one line saying what is wrong."""

    error: str
    detail: str

"""Request and response models of the HTTP API (each route declares its ``response_model``).

A symbol, in a path or a body, is checked by ``core.symbols.validate_symbol`` (a name,
never a path): an invalid one is a 422 naming it and the rule. Lists are de-duplicated
after their length is checked.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from pydantic_core import PydanticCustomError

from stockagents.core.errors import SymbolError
from stockagents.core.symbols import validate_symbol
from stockagents.core.types import Recommendation

__all__ = [
    "AnalyzeBatch",
    "AnalyzeRequest",
    "BacktestRequest",
    "BacktestResponse",
    "Health",
    "ModelsInfo",
    "MonitorStatus",
    "Problem",
    "Symbol",
]

MAX_SYMBOLS = 20
MAX_BACKTEST_SYMBOLS = 5


def _symbol(value: str) -> str:
    try:
        return validate_symbol(value)
    except SymbolError as exc:  # the message as is, without pydantic's "Value error, "
        raise PydanticCustomError("symbol", "{reason}", {"reason": str(exc)}) from None


def _unique(values: list[str]) -> list[str]:
    return list(dict.fromkeys(values))


#: One symbol (a path parameter or a list item), trimmed and in upper case.
Symbol = Annotated[str, AfterValidator(_symbol)]


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


class MonitorStatus(BaseModel):
    journal: str = Field(description="the decision journal (its URL, password hidden)")
    production: str | None = Field(description="the release in production (its model set)")
    deployment: str | None
    last_day: dt.date | None = Field(description="the journal's last day")
    latest_data: dt.date | None = Field(description="the data's last close")
    lag_days: int | None = Field(description="trading days the journal is behind the data")
    days: int
    releases: list[dict[str, Any]] = Field(description="each release's latest verdict")
    alerts: list[dict[str, Any]]
    actions: list[dict[str, Any]]


class AnalyzeRequest(_Request):
    symbols: Annotated[
        list[Symbol],
        Field(min_length=1, max_length=MAX_SYMBOLS, description="1-20 symbols, e.g. AAPL, BRK.B"),
        AfterValidator(_unique),
    ]
    as_of: dt.date | None = Field(default=None, description="data up to this date's close")


class AnalyzeBatch(BaseModel):
    results: list[Recommendation]
    errors: dict[str, str] = Field(description="symbol -> why it has no result")


class BacktestRequest(_Request):
    symbols: Annotated[
        list[Symbol],
        Field(min_length=1, max_length=MAX_BACKTEST_SYMBOLS, description="1-5 symbols"),
        AfterValidator(_unique),
    ]
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

"""The contracts that flow between layers: market inputs, ``Signal``, ``Decision``,
``Recommendation``.

These are plain pydantic models with no behaviour beyond validation and dict-style
access; nothing here knows how a signal is produced or how a decision is executed.
``json_schemas()`` exports the JSON schemas that constrained decoding uses.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = [
    "Action",
    "AgentIO",
    "AgentName",
    "Decision",
    "ExperienceStep",
    "FundamentalsSnapshot",
    "NewsItem",
    "PortfolioContext",
    "Recommendation",
    "Signal",
    "SignalLabel",
    "json_schemas",
]

AgentName = Literal["news", "technical", "fundamental"]


class SignalLabel(StrEnum):
    BULLISH = "bullish"
    NEUTRAL = "neutral"
    BEARISH = "bearish"


class Action(StrEnum):
    BUY = "BUY"
    SELL = "SELL"
    HOLD = "HOLD"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class NewsItem(_Frozen):
    """One news story about a symbol, with the moment it became public (UTC)."""

    symbol: str
    published_at: dt.datetime = Field(description="Publish time, timezone-aware UTC.")
    headline: str
    summary: str = ""
    source: str = ""
    url: str = ""

    @field_validator("published_at")
    @classmethod
    def _aware(cls, value: dt.datetime) -> dt.datetime:
        if value.tzinfo is None:
            raise ValueError("published_at must be timezone-aware")
        return value.astimezone(dt.UTC)


class FundamentalsSnapshot(_Frozen):
    """Financial statement figures for one fiscal period, known from ``filing_date`` on.

    Money amounts are in the reporting currency; ``period`` is ``annual`` or
    ``quarterly`` (flows such as revenue cover that period).
    """

    symbol: str
    period_end: dt.date
    filing_date: dt.date
    period: Literal["annual", "quarterly"] = "annual"
    revenue: float | None = None
    gross_profit: float | None = None
    operating_income: float | None = None
    net_income: float | None = None
    eps: float | None = Field(default=None, description="Diluted EPS for the period.")
    shares_outstanding: float | None = None
    total_equity: float | None = None
    total_debt: float | None = None
    free_cash_flow: float | None = None


class Signal(_Frozen):
    """What one junior analyst concludes about one symbol on one date."""

    agent: AgentName
    symbol: str
    as_of: dt.date
    signal: SignalLabel
    score: float = Field(ge=-1.0, le=1.0, description="-1 most bearish, +1 most bullish.")
    confidence: float = Field(ge=0.0, le=1.0)
    reasoning: str
    key_factors: list[str] = Field(default_factory=list)
    valid: bool = Field(
        default=True,
        description="True when this is the agent's own output; False when it is a fallback.",
    )


class Decision(_Frozen):
    """What the strategist decides for one symbol on one date."""

    symbol: str
    as_of: dt.date
    action: Action
    position_size: float = Field(ge=0.0, le=1.0, description="Fraction of equity.")
    confidence: float = Field(ge=0.0, le=1.0)
    stop_loss: float | None = Field(default=None, gt=0.0)
    take_profit: float | None = Field(default=None, gt=0.0)
    horizon_days: int = Field(default=5, ge=1, le=252)
    reasoning: str
    key_factors: list[str] = Field(default_factory=list)
    valid: bool = True


class Recommendation(_Frozen):
    """What ``SystemCoordinator.analyze_symbol`` returns.

    ``result["recommendation"]`` is the action (``"BUY"``, ``"SELL"`` or ``"HOLD"``) and
    ``result["confidence"]`` the decision's confidence, as in the user's guide; any
    other key reads the field of that name.
    """

    symbol: str
    as_of: dt.date = Field(description="The date the analysis is for (data up to its close).")
    data_date: dt.date = Field(description="The last price bar the analysis used.")
    data_source: str = Field(description="Which price source the data came from.")
    price: float = Field(description="Close on data_date.")
    decision: Decision
    signals: dict[str, Signal]
    model_versions: dict[str, str]
    model_set: str = Field(
        default="expert",
        description="What answered: 'production (<deployment>)', a model set's path, "
        "'config' (the agents' model_path settings) or 'expert' (the rule-based agents).",
    )
    timings_ms: dict[str, float]
    warnings: list[str] = Field(default_factory=list)
    completions: dict[str, str] = Field(
        default_factory=dict,
        description="Each agent's raw answer text (models) or its answer JSON (experts).",
    )

    def __getitem__(self, key: str) -> Any:
        if key == "recommendation":
            return self.decision.action.value
        if key == "confidence":
            return self.decision.confidence
        if key in type(self).model_fields:
            return getattr(self, key)
        raise KeyError(key)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict, with the guide's ``recommendation`` and ``confidence`` keys."""
        data = self.model_dump(mode="json")
        data["recommendation"] = self.decision.action.value
        data["confidence"] = self.decision.confidence
        return data


def json_schemas() -> dict[str, dict[str, Any]]:
    """JSON schemas of the model-produced contracts, for schema-constrained decoding."""
    return {
        "Signal": Signal.model_json_schema(),
        "Decision": Decision.model_json_schema(),
    }


class PortfolioContext(_Frozen):
    """The book the strategist decides against: the current position in the symbol."""

    position: float = Field(
        default=0.0, ge=-1.0, le=1.0, description="Signed fraction of equity held (short < 0)."
    )
    entry_price: float | None = Field(default=None, gt=0.0)
    days_held: int = Field(default=0, ge=0)


class AgentIO(_Frozen):
    """What one agent was given and what it answered, verbatim."""

    prompt: str = Field(description="The chat messages the agent's model reads (JSON).")
    output: str = Field(description="The raw completion (an expert's: its answer JSON).")
    payload: str = Field(default="", description="The structured input the prompt is made of.")
    valid: bool = True


class ExperienceStep(_Frozen):
    """One decision step of a collection run: a row of the experience library.

    ``forward_returns`` maps a horizon in trading days to the return from the open after
    ``as_of`` to the close ``h`` bars after it (None past the end of the data); they are
    labels, never shown to an agent.
    """

    run_id: str
    symbol: str
    as_of: dt.date
    data_date: dt.date
    price: float
    agents: dict[str, AgentIO]
    decision: Decision
    forward_returns: dict[int, float | None]
    horizon_return: float | None = Field(
        default=None, description="Return over the decision's own horizon."
    )
    cost: float = Field(ge=0.0, description="Round-trip cost as a fraction of value.")
    reward: float | None = None
    model_versions: dict[str, str]
    segment: str | None = Field(
        default=None, description="train, validation or test (None: an embargo day)."
    )

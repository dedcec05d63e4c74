"""The expert agents behind the ``Backend`` interface: the offline teacher.

Each request carries its agent's input payload in ``context``; the backend rebuilds what
the expert rules read from it and answers with the same JSON the models must write, so
expert answers and model answers are interchangeable (synthetic data, evaluation).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from typing import Any

from stockagents.agents._model_answers import expert_completion
from stockagents.agents.base import JuniorAgent
from stockagents.agents.fundamental import FundamentalAgent
from stockagents.agents.news import NewsAgent
from stockagents.agents.strategist import StrategistAgent
from stockagents.agents.technical import TechnicalAgent
from stockagents.core.errors import BackendError
from stockagents.core.types import PortfolioContext, Signal
from stockagents.features.fundamentals import FundamentalRatios
from stockagents.features.news_digest import NewsDigest
from stockagents.features.observation import Observation
from stockagents.llm.base import Backend, GenerationRequest, Sampling

__all__ = ["ExpertBackend"]


def observation_from_payload(agent: str, payload: dict[str, Any]) -> Observation:
    """The part of an ``Observation`` that ``agent``'s payload describes."""
    day = dt.date.fromisoformat(payload["as_of"])
    market = payload.get("market", {})
    technical: dict[str, float | None] = dict(payload.get("indicators") or {})
    if agent == "strategist":
        technical.update({k: market.get(k) for k in ("atr_14", "atr_pct", "adx_14")})
    news = payload.get("news")
    ratios = payload.get("ratios")
    return Observation(
        symbol=payload["symbol"],
        as_of=day,
        data_date=day,
        source="payload",
        price=float(payload.get("close") or market.get("close") or 0.0),
        bars=int(payload.get("bars", 500)),
        technical=technical,
        news=NewsDigest.model_validate(news) if news else None,
        news_reason=payload.get("unavailable") if agent == "news" else None,
        fundamentals=FundamentalRatios.model_validate(ratios) if ratios else None,
        fundamentals_reason=payload.get("unavailable") if agent == "fundamental" else None,
    )


class ExpertBackend(Backend):
    """Answers every request with the expert rules of the request's agent."""

    kind = "expert"

    def __init__(self) -> None:
        self.analysts: dict[str, JuniorAgent[Any]] = {
            "news": NewsAgent(),
            "technical": TechnicalAgent(),
            "fundamental": FundamentalAgent(),
        }
        self.strategist = StrategistAgent()

    @property
    def model_id(self) -> str:
        return "expert"

    def _answer(self, request: GenerationRequest) -> dict[str, Any]:
        agent = request.context.get("agent")
        payload = request.context.get("payload")
        if not isinstance(agent, str) or not isinstance(payload, dict):
            raise BackendError("the expert backend needs context={'agent', 'payload'}")
        observation = observation_from_payload(agent, payload)
        if agent == "strategist":
            signals = {n: Signal.model_validate(s) for n, s in payload["signals"].items()}
            portfolio = PortfolioContext.model_validate(payload.get("portfolio", {}))
            decision = self.strategist.expert_decide(observation, signals, portfolio)
            answer: dict[str, Any] = json.loads(expert_completion(decision, observation.price))
            return answer
        signal = self.analysts[agent].expert_signal(observation)
        answer = json.loads(expert_completion(signal))
        return answer

    def generate(self, requests: Sequence[GenerationRequest], sampling: Sampling) -> list[str]:
        return [json.dumps(self._answer(r)) for r in requests]

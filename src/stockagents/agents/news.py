"""The news analyst's expert rules.

The score is the recency-weighted headline sentiment of the digest (stories published
by the close of ``as_of`` within ``lookback_days``), scaled by 1.5 and clipped to
[-1, 1]. Confidence is ``(1 - exp(-count / 3)) * consistency``, where consistency is
``0.5 + 0.5 * |positive - negative| / (positive + negative)``: many stories that agree
give high confidence, one story or a split tape give little. With no source or no
stories the signal is neutral with zero confidence and says why.
"""

from __future__ import annotations

import math
from typing import Any

from stockagents.agents.base import JuniorAgent, label_for
from stockagents.core.config import NewsAgentConfig
from stockagents.core.types import Signal
from stockagents.features.observation import Observation

__all__ = ["NewsAgent"]


class NewsAgent(JuniorAgent[NewsAgentConfig]):
    """Reads the news digest; see the module docstring for the rules."""

    name = "news"
    config_model = NewsAgentConfig

    def input_payload(self, observation: Observation) -> dict[str, Any]:
        digest = observation.news
        return {
            "symbol": observation.symbol,
            "as_of": observation.as_of.isoformat(),
            "news": digest.model_dump(mode="json") if digest is not None else None,
            "unavailable": observation.news_reason,
            "thresholds": {"signal": self.config.signal_threshold},
        }

    def unavailable_signal(self, observation: Observation) -> Signal | None:
        digest = observation.news
        if digest is None or digest.count == 0:
            return self._unavailable(observation, observation.news_reason or "no news")
        return None

    def expert_signal(self, observation: Observation) -> Signal:
        missing = self.unavailable_signal(observation)
        if missing is not None:
            return missing
        digest = observation.news
        assert digest is not None
        score = 1.5 * digest.weighted_sentiment
        polar = digest.positive + digest.negative
        consistency = 0.5 + 0.5 * abs(digest.positive - digest.negative) / polar if polar else 0.3
        confidence = (1.0 - math.exp(-digest.count / 3.0)) * consistency
        factors = [
            f"{digest.count} stories: {digest.positive} positive, {digest.negative} negative"
        ]
        factors += [f"+ {h}" for h in digest.top_positive[:2]]
        factors += [f"- {h}" for h in digest.top_negative[:2]]
        raw = 1.5 * digest.weighted_sentiment
        label = label_for(score, self.config.signal_threshold).value
        reasoning = (
            f"sentiment {digest.weighted_sentiment:+.2f} x 1.5 = {raw:+.2f}"
            + (" (capped)" if abs(raw) > 1 else "")
            + f": {label}. Recency-weighted over {digest.count} stories "
            f"({digest.positive} positive, {digest.negative} negative, mean "
            f"{digest.mean_sentiment:+.2f}) about {observation.symbol} up to the close of "
            f"{observation.as_of}."
        )
        return self._signal(
            observation, score, confidence, self.config.signal_threshold, reasoning, factors
        )

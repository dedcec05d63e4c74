"""The fundamental analyst's expert rules.

Components in [-1, 1] from the ratios of the latest statements filed by ``as_of``:

- valuation (0.25): ``(25 - P/E) / 15`` clipped; a loss-maker (no P/E, negative margin) -0.5;
- profitability (0.25): mean of ``(ROE - 10%) / 15%`` and ``net margin / 15%``;
- leverage (0.15): ``1 - debt/equity`` clipped;
- growth (0.35): mean of ``revenue growth / 15%`` and ``earnings growth / 25%``.

The score is their weighted mean over the components with data. Confidence is
``coverage * (0.4 + 0.6 * agreement)``, halved when the filing is older than 200 days;
filings older than ``max_filing_age_days`` are not used at all.
"""

from __future__ import annotations

import math
from typing import Any

from stockagents.agents.base import JuniorAgent, clip, verdict
from stockagents.agents.prompting import terms_text
from stockagents.core.config import FundamentalAgentConfig
from stockagents.core.types import Signal
from stockagents.features.fundamentals import FundamentalRatios
from stockagents.features.observation import Observation

__all__ = ["FundamentalAgent", "fundamental_components"]

_SHORT = {"valuation": "value", "profitability": "profit", "leverage": "debt"}
WEIGHTS = {"valuation": 0.25, "profitability": 0.25, "leverage": 0.15, "growth": 0.35}


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def fundamental_components(r: FundamentalRatios) -> tuple[dict[str, float], list[str]]:
    """Component scores with data, and the factors behind them."""
    factors: list[str] = []
    scores: dict[str, float | None] = {}
    if r.pe is not None:
        scores["valuation"] = clip((25 - r.pe) / 15)
        factors.append(f"P/E {r.pe:.1f}")
    elif r.net_margin is not None and r.net_margin < 0:
        scores["valuation"] = -0.5
        factors.append("loss-making: no meaningful P/E")
    profit = []
    if r.roe is not None:
        profit.append(clip((r.roe - 0.10) / 0.15))
        factors.append(f"ROE {r.roe:.1%}")
    if r.net_margin is not None:
        profit.append(clip(r.net_margin / 0.15))
        factors.append(f"net margin {r.net_margin:.1%}")
    scores["profitability"] = _mean(profit)
    if r.debt_to_equity is not None:
        scores["leverage"] = clip(1 - r.debt_to_equity)
        factors.append(f"debt/equity {r.debt_to_equity:.2f}")
    growth = []
    if r.revenue_growth is not None:
        growth.append(clip(r.revenue_growth / 0.15))
        factors.append(f"revenue growth {r.revenue_growth:+.1%}")
    if r.earnings_growth is not None:
        growth.append(clip(r.earnings_growth / 0.25))
        factors.append(f"earnings growth {r.earnings_growth:+.1%}")
    scores["growth"] = _mean(growth)
    return {k: v for k, v in scores.items() if v is not None}, factors


def fundamental_terms(ratios: FundamentalRatios) -> dict[str, float]:
    """Each component's share of the score under its short name: the score is their sum."""
    scores, _ = fundamental_components(ratios)
    total = sum(WEIGHTS[n] for n in scores)
    if not total:
        return {}
    return {_SHORT.get(n, n): scores[n] * WEIGHTS[n] / total for n in scores}


class FundamentalAgent(JuniorAgent[FundamentalAgentConfig]):
    """Reads fundamental ratios; see the module docstring for the rules."""

    name = "fundamental"
    config_model = FundamentalAgentConfig

    def input_payload(self, observation: Observation) -> dict[str, Any]:
        ratios = observation.fundamentals
        return {
            "symbol": observation.symbol,
            "as_of": observation.as_of.isoformat(),
            "ratios": ratios.model_dump(mode="json") if ratios is not None else None,
            "unavailable": observation.fundamentals_reason,
            "terms": fundamental_terms(ratios) if ratios is not None else {},
            "thresholds": {"signal": self.config.signal_threshold},
        }

    def unavailable_signal(self, observation: Observation) -> Signal | None:
        ratios = observation.fundamentals
        if ratios is None:
            reason = observation.fundamentals_reason or "no fundamentals"
            return self._unavailable(observation, reason)
        age = (observation.as_of - ratios.filing_date).days
        if age > self.config.max_filing_age_days:
            return self._unavailable(
                observation, f"the latest filing ({ratios.filing_date}) is {age} days old"
            )
        return None

    def expert_signal(self, observation: Observation) -> Signal:
        missing = self.unavailable_signal(observation)
        if missing is not None:
            return missing
        ratios = observation.fundamentals
        assert ratios is not None
        age = (observation.as_of - ratios.filing_date).days
        scores, factors = fundamental_components(ratios)
        if not scores:
            return self._unavailable(observation, "the filings lack the figures the rules need")
        total = sum(WEIGHTS[n] for n in scores)
        score = sum(scores[n] * WEIGHTS[n] for n in scores) / total
        voting = [v for v in scores.values() if v != 0.0]
        agree = sum(1 for v in voting if math.copysign(1, v) == math.copysign(1, score))
        agreement = agree / len(voting) if voting else 0.0
        confidence = total / sum(WEIGHTS.values()) * (0.4 + 0.6 * agreement)
        if age > 200:
            confidence *= 0.5
        reasoning = (
            f"{verdict(score, self.config.signal_threshold)}. "
            f"Terms {terms_text(fundamental_terms(ratios))}. "
            f"From the {ratios.basis} figures for the "
            f"period ending {ratios.period_end} (filed {ratios.filing_date}, {age} days "
            f"before {observation.as_of}): " + ", ".join(factors) + "."
        )
        return self._signal(
            observation, score, confidence, self.config.signal_threshold, reasoning, factors
        )

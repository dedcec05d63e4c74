"""The technical analyst's expert rules.

Seven components, each in [-1, 1], read from the indicators at the last bar:

=============  ======  ==========================================================
component      weight  rule
=============  ======  ==========================================================
trend          0.30    +/-0.5 for close above/below SMA50, +/-0.5 for SMA50 above/below SMA200
momentum       0.25    tanh(2 * MACD histogram / ATR)
rsi            0.15    +1 below 30 (oversold), -1 above 70 (overbought), linear to 0 at 40/60
bollinger      0.10    +0.5 below the lower band (%B < 0), -0.5 above the upper (%B > 1)
stochastic     0.05    +0.5 when %K < 20 and rising above %D, -0.5 when %K > 80 and falling
cross          0.10    +1 golden cross / -1 death cross in the last 10 bars
range          0.05    +0.5 within 2% of the 52-week high, -0.5 within 2% of the low
=============  ======  ==========================================================

ADX above 25 (a trending market) multiplies the trend and momentum weights by 1.5;
below 20 (a range) multiplies rsi, bollinger and stochastic by 1.5. The score is the
weighted mean over the components that have data. Confidence grows with the size of
the score and the share of components that agree with its sign, and shrinks when
indicators are still warming up (fewer than 200 bars).
"""

from __future__ import annotations

import math
from typing import Any

from stockagents.agents.base import JuniorAgent, clip, label_for, verdict
from stockagents.agents.prompting import terms_text
from stockagents.core.config import TechnicalAgentConfig
from stockagents.core.types import Signal
from stockagents.features.observation import Observation

__all__ = ["TechnicalAgent"]

WEIGHTS = {
    "trend": 0.30,
    "momentum": 0.25,
    "rsi": 0.15,
    "bollinger": 0.10,
    "stochastic": 0.05,
    "cross": 0.10,
    "range": 0.05,
}


def _trend(t: dict[str, float | None], close: float, factors: list[str]) -> float | None:
    parts: list[float] = []
    sma50, above = t.get("sma_50"), t.get("sma50_above_sma200")
    if sma50 is not None:
        parts.append(0.5 if close > sma50 else -0.5)
        side = "above" if close > sma50 else "below"
        factors.append(f"close {close:.2f} {side} SMA50 {sma50:.2f}")
    if above is not None:
        parts.append(0.5 if above > 0.5 else -0.5)
        factors.append("SMA50 above SMA200 (uptrend)" if above > 0.5 else "SMA50 below SMA200")
    if not parts:
        return None
    return 2.0 * sum(parts) / len(parts)


def _momentum(t: dict[str, float | None], factors: list[str]) -> float | None:
    hist, atr = t.get("macd_hist"), t.get("atr_14")
    if hist is None or atr is None or atr <= 0:
        return None
    factors.append(f"MACD histogram {hist:+.3f} ({'rising' if hist > 0 else 'falling'} momentum)")
    return math.tanh(2.0 * hist / atr)


def _rsi(t: dict[str, float | None], factors: list[str]) -> float | None:
    rsi = t.get("rsi_14")
    if rsi is None:
        return None
    if rsi < 30:
        factors.append(f"RSI {rsi:.1f} oversold")
        return 1.0
    if rsi > 70:
        factors.append(f"RSI {rsi:.1f} overbought")
        return -1.0
    factors.append(f"RSI {rsi:.1f}")
    if rsi < 40:
        return (40 - rsi) / 10
    if rsi > 60:
        return -(rsi - 60) / 10
    return 0.0


def _bollinger(t: dict[str, float | None], factors: list[str]) -> float | None:
    pct_b = t.get("bb_pct_b")
    if pct_b is None:
        return None
    if pct_b < 0:
        factors.append(f"close below the lower Bollinger band (%B {pct_b:.2f})")
        return 0.5
    if pct_b > 1:
        factors.append(f"close above the upper Bollinger band (%B {pct_b:.2f})")
        return -0.5
    return 0.0


def _stochastic(t: dict[str, float | None], factors: list[str]) -> float | None:
    k, d = t.get("stoch_k"), t.get("stoch_d")
    if k is None or d is None:
        return None
    if k < 20 and k > d:
        factors.append(f"stochastic %K {k:.0f} turning up from oversold")
        return 0.5
    if k > 80 and k < d:
        factors.append(f"stochastic %K {k:.0f} turning down from overbought")
        return -0.5
    return 0.0


def _cross(t: dict[str, float | None], factors: list[str]) -> float | None:
    cross = t.get("recent_cross")
    if cross is None or t.get("sma_200") is None:
        return None
    if cross > 0:
        factors.append("golden cross (SMA50 crossed above SMA200) in the last 10 bars")
    elif cross < 0:
        factors.append("death cross (SMA50 crossed below SMA200) in the last 10 bars")
    return float(cross)


def _range(t: dict[str, float | None], factors: list[str]) -> float | None:
    to_high, to_low = t.get("dist_52w_high"), t.get("dist_52w_low")
    if to_high is None or to_low is None:
        return None
    if to_high > -0.02:
        factors.append(f"within {abs(to_high):.1%} of the 52-week high")
        return 0.5
    if to_low < 0.02:
        factors.append(f"within {to_low:.1%} of the 52-week low")
        return -0.5
    return 0.0


_SHORT = {"momentum": "mom", "bollinger": "bb", "stochastic": "stoch", "range": "52w"}


def technical_components(
    observation: Observation,
) -> tuple[dict[str, float], dict[str, float], list[str]]:
    """Component scores, their effective weights, and the factors behind them."""
    t = observation.technical
    factors: list[str] = []
    raw = {
        "trend": _trend(t, observation.price, factors),
        "momentum": _momentum(t, factors),
        "rsi": _rsi(t, factors),
        "bollinger": _bollinger(t, factors),
        "stochastic": _stochastic(t, factors),
        "cross": _cross(t, factors),
        "range": _range(t, factors),
    }
    weights = dict(WEIGHTS)
    adx = t.get("adx_14")
    if adx is not None:
        if adx > 25:
            weights["trend"] *= 1.5
            weights["momentum"] *= 1.5
            factors.append(f"ADX {adx:.0f}: trending market")
        elif adx < 20:
            for name in ("rsi", "bollinger", "stochastic"):
                weights[name] *= 1.5
            factors.append(f"ADX {adx:.0f}: range-bound market")
    scores = {name: value for name, value in raw.items() if value is not None}
    return scores, {name: weights[name] for name in scores}, factors


def technical_terms(observation: Observation) -> dict[str, float]:
    """Each component's share of the score (``score * weight / total weight``), under its
    short name, in the table's order: the score is their sum. Models read them in their
    prompt next to the indicators (see ``agents/prompting.py``)."""
    scores, weights, _ = technical_components(observation)
    total = sum(weights.values())
    if not total:
        return {}
    return {_SHORT.get(n, n): scores[n] * weights[n] / total for n in scores}


class TechnicalAgent(JuniorAgent[TechnicalAgentConfig]):
    """Reads price indicators; see the module docstring for the rules."""

    name = "technical"
    config_model = TechnicalAgentConfig

    def input_payload(self, observation: Observation) -> dict[str, Any]:
        return {
            "symbol": observation.symbol,
            "as_of": observation.as_of.isoformat(),
            "close": observation.price,
            "bars": observation.bars,
            "indicators": observation.technical,
            "terms": technical_terms(observation),
            "thresholds": {"signal": self.config.signal_threshold},
        }

    def expert_signal(self, observation: Observation) -> Signal:
        scores, weights, factors = technical_components(observation)
        total = sum(weights.values())
        if total == 0:
            return self._unavailable(observation, "not enough price history for indicators")
        score = sum(scores[n] * weights[n] for n in scores) / total
        voting = [v for v in scores.values() if v != 0.0]
        agree = sum(1 for v in voting if math.copysign(1, v) == math.copysign(1, score))
        agreement = agree / len(voting) if voting else 0.0
        coverage = sum(WEIGHTS[n] for n in scores) / sum(WEIGHTS.values())
        warm = 1.0 if observation.bars >= 200 else 0.7
        confidence = clip(0.2 + 0.5 * min(1.0, abs(score) / 0.5) + 0.3 * agreement, 0, 1)
        confidence *= warm * coverage
        label = label_for(score, self.config.signal_threshold).value
        parts = technical_terms(observation)
        lean = "" if label != "neutral" or score == 0 else (" bullish" if score > 0 else " bearish")
        reasoning = (
            f"{verdict(score, self.config.signal_threshold)}. Terms {terms_text(parts)}. "
            + (f"Inside the threshold, leaning{lean}. " if lean else "")
            + f"{agree} of {len(voting)} non-zero components agree "
            f"({observation.symbol}, {observation.data_date})."
        )
        if observation.bars < 200:
            reasoning += f" Only {observation.bars} bars of history: long averages are missing."
        return self._signal(
            observation,
            score,
            confidence,
            self.config.signal_threshold,
            reasoning,
            factors[:8],
        )

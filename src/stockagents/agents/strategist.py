"""The strategist's expert rules: three signals, market and portfolio context -> Decision.

1. **Composite.** ``s = sum(w_i * confidence_i * score_i) / sum(w_i)`` over the configured
   weights; a missing or invalid signal contributes nothing, so missing inputs pull the
   composite toward zero and lower confidence, and the reasoning names them.
2. **Action.** With ``s`` rounded to cents (as the reasoning writes it): BUY when
   ``s >= buy_threshold``, SELL when ``s <= -sell_threshold``, otherwise HOLD (an
   existing position is kept).
3. **Confidence.** For BUY/SELL, ``min(1, |s| / 0.5)`` times an agreement factor (0.6 when
   a confident analyst, confidence > 0.3, points the other way); for HOLD,
   ``coverage * (1 - |s| / threshold)``.
4. **Size.** ``max_position * confidence * min(1, target_daily_vol / (ATR / price))``: less
   in volatile names. SELL in a long-only book (``allow_short: false``) means exit to
   flat, with size 0.
5. **Risk levels.** Stop-loss ``stop_atr_multiple`` ATRs and take-profit
   ``take_profit_atr_multiple`` ATRs from the close, on the side of the position.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from stockagents.agents._model_answers import Answer, build_request, decision_from
from stockagents.agents.answering import Answered, Plan, Question, answer_all
from stockagents.agents.base import EXPERT_VERSION, clip, resolve_config
from stockagents.agents.prompting import shown_position, terms_text
from stockagents.agents.runtime import ModelRuntime, load_runtime
from stockagents.core.config import StrategistConfig
from stockagents.core.types import Action, Decision, PortfolioContext, Signal
from stockagents.features.observation import Observation

__all__ = ["StrategistAgent", "Trade"]

_CONFLICT_CONFIDENCE = 0.3
_SHORT = {"technical": "tech", "fundamental": "fund"}


@dataclass(frozen=True)
class Trade:
    """A position by the rules: confidence, size (fraction of equity), stop and target
    distances from the close (fractions; None without an ATR)."""

    confidence: float
    size: float
    stop_pct: float | None
    take_pct: float | None


class StrategistAgent:
    """The senior strategist; see the module docstring for the rules."""

    name = "strategist"

    def __init__(
        self,
        model_path: str | Path | None = None,
        config: StrategistConfig | Mapping[str, Any] | None = None,
    ) -> None:
        self.config = resolve_config(StrategistConfig, config, "strategist config")
        path = model_path if model_path is not None else self.config.model_path
        self.runtime: ModelRuntime | None = (
            load_runtime(self.name, path, self.config) if path is not None else None
        )
        self.version = self.runtime.version if self.runtime else EXPERT_VERSION
        self.stats: Counter[str] = Counter()

    def input_payload(
        self,
        observation: Observation,
        signals: Mapping[str, Signal],
        portfolio: PortfolioContext | None = None,
    ) -> dict[str, Any]:
        """What the strategist reads: the signals, market and portfolio context."""
        t = observation.technical
        terms = self.terms(signals)
        return {
            "symbol": observation.symbol,
            "as_of": observation.as_of.isoformat(),
            "signals": {n: s.model_dump(mode="json") for n, s in signals.items()},
            "market": {
                "close": observation.price,
                "atr_14": t.get("atr_14"),
                "atr_pct": t.get("atr_pct"),
                "adx_14": t.get("adx_14"),
                "dist_52w_high": t.get("dist_52w_high"),
            },
            "portfolio": (portfolio or PortfolioContext()).model_dump(mode="json"),
            "terms": terms,
            "trade": asdict(self.trade(observation, signals, sum(terms.values()))),
            "thresholds": {"buy": self.config.buy_threshold, "sell": self.config.sell_threshold},
        }

    @staticmethod
    def reads(portfolio: PortfolioContext) -> PortfolioContext:
        """What of ``portfolio`` the decision depends on: the position to two decimals (the
        model's prompt writes ``position=0.17``, the rules' reasoning "the current +17%
        position"). Two books that read the same get the same decision."""
        return PortfolioContext(position=shown_position(portfolio.position))

    def terms(self, signals: Mapping[str, Signal]) -> dict[str, float]:
        """Each usable analyst's share of the composite, ``weight * confidence * score /
        total weight``, under its short name: the composite is their sum."""
        weights = {str(n): w for n, w in self.config.weights.items() if w > 0}
        total = sum(weights.values())
        return {
            _SHORT.get(n, n): weights[n] * s.confidence * s.score / total
            for n, s in signals.items()
            if n in weights and s.valid and s.confidence > 0
        }

    @staticmethod
    def _conflict(used: Mapping[str, Signal], composite: float) -> bool:
        return any(
            s.confidence > _CONFLICT_CONFIDENCE and s.score * composite < 0 for s in used.values()
        )

    def _vol_scale(self, observation: Observation) -> float:
        atr = observation.technical.get("atr_14")
        daily_vol = atr / observation.price if atr else None
        return min(1.0, self.config.target_daily_vol / daily_vol) if daily_vol else 0.5

    def trade(
        self, observation: Observation, signals: Mapping[str, Signal], composite: float
    ) -> Trade:
        """A position opened in the composite's direction, by the rules 3-5: confidence,
        size (a fraction of equity) and the stop and target as distances from the close
        (None without an ATR). The decision uses it for BUY (and SELL when shorting), and
        the model reads it in its prompt whatever the action."""
        cfg = self.config
        weighted = {str(n) for n, w in cfg.weights.items() if w > 0}
        used = {n: s for n, s in signals.items() if n in weighted and s.valid and s.confidence > 0}
        confidence = min(1.0, abs(composite) / 0.5)
        confidence *= 0.6 if self._conflict(used, composite) else 1.0
        atr = observation.technical.get("atr_14")
        stop = take = None
        if atr and observation.price > 0:
            stop = cfg.stop_atr_multiple * atr / observation.price
            take = cfg.take_profit_atr_multiple * atr / observation.price
        size = cfg.max_position * confidence * self._vol_scale(observation)
        return Trade(confidence, size, stop, take)

    def decide(
        self,
        observation: Observation,
        signals: Mapping[str, Signal],
        portfolio: PortfolioContext | None = None,
    ) -> Decision:
        """The decision for ``observation.symbol`` given the analysts' ``signals``."""
        return self.answer(Question(observation, signals, portfolio)).result

    def answer(self, question: Question) -> Answered[Decision]:
        """The decision for ``question`` (its observation, signals and portfolio) and the
        completion behind it (see ``agents.answering``)."""
        return answer_all([(self, question)])[0]

    def plan(self, question: Question) -> Plan[Decision]:
        """The rules' decision, or the model request and how to read its answer."""
        observation, signals = question.observation, question.signals or {}

        def payload() -> dict[str, Any]:
            return self.input_payload(observation, signals, question.portfolio)

        if self.runtime is None:
            ready = self.expert_decide(observation, signals, question.portfolio)
            return Plan(payload, ready=ready)
        facts = payload()
        request = build_request(self.name, facts, self.runtime.adapter)

        def read(answer: Answer) -> Decision:
            return decision_from(observation, answer, self.config.horizon_days)

        return Plan(lambda: facts, None, self.runtime, request, observation.price, read)

    def expert_decide(
        self,
        observation: Observation,
        signals: Mapping[str, Signal],
        portfolio: PortfolioContext | None = None,
    ) -> Decision:
        """The expert rules' decision (see the module docstring)."""
        cfg = self.config
        portfolio = portfolio or PortfolioContext()
        weights: dict[str, float] = {str(n): w for n, w in cfg.weights.items() if w > 0}
        total = sum(weights.values())
        used: dict[str, Signal] = {
            name: signals[name]
            for name in weights
            if name in signals and signals[name].valid and signals[name].confidence > 0
        }
        missing = [name for name in weights if name not in used]
        composite = sum(weights[n] * s.confidence * s.score for n, s in used.items()) / total
        coverage = sum(weights[n] for n in used) / total
        factors = [
            f"{n}: {s.signal.value} (score {s.score:+.2f}, confidence {s.confidence:.2f})"
            for n, s in used.items()
        ]
        if missing:
            factors.append("no input from " + ", ".join(missing))

        shown = round(composite, 2)  # as the reasoning writes it
        if shown >= cfg.buy_threshold:
            action = Action.BUY
        elif shown <= -cfg.sell_threshold:
            action = Action.SELL
        else:
            action = Action.HOLD

        conflict = action != Action.HOLD and self._conflict(used, composite)
        trade = self.trade(observation, used, composite)
        if action == Action.HOLD:
            threshold = cfg.buy_threshold if composite >= 0 else cfg.sell_threshold
            confidence = coverage * clip(1 - abs(composite) / threshold, 0, 1)
        else:
            confidence = trade.confidence
        if conflict:
            factors.append("analysts disagree: confidence reduced")

        price = observation.price
        atr = observation.technical.get("atr_14")
        daily_vol = atr / price if atr else None
        size = 0.0
        stop = take = None
        opens_position = action == Action.BUY or (action == Action.SELL and cfg.allow_short)
        if opens_position:
            size = trade.size
            if trade.stop_pct is not None and trade.take_pct is not None:
                side = 1.0 if action == Action.BUY else -1.0
                stop = price * (1 - side * trade.stop_pct)
                take = price * (1 + side * trade.take_pct)
                if stop <= 0 or take <= 0:
                    stop = take = None
        if daily_vol:
            scale = self._vol_scale(observation)
            factors.append(f"ATR {daily_vol:.1%} of price: size scaled by {scale:.2f}")

        reasoning = self._explain(observation, composite, action, used, missing, portfolio)
        return Decision(
            symbol=observation.symbol,
            as_of=observation.as_of,
            action=action,
            position_size=round(clip(size, 0.0, 1.0), 4),
            confidence=round(clip(confidence, 0.0, 1.0), 4),
            stop_loss=round(stop, 4) if stop is not None else None,
            take_profit=round(take, 4) if take is not None else None,
            horizon_days=cfg.horizon_days,
            reasoning=reasoning,
            key_factors=factors,
        )

    def _explain(
        self,
        observation: Observation,
        composite: float,
        action: Action,
        used: Mapping[str, Signal],
        missing: Sequence[str],
        portfolio: PortfolioContext,
    ) -> str:
        cfg = self.config
        terms = self.terms(used)
        if action == Action.BUY:
            verdict, then = f">= {cfg.buy_threshold:.2f}: BUY", "Open or add to a long."
        elif action == Action.SELL:
            what = "Open a short." if cfg.allow_short else "Exit to flat (long-only)."
            verdict, then = f"<= -{cfg.sell_threshold:.2f}: SELL", what
        else:
            verdict = f"inside {cfg.buy_threshold:.2f}/-{cfg.sell_threshold:.2f}: HOLD"
            then = (
                f"Keep the current {portfolio.position:+.0%} position."
                if portfolio.position
                else "Stay flat."
            )
        parts = [
            f"{round(composite, 2) + 0.0:+.2f} {verdict}. Terms {terms_text(terms)}. {then} "
            "The composite weighs "
            + (", ".join(f"{n} {s.signal.value}" for n, s in used.items()) or "no analyst")
            + " by weight and confidence."
        ]
        if missing:
            parts.append(
                "Missing: " + ", ".join(missing) + "; the composite rests on the rest and is "
                "weaker for it."
            )
        parts.append(f"Close {observation.price:.2f} on {observation.data_date}.")
        return " ".join(parts)

"""What every agent shares: construction from the guide's arguments, the observation it
reads, its version string, and the helpers that turn component scores into a ``Signal``.

An analyst implements ``expert_signal`` (its rules), ``input_payload`` (what it reads)
and, when there can be nothing to read, ``unavailable_signal``; it answers through
``answer`` (see ``agents.answering``). Agents know nothing about data sources beyond the
``Observation`` they are handed.
"""

from __future__ import annotations

import datetime as dt
import os
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel, ValidationError

from stockagents.agents._model_answers import Answer, build_request, signal_from
from stockagents.agents.answering import Answered, Plan, Question, answer_all
from stockagents.agents.runtime import ModelRuntime, load_runtime
from stockagents.core.config import AppConfig, format_validation_error
from stockagents.core.errors import ConfigError
from stockagents.core.types import AgentName, Signal, SignalLabel
from stockagents.data.base import to_date
from stockagents.data.factory import DataSources, build_sources
from stockagents.features.observation import Observation, ObservationBuilder

__all__ = [
    "EXPERT_VERSION",
    "JuniorAgent",
    "clip",
    "label_for",
    "resolve_config",
    "verdict",
]

#: Version string recorded for the rule-based agents; bump when a rule changes.
EXPERT_VERSION = "expert-3"

C = TypeVar("C", bound=BaseModel)


def clip(value: float, low: float = -1.0, high: float = 1.0) -> float:
    """``value`` limited to ``[low, high]``."""
    return max(low, min(high, value))


def verdict(score: float, threshold: float) -> str:
    """A score against its threshold, ending with the label it gives: ``"+0.40 > 0.15:
    bullish"``, ``"+0.15 inside +/-0.15: neutral"``, ``"-0.20 < -0.15: bearish"``. The
    experts open their reasoning with it, so a model trained on their answers copies the
    total from its prompt and writes the comparison before the label it decides."""
    label = label_for(score, threshold)
    if label is SignalLabel.BULLISH:
        rule = f"> {threshold:.2f}"
    elif label is SignalLabel.BEARISH:
        rule = f"< -{threshold:.2f}"
    else:
        rule = f"inside +/-{threshold:.2f}"
    return f"{round(score, 2) + 0.0:+.2f} {rule}: {label.value}"


def label_for(score: float, threshold: float) -> SignalLabel:
    """bullish / bearish when ``|score|``, rounded to cents as the reasoning writes it,
    exceeds ``threshold``, else neutral (so ``"= -0.15"`` is neutral at 0.15)."""
    shown = round(score, 2)
    if shown > threshold:
        return SignalLabel.BULLISH
    if shown < -threshold:
        return SignalLabel.BEARISH
    return SignalLabel.NEUTRAL


def resolve_config(model: type[C], config: C | Mapping[str, Any] | None, origin: str) -> C:
    """Validate an agent's ``config`` argument (a model, a dict or None for defaults)."""
    if config is None:
        return model()
    if isinstance(config, model):
        return config
    try:
        return model.model_validate(dict(config))
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, model, origin)) from None


class JuniorAgent(ABC, Generic[C]):
    """A junior analyst: one symbol, one date, one ``Signal``."""

    name: ClassVar[AgentName]
    config_model: ClassVar[type[Any]]

    def __init__(
        self,
        model_path: str | Path | None = None,
        config: C | Mapping[str, Any] | None = None,
        sources: DataSources | None = None,
    ) -> None:
        self.config: C = resolve_config(self.config_model, config, f"{self.name} agent config")
        path = model_path if model_path is not None else getattr(self.config, "model_path", None)
        self.runtime: ModelRuntime | None = (
            load_runtime(self.name, path, self.config) if path is not None else None
        )
        self.version = self.runtime.version if self.runtime else EXPERT_VERSION
        #: What makes two agents answer alike: the model (or the rules) and the config.
        source = self.runtime.source if self.runtime else "expert"
        if self.runtime and Path(source).expanduser().exists():  # one adapter, however written
            source = os.path.realpath(Path(source).expanduser())
        self.identity = "|".join((self.name, source, self.version, self.config.model_dump_json()))
        self.stats: Counter[str] = Counter()
        self._sources = sources
        self._builder: ObservationBuilder | None = None

    def _observations(self) -> ObservationBuilder:
        if self._builder is None:
            sources = self._sources or build_sources(AppConfig().data)
            self._builder = ObservationBuilder(sources)
        return self._builder

    def analyze(
        self,
        symbol: str,
        lookback_days: int = 7,
        as_of: dt.date | str | None = None,
    ) -> Signal:
        """Analyse ``symbol`` with data up to the close of ``as_of`` (default: last bar)."""
        day = to_date(as_of) if as_of is not None else None
        observation = self._observations().build(symbol, day, news_lookback_days=lookback_days)
        return self.analyze_observation(observation)

    def analyze_observation(self, observation: Observation) -> Signal:
        """The signal for an already built observation: from the model, or the rules."""
        return self.answer(observation).result

    def answer(self, question: Question | Observation) -> Answered[Signal]:
        """The signal for ``question`` and the completion behind it (see
        ``agents.answering``; ``answer_all`` answers many in one batch)."""
        if isinstance(question, Observation):
            question = Question(question)
        return answer_all([(self, question)])[0]

    def plan(self, question: Question) -> Plan[Signal]:
        """The rules' signal, the neutral one when there is no data (no model call), or
        the model request and how to read its answer."""
        observation = question.observation

        def payload() -> dict[str, Any]:
            return self.input_payload(observation)

        if self.runtime is None:
            return Plan(payload, ready=self.expert_signal(observation))
        missing = self.unavailable_signal(observation)
        if missing is not None:
            return Plan(payload, ready=missing)
        facts = payload()
        request = build_request(self.name, facts, self.runtime.adapter)

        def read(answer: Answer) -> Signal:
            return signal_from(self.name, observation, answer)

        return Plan(lambda: facts, None, self.runtime, request, observation.price, read)

    def unavailable_signal(self, observation: Observation) -> Signal | None:
        """The neutral, zero-confidence signal when there is nothing to analyse, else None."""
        return None

    @abstractmethod
    def expert_signal(self, observation: Observation) -> Signal:
        """The expert rules' signal for ``observation``."""

    @abstractmethod
    def input_payload(self, observation: Observation) -> dict[str, Any]:
        """What this agent reads from ``observation``, as JSON-ready data (its prompt's facts)."""

    def _signal(
        self,
        observation: Observation,
        score: float,
        confidence: float,
        threshold: float,
        reasoning: str,
        key_factors: list[str],
    ) -> Signal:
        score = round(clip(score), 4)
        return Signal(
            agent=self.name,
            symbol=observation.symbol,
            as_of=observation.as_of,
            signal=label_for(score, threshold),
            score=score,
            confidence=round(clip(confidence, 0.0, 1.0), 4),
            reasoning=reasoning,
            key_factors=key_factors,
        )

    def _unavailable(self, observation: Observation, reason: str) -> Signal:
        """Neutral with zero confidence, saying why there was nothing to analyse."""
        return Signal(
            agent=self.name,
            symbol=observation.symbol,
            as_of=observation.as_of,
            signal=SignalLabel.NEUTRAL,
            score=0.0,
            confidence=0.0,
            reasoning=f"No {self.name} view: {reason}.",
            key_factors=[f"{self.name} data unavailable"],
        )

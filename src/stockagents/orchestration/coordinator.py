"""``SystemCoordinator``: observations in, recommendations out.

The coordinator builds the point-in-time observation of each (symbol, date), asks its
``AgentTeam`` (``stockagents.agents.team``) for the analysts' signals and then the
strategist's decision, and returns a ``Recommendation`` that states which data (source and
last bar) and which agent versions produced it. How an agent answers (rules or model,
batching, repair) is the agents' business; it fetches no prices itself and computes no
returns; backtesting lives in its own layer above this one.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stockagents.agents.answering import Answered
from stockagents.agents.base import JuniorAgent
from stockagents.agents.strategist import StrategistAgent
from stockagents.agents.team import AgentTeam, SharedAnswers
from stockagents.core.config import AppConfig, load_config
from stockagents.core.types import Decision, PortfolioContext, Recommendation, Signal
from stockagents.data.base import to_date
from stockagents.data.factory import DataSources, build_sources
from stockagents.features.observation import Observation, ObservationBuilder

__all__ = ["Analysis", "AnalystAnswers", "SystemCoordinator"]

logger = logging.getLogger(__name__)

_STALE_AFTER_DAYS = 7

#: The analysts' answers for one observation, by agent name.
AnalystAnswers = dict[str, Answered[Signal]]


@dataclass(frozen=True)
class Analysis:
    """One analysis: what the agents read, the recommendation, and each agent's answer
    (its completion, and what it read: ``answers[name].payload()``)."""

    observation: Observation
    recommendation: Recommendation
    answers: dict[str, Answered[Any]]


class SystemCoordinator:
    """The analysis system: ``analyze_symbol(symbol, as_of)`` -> ``Recommendation``.

    ``config`` is an ``AppConfig``, a dict, a YAML path or None (the offline defaults);
    ``sources`` overrides the data sources the config names (tests and notebooks);
    ``models`` is a model set: a directory with ``news``, ``technical``, ``fundamental``
    and ``strategist`` entries, each a model (see ``agents.runtime``) or absent / ``expert``
    for the rules; ``models="expert"`` means the rules for every agent. Without it, each
    agent's ``model_path`` in the config decides; when no
    agent sets one, the deployed production set (``models/production``, see
    ``core.registry``) answers if there is one (unless ``use_production`` is false: the
    collection of training data never uses it), else the expert rules. ``model_set``
    (and every result's ``model_set``) says which.
    """

    def __init__(
        self,
        config: AppConfig | Mapping[str, Any] | str | Path | None = None,
        *,
        sources: DataSources | None = None,
        models: str | Path | None = None,
        use_production: bool = True,
    ) -> None:
        self.config = load_config(dict(config) if isinstance(config, Mapping) else config)
        self.sources = sources or build_sources(self.config.data)
        agents_cfg = self.config.agents
        self.observations = ObservationBuilder(
            self.sources,
            news_lookback_days=agents_cfg.news.lookback_days,
            news_half_life_days=agents_cfg.news.half_life_days,
            max_stale_days=self.config.coordinator.max_stale_days,
        )
        self.team = AgentTeam.build(self.config, self.sources, models, use_production)
        self.model_set = self.team.model_set
        self.models = self.team.models

    def close(self) -> None:
        """Release what the agents hold (nothing today; kept for ``with`` blocks)."""

    def __enter__(self) -> SystemCoordinator:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    @property
    def analysts(self) -> dict[str, JuniorAgent[Any]]:
        """The three analysts, by name."""
        return self.team.analysts

    @property
    def strategist(self) -> StrategistAgent:
        """The strategist."""
        return self.team.strategist

    @property
    def stats(self) -> Counter[str]:
        """Model answers so far by ``agent.valid|repaired|invalid``."""
        return self.team.stats

    @property
    def model_versions(self) -> dict[str, str]:
        """Which version of each agent runs."""
        return self.team.versions

    def analyze_symbol(
        self,
        symbol: str,
        as_of: dt.date | str | None = None,
        portfolio: PortfolioContext | None = None,
    ) -> Recommendation:
        """Analyse ``symbol`` with what was known at the close of ``as_of``.

        ``as_of=None`` means the last date the price source has; the result's
        ``data_date`` and ``data_source`` say which data was used.
        """
        return self.analyze_with_observation(symbol, as_of, portfolio)[1]

    def analyze_with_observation(
        self,
        symbol: str,
        as_of: dt.date | str | None = None,
        portfolio: PortfolioContext | None = None,
    ) -> tuple[Observation, Recommendation]:
        """``analyze_symbol`` that also returns the observation the agents read."""
        (analysis,) = self.analyze_many([(symbol, as_of, portfolio)])
        return analysis.observation, analysis.recommendation

    def analyze_many(
        self,
        asks: Sequence[tuple[str, dt.date | str | None, PortfolioContext | None]],
    ) -> list[Analysis]:
        """The analyses of many (symbol, as_of, portfolio): the analysts of all of them in
        one batch, then the strategists in one batch. In a batch, the observation, analyst
        and strategist times of each result are its share."""
        started = time.perf_counter()
        observations = [self.observe(symbol, as_of) for symbol, as_of, _ in asks]
        observed = (time.perf_counter() - started) * 1000 / max(1, len(asks))
        return self.analyze_observed(
            observations,
            [portfolio for _, _, portfolio in asks],
            [as_of for _, as_of, _ in asks],
            observation_ms=observed,
        )

    def analyze_observed(
        self,
        observations: Sequence[Observation],
        portfolios: Sequence[PortfolioContext | None] | None = None,
        as_of: Sequence[dt.date | str | None] | None = None,
        *,
        observation_ms: float = 0.0,
    ) -> list[Analysis]:
        """``analyze_many`` for observations already built; ``as_of`` is what the caller
        asked for (None: the latest data, which may warn that the data is stale)."""
        n = len(observations)
        portfolios = portfolios or [None] * n
        asked = as_of or [o.as_of for o in observations]
        started = time.perf_counter()
        analysts = self.answer_analysts(observations)
        analysed = time.perf_counter()
        decisions = self.team.decide(
            [
                (observation, {name: a.result for name, a in answers.items()}, portfolio)
                for observation, answers, portfolio in zip(
                    observations, analysts, portfolios, strict=True
                )
            ]
        )
        done = time.perf_counter()
        share = 1000 / max(1, n)
        phases = {
            "observation_ms": observation_ms,
            "analysts_ms": (analysed - started) * share,
            "strategist_ms": (done - analysed) * share,
        }
        return [
            Analysis(
                observation,
                self._recommendation(observation, answers, decision, day, phases),
                {**answers, "strategist": decision},
            )
            for observation, answers, decision, day in zip(
                observations, analysts, decisions, asked, strict=True
            )
        ]

    def observe(self, symbol: str, as_of: dt.date | str | None = None) -> Observation:
        """What the agents read about ``symbol`` at the close of ``as_of``."""
        return self.observations.build(symbol, to_date(as_of) if as_of is not None else None)

    def answer_analysts(
        self, observations: Sequence[Observation], shared: SharedAnswers | None = None
    ) -> list[AnalystAnswers]:
        """The analysts' answers for every observation, in one batch per backend;
        answers in ``shared`` (by agent and observation) are reused, new ones added."""
        return self.team.analyze(
            observations, parallel=self.config.coordinator.parallel, shared=shared
        )

    def recommend(
        self,
        observation: Observation,
        analysts: AnalystAnswers,
        portfolio: PortfolioContext | None = None,
        as_of: dt.date | str | None = None,
    ) -> Recommendation:
        """The recommendation from already answered ``analysts``: the strategist decides.
        ``as_of`` is what the caller asked for (None: the latest data)."""
        return self.recommend_many([(observation, analysts, portfolio, as_of)])[0]

    def recommend_many(
        self,
        items: Sequence[
            tuple[Observation, AnalystAnswers, PortfolioContext | None, dt.date | str | None]
        ],
    ) -> list[Recommendation]:
        """``recommend`` for every (observation, analysts, portfolio, as_of): the
        strategists answer in one batch (each recommendation's strategist time is its
        share of the batch)."""
        started = time.perf_counter()
        decisions = self.team.decide(
            [(o, {n: a.result for n, a in analysts.items()}, p) for o, analysts, p, _ in items]
        )
        ms = (time.perf_counter() - started) * 1000 / max(1, len(items))
        phases = {"observation_ms": 0.0, "analysts_ms": 0.0, "strategist_ms": ms}
        return [
            self._recommendation(observation, analysts, decision, as_of, phases)
            for (observation, analysts, _, as_of), decision in zip(items, decisions, strict=True)
        ]

    def _recommendation(
        self,
        observation: Observation,
        analysts: AnalystAnswers,
        decision: Answered[Decision],
        as_of: dt.date | str | None,
        phases: Mapping[str, float],
    ) -> Recommendation:
        signals = {n: a.result for n, a in analysts.items()}
        completions = {n: a.completion.text for n, a in analysts.items()}
        completions["strategist"] = decision.completion.text
        timings = {f"{n}_ms": a.completion.latency_ms for n, a in analysts.items()}
        timings.update({k: round(v, 3) for k, v in phases.items()})
        timings["total_ms"] = round(sum(phases.values()), 3)
        logger.debug(
            "analysed %s at %s in %.1f ms",
            observation.symbol,
            observation.as_of,
            timings["total_ms"],
        )
        return Recommendation(
            symbol=observation.symbol,
            as_of=observation.as_of,
            data_date=observation.data_date,
            data_source=observation.source,
            price=round(observation.price, 4),
            decision=decision.result,
            signals=signals,
            model_versions=self.model_versions,
            model_set=self.model_set,
            timings_ms=timings,
            warnings=self._warnings(observation, signals, as_of),
            completions=completions,
        )

    @staticmethod
    def _warnings(
        observation: Observation, signals: Mapping[str, Signal], as_of: dt.date | str | None
    ) -> list[str]:
        warnings = list(observation.notes)
        if as_of is None and (dt.date.today() - observation.data_date).days > _STALE_AFTER_DAYS:
            warnings.append(
                f"data from the {observation.source} source ends {observation.data_date}: "
                "this is not today's market"
            )
        warnings += [s.reasoning for s in signals.values() if s.confidence == 0]
        return warnings

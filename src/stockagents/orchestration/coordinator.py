"""``SystemCoordinator``: one observation, three analysts in parallel, one decision.

The coordinator builds the point-in-time observation once, runs the three analysts
concurrently on it, hands their signals to the strategist and returns a
``Recommendation`` that states which data (source and last bar) and which agent versions
produced it. It fetches no prices itself and computes no returns; backtesting lives in
its own layer above this one.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from stockagents.agents import FundamentalAgent, NewsAgent, StrategistAgent, TechnicalAgent
from stockagents.agents.base import JuniorAgent
from stockagents.core.config import AppConfig, load_config
from stockagents.core.types import PortfolioContext, Recommendation, Signal
from stockagents.data.base import to_date
from stockagents.data.factory import DataSources, build_sources
from stockagents.features.observation import Observation, ObservationBuilder

__all__ = ["SystemCoordinator"]

logger = logging.getLogger(__name__)

_STALE_AFTER_DAYS = 7


class SystemCoordinator:
    """The analysis system: ``analyze_symbol(symbol, as_of)`` -> ``Recommendation``.

    ``config`` is an ``AppConfig``, a dict, a YAML path or None (the offline defaults);
    ``sources`` overrides the data sources the config names (tests and notebooks).
    """

    def __init__(
        self,
        config: AppConfig | Mapping[str, Any] | str | Path | None = None,
        *,
        sources: DataSources | None = None,
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
        self.analysts: dict[str, JuniorAgent[Any]] = {
            "news": NewsAgent(agents_cfg.news.model_path, agents_cfg.news, self.sources),
            "technical": TechnicalAgent(
                agents_cfg.technical.model_path, agents_cfg.technical, self.sources
            ),
            "fundamental": FundamentalAgent(
                agents_cfg.fundamental.model_path, agents_cfg.fundamental, self.sources
            ),
        }
        self.strategist = StrategistAgent(agents_cfg.strategist.model_path, agents_cfg.strategist)
        self._pool: ThreadPoolExecutor | None = None

    def _executor(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=3, thread_name_prefix="analyst")
        return self._pool

    def close(self) -> None:
        """Release the analyst threads."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    def __enter__(self) -> SystemCoordinator:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    @property
    def model_versions(self) -> dict[str, str]:
        """Which version of each agent runs."""
        versions = {name: agent.version for name, agent in self.analysts.items()}
        versions["strategist"] = self.strategist.version
        return versions

    def _run_analysts(self, observation: Observation) -> tuple[dict[str, Signal], dict[str, float]]:
        def run(agent: JuniorAgent[Any]) -> tuple[Signal, float]:
            start = time.perf_counter()
            signal = agent.analyze_observation(observation)
            return signal, (time.perf_counter() - start) * 1000

        if self.config.coordinator.parallel:
            futures = {n: self._executor().submit(run, a) for n, a in self.analysts.items()}
            results = {n: f.result() for n, f in futures.items()}
        else:
            results = {n: run(a) for n, a in self.analysts.items()}
        signals = {n: r[0] for n, r in results.items()}
        timings = {f"{n}_ms": round(r[1], 3) for n, r in results.items()}
        return signals, timings

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
        started = time.perf_counter()
        day = to_date(as_of) if as_of is not None else None
        observation = self.observations.build(symbol, day)
        built = time.perf_counter()
        signals, timings = self._run_analysts(observation)
        analysed = time.perf_counter()
        decision = self.strategist.decide(observation, signals, portfolio)
        done = time.perf_counter()
        warnings = list(observation.notes)
        if as_of is None and (dt.date.today() - observation.data_date).days > _STALE_AFTER_DAYS:
            warnings.append(
                f"data from the {observation.source} source ends {observation.data_date}: "
                "this is not today's market"
            )
        for signal in signals.values():
            if signal.confidence == 0:
                warnings.append(signal.reasoning)
        timings.update(
            observation_ms=round((built - started) * 1000, 3),
            analysts_ms=round((analysed - built) * 1000, 3),
            strategist_ms=round((done - analysed) * 1000, 3),
            total_ms=round((done - started) * 1000, 3),
        )
        logger.debug("analysed %s at %s in %.1f ms", symbol, observation.as_of, timings["total_ms"])
        return observation, Recommendation(
            symbol=observation.symbol,
            as_of=observation.as_of,
            data_date=observation.data_date,
            data_source=observation.source,
            price=round(observation.price, 4),
            decision=decision,
            signals=signals,
            model_versions=self.model_versions,
            timings_ms=timings,
            warnings=warnings,
        )

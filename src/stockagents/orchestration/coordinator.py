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
from collections import Counter
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from stockagents.agents import FundamentalAgent, NewsAgent, StrategistAgent, TechnicalAgent
from stockagents.agents.base import JuniorAgent
from stockagents.agents.model_agents import (
    answer_batch,
    build_request,
    decision_from,
    expert_completion,
    signal_from,
)
from stockagents.agents.runtime import AGENT_NAMES, model_set_paths
from stockagents.core.config import AppConfig, load_config
from stockagents.core.registry import production_models, release_manifest
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
        if (
            models is None
            and use_production
            and not any(getattr(getattr(agents_cfg, n), "model_path", None) for n in AGENT_NAMES)
        ):
            models = production_models(self.config.deployment.models_dir)
            deployed = release_manifest(models) if models else None
            self.model_set = (
                f"production ({deployed.get('deployment', '?')})" if deployed else "expert"
            )
        else:
            self.model_set = str(models) if models is not None else "config"
        paths: dict[str, str | None] = {}
        if models is not None and str(models) == "expert":
            paths = dict.fromkeys(AGENT_NAMES, "expert")
            models = None
        elif models is not None:  # a set: the agents it lacks are the expert rules
            paths = {name: p or "expert" for name, p in model_set_paths(models).items()}
        self.models = str(models) if models is not None else None
        self.analysts: dict[str, JuniorAgent[Any]] = {
            "news": NewsAgent(paths.get("news"), agents_cfg.news, self.sources),
            "technical": TechnicalAgent(paths.get("technical"), agents_cfg.technical, self.sources),
            "fundamental": FundamentalAgent(
                paths.get("fundamental"), agents_cfg.fundamental, self.sources
            ),
        }
        self.strategist = StrategistAgent(paths.get("strategist"), agents_cfg.strategist)
        self.stats: Counter[str] = Counter()
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

    def _run_analysts(
        self, observation: Observation
    ) -> tuple[dict[str, Signal], dict[str, str], dict[str, float]]:
        """Every analyst's signal and completion; model analysts sharing a backend answer
        in one batch, the rest run concurrently beside it."""
        groups: dict[int, list[str]] = {}
        for name, agent in self.analysts.items():
            key = id(agent.runtime.backend) if agent.runtime else -hash(name)
            groups.setdefault(key, []).append(name)

        def run(names: list[str]) -> tuple[dict[str, tuple[Signal, str]], float]:
            start = time.perf_counter()
            first = self.analysts[names[0]]
            out: dict[str, tuple[Signal, str]] = {}
            if first.runtime is None:
                for name in names:
                    signal = self.analysts[name].expert_signal(observation)
                    out[name] = (signal, expert_completion(signal))
            else:
                asked = []
                for name in names:  # no data: the neutral answer, without a model call
                    missing = self.analysts[name].unavailable_signal(observation)
                    if missing is None:
                        asked.append(name)
                    else:
                        out[name] = (missing, expert_completion(missing))
                items = [
                    (n, self.analysts[n].build_request(observation), observation.price)
                    for n in asked
                ]
                answers = (
                    answer_batch(first.runtime.backend, items, first.runtime.sampling, self.stats)
                    if items
                    else []
                )
                for name, answer in zip(asked, answers, strict=True):
                    out[name] = (signal_from(name, observation, answer), answer.raw)  # type: ignore[arg-type]
            return out, (time.perf_counter() - start) * 1000

        if self.config.coordinator.parallel and len(groups) > 1:
            futures = [self._executor().submit(run, names) for names in groups.values()]
            results = [f.result() for f in futures]
        else:
            results = [run(names) for names in groups.values()]
        signals: dict[str, Signal] = {}
        completions: dict[str, str] = {}
        timings: dict[str, float] = {}
        for out, ms in results:
            for name, (signal, text) in out.items():
                signals[name] = signal
                completions[name] = text
                timings[f"{name}_ms"] = round(ms, 3)
        ordered = {n: signals[n] for n in self.analysts}
        return ordered, {n: completions[n] for n in self.analysts}, timings

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
        signals, completions, timings = self._run_analysts(observation)
        analysed = time.perf_counter()
        if self.strategist.runtime is None:
            decision = self.strategist.expert_decide(observation, signals, portfolio)
            completions["strategist"] = expert_completion(decision, observation.price)
        else:
            payload = self.strategist.input_payload(observation, signals, portfolio)
            request = build_request("strategist", payload, self.strategist.runtime.adapter)
            (answer,) = answer_batch(
                self.strategist.runtime.backend,
                [("strategist", request, observation.price)],
                self.strategist.runtime.sampling,
                self.stats,
            )
            decision = decision_from(
                observation, answer, self.config.agents.strategist.horizon_days
            )
            completions["strategist"] = answer.raw
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
            model_set=self.model_set,
            timings_ms=timings,
            warnings=warnings,
            completions=completions,
        )

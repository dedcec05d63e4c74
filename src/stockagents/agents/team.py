"""The four agents of one model set, and which model set answers.

``AgentTeam.build(config, sources, models, use_production)`` resolves the model set (an
explicit directory, ``expert``, the config's ``model_path`` entries, or the deployed
production release) next to the loader that reads it, and builds the three analysts and
the strategist. ``analyze`` answers the analysts of many observations in one batch and
``decide`` the strategist of many; both go through ``agents.answering``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections import Counter
from collections.abc import Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stockagents.agents.answering import Answered, Question, Responder, answer_all
from stockagents.agents.base import JuniorAgent
from stockagents.agents.fundamental import FundamentalAgent
from stockagents.agents.news import NewsAgent
from stockagents.agents.runtime import AGENT_NAMES, model_set_paths
from stockagents.agents.strategist import StrategistAgent
from stockagents.agents.technical import TechnicalAgent
from stockagents.core.config import AppConfig
from stockagents.core.registry import production_models, release_manifest
from stockagents.core.types import Decision, PortfolioContext, Signal
from stockagents.data.factory import DataSources
from stockagents.features.observation import Observation

__all__ = ["AgentTeam", "SharedAnswers", "observation_key", "resolve_models"]

#: Analysts' answers shared between model sets, by (agent identity, observation key).
SharedAnswers = MutableMapping[tuple[str, str], Answered[Signal]]


def resolve_models(
    config: AppConfig, models: str | Path | None, use_production: bool
) -> tuple[dict[str, str | None], str | None, str]:
    """Each agent's model path (None: the config's own), the model set directory (None
    when there is none) and the label results carry (``model_set``).

    ``models`` is a directory (agents it lacks are the expert rules) or ``expert``. Without
    it, each agent's ``model_path`` in the config decides; when no agent sets one, the
    deployed production release answers if there is one (unless ``use_production`` is
    false), else the rules.
    """
    agents_cfg = config.agents
    configured = any(getattr(getattr(agents_cfg, n), "model_path", None) for n in AGENT_NAMES)
    label = str(models) if models is not None else "config"
    if models is None and use_production and not configured:
        models = production_models(config.deployment.models_dir)
        deployed = release_manifest(models) if models else None
        label = f"production ({deployed.deployment or '?'})" if deployed else "expert"
    if models is not None and str(models) == "expert":
        return dict.fromkeys(AGENT_NAMES, "expert"), None, label
    if models is not None:
        paths = {name: p or "expert" for name, p in model_set_paths(models).items()}
        return dict(paths), str(models), label
    return dict.fromkeys(AGENT_NAMES), None, label


@dataclass
class AgentTeam:
    """Three analysts and a strategist, and which model set they come from."""

    analysts: dict[str, JuniorAgent[Any]]
    strategist: StrategistAgent
    model_set: str = "expert"
    models: str | None = None
    stats: Counter[str] = field(default_factory=Counter)

    @classmethod
    def build(
        cls,
        config: AppConfig,
        sources: DataSources | None = None,
        models: str | Path | None = None,
        use_production: bool = True,
    ) -> AgentTeam:
        """The team ``models`` (see ``resolve_models``) names, reading ``sources``."""
        paths, directory, label = resolve_models(config, models, use_production)
        cfg = config.agents
        analysts: dict[str, JuniorAgent[Any]] = {
            "news": NewsAgent(paths["news"], cfg.news, sources),
            "technical": TechnicalAgent(paths["technical"], cfg.technical, sources),
            "fundamental": FundamentalAgent(paths["fundamental"], cfg.fundamental, sources),
        }
        strategist = StrategistAgent(paths["strategist"], cfg.strategist)
        return cls(analysts, strategist, label, directory)

    @property
    def versions(self) -> dict[str, str]:
        """Which version of each agent runs."""
        versions = {name: agent.version for name, agent in self.analysts.items()}
        versions["strategist"] = self.strategist.version
        return versions

    @property
    def uses_models(self) -> bool:
        """Whether any agent answers with a model (rather than the rules)."""
        runtimes = [agent.runtime for agent in self.analysts.values()]
        return any(runtimes) or self.strategist.runtime is not None

    def analyze(
        self,
        observations: Sequence[Observation],
        *,
        parallel: bool = False,
        shared: SharedAnswers | None = None,
    ) -> list[dict[str, Answered[Signal]]]:
        """Every analyst's answer for every observation, in one batch per backend
        (``parallel``: the backends concurrently). ``shared`` holds answers by (agent
        identity, observation content): an agent that answered the same observation
        before (in another model set that shares it) is not asked again."""
        store: SharedAnswers = shared if shared is not None else {}
        found: dict[tuple[int, str], Answered[Signal]] = {}
        asks: list[tuple[Responder[Signal], Question]] = []
        where: list[tuple[int, str, tuple[str, str]]] = []
        for i, observation in enumerate(observations):
            seen = observation_key(observation) if shared is not None else str(i)
            for name, agent in self.analysts.items():
                key = (agent.identity, seen)
                if key in store:
                    found[(i, name)] = store[key]
                else:
                    asks.append((agent, Question(observation)))
                    where.append((i, name, key))
        answers = answer_all(asks, self.stats, parallel=parallel)
        for (i, name, key), answer in zip(where, answers, strict=True):
            found[(i, name)] = store[key] = answer
        names = list(self.analysts)
        return [{name: found[(i, name)] for name in names} for i in range(len(observations))]

    def decide(
        self,
        items: Sequence[tuple[Observation, Mapping[str, Signal], PortfolioContext | None]],
    ) -> list[Answered[Decision]]:
        """The strategist's answer for every (observation, signals, portfolio), in one batch."""
        asks: list[tuple[Responder[Decision], Question]] = [
            (self.strategist, Question(observation, signals, portfolio))
            for observation, signals, portfolio in items
        ]
        return answer_all(asks, self.stats)


def observation_key(observation: Observation) -> str:
    """A hash of everything ``observation`` holds: equal for equal inputs."""
    text = json.dumps(dataclasses.asdict(observation), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()

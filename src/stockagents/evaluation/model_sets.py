"""What ``--models name:path ...`` means: named model sets, and the no-training-on-test guard.

A spec is ``name:path``, a bare ``path`` (named after its directory) or the word
``expert`` / ``baseline`` (the rule-based agents). ``path`` is a model set as the SFT
and RL runs write it (``models/`` with a ``manifest.json`` mapping agents to adapters),
or production; a set whose manifest says ``"kind": "baseline"``, or maps every agent to
``expert``, is the baseline. Agents a set lacks run as the expert rules, and the set
records which.

``check_test_window`` refuses to evaluate a set on dates one of its models trained on:
any test day on or before a model's last training date, or within the trading days its
labels looked ahead (``label_horizon_days``), is an error naming the agent, its window
and the largest ``--test-days`` that would be clean.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stockagents.agents.runtime import AGENT_NAMES, model_set_paths, read_set_manifest
from stockagents.core.errors import AgentError, ConfigError
from stockagents.core.provenance import TrainingWindow, training_window

__all__ = ["ModelSet", "check_test_window", "parse_model_sets"]

_EXPERT_WORDS = ("expert", "baseline")
_NAME = re.compile(r"^[A-Za-z][\w.+-]*$")


@dataclass
class ModelSet:
    """One named model set to evaluate."""

    name: str
    spec: str
    path: Path | None
    agents: dict[str, str] = field(default_factory=dict)
    as_expert: list[str] = field(default_factory=list)
    windows: dict[str, TrainingWindow | None] = field(default_factory=dict)

    @property
    def is_baseline(self) -> bool:
        return all(v == "expert" for v in self.agents.values())

    @property
    def models_dir(self) -> Path | str:
        """What the coordinator loads: the set's directory, or ``expert`` for the baseline
        (never the config's model paths or a deployed production set)."""
        return "expert" if self.is_baseline or self.path is None else self.path

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "spec": self.spec,
            "path": str(self.path) if self.path else None,
            "baseline": self.is_baseline,
            "agents": self.agents,
            "as_expert": self.as_expert,
            "trained_on": {
                agent: window.to_dict() if window else None
                for agent, window in self.windows.items()
            },
        }


def _split(spec: str) -> tuple[str, str]:
    text = spec.strip()
    head, sep, tail = text.partition(":")
    if sep and _NAME.match(head) and tail.strip():
        return head, tail.strip()
    if text.lower() in _EXPERT_WORDS:
        return text.lower(), text.lower()
    return Path(text).name or text, text


def _load(name: str, spec: str, target: str) -> ModelSet:
    if target.lower() in _EXPERT_WORDS:
        return ModelSet(name, spec, None, {a: "expert" for a in AGENT_NAMES})
    path = Path(target).expanduser()
    if not path.is_dir():
        hint = (
            " (the baseline is the word 'expert' or a directory whose manifest.json says "
            '"kind": "baseline")'
            if name == "baseline"
            else ""
        )
        raise AgentError(f"--models {spec}: {path} is not a directory{hint}")
    manifest = read_set_manifest(path)
    if manifest is not None and manifest.kind == "baseline":
        return ModelSet(name, spec, path, {a: "expert" for a in AGENT_NAMES})
    paths = model_set_paths(path)
    mapping = manifest.agents if manifest is not None else {}
    models = ModelSet(name, spec, path)
    for agent in AGENT_NAMES:
        entry = paths.get(agent)
        models.agents[agent] = entry or "expert"
        if entry is None and (mapping.get(agent) or "").strip() != "expert":
            models.as_expert.append(agent)
        if entry is not None and Path(entry).is_dir():
            models.windows[agent] = training_window(entry)
        elif entry is not None:
            models.windows[agent] = None  # a preset or an API model: no training of ours
    return models


def parse_model_sets(specs: Sequence[str]) -> list[ModelSet]:
    """The model sets ``specs`` name, in order; names must be unique."""
    if not specs:
        raise ConfigError("--models: name at least one model set, e.g. baseline:expert")
    sets: list[ModelSet] = []
    for spec in specs:
        name, target = _split(spec)
        if any(s.name == name for s in sets):
            raise ConfigError(f"--models: the name {name!r} is used twice; name each set")
        sets.append(_load(name, spec, target))
    return sets


def check_test_window(
    sets: Sequence[ModelSet], test_days: Sequence[dt.date], calendar: Sequence[dt.date]
) -> list[str]:
    """Raise ``ConfigError`` when a model trained on (or labelled with) test dates;
    return warnings for models whose manifest does not say what they trained on."""
    first = min(test_days)
    days = sorted(calendar)
    warnings = []
    for models in sets:
        for agent, window in models.windows.items():
            source = models.agents[agent]
            if window is None:
                if Path(source).is_dir():
                    warnings.append(
                        f"{models.name}/{agent}: {source} does not record the dates it trained "
                        "on; it cannot be checked against the test window"
                    )
                continue
            after = [d for d in days if d > window.end]
            seen_until = (
                after[window.label_horizon_days - 1]
                if len(after) >= window.label_horizon_days
                else days[-1]
            )
            if first <= seen_until:
                clean = sum(1 for d in days if d > seen_until)
                raise ConfigError(
                    f"{models.name}/{agent} trained on {window.start} to {window.end} (its labels "
                    f"saw prices to {seen_until}); the test window starts {first}, inside that. "
                    + (
                        f"Use --test-days {clean} or fewer, or a --test-start after {seen_until}"
                        if clean >= 2
                        else "No later data exists to test it on"
                    )
                )
    return warnings

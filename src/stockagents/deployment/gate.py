"""What a model set must show before it is installed: complete manifests, models that
load, and an evaluation of exactly these bytes that meets the deployment criteria.

An evaluation matches when, for every agent, its ``model_hashes`` entry (the content hash
of the model's files, or ``expert``) equals the candidate's; the newest matching
evaluation under the evaluations directory decides. Nothing here writes a file.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stockagents.agents.runtime import AGENT_NAMES, load_runtime, read_manifest
from stockagents.core.config import AgentsConfig, AppConfig, DeploymentConfig
from stockagents.core.errors import (
    AgentError,
    BackendError,
    DeploymentError,
    ProviderUnavailableError,
)
from stockagents.core.formatting import format_or_na
from stockagents.core.manifests import (
    AgentChoice,
    EvaluationManifest,
    ModelManifest,
    parse_manifest,
)
from stockagents.core.registry import content_hash, release_manifest
from stockagents.evaluation.cache import code_fingerprint
from stockagents.evaluation.criteria import MIN_RELIABLE_DAYS, check_criteria

__all__ = [
    "Candidate", "EvaluationMatch", "candidate_from", "check_loads", "find_evaluation", "gate",
]  # fmt: skip

logger = logging.getLogger(__name__)

#: What a deployable model's manifest must say, by kind.
_REQUIRED = {
    "lora": ("base_model", "version"),
    "full": ("version",),
    "openai": ("model",),  # an OpenAI-compatible server (vLLM, ...) behind the agent
    "anthropic": ("model",),
}


@dataclass(frozen=True)
class Candidate:
    """One agent of the set to install: its source directory (None: expert), where it
    came from, and the hash of its files."""

    agent: str
    source: Path | None
    origin: str  # "given", "production" (kept) or "expert"
    hash: str
    version: str

    def describe(self) -> AgentChoice:
        return AgentChoice(
            source=str(self.source) if self.source else "expert",
            origin=self.origin,
            hash=self.hash,
            version=self.version,
        )


@dataclass(frozen=True)
class EvaluationMatch:
    """The newest evaluation of these bytes; ``problems`` say why it does not apply to
    the deployment at hand (other costs, agent settings or code, too short a window)."""

    path: Path
    set_name: str
    window: dict[str, Any]
    metrics: dict[str, Any]
    criteria: dict[str, dict[str, Any]]
    passed: bool
    problems: tuple[str, ...] = ()
    #: The set's whole entry in ``evaluation_results.json`` (what the monitor compares with).
    entry: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def describe(self) -> dict[str, Any]:
        return {
            "path": str(self.path), "set": self.set_name, "window": self.window,
            "metrics": self.metrics, "criteria": self.criteria, "passed": self.passed,
            "problems": list(self.problems),
        }  # fmt: skip


def _checked_version(agent: str, path: Path) -> str:
    """The version of the model at ``path``, once its manifest shows it is deployable."""
    try:
        manifest = read_manifest(path) or ModelManifest()
    except AgentError as exc:
        raise DeploymentError(f"{agent}: {exc}") from None
    kind = manifest.kind or ("lora" if (path / "adapter_config.json").is_file() else "")
    if kind not in _REQUIRED:
        raise DeploymentError(
            f"{agent}: {path} has no complete manifest.json (kind {kind or 'missing'}); "
            "deploy the final/ directory an SFT or RL run wrote"
        )
    missing = [key for key in _REQUIRED[kind] if not getattr(manifest, key)]
    if missing:
        raise DeploymentError(f"{agent}: {path / 'manifest.json'} lacks {', '.join(missing)}")
    if manifest.agent not in (None, agent):
        raise DeploymentError(
            f"{agent}: {path} is the {manifest.agent} agent's model; "
            f"pass it as {manifest.agent}:{path}"
        )
    return manifest.version or f"{kind}:{manifest.model}"


def candidate_from(
    given: Mapping[str, str | Path], production: Path | None
) -> dict[str, Candidate]:
    """Every agent's candidate: the given directories, the rest kept from production
    (or expert when nothing is deployed). Unknown agent names are refused."""
    unknown = sorted(set(given) - set(AGENT_NAMES))
    if unknown:
        raise DeploymentError(
            f"--models: unknown agent {unknown[0]!r}; use {', '.join(AGENT_NAMES)} as in news:PATH"
        )
    out: dict[str, Candidate] = {}
    current = release_manifest(production) if production is not None else None
    for agent in AGENT_NAMES:
        if agent in given:
            text = str(given[agent]).strip()
            if text.lower() == "expert":
                out[agent] = Candidate(agent, None, "expert", "expert", "expert")
                continue
            path = Path(text).expanduser()
            if not path.is_dir():
                raise DeploymentError(f"{agent}: {path} is not a directory")
            version = _checked_version(agent, path)
            out[agent] = Candidate(agent, path.resolve(), "given", content_hash(path), version)
            continue
        entry = current.agents.get(agent) if production is not None and current else None
        if production is not None and entry and (production / entry).is_dir():
            path = (production / entry).resolve()
            kept = read_manifest(path)
            version = kept.version if kept is not None and kept.version else "?"
            out[agent] = Candidate(agent, path, "production", content_hash(path), version)
        else:
            out[agent] = Candidate(agent, None, "expert", "expert", "expert")
    return out


def check_loads(candidates: Mapping[str, Candidate], agents: AgentsConfig) -> None:
    """Load every model (base and adapter) with its agent's settings, as the agents will."""
    for candidate in candidates.values():
        if candidate.source is None:
            continue
        try:
            load_runtime(candidate.agent, candidate.source, getattr(agents, candidate.agent))
        except (AgentError, BackendError, ProviderUnavailableError) as exc:
            raise DeploymentError(f"{candidate.agent}: does not load ({exc})") from None


def _problems(
    manifest: EvaluationManifest | None, window: dict[str, Any], config: AppConfig
) -> tuple[str, ...]:
    """Why an evaluation of the same bytes does not speak for this deployment (one that
    records no manifest says nothing of its settings or code)."""
    evaluated = manifest.config if manifest is not None else {}
    problems = []
    for section in ("backtest", "agents"):
        if evaluated.get(section) != config.model_dump(mode="json")[section]:
            problems.append(f"its {section} settings differ from this config's")
    if manifest is None or manifest.code != code_fingerprint():
        problems.append("the agents' code has changed since")
    days = int(window.get("days") or 0)
    if days < MIN_RELIABLE_DAYS:
        problems.append(f"its window has {days} trading days (at least {MIN_RELIABLE_DAYS})")
    return tuple(problems)


def find_evaluation(
    candidates: Mapping[str, Candidate],
    evaluations: Path,
    criteria: DeploymentConfig,
    config: AppConfig | None = None,
) -> EvaluationMatch | None:
    """The newest evaluation of exactly these models, with its criteria checked and what
    keeps it from applying (other settings, code or a short window) listed."""
    config = config or AppConfig()
    wanted = {agent: c.hash for agent, c in candidates.items()}
    for file in sorted(evaluations.glob("eval_*/evaluation_results.json"), reverse=True):
        try:
            results = json.loads(file.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            logger.warning("skipping %s: not readable JSON", file)
            continue
        try:
            manifest = _evaluation_manifest(results, file)
        except DeploymentError as exc:
            logger.warning("skipping %s", exc)
            continue
        for entry in results.get("sets", []):
            if entry.get("model_hashes") == wanted:
                metrics = entry["metrics"]["with_costs"]
                checks = check_criteria(metrics, criteria)
                return EvaluationMatch(
                    file.parent, entry["name"], results.get("window", {}), metrics, checks,
                    all(c["passed"] for c in checks.values()),
                    _problems(manifest, results.get("window") or {}, config), entry,
                )  # fmt: skip
    return None


def _evaluation_manifest(results: dict[str, Any], file: Path) -> EvaluationManifest | None:
    """The ``manifest`` of an evaluation's results (None when it records none)."""
    recorded = results.get("manifest")
    if recorded is None:
        return None
    return parse_manifest(recorded, EvaluationManifest, f"{file}: manifest", DeploymentError)


def gate(match: EvaluationMatch | None, force: bool) -> str | None:
    """None when the set may be installed; else why not (raised unless ``force``)."""
    if match is None:
        reason = (
            "no evaluation of this model set: run scripts/evaluate_models.py on it, "
            "or deploy with --evaluate (evaluates it first) or --force"
        )
    elif match.problems:
        reason = f"the evaluation in {match.path} does not apply: {'; '.join(match.problems)}"
    elif not match.passed:
        failed = [
            f"{name} {format_or_na(c['value'], '.3g')} (needs {c['rule']})"
            for name, c in match.criteria.items()
            if not c["passed"]
        ]
        reason = f"the evaluation in {match.path} fails the criteria: {'; '.join(failed)}"
    else:
        return None
    if not force:
        raise DeploymentError(f"refused: {reason}; production is unchanged")
    logger.info("deploying with --force: %s", reason)
    return reason

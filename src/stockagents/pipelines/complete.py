"""The guide's one command (``run_complete_training.py``): its six steps in one run.

``run_complete_training`` writes ``training_runs/complete_run_YYYYMMDD_HHMMSS/``::

    manifest.json      the options, and each stage's status, seconds and outputs
    sft/               an SFT run (data/, models/<agent>_agent/final, report.md)
    rl/                an RL run (experience_library.db, models/final, report.md)
    sets/rl/           the RL model set: the SFT analysts with the RL strategist
    evaluation/eval_*/ baseline, sft and rl on the test segment (report, plots, JSON)
    summary.md, summary.json

The stages, in order:

1. ``data``: the teacher's examples for every agent (``sft/data``);
2. ``sft``: LoRA SFT and the held-out evaluation of every agent;
3. ``trajectories``: the backtest steps RL learns from, collected by the expert agents;
4. ``rl``: GRPO or PPO of the SFT strategist, with its validation report;
5. ``evaluation``: baseline (the experts), ``sft`` and ``rl`` on the held-out test
   segment, with costs, against buy-and-hold;
6. ``deployment``: of the sets that pass the deployment criteria, the one with the
   highest Sharpe is deployed through the gated deployer (backup, verification); when
   none passes, nothing is deployed and the summary says why.

Each finished stage is recorded in ``manifest.json``; ``resume=RUN_DIR`` skips those and
continues the others where they stopped (data and agents already written, trajectories
already collected and RL checkpoints are kept). A resumed run keeps the options it was
started with. Profiles size the run (``COMPLETE_PROFILES``); explicit sizes override
them, except on ``tiny``, whose sizes are ceilings (a smoke run).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from stockagents.agents.runtime import model_set_paths
from stockagents.core.config import AppConfig, load_config
from stockagents.core.errors import ConfigError, DataError
from stockagents.core.jsonio import write_json
from stockagents.data.factory import build_sources
from stockagents.deployment.deployer import ModelDeployer
from stockagents.evaluation.criteria import check_criteria
from stockagents.evaluation.evaluate import evaluate_models
from stockagents.pipelines.rl import collect_rl_data, run_rl_training
from stockagents.pipelines.sft import AGENTS, generate_sft_data, run_sft_training
from stockagents.training.synthetic.teachers import make_teacher

__all__ = [
    "COMPLETE_PROFILES",
    "STAGES",
    "CompleteOptions",
    "CompleteProfile",
    "StageRecord",
    "render_summary",
    "run_complete_training",
    "summarize",
]

logger = logging.getLogger(__name__)

STAGES = ("data", "sft", "trajectories", "rl", "evaluation", "deployment")
GUIDE_SYMBOLS = ("AAPL", "MSFT", "GOOGL", "AMZN", "TSLA")
#: The sets trained here, in the order they are considered for deployment on ties.
CANDIDATES = ("rl", "sft")


@dataclass(frozen=True)
class CompleteProfile:
    """A run's default sizes (``sft`` and ``rl`` name the SFT and RL profiles)."""

    sft_examples: int
    rl_trajectories: int
    rl_iterations: int
    test_days: int
    compare_base: bool
    rl_backtest: bool
    #: A smoke profile: its sizes are ceilings, larger requests are cut.
    cap: bool = False


# cpu is sized to finish in under an hour on 2 cores (docs/TRAINING.md has the figures):
# the SFT profile's steps per agent, 20 GRPO iterations instead of the guide's 100, no
# evaluation of the untrained base model, and the shortest test window the deployment
# gate accepts (60 days).
COMPLETE_PROFILES = {
    "tiny": CompleteProfile(24, 48, 3, 60, compare_base=False, rl_backtest=False, cap=True),
    "cpu": CompleteProfile(600, 300, 20, 60, compare_base=False, rl_backtest=False),
    "gpu": CompleteProfile(1000, 500, 100, 90, compare_base=True, rl_backtest=True),
}


@dataclass(frozen=True)
class CompleteOptions:
    """What a complete run does; ``None`` sizes come from the profile."""

    profile: str = "cpu"
    sft_examples: int | None = None
    sft_steps: int | None = None
    rl_trajectories: int | None = None
    rl_iterations: int | None = None
    algorithm: str = "grpo"
    symbols: tuple[str, ...] = GUIDE_SYMBOLS
    test_days: int | None = None
    provider: str = "expert"
    model: str | None = None
    base_url: str | None = None
    fallback: bool = True
    seed: int = 0
    deploy: bool = True
    min_sharpe: float | None = None
    models_dir: str | None = None

    def resolved(self) -> CompleteOptions:
        """The options with every size filled in from the profile (and capped by it)."""
        if self.profile not in COMPLETE_PROFILES:
            raise ConfigError(
                f"--profile {self.profile!r}: use one of {', '.join(COMPLETE_PROFILES)}"
            )
        if self.algorithm not in ("grpo", "ppo"):
            raise ConfigError(f"--algorithm {self.algorithm!r}: use grpo or ppo")
        p = COMPLETE_PROFILES[self.profile]
        sizes = {
            "sft_examples": p.sft_examples,
            "rl_trajectories": p.rl_trajectories,
            "rl_iterations": p.rl_iterations,
            "test_days": p.test_days,
        }
        chosen: dict[str, int] = {}
        for name, default in sizes.items():
            value: int | None = getattr(self, name)
            if value is not None and value < 1:
                raise ConfigError(f"--{name.replace('_', '-')} must be at least 1 (got {value})")
            if value is None:
                value = default
            elif p.cap and value > default:
                logger.warning(
                    "the %s profile caps --%s at %d (asked %d)",
                    self.profile, name.replace("_", "-"), default, value,
                )  # fmt: skip
                value = default
            chosen[name] = value
        if not self.symbols:
            raise ConfigError("--symbols: name at least one symbol")
        return replace(self, **chosen)  # type: ignore[arg-type]


@dataclass
class StageRecord:
    """One stage's outcome, as ``manifest.json`` keeps it."""

    status: str = "pending"  # pending, running, done, failed
    seconds: float = 0.0
    outputs: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


class _Run:
    """The run directory and its manifest, written after every change."""

    def __init__(self, path: Path, options: CompleteOptions, manifest: dict[str, Any]) -> None:
        self.path = path
        self.options = options
        self.manifest = manifest
        self.stages = {
            name: StageRecord(**manifest.get("stages", {}).get(name, {})) for name in STAGES
        }

    @classmethod
    def start(cls, root: Path, options: CompleteOptions) -> _Run:
        path = root / f"complete_run_{dt.datetime.now():%Y%m%d_%H%M%S}"
        n = 1
        while path.exists():
            n += 1
            path = root / f"complete_run_{dt.datetime.now():%Y%m%d_%H%M%S}_{n}"
        path.mkdir(parents=True)
        manifest = {
            "kind": "complete-run",
            "run": path.name,
            "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "options": _jsonable(options),
        }
        run = cls(path, options, manifest)
        run.save()
        return run

    @classmethod
    def resume(cls, path: Path) -> _Run:
        file = path / "manifest.json"
        try:
            manifest = json.loads(file.read_text(encoding="utf-8"))
            recorded = manifest["options"]
            options = CompleteOptions(**{**recorded, "symbols": tuple(recorded["symbols"])})
        except FileNotFoundError:
            raise ConfigError(f"--resume {path}: no manifest.json; is it a complete run?") from None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ConfigError(f"--resume {path}: unreadable manifest.json ({exc})") from None
        if manifest.get("kind") != "complete-run":
            raise ConfigError(f"--resume {path}: not a complete run (kind {manifest.get('kind')})")
        return cls(path, options, manifest)

    def save(self) -> None:
        self.manifest["stages"] = {name: asdict(r) for name, r in self.stages.items()}
        write_json(self.path / "manifest.json", self.manifest)


def _with_data(app: AppConfig, symbols: Sequence[str]) -> tuple[str, ...]:
    """The symbols the price source has (each other one is skipped with a warning)."""
    prices = build_sources(app.data).prices
    known = []
    for symbol in symbols:
        try:
            prices.date_range(symbol)
        except DataError as exc:
            logger.warning("skipping %s: %s", symbol, str(exc).split(";")[0].split(". ")[0])
            continue
        known.append(symbol)
    if not known:
        raise DataError(f"none of {', '.join(symbols)} is in the {prices.name} price source")
    return tuple(known)


def _jsonable(options: CompleteOptions) -> dict[str, Any]:
    data = asdict(options)
    data["symbols"] = list(options.symbols)
    return data


def run_complete_training(
    options: CompleteOptions | None = None,
    *,
    resume: Path | None = None,
    config: AppConfig | str | Path | None = None,
    output_root: Path = Path("training_runs"),
    progress: bool = True,
    on_stage: Callable[[str, int, StageRecord], None] | None = None,
) -> Path:
    """Run (or continue) the six stages; returns the run directory. ``on_stage(name, i,
    record)`` is called as each stage starts and ends (``record.status`` says which)."""
    app = load_config(config)
    if resume is not None:
        run = _Run.resume(resume)
        if options is not None and options != run.options:
            logger.warning("--resume keeps the options %s was started with", resume)
    else:
        chosen = (options or CompleteOptions()).resolved()
        run = _Run.start(output_root, replace(chosen, symbols=_with_data(app, chosen.symbols)))
    notify = on_stage or (lambda name, index, record: None)
    stages: dict[str, Callable[[_Run, AppConfig, bool], dict[str, Any]]] = {
        "data": _data,
        "sft": _sft,
        "trajectories": _trajectories,
        "rl": _rl,
        "evaluation": _evaluation,
        "deployment": _deployment,
    }
    for index, (name, stage) in enumerate(stages.items(), start=1):
        record = run.stages[name]
        if record.status == "done":
            notify(name, index, record)
            continue
        record.status, record.error = "running", None
        run.save()
        notify(name, index, record)
        started = time.perf_counter()
        try:
            record.outputs = stage(run, app, progress)
        except BaseException as exc:
            record.status = "failed"
            record.error = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            record.seconds += time.perf_counter() - started
            run.save()
            notify(name, index, record)
            raise
        record.status = "done"
        record.seconds += time.perf_counter() - started
        run.save()
        notify(name, index, record)
    summary = summarize(run.path)
    write_json(run.path / "summary.json", summary)
    (run.path / "summary.md").write_text(render_summary(summary), encoding="utf-8")
    return run.path


# -- stages --------------------------------------------------------------------------


def _data(run: _Run, app: AppConfig, progress: bool) -> dict[str, Any]:
    o = run.options
    teacher = make_teacher(o.provider, o.model, o.base_url, fallback=o.fallback)
    try:
        files = generate_sft_data(
            teacher, run.path / "sft", profile=o.profile, num_examples=o.sft_examples,
            config=app, seed=o.seed, progress=progress,
        )  # fmt: skip
        fallbacks = list(teacher.fallbacks)
        name = teacher.name
    finally:
        teacher.close()
    counts = {
        agent: sum(1 for line in path.open(encoding="utf-8") if line.strip())
        for agent, path in files.items()
    }
    return {"teacher": name, "teacher_fallbacks": fallbacks, "examples": counts}


def _sft(run: _Run, app: AppConfig, progress: bool) -> dict[str, Any]:
    o = run.options
    # the data exists (stage 1); the teacher only answers what is missing
    teacher = make_teacher(o.provider, o.model, o.base_url, fallback=o.fallback)
    try:
        sft = run_sft_training(
            teacher, profile=o.profile, num_examples=o.sft_examples, max_steps=o.sft_steps,
            resume=run.path / "sft", config=app, seed=o.seed,
            compare_base=COMPLETE_PROFILES[o.profile].compare_base, progress=progress,
        )  # fmt: skip
    finally:
        teacher.close()
    report = json.loads((sft / "report.json").read_text(encoding="utf-8"))
    return {
        "run": str(sft),
        "models": str(sft / "models"),
        "agents": {
            agent: {
                "steps": r["steps"],
                "agreement": r["heldout"]["agreement"],
                "valid_rate": r["heldout"]["valid_rate"],
            }
            for agent, r in report["agents"].items()
        },
    }


def _trajectories(run: _Run, app: AppConfig, progress: bool) -> dict[str, Any]:
    o = run.options
    _, known, collected = collect_rl_data(
        run.path / "rl", app, o.symbols, o.rl_trajectories or 1, progress=progress
    )
    return {"library": str(run.path / "rl" / "experience_library.db"), "symbols": known,
            "collected": collected}  # fmt: skip


def _rl(run: _Run, app: AppConfig, progress: bool) -> dict[str, Any]:
    o = run.options
    sft_models = run.path / "sft" / "models"
    rl = run_rl_training(
        algorithm=o.algorithm, num_trajectories=o.rl_trajectories or 1,
        num_iterations=o.rl_iterations or 1, symbols=o.symbols,
        sft_checkpoint=sft_models / "strategist_agent" / "final", profile=o.profile,
        config=app, resume=run.path / "rl",
        backtest=COMPLETE_PROFILES[o.profile].rl_backtest, progress=progress,
    )  # fmt: skip
    # The set to evaluate and deploy, as the guide composes it: SFT analysts, RL strategist.
    target = run.path / "sets" / "rl"
    target.mkdir(parents=True, exist_ok=True)
    analysts = model_set_paths(sft_models)
    agents = {a: _inside(analysts[a], target) for a in AGENTS if a != "strategist"}
    agents["strategist"] = _inside(str(rl / "models" / "final"), target)
    write_json(target / "manifest.json", {"agents": agents, "run": run.path.name})
    report = json.loads((rl / "report.json").read_text(encoding="utf-8"))
    return {
        "run": str(rl),
        "set": str(target),
        "iterations": report["manifest"]["iterations"],
        "validation_reward": {name: r["reward"] for name, r in report["validation_reward"].items()},
    }


def _inside(path: str | None, root: Path) -> str:
    """A model-set entry for ``path``, relative to the set (the run directory can move)."""
    return os.path.relpath(Path(path).resolve(), root.resolve()) if path else "expert"


def _evaluation(run: _Run, app: AppConfig, progress: bool) -> dict[str, Any]:
    o = run.options
    sets = {
        "sft": run.path / "sft" / "models",
        "rl": Path(run.stages["rl"].outputs["set"]),
    }
    out = evaluate_models(
        ["baseline:expert", *(f"{name}:{path}" for name, path in sets.items())],
        symbols=o.symbols, test_days=o.test_days or 60, config=app,
        output_root=run.path / "evaluation", progress=progress,
    )  # fmt: skip
    return {"dir": str(out), "sets": {name: str(path) for name, path in sets.items()}}


def _deployment(run: _Run, app: AppConfig, progress: bool) -> dict[str, Any]:
    o = run.options
    evaluation = Path(run.stages["evaluation"].outputs["dir"])
    results = json.loads((evaluation / "evaluation_results.json").read_text(encoding="utf-8"))
    criteria = app.deployment
    if o.min_sharpe is not None:
        criteria = criteria.model_copy(update={"min_sharpe": o.min_sharpe})
    verdicts: dict[str, dict[str, Any]] = {}
    for entry in results["sets"]:
        if entry["name"] not in CANDIDATES:
            continue
        checks = check_criteria(entry["metrics"]["with_costs"], criteria)
        failed = [f"{k} {_shown(c['value'])} (needs {c['rule']})" for k, c in checks.items()
                  if not c["passed"]]  # fmt: skip
        verdicts[entry["name"]] = {
            "sharpe": entry["metrics"]["with_costs"].get("sharpe"),
            "passed": not failed,
            "failed": failed,
        }
    passing = [n for n in CANDIDATES if verdicts.get(n, {}).get("passed")]
    passing.sort(key=lambda n: -(verdicts[n]["sharpe"] or -math.inf))
    out: dict[str, Any] = {"verdicts": verdicts, "deployed": None}
    if not passing:
        out["reason"] = "no set passed the deployment criteria; production is unchanged"
        logger.warning(out["reason"])
        return out
    best = passing[0]
    if not o.deploy:
        out["reason"] = f"{best} passed; not deployed (--no-deploy)"
        return out
    paths = model_set_paths(run.stages["evaluation"].outputs["sets"][best])
    models = {agent: path or "expert" for agent, path in paths.items()}
    deployer = ModelDeployer(o.models_dir, config=app, evaluations_dir=evaluation.parent)
    record = deployer.deploy(models, min_sharpe=o.min_sharpe, symbols=o.symbols)
    out.update(
        deployed=best,
        deployment=record["id"],
        production=str(deployer.models_dir / "production"),
    )
    return out


def _shown(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3g}"


# -- summary -------------------------------------------------------------------------


def summarize(run: Path) -> dict[str, Any]:
    """What a finished (or partly finished) run did, from its files."""
    manifest = json.loads((run / "manifest.json").read_text(encoding="utf-8"))
    stages = manifest.get("stages", {})
    summary: dict[str, Any] = {
        "run": str(run),
        "options": manifest.get("options", {}),
        "stages": {
            name: {k: stages.get(name, {}).get(k) for k in ("status", "seconds", "error")}
            for name in STAGES
        },
        "seconds": sum(float(s.get("seconds") or 0.0) for s in stages.values()),
        "sets": {},
    }
    evaluation = (stages.get("evaluation") or {}).get("outputs") or {}
    if evaluation.get("dir"):
        file = Path(evaluation["dir"]) / "evaluation_results.json"
        results = json.loads(file.read_text(encoding="utf-8"))
        summary["evaluation"] = {"dir": evaluation["dir"], "window": results["window"]}
        keys = ("sharpe", "total_return", "max_drawdown", "win_rate", "profit_factor", "trades")
        for entry in results["sets"]:
            m = entry["metrics"]["with_costs"]
            summary["sets"][entry["name"]] = {key: m.get(key) for key in keys} | {
                "passed": entry["passed_criteria"]
            }
        b = results["benchmark"]["metrics"]["with_costs"]
        summary["sets"]["buy & hold"] = {
            key: b.get(key) for key in ("sharpe", "total_return", "max_drawdown")
        } | {"passed": None}
    summary["deployment"] = (stages.get("deployment") or {}).get("outputs") or {}
    summary["sft"] = (stages.get("sft") or {}).get("outputs") or {}
    summary["rl"] = (stages.get("rl") or {}).get("outputs") or {}
    return summary


def _pct(value: Any) -> str:
    return "n/a" if value is None else f"{value:+.2%}"


def _num(value: Any, pattern: str = ".2f") -> str:
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else (
        format(value, pattern)
    )  # fmt: skip


def render_summary(summary: dict[str, Any]) -> str:
    """The summary as markdown (``summary.md``)."""
    o = summary["options"]
    lines = [
        f"# Complete run {Path(summary['run']).name}",
        "",
        f"profile {o.get('profile')}, {o.get('algorithm', 'grpo').upper()}; "
        f"{o.get('sft_examples')} SFT examples per agent, {o.get('rl_trajectories')} "
        f"trajectories, {o.get('rl_iterations')} RL iterations, {o.get('test_days')} test "
        f"days; {summary['seconds'] / 60:.1f} min in all",
        "",
        "| stage | status | time |",
        "|---|---|---:|",
    ]
    for name, s in summary["stages"].items():
        status = s["status"] or "pending"
        if s.get("error"):
            status += f": {s['error']}"
        lines.append(f"| {name} | {status} | {(s['seconds'] or 0) / 60:.1f} min |")
    if summary["sft"].get("agents"):
        lines += ["", "| SFT agent | steps | held-out agreement | valid |", "|---|---:|---:|---:|"]
        for agent, a in summary["sft"]["agents"].items():
            lines.append(
                f"| {agent} | {a['steps']} | {a['agreement']:.0%} | {a['valid_rate']:.0%} |"
            )
    if summary["sets"]:
        window = summary["evaluation"]["window"]
        lines += [
            "",
            f"Test segment {window['start']} to {window['end']} ({window['days']} days), "
            "costs charged:",
            "",
            "| set | Sharpe | return | max DD | win rate | profit factor | trades | criteria |",
            "|---|---:|---:|---:|---:|---:|---:|---|",
        ]
        for name, m in summary["sets"].items():
            verdict = {True: "PASS", False: "FAIL", None: ""}[m["passed"]]
            lines.append(
                f"| {name} | {_num(m['sharpe'])} | {_pct(m['total_return'])} "
                f"| {_pct(m['max_drawdown'])} | {_num(m.get('win_rate'), '.0%')} "
                f"| {_num(m.get('profit_factor'))} | {_num(m.get('trades'), '.0f')} | {verdict} |"
            )
        lines += ["", f"Report: {summary['evaluation']['dir']}/evaluation_report.md"]
    d = summary["deployment"]
    if d:
        lines.append("")
        if d.get("deployed"):
            lines.append(f"Deployed: **{d['deployed']}** to {d['production']}.")
        else:
            lines.append(f"Not deployed: {d.get('reason')}.")
            for name, v in (d.get("verdicts") or {}).items():
                if v["failed"]:
                    lines.append(f"- {name} fails {'; '.join(v['failed'])}")
    lines.append("")
    return "\n".join(lines)

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

Each finished stage is recorded in ``manifest.json`` (paths relative to the run);
``resume=RUN_DIR`` skips those and continues the others where they stopped (data and
agents already written, trajectories already collected and RL checkpoints are kept). A
resumed run keeps the options and the config it was started with; a lock keeps two
processes from running one directory. Profiles size the run (``profiles.py``);
explicit sizes override them, except on ``tiny``, whose sizes are ceilings (a smoke
run). The summary is ``complete_report.py``'s.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import logging
import math
import os
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from stockagents.agents.runtime import model_set_paths
from stockagents.core.config import AppConfig, load_config
from stockagents.core.errors import ConfigError, DataError, DeploymentError
from stockagents.core.formatting import format_or_na
from stockagents.core.jsonio import write_json
from stockagents.core.manifests import (
    AnyManifest,
    CompleteRunManifest,
    ModelSetManifest,
    RLRunManifest,
    StageRecord,
    load_manifest,
    write_manifest,
)
from stockagents.data.factory import build_sources
from stockagents.deployment.deployer import ModelDeployer
from stockagents.evaluation.criteria import MIN_RELIABLE_DAYS, check_criteria
from stockagents.evaluation.evaluate import evaluate_models
from stockagents.pipelines.complete_report import STAGES, render_summary, summarize
from stockagents.pipelines.profiles import COMPLETE_PROFILES, RL_PROFILES, SFT_PROFILES
from stockagents.pipelines.rl import collect_rl_data, run_rl_training
from stockagents.pipelines.sft import AGENTS, data_provenance, generate_sft_data, run_sft_training
from stockagents.training.synthetic.generate import heldout_path
from stockagents.training.synthetic.teachers import make_teacher

__all__ = [
    "STAGES",
    "CompleteOptions",
    "StageRecord",
    "run_complete_training",
]

logger = logging.getLogger(__name__)

GUIDE_SYMBOLS = ("AAPL", "MSFT", "GOOGL", "AMZN", "TSLA")
#: The sets trained here, in the order they are considered for deployment on ties.
CANDIDATES = ("rl", "sft")


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
        """The options with every size filled in from the profile, and cut to the
        ceilings of a smoke profile (the complete, SFT and RL profiles' alike, so every
        stage uses the same numbers)."""
        if self.profile not in COMPLETE_PROFILES:
            raise ConfigError(
                f"--profile {self.profile!r}: use one of {', '.join(COMPLETE_PROFILES)}"
            )
        if self.algorithm not in ("grpo", "ppo"):
            raise ConfigError(f"--algorithm {self.algorithm!r}: use grpo or ppo")
        if not self.symbols:
            raise ConfigError("--symbols: name at least one symbol")
        p, rl, sft = (
            COMPLETE_PROFILES[self.profile],
            RL_PROFILES[self.profile],
            SFT_PROFILES[self.profile],
        )
        sizes: dict[str, tuple[int | None, int | None]] = {  # default, ceiling
            "sft_examples": (p.sft_examples, p.sft_examples if p.cap else None),
            "sft_steps": (None, sft.max_steps if sft.cap else None),
            "rl_trajectories": (p.rl_trajectories, _least(p.cap, p.rl_trajectories,
                                                          rl.max_trajectories)),
            "rl_iterations": (p.rl_iterations, _least(p.cap, p.rl_iterations,
                                                      rl.max_iterations)),
            "test_days": (p.test_days, None),
        }  # fmt: skip
        chosen: dict[str, int | None] = {}
        for name, (default, ceiling) in sizes.items():
            value: int | None = getattr(self, name)
            flag = f"--{name.replace('_', '-')}"
            if value is not None and value < 1:
                raise ConfigError(f"{flag} must be at least 1 (got {value})")
            if value is None:
                value = default
            elif ceiling is not None and value > ceiling:
                logger.warning(
                    "the %s profile caps %s at %d (asked %d)", self.profile, flag, ceiling, value
                )
                value = ceiling
            chosen[name] = value
        if self.deploy and (chosen["test_days"] or 0) < MIN_RELIABLE_DAYS:
            raise ConfigError(
                f"--test-days {chosen['test_days']}: deployment needs an evaluation of at "
                f"least {MIN_RELIABLE_DAYS} days; give more, or --no-deploy"
            )
        return replace(self, **chosen)  # type: ignore[arg-type]


def _least(cap: bool, *ceilings: int | None) -> int | None:
    values = [c for c in ceilings if c is not None]
    return min(values) if cap and values else None


class _Run:
    """The run directory (absolute), its options, config and manifest, written after
    every change. Output paths are stored relative to the directory."""

    def __init__(
        self, path: Path, options: CompleteOptions, app: AppConfig, manifest: CompleteRunManifest
    ) -> None:
        self.path = path
        self.options = options
        self.app = app
        self.manifest = manifest
        self.stages = {name: manifest.stages.get(name) or StageRecord() for name in STAGES}

    @classmethod
    def start(cls, root: Path, options: CompleteOptions, app: AppConfig) -> _Run:
        stamp = f"{dt.datetime.now():%Y%m%d_%H%M%S}"
        path, n = root.resolve() / f"complete_run_{stamp}", 1
        while path.exists():
            n += 1
            path = root.resolve() / f"complete_run_{stamp}_{n}"
        path.mkdir(parents=True)
        manifest = CompleteRunManifest(
            run=path.name,
            created=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            options=_jsonable(options),
            config=app.model_dump(mode="json"),
        )
        run = cls(path, options, app, manifest)
        run.save()
        return run

    @classmethod
    def resume(cls, path: Path, config: AppConfig | None) -> _Run:
        path = path.resolve()
        if path.exists() and not path.is_dir():
            raise ConfigError(f"--resume {path}: is a file; pass the complete run's directory")
        file = path / "manifest.json"
        if not file.is_file():
            raise ConfigError(f"--resume {path}: no manifest.json; is it a complete run?")
        try:
            kind = load_manifest(file, AnyManifest, ConfigError).kind
            if kind != "complete-run":
                raise ConfigError(f"not a complete run (kind {kind})")
            manifest = load_manifest(file, CompleteRunManifest, ConfigError)
            recorded = manifest.options
            options = CompleteOptions(**{**recorded, "symbols": tuple(recorded["symbols"])})
            app = load_config(manifest.config)
        except ConfigError as exc:
            raise ConfigError(f"--resume {path}: {exc}") from None
        except (KeyError, TypeError) as exc:
            raise ConfigError(f"--resume {path}: unreadable manifest.json ({exc})") from None
        if config is not None and config.model_dump(mode="json") != manifest.config:
            raise ConfigError(
                f"--resume {path}: --config differs from the config the run started with "
                "(kept in its manifest.json); resume without --config, or start a new run"
            )
        return cls(path, options, app, manifest)

    def save(self) -> None:
        self.manifest.stages = dict(self.stages)
        write_manifest(self.path / "manifest.json", self.manifest)

    def rel(self, path: Path) -> str:
        """``path`` relative to the run (outputs are stored so)."""
        return os.path.relpath(Path(path).resolve(), self.path)

    def output(self, stage: str, key: str) -> Path:
        """A stage's stored output path, made absolute."""
        return self.path / str(self.stages[stage].outputs[key])


@contextmanager
def _locked(run: Path) -> Iterator[None]:
    """Only one process runs a run directory at a time (``flock``, freed if killed)."""
    fd = os.open(run / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ConfigError(f"{run} is being run by another process; wait for it") from None
        yield
    finally:
        os.close(fd)


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


def _room_for_the_test(app: AppConfig, options: CompleteOptions) -> AppConfig:
    """``app`` with a test segment at least as long as the evaluation's window, so the
    SFT and RL data (train segment) and validation stay out of the dates it tests."""
    days = options.test_days or MIN_RELIABLE_DAYS
    if days <= app.splits.test_days:
        return app
    logger.info("the date splits' test segment grows to %d days, the evaluation's", days)
    return app.model_copy(update={"splits": app.splits.model_copy(update={"test_days": days})})


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
    on_run: Callable[[Path], None] | None = None,
) -> Path:
    """Run (or continue) the six stages; returns the run directory. ``on_run(dir)`` is
    called once the directory is known; ``on_stage(name, i, record)`` as each stage
    starts and ends (``record.status`` says which)."""
    if resume is not None:
        if options is not None:
            raise ConfigError("--resume continues a run with its own options; give no others")
        run = _Run.resume(resume, None if config is None else load_config(config))
    else:
        app = load_config(config)
        chosen = (options or CompleteOptions()).resolved()
        if chosen.min_sharpe is not None:  # evaluation and deployment judge alike
            deployment = app.deployment.model_copy(update={"min_sharpe": chosen.min_sharpe})
            app = app.model_copy(update={"deployment": deployment})
        chosen = replace(chosen, symbols=_with_data(app, chosen.symbols))
        run = _Run.start(output_root, chosen, _room_for_the_test(app, chosen))
    if on_run is not None:
        on_run(run.path)
    with _locked(run.path):
        _run_stages(run, progress, on_stage or (lambda name, index, record: None))
    summary = summarize(run.path)
    write_json(run.path / "summary.json", summary)
    (run.path / "summary.md").write_text(render_summary(summary), encoding="utf-8")
    return run.path


def _run_stages(run: _Run, progress: bool, notify: Callable[[str, int, StageRecord], None]) -> None:
    stages: dict[str, Callable[[_Run, bool], dict[str, Any]]] = {
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
            record.outputs = stage(run, progress)
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


# -- stages --------------------------------------------------------------------------


def _data(run: _Run, progress: bool) -> dict[str, Any]:
    o = run.options
    teacher = make_teacher(o.provider, o.model, o.base_url, fallback=o.fallback)
    try:
        files = generate_sft_data(
            teacher, run.path / "sft", profile=o.profile, num_examples=o.sft_examples,
            config=run.app, seed=o.seed, progress=progress,
        )  # fmt: skip
    finally:
        teacher.close()
    counts = {
        agent: sum(1 for line in path.open(encoding="utf-8") if line.strip())
        for agent, path in files.items()
    }
    return {**data_provenance(run.path / "sft" / "data", AGENTS), "examples": counts}


def _sft(run: _Run, progress: bool) -> dict[str, Any]:
    o = run.options
    data = run.path / "sft" / "data"
    missing = [
        a for a in AGENTS if not heldout_path(data / f"{a}_train.jsonl").is_file()
    ]  # the data stage wrote every file; a teacher is needed only if one went missing
    teacher = make_teacher(
        o.provider if missing else "expert", o.model, o.base_url, fallback=o.fallback
    )
    try:
        sft = run_sft_training(
            teacher, profile=o.profile, num_examples=o.sft_examples, max_steps=o.sft_steps,
            resume=run.path / "sft", config=run.app, seed=o.seed,
            compare_base=COMPLETE_PROFILES[o.profile].compare_base, progress=progress,
        )  # fmt: skip
    finally:
        teacher.close()
    report = json.loads((sft / "report.json").read_text(encoding="utf-8"))
    return {
        "run": run.rel(sft),
        "models": run.rel(sft / "models"),
        "agents": {
            agent: {
                "steps": r["steps"],
                "agreement": r["heldout"]["agreement"],
                "valid_rate": r["heldout"]["valid_rate"],
            }
            for agent, r in report["agents"].items()
        },
    }


def _trajectories(run: _Run, progress: bool) -> dict[str, Any]:
    o = run.options
    _, known, collected = collect_rl_data(
        run.path / "rl", run.app, _wide(run), o.rl_trajectories or 1, progress=progress
    )
    return {"library": run.rel(run.path / "rl" / "experience_library.db"), "symbols": known,
            "collected": collected}  # fmt: skip


def _rl(run: _Run, progress: bool) -> dict[str, Any]:
    o = run.options
    sft_models = run.path / "sft" / "models"
    rl = run_rl_training(
        algorithm=o.algorithm, num_trajectories=o.rl_trajectories or 1,
        num_iterations=o.rl_iterations or 1, symbols=_wide(run),
        sft_checkpoint=sft_models / "strategist_agent" / "final", profile=o.profile,
        config=run.app, resume=run.path / "rl",
        backtest=COMPLETE_PROFILES[o.profile].rl_backtest, progress=progress,
        learning_rate=COMPLETE_PROFILES[o.profile].rl_learning_rate,
    )  # fmt: skip
    # The set to evaluate and deploy, as the guide composes it: SFT analysts, RL strategist.
    target = run.path / "sets" / "rl"
    target.mkdir(parents=True, exist_ok=True)
    analysts = model_set_paths(sft_models)
    agents = {a: _inside(analysts[a], target) for a in AGENTS if a != "strategist"}
    agents["strategist"] = _inside(str(rl / "models" / "final"), target)
    write_manifest(target / "manifest.json", ModelSetManifest(agents=agents, run=run.path.name))
    report = json.loads((rl / "report.json").read_text(encoding="utf-8"))
    return {
        "run": run.rel(rl),
        "set": run.rel(target),
        "iterations": load_manifest(rl / "manifest.json", RLRunManifest, ConfigError).iterations,
        "validation_reward": {name: r["reward"] for name, r in report["validation_reward"].items()},
        "validation_gain": report.get("validation_gain") or {},
    }


def _wide(run: _Run) -> list[str]:
    """The symbols RL collects and the evaluation tests: every one with prices when the
    profile says so (``test_symbols: all``), else the run's."""
    if COMPLETE_PROFILES[run.options.profile].test_symbols == "all":
        return list(build_sources(run.app.data).prices.symbols())
    return list(run.options.symbols)


def _inside(path: str | None, root: Path) -> str:
    """A model-set entry for ``path``, relative to the set (the run directory can move)."""
    return os.path.relpath(Path(path).resolve(), root.resolve()) if path else "expert"


def _evaluation(run: _Run, progress: bool) -> dict[str, Any]:
    o = run.options
    sets = {"sft": run.path / "sft" / "models", "rl": run.output("rl", "set")}
    out = evaluate_models(
        ["baseline:expert", *(f"{name}:{path}" for name, path in sets.items())],
        symbols=_wide(run), test_days=o.test_days or MIN_RELIABLE_DAYS, config=run.app,
        output_root=run.path / "evaluation", progress=progress,
    )  # fmt: skip
    return {"dir": run.rel(out), "sets": {name: run.rel(path) for name, path in sets.items()}}


def _deployment(run: _Run, progress: bool) -> dict[str, Any]:
    o = run.options
    evaluation = run.output("evaluation", "dir")
    results = json.loads((evaluation / "evaluation_results.json").read_text(encoding="utf-8"))
    verdicts: dict[str, dict[str, Any]] = {}
    for entry in results["sets"]:
        if entry["name"] not in CANDIDATES:
            continue
        checks = check_criteria(entry["metrics"]["with_costs"], run.app.deployment)
        failed = [
            f"{k} {format_or_na(c['value'], '.3g')} (needs {c['rule']})"
            for k, c in checks.items()
            if not c["passed"]
        ]
        verdicts[entry["name"]] = {
            "sharpe": entry["metrics"]["with_costs"].get("sharpe"),
            "passed": not failed,
            "failed": failed,
        }
    passing = [n for n in CANDIDATES if verdicts.get(n, {}).get("passed")]
    passing.sort(key=lambda n: _sort_key(verdicts[n]["sharpe"]))  # stable: rl first on ties
    out: dict[str, Any] = {"verdicts": verdicts, "deployed": None}
    if not passing:
        out["reason"] = "no set passed the deployment criteria; production is unchanged"
        logger.warning(out["reason"])
        return out
    if not o.deploy:
        out["reason"] = f"{passing[0]} passed; not deployed (--no-deploy)"
        return out
    deployer = ModelDeployer(o.models_dir, config=run.app, evaluations_dir=evaluation.parent)
    for name in passing:
        paths = model_set_paths(run.path / run.stages["evaluation"].outputs["sets"][name])
        try:
            record = deployer.deploy(
                {agent: path or "expert" for agent, path in paths.items()}, symbols=o.symbols
            )
        except DeploymentError as exc:  # the gate or the verification said no: next set
            verdicts[name]["refused"] = str(exc)
            logger.warning("%s was not deployed: %s", name, exc)
            continue
        out.update(
            deployed=name,
            deployment=record["id"],
            production=str(deployer.models_dir / "production"),
        )
        return out
    out["reason"] = "every passing set was refused by the deployer; production is unchanged"
    return out


def _sort_key(sharpe: float | None) -> float:
    """Highest Sharpe first; an undefined one last."""
    return math.inf if sharpe is None or math.isnan(sharpe) else -sharpe

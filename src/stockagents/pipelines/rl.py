"""The RL run of the user's guide (step 2.1): trajectories, GRPO or PPO, validation.

``run_rl_training`` writes ``training_runs/rl_<algo>_run_YYYYMMDD_HHMMSS/``::

    experience_library.db            steps of the train segment (about --num-trajectories,
                                     every k-th day) and every day of the validation segment
    collection_train.json, collection_validation.json   the collections' manifests
    data/rl_train.jsonl, data/rl_validation.jsonl       the prompts and their labels
    models/checkpoint-N/, models/final/                 the RL strategist (a LoRA adapter)
    models/manifest.json             a model set: the RL strategist with the analysts used
    validation_backtest.png, report.md, report.json, reward_curve.png, manifest.json

The analysts are the expert rules unless ``analysts`` names a model set (an SFT run's
``models/``); the strategist starts from ``sft_checkpoint`` (by default the newest SFT
run's strategist, else ``models/strategist/sft/final``). The report gives the validation
reward of the expert strategist, the SFT start and the RL strategist, and the
validation-segment backtest of the three against buy-and-hold, with costs.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import re
import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from stockagents.agents.runtime import model_set_paths
from stockagents.backtest.benchmark import buy_and_hold
from stockagents.backtest.collect import DB_NAME, collect_trajectories
from stockagents.backtest.engine import BacktestResult, run_backtest
from stockagents.backtest.policy import CoordinatorPolicy, backtest_plan
from stockagents.core.config import LONGEST_LABEL_HORIZON, AppConfig, load_config
from stockagents.core.errors import ConfigError, DataError
from stockagents.core.formatting import format_or_na as _f
from stockagents.core.jsonio import write_json
from stockagents.core.manifests import (
    ModelSetManifest,
    RLRunManifest,
    load_manifest,
    write_manifest,
)
from stockagents.data.factory import build_sources
from stockagents.data.splits import DateSplits, compute_splits
from stockagents.evaluation.backtest_report import backtest_metrics, plot_equity
from stockagents.evaluation.metrics import paired_difference
from stockagents.features.observation import MIN_BARS
from stockagents.orchestration import SystemCoordinator
from stockagents.pipelines.profiles import RL_PROFILES, RLProfile
from stockagents.training.processes import is_main_process, world_size
from stockagents.training.rl.config import RLConfig, load_rl_config
from stockagents.training.rl.dataset import RLExample, load_rl_examples, write_examples
from stockagents.training.rl.grpo import train_grpo
from stockagents.training.rl.policy import checkpoint_base
from stockagents.training.rl.ppo import train_ppo
from stockagents.training.rl.results import RLResult
from stockagents.training.rl.scoring import RewardModel, desk_from, validation_reward

__all__ = [
    "capped_to_profile",
    "collect_rl_data",
    "find_sft_strategist",
    "run_rl_training",
    "train_strategist",
    "validation_gains",
]

logger = logging.getLogger(__name__)


#: Where the guide's configs expect the strategist's SFT adapter.
DEFAULT_SFT_START = Path("models/strategist/sft/final")


def find_sft_strategist(root: Path = Path("training_runs")) -> Path | None:
    """The newest SFT strategist adapter under ``root`` (an SFT run's, or a complete
    run's ``sft/``), else the guide's ``models/strategist/sft/final``."""
    layouts = (  # the guide's layout first: it wins a tie within one run
        "sft_run_*/models/strategist_agent/final",
        "complete_run_*/sft/models/strategist_agent/final",
        "sft_run_*/models/strategist/final",  # runs made before 2026-11-29
    )
    found = [
        (_stamp(path), -rank, path)
        for rank, pattern in enumerate(layouts)
        for path in root.glob(pattern)
        if (path / "adapter_config.json").is_file()
    ]
    if found:
        return max(found)[2]
    return DEFAULT_SFT_START if (DEFAULT_SFT_START / "adapter_config.json").is_file() else None


def _stamp(path: Path) -> str:
    """The YYYYMMDD_HHMMSS of the run directory ``path`` lies in ("" when none)."""
    match = re.search(r"_run_(\d{8}_\d{6})", str(path))
    return match.group(1) if match else ""


def _splits(config: AppConfig, symbols: Sequence[str]) -> tuple[DateSplits, list[str]]:
    sources = build_sources(config.data)
    calendar: set[dt.date] = set()
    known = []
    for symbol in symbols:
        try:
            _, last = sources.prices.date_range(symbol)
        except DataError as exc:
            logger.warning("skipping %s: %s", symbol, str(exc).split(";")[0])
            continue
        known.append(symbol)
        calendar.update(ts.date() for ts in sources.prices.prices(symbol, as_of=last).index)
    if not known:
        raise DataError(
            f"none of {', '.join(symbols)} has data in the {sources.prices.name} price source "
            f"(available: {', '.join(sources.prices.symbols())})"
        )
    horizon = max(LONGEST_LABEL_HORIZON, config.agents.strategist.horizon_days)
    splits = compute_splits(sorted(calendar), config.splits, max_horizon=horizon)
    if splits.validation is None:
        raise ConfigError("splits.validation_days is 0: RL needs a validation segment")
    return splits, known


def _collect(
    run: Path,
    config: AppConfig,
    symbols: list[str],
    splits: DateSplits,
    num_trajectories: int,
    analysts: Path | None,
    progress: bool,
) -> dict[str, Any]:
    """Train-segment steps (about ``num_trajectories``) and every validation day."""
    models = _analyst_set(run / "collection_models", analysts)
    train_days = splits.train.days - MIN_BARS
    every = max(1, (train_days * len(symbols)) // num_trajectories)
    parts = {
        "train": (None, splits.train.end, every),
        "validation": (splits.validation.start, splits.validation.end, 1),  # type: ignore[union-attr]
    }
    out = {}
    for part, (start, end, step) in parts.items():
        summary = collect_trajectories(
            symbols, start, end, run, config=config, every=step, run_id=f"{run.name}-{part}",
            progress=progress, models=models, backend="serial" if analysts else "process",
        )  # fmt: skip
        (run / "manifest.json").replace(run / f"collection_{part}.json")
        out[part] = {"steps": summary.inserted + summary.already_present, "every": step}
    return out


def collect_rl_data(
    run: Path,
    config: AppConfig,
    symbols: Sequence[str],
    num_trajectories: int,
    *,
    analysts: Path | None = None,
    progress: bool = True,
) -> tuple[DateSplits, list[str], dict[str, Any]]:
    """The trajectories of an RL run into ``run/experience_library.db`` (resumable: the
    steps already there are kept): the splits, the symbols with data, and per segment
    the steps collected."""
    splits, known = _splits(config, symbols)
    return splits, known, _collect(run, config, known, splits, num_trajectories, analysts, progress)


def _analyst_set(target: Path, analysts: Path | None) -> Path:
    """A model set with the given analysts (or the experts) and the expert strategist."""
    paths = model_set_paths(analysts) if analysts is not None else {}
    target.mkdir(parents=True, exist_ok=True)
    agents = {
        name: str(Path(p).resolve()) if p and Path(p).exists() else (p or "expert")
        for name, p in paths.items()
        if name != "strategist"
    }
    write_manifest(
        target / "manifest.json", ModelSetManifest(agents={**agents, "strategist": "expert"})
    )
    return target


def _analysts_of(collection_models: Path) -> dict[str, str | None]:
    """The agents of the set the trajectories were collected with."""
    return load_manifest(collection_models / "manifest.json", ModelSetManifest, DataError).agents


def _model_set(run: Path, collection_models: Path) -> Path:
    """``models/`` as a model set: the analysts of the collection, the RL strategist."""
    agents = {**_analysts_of(collection_models), "strategist": "final"}
    write_manifest(run / "models" / "manifest.json", ModelSetManifest(agents=agents, run=run.name))
    return run / "models"


def _strategist_set(target: Path, collection_models: Path, strategist: Path | None) -> Path:
    agents = {
        **_analysts_of(collection_models),
        "strategist": str(strategist.resolve()) if strategist else "expert",
    }
    target.mkdir(parents=True, exist_ok=True)
    write_manifest(target / "manifest.json", ModelSetManifest(agents=agents))
    return target


def _backtest(
    config: AppConfig,
    models: Path,
    symbols: list[str],
    start: dt.date,
    end: dt.date,
    name: str,
    progress: bool,
) -> BacktestResult:
    with SystemCoordinator(config, models=models) as coordinator:
        prices = {}
        for symbol in symbols:
            last = coordinator.sources.prices.date_range(symbol)[1]
            prices[symbol] = coordinator.sources.prices.prices(symbol, as_of=last)
        days = sum(
            int(((f.index >= pd.Timestamp(start)) & (f.index <= pd.Timestamp(end))).sum())
            for f in prices.values()
        )
        with Progress(
            TextColumn(f"backtest: {name}"), BarColumn(), MofNCompleteColumn(),
            TimeRemainingColumn(), disable=not progress, transient=True,
        ) as bar:  # fmt: skip
            task = bar.add_task(name, total=days)
            policy = CoordinatorPolicy(
                coordinator, backtest_plan(prices, start, end), tick=lambda: bar.advance(task)
            )
            return run_backtest(prices, policy, config.backtest, start, end)


def _markdown(m: RLRunManifest, report: dict[str, Any]) -> str:
    tied = m.tied_groups
    lines = [
        f"# RL run {m.run} ({m.algorithm.upper()})",
        "",
        f"{m.iterations} iterations at {m.seconds_per_iteration:.1f} s each"
        + (f", learning rate {m.learning_rate:g}; " if m.learning_rate else "; ")
        + f"{m.train_examples} train prompts, {m.validation_examples} validation prompts; "
        f"symbols {', '.join(m.symbols)}; start {m.sft_checkpoint}; "
        f"{m.seconds:.0f} s in all.",
        "",
        f"Mean training reward {m.train_reward_first:+.4f} over the first tenth of the "
        f"iterations, {m.train_reward_last:+.4f} over the last"
        + (
            f"; groups whose rewards all tied (no signal): {tied:.0%}"
            if m.algorithm == "grpo" and tied is not None and not math.isnan(tied)
            else ""
        )
        + ".",
        "",
        "## Validation reward",
        "",
        "| strategist | reward | valid | return term | oversize | calibration | actions |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for name, r in report["validation_reward"].items():
        lines.append(
            f"| {name} | {r['reward']:+.4f} | {r['valid_rate']:.0%} | {r['return_term']:+.4f} "
            f"| {r['oversize_term']:.4f} | {r['calibration_term']:+.4f} | {r['actions']} |"
        )
    gains = report.get("validation_gain") or {}
    if gains:
        lines += [
            "",
            "Paired, prompt by prompt (95% interval from a moving-block bootstrap over days):",
            "",
            "| difference | mean reward | 95% interval | p-value | ±half-width | prompts |",
            "|---|---:|---|---:|---:|---:|",
        ]
        for name, g in gains.items():
            lines.append(
                f"| {name} | {g['difference']:+.4f} | [{g['low']:+.4f}, {g['high']:+.4f}] "
                f"| {_f(g['p_value'], '.3f')} | {_f(g['half_width'], '.4f')} "
                f"| {g['prompts']:.0f} |"
            )
    bt = report.get("validation_backtest") or {}
    if bt:
        lines += [
            "",
            f"## Validation-segment backtest ({bt['period']}, costs charged)",
            "",
            "| strategist | total return | Sharpe | max drawdown | trades | win rate |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for name, r in bt["metrics"].items():
            lines.append(
                f"| {name} | {r['total_return']:+.2%} | {_f(r['sharpe'])} "
                f"| {r['max_drawdown']:.2%} | {r['trades']:.0f} | {_f(r['win_rate'], '.0%')} |"
            )
        lines += ["", "![validation backtest](validation_backtest.png)"]
    lines += ["", "![reward curve](models/reward_curve.png)", ""]
    return "\n".join(lines)


def _sizes(
    algorithm: str, profile: str, num_trajectories: int, num_iterations: int
) -> tuple[RLProfile, int, int]:
    """Check the profile and sizes; cut the sizes to a smoke profile's ceilings."""
    if algorithm not in ("grpo", "ppo"):
        raise ConfigError(f"--algorithm {algorithm!r}: use grpo or ppo")
    if profile not in RL_PROFILES:
        raise ConfigError(f"--profile {profile!r}: use one of {', '.join(RL_PROFILES)}")
    for name, value in (
        ("--num-trajectories", num_trajectories),
        ("--num-iterations", num_iterations),
    ):
        if value < 1:
            raise ConfigError(f"{name} must be at least 1 (got {value})")
    chosen = RL_PROFILES[profile]
    num_trajectories = chosen.capped(
        "--num-trajectories", num_trajectories, chosen.max_trajectories
    )
    num_iterations = chosen.capped("--num-iterations", num_iterations, chosen.max_iterations)
    return chosen, num_trajectories, num_iterations


def capped_to_profile(config: RLConfig, profile: str) -> RLConfig:
    """``config`` with its iterations and trajectories cut to ``profile``'s ceilings (only
    the ``tiny`` smoke profile has any; each cut is logged)."""
    if profile not in RL_PROFILES:
        raise ConfigError(f"--profile {profile!r}: use one of {', '.join(RL_PROFILES)}")
    chosen = RL_PROFILES[profile]
    training = config.training.model_copy(
        update={
            "num_iterations": chosen.capped(
                "--iterations", config.training.num_iterations, chosen.max_iterations
            )
        }
    )
    data = config.data.model_copy(
        update={
            "num_trajectories": chosen.capped(
                "data.num_trajectories", config.data.num_trajectories, chosen.max_trajectories
            )
        }
    )
    return config.model_copy(update={"training": training, "data": data})


def _sft_start(sft_checkpoint: Path | None, output_root: Path) -> Path:
    """The SFT strategist to start from (given, else the newest), checked to be one."""
    checkpoint = sft_checkpoint or find_sft_strategist(output_root)
    if checkpoint is None:
        raise ConfigError(
            "no SFT strategist to start from: run python scripts/run_sft_training.py first, "
            "or pass --sft-checkpoint DIR"
        )
    checkpoint_base(checkpoint)
    return checkpoint


def _rl_config(
    algorithm: str,
    chosen: RLProfile,
    checkpoint: Path,
    run: Path,
    num_iterations: int,
    learning_rate: float | None = None,
) -> RLConfig:
    """The RL config of a run: the profile's sizes (and learning rate unless given),
    training into ``run/models``."""
    return load_rl_config(
        {
            "algorithm": algorithm,
            "model": {
                "sft_checkpoint": str(checkpoint),
                "learning_rate": learning_rate or chosen.learning_rate,
            },
            "training": {
                "output_dir": str(run / "models"),
                "num_iterations": num_iterations,
                "batch_size": chosen.batch_size if algorithm == "grpo" else chosen.ppo_batch_size,
                "group_size": chosen.group_size,
                "kl_coef": chosen.kl_coef,
                "max_completion_length": chosen.max_completion_length,
                "temperature": chosen.temperature,
                "save_interval": max(1, min(20, num_iterations // 5)),
                "report_to": list(chosen.report_to),
            },
        },
        algorithm=algorithm,
    )


def _train_and_score(
    rl: RLConfig,
    app: AppConfig,
    train: list[RLExample],
    validation: list[RLExample],
    checkpoint: Path,
    algorithm: str,
) -> tuple[RLResult, dict[str, Any]]:
    """Train the strategist; score expert, SFT start and RL on the validation prompts."""
    reward = RewardModel(desk_from(app), rl.rewards.weights())
    before = validation_reward(checkpoint, validation, reward, app)
    rows = [e.record() for e in train]
    trainer = train_grpo if algorithm == "grpo" else train_ppo
    result: RLResult = trainer(rl, rows, reward)
    after = validation_reward(result.final_dir, validation, reward, app)
    expert = validation_reward(None, validation, reward, app)
    return result, {"expert": expert, "sft start": before, f"rl ({algorithm})": after}


def validation_gains(
    rewards: dict[str, dict[str, Any]], validation: Sequence[RLExample]
) -> dict[str, dict[str, float]]:
    """Paired differences of the mean validation reward, prompt by prompt: the RL
    strategist against its SFT start, and the SFT start against the expert's collected
    answers; 95% intervals from a moving-block bootstrap over the prompts' days (every
    symbol of a drawn day along, blocks of 5 days)."""
    names = list(rewards)
    rl_name = next(n for n in names if n.startswith("rl"))
    days = np.asarray([e.as_of for e in validation])
    out = {}
    for a, b in ((rl_name, "sft start"), ("sft start", "expert")):
        x, y = rewards[a].get("totals"), rewards[b].get("totals")
        if x and y and len(x) == len(y) == len(days):
            gain = paired_difference(np.mean, x, y, days=days)
            out[f"{a} - {b}"] = {**gain, "prompts": float(len(days))}
    return out


def run_rl_training(
    *,
    algorithm: str = "grpo",
    num_trajectories: int = 500,
    num_iterations: int = 100,
    symbols: Sequence[str] = ("AAPL", "MSFT", "GOOGL", "AMZN", "TSLA"),
    sft_checkpoint: Path | None = None,
    analysts: Path | None = None,
    profile: str = "cpu",
    rl_config: RLConfig | None = None,
    config: AppConfig | None = None,
    output_root: Path = Path("training_runs"),
    resume: Path | None = None,
    backtest: bool = True,
    progress: bool = True,
    learning_rate: float | None = None,
) -> Path:
    """Collect, train and validate; returns the run directory (see the module docstring).
    ``learning_rate`` replaces the profile's (``rl_config`` sets everything)."""
    chosen, num_trajectories, num_iterations = _sizes(
        algorithm, profile, num_trajectories, num_iterations
    )
    app = load_config(config)
    checkpoint = _sft_start(sft_checkpoint, output_root)
    started = time.perf_counter()
    run = resume or output_root / f"rl_{algorithm}_run_{dt.datetime.now():%Y%m%d_%H%M%S}"
    run.mkdir(parents=True, exist_ok=True)
    splits, known, collected = collect_rl_data(
        run, app, symbols, num_trajectories, analysts=analysts, progress=progress
    )
    examples = load_rl_examples(run / DB_NAME, app, segments=("train", "validation"))
    train, validation = examples["train"], examples["validation"]
    validation_used = _spread(validation, chosen.validation_examples)
    write_examples(run / "data" / "rl_train.jsonl", train)
    write_examples(run / "data" / "rl_validation.jsonl", validation)
    rl = rl_config or _rl_config(algorithm, chosen, checkpoint, run, num_iterations, learning_rate)
    result, rewards = _train_and_score(rl, app, train, validation_used, checkpoint, algorithm)
    models = _model_set(run, run / "collection_models")
    report: dict[str, Any] = {
        "validation_reward": rewards,
        "validation_gain": validation_gains(rewards, validation_used),
    }
    if backtest and splits.validation is not None:
        report["validation_backtest"] = _validation_backtest(
            run, app, known, splits, checkpoint, result.final_dir, progress
        )
    manifest = RLRunManifest(
        run=run.name,
        algorithm=algorithm,
        profile=profile,
        created=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        symbols=known,
        sft_checkpoint=str(checkpoint),
        analysts=str(analysts) if analysts else "expert",
        collected=collected,
        splits=splits.to_dict(),
        train_examples=len(train),
        validation_examples=len(validation_used),
        iterations=result.iterations,
        learning_rate=rl.model.learning_rate,
        seconds_per_iteration=result.seconds_per_iteration,
        train_reward_first=result.training.first_reward,
        train_reward_last=result.training.last_reward,
        tied_groups=result.training.tied_groups,
        training_seconds=result.seconds,
        seconds=time.perf_counter() - started,
        models=str(models),
        final=str(result.final_dir),
        status="done",
    )
    report["manifest"] = manifest.as_json()
    write_json(run / "report.json", report)
    (run / "report.md").write_text(_markdown(manifest, report), encoding="utf-8")
    write_manifest(run / "manifest.json", manifest)
    return run


def _spread(examples: list[RLExample], n: int) -> list[RLExample]:
    """At most ``n`` examples spread evenly over the list (dates and symbols)."""
    if n <= 0 or len(examples) <= n:
        return examples
    step = len(examples) / n
    return [examples[int(i * step)] for i in range(n)]


def _validation_backtest(
    run: Path,
    app: AppConfig,
    symbols: list[str],
    splits: DateSplits,
    sft: Path,
    rl: Path,
    progress: bool,
) -> dict[str, Any]:
    validation = splits.validation
    assert validation is not None
    start, end = validation.start, validation.end
    sets = {
        "expert strategist": None,
        "sft start": sft,
        "rl strategist": rl,
    }
    results: dict[str, BacktestResult] = {}
    base = run / "collection_models"
    for name, strategist in sets.items():
        target = run / ".backtest_sets" / name.replace(" ", "_")
        models = _strategist_set(target, base, strategist)
        results[name] = _backtest(app, models, symbols, start, end, name, progress)
    shutil.rmtree(run / ".backtest_sets", ignore_errors=True)
    sources = build_sources(app.data)
    prices = {s: sources.prices.prices(s, as_of=sources.prices.date_range(s)[1]) for s in symbols}
    results["buy & hold"] = buy_and_hold(prices, app.backtest, start, end)
    plot_equity(results, run / "validation_backtest.png", f"validation {start} to {end}")
    period = f"{start} to {end}"
    return {
        "period": period,
        "metrics": {name: backtest_metrics(r) for name, r in results.items()},
    }


def _with_sft_start(config: RLConfig) -> RLConfig:
    """The config, with the guide's default SFT start (``models/strategist/sft/final``)
    replaced by the newest SFT run's strategist when only the latter exists."""
    given = config.model.sft_checkpoint
    if (
        given is None
        or Path(given) != DEFAULT_SFT_START
        or (given / "adapter_config.json").is_file()
    ):
        return config
    found = find_sft_strategist()
    if found is None or found == DEFAULT_SFT_START:
        return config
    logger.warning("%s does not exist: starting from the newest SFT run's strategist, %s",
                   given, found)  # fmt: skip
    model = config.model.model_copy(update={"sft_checkpoint": found})
    return config.model_copy(update={"model": model})


def train_strategist(config: RLConfig, progress: bool = True) -> dict[str, Any]:
    """Train the strategist as ``config`` says (the guide's step 2.3): read the experience
    library, or collect one with the expert agents into ``output_dir/trajectories`` when
    ``data.experience_library`` is null; train; score validation prompts before and after.
    Returns a summary, also written to ``output_dir/rl_summary.json``."""
    app = load_config(config.data.app_config)
    config = _with_sft_start(config)
    if config.model.sft_checkpoint is not None:  # fail before collecting, not after
        checkpoint_base(Path(config.model.sft_checkpoint).expanduser())
    out = config.training.output_dir
    library: str | Path | None = config.data.experience_library
    if library is None and world_size() > 1:
        raise ConfigError(
            "data.experience_library: several training processes read one library; collect "
            "it first (stockagents collect), then name it here or with --experience-library"
        )
    if library is None:
        target = out / "trajectories"
        target.mkdir(parents=True, exist_ok=True)
        splits, known = _splits(app, config.data.symbols)
        _collect(target, app, known, splits, config.data.num_trajectories, None, progress)
        library = target / DB_NAME
    elif "://" not in str(library) and not Path(library).is_file():
        raise DataError(
            f"data.experience_library: {library} does not exist; collect trajectories with "
            "python training/rl/backtester.py (or set it to null to collect with the experts)"
        )
    examples = load_rl_examples(library, app, ("train", "validation"), run_id=config.data.run_id)
    train = (
        examples["train"][: config.data.max_examples]
        if config.data.max_examples
        else examples["train"]
    )
    validation = _spread(examples["validation"], config.training.validation_examples)
    reward = RewardModel(desk_from(app), config.rewards.weights())
    checkpoint = config.model.sft_checkpoint
    summary: dict[str, Any] = {"train_examples": len(train), "validation_examples": len(validation)}
    trainer = train_grpo if config.algorithm == "grpo" else train_ppo
    result = trainer(config, [e.record() for e in train], reward)
    # under a launcher only the main process scores, once training is over, so the others
    # never wait for it at a collective (the SFT start is scored after: training left it as
    # it was)
    main = is_main_process()
    if main and validation and checkpoint is not None:
        summary["before"] = validation_reward(checkpoint, validation, reward, app)
    if main and validation:
        summary["after"] = validation_reward(result.final_dir, validation, reward, app)
        summary["expert"] = validation_reward(None, validation, reward, app)
    summary.update(
        final=str(result.final_dir),
        iterations=result.iterations,
        learning_rate=config.model.learning_rate,
        seconds_per_iteration=result.seconds_per_iteration,
    )
    if main:
        write_json(out / "rl_summary.json", summary)
    return summary

"""The guide's step 3: evaluate model sets on the test segment and write the report.

``evaluate_models`` writes ``evaluation_results/eval_YYYYMMDD_HHMMSS/``::

    evaluation_report.md       the tables, criteria, intervals and agent quality
    comparison_plots.png       equity, drawdown, Sharpe intervals, per symbol, calibration
    evaluation_results.json    everything, machine-readable (``schema.EvaluationResults``)

The test window is the last ``test_days`` trading days of the symbols' calendar (the
test segment of ``stockagents.data.splits`` when ``test_days`` is the config's), or the
days from ``test_start`` to ``test_end`` (``EvaluationWindow``), for instance dates after the
sample ends on another price source. ``symbols=["all"]`` tests every symbol the price
source holds. A set whose models trained on any of the window's days is refused before
anything runs. Without a
baseline among the sets, the expert agents are added as ``baseline``. Answers are cached
in ``<output_root>/.cache/answers.sqlite``; a second run of the same command makes no
model calls.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pandas as pd
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from stockagents import __version__
from stockagents.agents.runtime import read_manifest, read_set_manifest
from stockagents.agents.team import SharedAnswers
from stockagents.backtest.benchmark import buy_and_hold
from stockagents.backtest.on_ray import ray_session, require_ray
from stockagents.core.config import AppConfig, load_config
from stockagents.core.errors import ConfigError, DataError
from stockagents.core.jsonio import write_json
from stockagents.core.manifests import EvaluationData, EvaluationManifest
from stockagents.core.symbols import validate_symbols
from stockagents.data.factory import build_sources
from stockagents.evaluation.cache import AnswerCache, code_fingerprint
from stockagents.evaluation.comparisons import compare, comparison_pairs
from stockagents.evaluation.criteria import CRITERIA, MIN_RELIABLE_DAYS
from stockagents.evaluation.judge import build_judge
from stockagents.evaluation.model_sets import ModelSet, check_test_window, parse_model_sets
from stockagents.evaluation.on_ray import RayAnalysts
from stockagents.evaluation.plots import plot_comparison
from stockagents.evaluation.report import render_report
from stockagents.evaluation.runner import SetRun, run_model_set
from stockagents.evaluation.schema import EvaluationResults
from stockagents.evaluation.summary import benchmark_result, set_result
from stockagents.features.observation import MIN_BARS

__all__ = ["DEFAULT_TEST_DAYS", "Backend", "EvaluationWindow", "evaluate_models"]

logger = logging.getLogger(__name__)

#: Where the analysts answer: here (``serial``) or on Ray (``ray``, ``on_ray``).
Backend = Literal["serial", "ray"]


#: How the Sharpe intervals are drawn (see ``metrics.bootstrap_sharpe``).
BOOTSTRAP = {"resamples": 2000, "block": 5, "confidence": 0.95, "seed": 0}


def _prices(
    app: AppConfig, symbols: Sequence[str]
) -> tuple[dict[str, pd.DataFrame], dict[str, str]]:
    sources = build_sources(app.data)
    prices: dict[str, pd.DataFrame] = {}
    skipped: dict[str, str] = {}
    wanted = [s for s in symbols if s.strip()]
    if wanted == ["all"]:  # lower case: ALL is a ticker
        wanted = list(sources.prices.symbols())
    for symbol in validate_symbols(wanted, "--test-symbols"):
        try:
            _, last = sources.prices.date_range(symbol)
        except DataError as exc:
            skipped[symbol] = str(exc).split(";")[0]
            logger.warning("skipping %s: %s", symbol, skipped[symbol])
            continue
        bars = sources.prices.prices(symbol, as_of=last)
        if len(bars) < MIN_BARS:
            skipped[symbol] = f"fewer than {MIN_BARS} bars"
            continue
        prices[symbol] = bars
    if not prices:
        raise DataError(
            f"none of {', '.join(symbols)} has data in the {sources.prices.name} price source "
            f"(available: {', '.join(sources.prices.symbols())})"
        )
    return prices, skipped


#: The test window when neither --test-days nor --test-start/--test-end is given.
DEFAULT_TEST_DAYS = 90


@dataclass(frozen=True)
class EvaluationWindow:
    """Which trading days to test on: the last ``days`` (to ``end`` when given), or from
    ``start`` (``days`` of them, or to ``end``, or to the data's end)."""

    days: int | None = None
    start: dt.date | None = None
    end: dt.date | None = None

    def check(self) -> None:
        """One clear error for a window that cannot be meant."""
        if self.days is not None and self.days < 2:
            raise ConfigError(f"--test-days must be at least 2 (got {self.days})")
        if self.start and self.end and self.days is not None:
            raise ConfigError("give --test-days or both --test-start and --test-end, not all three")
        if self.start and self.end and self.start > self.end:
            raise ConfigError(f"--test-start {self.start} is after --test-end {self.end}")

    def pick(self, calendar: list[dt.date]) -> list[dt.date]:
        """The window's days in ``calendar`` (sorted trading days)."""
        if self.start is None:
            days = calendar if self.end is None else [d for d in calendar if d <= self.end]
            return days[-(self.days or DEFAULT_TEST_DAYS) :]
        days = [d for d in calendar if d >= self.start and (self.end is None or d <= self.end)]
        return days[: self.days] if self.days is not None else days

    def describe(self) -> str:
        """The window as the command line gave it."""
        given = [
            f"{flag} {value}"
            for flag, value in (
                ("--test-start", self.start), ("--test-end", self.end), ("--test-days", self.days)
            )
            if value is not None
        ]  # fmt: skip
        return " ".join(given) or f"--test-days {DEFAULT_TEST_DAYS}"


def _window(
    prices: dict[str, pd.DataFrame], window: EvaluationWindow
) -> tuple[list[dt.date], list[dt.date]]:
    calendar = sorted({ts.date() for f in prices.values() for ts in f.index})
    window.check()
    days = window.pick(calendar)
    room = calendar[MIN_BARS - 1 :]  # the agents need MIN_BARS bars before a decision
    if len(days) < 2:
        raise DataError(
            f"{window.describe()}: {len(days)} trading days of the data "
            f"({calendar[0]} to {calendar[-1]}) fall inside; the window needs at least 2"
        )
    if days[0] < room[0]:
        raise DataError(
            f"{window.describe()}: the window starts {days[0]}, but the agents need "
            f"{MIN_BARS} bars before the first decision: start on {room[0]} or later"
            + (f" (use at most --test-days {len(room)})" if window.start is None else "")
        )
    return days, calendar


def _fresh_dir(root: Path) -> Path:
    """``root/eval_YYYYMMDD_HHMMSS`` (with microseconds when that name is taken)."""
    now = dt.datetime.now()
    path = root / f"eval_{now:%Y%m%d_%H%M%S}"
    return root / f"eval_{now:%Y%m%d_%H%M%S_%f}" if path.exists() else path


def _with_baseline(sets: list[ModelSet]) -> list[ModelSet]:
    if any(s.is_baseline for s in sets):
        return sets
    name = "baseline" if all(s.name != "baseline" for s in sets) else "expert"
    return [*parse_model_sets([f"{name}:expert"]), *sets]


def _models_manifest(sets: Sequence[ModelSet]) -> dict[str, dict[str, Any]]:
    """Each set's manifest and its models' (without ``training``: the full config is in
    the model's own files), as their files say them."""
    out: dict[str, dict[str, Any]] = {}
    for s in sets:
        found = read_set_manifest(s.path) if s.path else None
        entries: dict[str, Any] = {"set": found.as_json() if found else {}}
        for agent, source in s.agents.items():
            if Path(source).is_dir():
                manifest = read_manifest(Path(source))
                shown = manifest.as_json(exclude={"training"}) if manifest else {}
                entries[agent] = {"path": source, **shown}
        out[s.name] = entries
    return out


@dataclass(frozen=True)
class _Inputs:
    """What an evaluation runs on, settled before any model answers."""

    app: AppConfig
    sets: list[ModelSet]
    prices: dict[str, pd.DataFrame]
    skipped: dict[str, str]
    window_days: list[dt.date]
    warnings: list[str]

    @property
    def start(self) -> dt.date:
        """The first test day."""
        return self.window_days[0]

    @property
    def end(self) -> dt.date:
        """The last test day."""
        return self.window_days[-1]


def _bars_inside(frame: pd.DataFrame, start: dt.date, end: dt.date) -> int:
    """How many of ``frame``'s bars lie between ``start`` and ``end`` (both included)."""
    return int(((frame.index >= pd.Timestamp(start)) & (frame.index <= pd.Timestamp(end))).sum())


def _inputs(
    specs: Sequence[str],
    symbols: Sequence[str],
    window: EvaluationWindow,
    config: AppConfig | str | Path | None,
) -> _Inputs:
    """Load the config, the model sets and the prices; settle the test window and warnings."""
    app = load_config(config)
    sets = _with_baseline(parse_model_sets(specs))
    prices, skipped = _prices(app, symbols)
    window_days, calendar = _window(prices, window)
    start, end = window_days[0], window_days[-1]
    for symbol, frame in list(prices.items()):  # a symbol needs two bars inside the window
        inside = _bars_inside(frame, start, end)
        if inside < 2:
            skipped[symbol] = f"{inside} bars between {start} and {end}"
            logger.warning("skipping %s: %s", symbol, skipped[symbol])
            del prices[symbol]
    if not prices:
        raise DataError(f"no symbol has two or more bars between {start} and {end}")
    warnings = check_test_window(sets, window_days, calendar)
    if len(window_days) < MIN_RELIABLE_DAYS:
        warnings.append(
            f"{len(window_days)} test days: the Sharpe intervals and signal metrics are "
            f"unreliable below about {MIN_RELIABLE_DAYS}"
        )
    return _Inputs(app, sets, prices, skipped, window_days, warnings)


def _run_sets(
    inputs: _Inputs,
    sources: Any,
    answers: AnswerCache | None,
    grader: Any,
    samples: int | None,
    progress: bool,
    backend: Backend = "serial",
    workers: int | None = None,
) -> list[SetRun]:
    """Run every model set over the test window, one progress bar each; with the ``ray``
    backend, each set's analysts answer on Ray first (``on_ray``)."""
    start, end, prices = inputs.start, inputs.end, inputs.prices
    in_window = sum(_bars_inside(f, start, end) for f in prices.values())
    runs: list[SetRun] = []
    shared: SharedAnswers = {}  # the analysts' answers, reused by the sets that share them
    with contextlib.ExitStack() as stack:
        bar = stack.enter_context(Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
            TimeRemainingColumn(), disable=not progress, transient=True,
        ))  # fmt: skip
        prefill = None
        if backend == "ray":  # one connection for every set
            stack.enter_context(ray_session(workers or os.cpu_count() or 1))
            prefill = RayAnalysts(workers or os.cpu_count() or 1, bar)
        for models in inputs.sets:
            task = bar.add_task(f"evaluating {models.name}", total=in_window)
            runs.append(
                run_model_set(
                    models,
                    inputs.app,
                    sources,
                    prices,
                    (start, end),
                    cache=answers,
                    judge=grader,
                    judge_samples=samples,
                    tick=lambda task=task: bar.advance(task),  # type: ignore[misc]
                    shared=shared,
                    prefill=prefill,
                )
            )
    return runs


def _results(
    inputs: _Inputs,
    runs: list[SetRun],
    sources: Any,
    *,
    judge: dict[str, Any],
    cache: dict[str, Any],
    command: dict[str, Any],
) -> EvaluationResults:
    """The results: every set against the baseline and buy-and-hold, and the manifest."""
    app, prices, start, end = inputs.app, inputs.prices, inputs.start, inputs.end
    free = app.backtest.model_copy(update={"commission_bps": 0.0, "slippage_bps": 0.0})
    bench = buy_and_hold(prices, app.backtest, start, end)
    bench_free = buy_and_hold(prices, free, start, end)
    per_symbol = {
        s: (buy_and_hold({s: f}, app.backtest, start, end), buy_and_hold({s: f}, free, start, end))
        for s, f in prices.items()
    }
    baseline = next(r for r in runs if r.models.is_baseline)
    horizon = app.agents.strategist.horizon_days
    return EvaluationResults(
        created=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        stockagents_version=__version__,
        window={
            "start": start.isoformat(),
            "end": end.isoformat(),
            "days": len(inputs.window_days),
        },
        symbols=list(prices),
        skipped_symbols=inputs.skipped,
        dates=[ts.date().isoformat() for ts in bench.equity.index],
        costs={
            "commission_bps": app.backtest.commission_bps,
            "slippage_bps": app.backtest.slippage_bps,
        },
        forward_horizon_days=horizon,
        criteria=app.deployment.model_dump(include=CRITERIA),
        bootstrap=BOOTSTRAP,
        judge=judge,
        sets=[
            set_result(
                run,
                prices=prices,
                horizon=horizon,
                criteria=app.deployment,
                baseline=baseline,
                benchmark=bench,
                bootstrap=BOOTSTRAP,
            )
            for run in runs
        ],
        comparisons=[
            compare(run, other, prices=prices, horizon=horizon, bootstrap=BOOTSTRAP)
            for run, other in comparison_pairs(runs)
        ],
        benchmark=benchmark_result(bench, bench_free, per_symbol, BOOTSTRAP),
        warnings=inputs.warnings,
        cache=cache,
        manifest=EvaluationManifest(
            code=code_fingerprint(),
            config=app.model_dump(mode="json"),
            data=EvaluationData(
                source=sources.prices.name,
                sha256=sources.prices.fingerprint(list(prices)),
                first_bar=min(f.index[0] for f in prices.values()).date().isoformat(),
                last_bar=max(f.index[-1] for f in prices.values()).date().isoformat(),
            ),
            models=_models_manifest(inputs.sets),
            command=command,
        ),
    )


def evaluate_models(
    specs: Sequence[str],
    *,
    symbols: Sequence[str] = ("AAPL", "MSFT", "GOOGL", "AMZN", "TSLA"),
    test_days: int | None = None,
    test_start: dt.date | None = None,
    test_end: dt.date | None = None,
    config: AppConfig | str | Path | None = None,
    output_root: Path = Path("evaluation_results"),
    output: Path | None = None,
    judge: str = "rules",
    judge_model: str | None = None,
    judge_base_url: str | None = None,
    judge_samples: int | None = None,
    cache: bool = True,
    progress: bool = True,
    backend: Backend = "serial",
    workers: int | None = None,
) -> Path:
    """Evaluate the model sets ``specs`` (see the module docstring); returns the directory.
    Without ``test_days``, ``test_start`` or ``test_end``, the last 90 trading days.
    ``backend="ray"`` answers the analysts on Ray (``RAY_ADDRESS``, else a local cluster of
    ``workers`` CPUs; ``evaluation.on_ray``): the same results, the backtests here."""
    if backend not in ("serial", "ray"):
        raise ConfigError(f"backend {backend!r}: choose serial or ray")
    if backend == "ray":
        require_ray()
    window = EvaluationWindow(test_days, test_start, test_end)
    inputs = _inputs(specs, symbols, window, config)
    grader = build_judge(judge, judge_model, judge_base_url)
    samples = judge_samples if judge_samples is not None else (None if judge == "rules" else 20)
    run_dir = output or _fresh_dir(output_root)
    answers = AnswerCache.at(output_root) if cache else None
    sources = build_sources(inputs.app.data)
    try:
        runs = _run_sets(inputs, sources, answers, grader, samples, progress, backend, workers)
    finally:
        hits, misses = (answers.hits, answers.misses) if answers else (0, 0)
        if answers is not None:
            answers.close()
        grader.close()
    results = _results(
        inputs,
        runs,
        sources,
        judge={"kind": getattr(grader, "name", judge), "samples": samples},
        cache={"enabled": cache, "hits": hits, "misses": misses},
        command={
            "models": list(specs),
            "symbols": list(symbols),
            "test_days": test_days,
            "test_start": str(test_start) if test_start else None,
            "test_end": str(test_end) if test_end else None,
        },
    )
    run_dir.mkdir(parents=True, exist_ok=True)
    write_json(run_dir / "evaluation_results.json", results.model_dump(mode="json"))
    plot_comparison(results, run_dir / "comparison_plots.png")
    (run_dir / "evaluation_report.md").write_text(render_report(results), encoding="utf-8")
    return run_dir

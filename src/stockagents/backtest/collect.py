"""Trajectory collection: run the coordinator over trading dates and store every step.

For each symbol and each (every ``k``-th) trading date in the range, the coordinator
analyses the symbol with what was known at that close; the step stores every agent's
input and output, the decision, forward returns at 1, 5, 10 and 20 days (from the next
open, computed from bars after ``as_of`` that no agent saw), the round-trip cost and a
baseline reward: ``direction * horizon_return - |direction| * cost`` with direction +1 for
BUY, -1 for SELL and 0 for HOLD. The RL stage shapes its own rewards from these columns.

Work is cut into chunks per symbol; each chunk is written in one transaction, so a run
that is killed keeps every finished chunk, and running again with the same output
directory inserts only what is missing. Chunks are spread over a process pool (default),
run in this process (``serial``), or run as Ray tasks (``ray``: the cluster ``RAY_ADDRESS``
names, else a local one of ``workers`` CPUs; ``backtest.on_ray``). Whatever the backend,
only this process writes to the library, and an insert skips a step already stored
(``(run_id, symbol, as_of)`` is unique), so a chunk computed twice (a Ray task run again
after its worker died) is stored once, and every backend stores the same rows.

The pool's workers die with the collecting process, even when it is killed with SIGKILL
and runs no cleanup of its own: on Linux the kernel kills each worker when its parent dies
(``PR_SET_PDEATHSIG``, set as the worker starts), and everywhere a thread in each worker
ends it once its parent has changed. The pool uses the ``spawn`` context (no fork of a
process that holds model threads), whose queues' semaphores start multiprocessing's
resource tracker; the tracker ends by itself when the last process holding its pipe (the
collector and its workers) is gone, so it does not outlive them either.
"""

from __future__ import annotations

import ctypes
import datetime as dt
import difflib
import hashlib
import json
import logging
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pandas as pd
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)

from stockagents import __version__
from stockagents.backtest.experience import ExperienceLibrary
from stockagents.backtest.on_ray import require_ray, run_on_ray
from stockagents.core.config import LONGEST_LABEL_HORIZON, AppConfig, load_config
from stockagents.core.errors import DataError, UnknownSymbolError
from stockagents.core.jsonio import dumps
from stockagents.core.manifests import CollectionCounts, TrajectoriesManifest, write_manifest
from stockagents.core.threads import cpu_threads
from stockagents.core.types import Action, AgentIO, ExperienceStep
from stockagents.data.factory import build_sources
from stockagents.data.splits import FORWARD_HORIZONS, DateSplits, compute_splits
from stockagents.features.observation import MIN_BARS
from stockagents.orchestration import SystemCoordinator

__all__ = ["Backend", "CollectionSummary", "collect_trajectories", "forward_returns"]

logger = logging.getLogger(__name__)

Backend = Literal["process", "serial", "ray"]
DB_NAME = "experience_library.db"
CHUNK_DAYS = 25

_COORDINATORS: dict[str, SystemCoordinator] = {}

_PR_SET_PDEATHSIG = 1  # linux/prctl.h


@dataclass
class CollectionSummary:
    """What a collection run did."""

    run_id: str
    output: Path
    symbols: list[str]
    skipped: dict[str, str]
    planned: int
    inserted: int
    already_present: int
    seconds: float
    actions: dict[str, int] = field(default_factory=dict)
    status: str = "complete"
    library: str | None = None

    @property
    def db_path(self) -> Path | str:
        """The library: ``output/experience_library.db``, or the database URL given."""
        return self.library or self.output / DB_NAME


def forward_returns(
    bars: pd.DataFrame, day: dt.date, horizons: Sequence[int]
) -> tuple[dict[int, float | None], pd.Timestamp]:
    """Returns from the open after ``day`` to the close ``h`` bars after it.

    ``bars`` holds the whole history; these are labels, never agent inputs.
    """
    index = bars.index
    pos = int(index.searchsorted(pd.Timestamp(day), side="right")) - 1
    out: dict[int, float | None] = {}
    if pos + 1 >= len(index):
        return {h: None for h in horizons}, index[pos]
    entry = float(bars["open"].iloc[pos + 1])
    closes = bars["close"].to_numpy()
    for h in horizons:
        out[h] = float(closes[pos + h] / entry - 1.0) if pos + h < len(index) else None
    return out, index[pos]


def _coordinator(config_json: str, models: str | None) -> SystemCoordinator:
    key = f"{config_json}|{models}"
    coordinator = _COORDINATORS.get(key)
    if coordinator is None:
        # training data comes from the agents asked for, never a deployed production set
        coordinator = SystemCoordinator(
            json.loads(config_json), models=models, use_production=False
        )
        _COORDINATORS[key] = coordinator
    return coordinator


def collect_chunk(
    config_json: str, run_id: str, symbol: str, days: list[str], models: str | None = None
) -> list[ExperienceStep]:
    """Analyse ``symbol`` on ``days`` and build the steps (runs in a worker)."""
    coordinator = _coordinator(config_json, models)
    prices = coordinator.sources.prices
    bars = prices.prices(symbol, as_of=prices.date_range(symbol)[1])
    bt = coordinator.config.backtest
    cost = 2 * (bt.commission_bps + bt.slippage_bps) / 1e4
    steps = []
    analyses = coordinator.analyze_many([(symbol, text, None) for text in days])
    for text, analysis in zip(days, analyses, strict=True):
        day = dt.date.fromisoformat(text)
        rec = analysis.recommendation
        decision = rec.decision
        horizons = sorted({*FORWARD_HORIZONS, decision.horizon_days})
        fwd, _ = forward_returns(bars, day, horizons)
        horizon_return = fwd[decision.horizon_days]
        direction = {Action.BUY: 1, Action.SELL: -1, Action.HOLD: 0}[decision.action]
        reward = (
            direction * horizon_return - abs(direction) * cost
            if horizon_return is not None
            else None
        )
        agents = {
            name: AgentIO(
                prompt=dumps(answer.prompt(), indent=None),
                output=answer.completion.text,
                payload=dumps(answer.payload(), indent=None),
                valid=answer.result.valid,
            )
            for name, answer in analysis.answers.items()
        }
        steps.append(
            ExperienceStep(
                run_id=run_id,
                symbol=symbol,
                as_of=day,
                data_date=rec.data_date,
                price=rec.price,
                agents=agents,
                decision=decision,
                forward_returns={h: fwd[h] for h in FORWARD_HORIZONS},
                horizon_return=horizon_return,
                cost=cost,
                reward=reward,
                model_versions=rec.model_versions,
            )
        )
    return steps


def _plan(
    config: AppConfig,
    symbols: Sequence[str],
    start: dt.date | None,
    end: dt.date | None,
    every: int,
    max_days: int | None,
) -> tuple[dict[str, list[dt.date]], dict[str, str], str, list[dt.date]]:
    sources = build_sources(config.data)
    plan: dict[str, list[dt.date]] = {}
    skipped: dict[str, str] = {}
    calendar: set[dt.date] = set()
    for raw in symbols:
        symbol = raw.strip().upper()
        try:
            first, last = sources.prices.date_range(symbol)
        except UnknownSymbolError:
            reason = f"no data in the {sources.prices.name} price source"
            close = difflib.get_close_matches(symbol, sources.prices.symbols(), n=1, cutoff=0.75)
            if close:
                reason += f" (did you mean {close[0]}?)"
            skipped[symbol] = reason
            logger.warning("skipping %s: %s", symbol, reason)
            continue
        except DataError as exc:  # a malformed file: name it, collect the others
            skipped[symbol] = str(exc)
            logger.warning("skipping %s: %s", symbol, exc)
            continue
        index = sources.prices.prices(symbol, as_of=last).index
        calendar.update(ts.date() for ts in index)
        eligible = index[MIN_BARS - 1 :]
        if start is not None:
            eligible = eligible[eligible >= pd.Timestamp(start)]
        if end is not None:
            if pd.Timestamp(end) > index[-1]:
                logger.warning("%s: data ends %s, before the requested end %s", symbol, last, end)
            eligible = eligible[eligible <= pd.Timestamp(end)]
        days = [ts.date() for ts in eligible[::every]]
        if max_days is not None:
            days = days[:max_days]
        if not days:
            skipped[symbol] = (
                f"no trading days from {start or 'the start'} to {end or 'the end'} "
                f"(data {first} to {last})"
            )
            logger.warning("skipping %s: %s", symbol, skipped[symbol])
            continue
        plan[symbol] = days
    if not plan:
        available = ", ".join(sources.prices.symbols()) or "none"
        details = "; ".join(f"{s}: {why}" for s, why in skipped.items())
        raise DataError(
            f"nothing to collect ({details}); available symbols: {available}, "
            f"dates {start or 'start'} to {end or 'end'}"
        )
    return plan, skipped, sources.prices.fingerprint(list(plan)), sorted(calendar)


def _chunks(
    plan: dict[str, list[dt.date]], done: set[tuple[str, dt.date]]
) -> Iterator[tuple[str, list[str]]]:
    for symbol, days in plan.items():
        todo = [d.isoformat() for d in days if (symbol, d) not in done]
        for i in range(0, len(todo), CHUNK_DAYS):
            yield symbol, todo[i : i + CHUNK_DAYS]


def _splits(calendar: list[dt.date], config: AppConfig) -> DateSplits | None:
    """The date splits of the run's calendar; None (with a warning) when it is too short."""
    horizon = max(LONGEST_LABEL_HORIZON, config.agents.strategist.horizon_days)
    try:
        return compute_splits(calendar, config.splits, max_horizon=horizon)
    except DataError as exc:
        logger.warning("steps get no train/validation/test segment: %s", exc)
        return None


def _run_ray(
    tasks: list[tuple[str, list[str]]],
    config_json: str,
    run_id: str,
    workers: int,
    models: str | None,
) -> Iterator[list[ExperienceStep]]:
    """Each chunk as one Ray task (``on_ray``): a task whose worker dies is run again, and
    only this process writes the steps, so the library holds each step once."""
    calls = [(config_json, run_id, symbol, days, models) for symbol, days in tasks]
    return run_on_ray(collect_chunk, calls, workers)


def _start_worker(parent: int, threads: int) -> None:
    """Pool initializer: give this worker its share of the CPUs (``threads`` for torch,
    unless ``OMP_NUM_THREADS`` was set: two workers each using every core run several times
    slower than one), and end it when ``parent`` (the collector) dies."""
    os.environ.setdefault("OMP_NUM_THREADS", str(threads))
    _die_with_parent(parent)


def _die_with_parent(parent: int) -> None:
    """End this worker when ``parent`` (the collector) dies.

    The kernel's parent-death signal follows the *thread* that started the worker; the
    pool starts its workers from the thread that submits the chunks, which waits for them
    all, so that thread outlives them."""
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
                logger.debug("prctl(PR_SET_PDEATHSIG): errno %d", ctypes.get_errno())
        except (OSError, AttributeError) as exc:  # no prctl here: the watcher still runs
            logger.debug("prctl(PR_SET_PDEATHSIG) unavailable: %s", exc)
    if os.getppid() != parent:  # it died before the signal was asked for
        os._exit(1)
    threading.Thread(target=_watch_parent, args=(parent,), name="watch-parent", daemon=True).start()


def _watch_parent(parent: int, every: float = 1.0) -> None:
    """End the process once its parent is no longer ``parent`` (it died; the orphan was
    handed to init or a subreaper)."""
    while os.getppid() == parent:
        time.sleep(every)
    os._exit(1)


def _run_pool(
    tasks: list[tuple[str, list[str]]],
    config_json: str,
    run_id: str,
    workers: int,
    models: str | None,
) -> Iterator[list[ExperienceStep]]:
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(
        max_workers=workers,
        mp_context=context,
        initializer=_start_worker,
        initargs=(os.getpid(), max(1, cpu_threads() // workers)),
    ) as pool:
        futures: set[Future[list[ExperienceStep]]] = {
            pool.submit(collect_chunk, config_json, run_id, symbol, days, models)
            for symbol, days in tasks
        }
        try:
            while futures:
                done, futures = wait(futures, return_when=FIRST_COMPLETED)
                for future in done:
                    yield future.result()
        finally:
            for future in futures:
                future.cancel()


def _check_options(every: int, max_days: int | None, workers: int | None, backend: str) -> None:
    """One clear error for a size below 1 or a backend that is not installed."""
    for name, value in (("every", every), ("max_days", max_days), ("workers", workers)):
        if value is not None and value < 1:
            raise DataError(f"{name} must be at least 1 (got {value})")
    if backend == "ray":
        require_ray()


def _signature(
    config: AppConfig,
    plan: dict[str, list[dt.date]],
    start: dt.date | None,
    end: dt.date | None,
    every: int,
    max_days: int | None,
    data_hash: str,
    models: str | None,
) -> dict[str, Any]:
    """What makes two collections the same run: a resume must match it exactly."""
    return {
        "symbols": list(plan),
        "start": str(start) if start else None,
        "end": str(end) if end else None,
        "every": every,
        "max_days": max_days,
        # where models are deployed does not change a decision
        "config_sha256": hashlib.sha256(
            config.model_dump_json(exclude={"deployment"}).encode()
        ).hexdigest(),
        "data_sha256": data_hash,
        "model_versions": _coordinator(config.model_dump_json(), models).model_versions,
        "models": models,
    }


def _open_library(
    output: Path, run_id: str, signature: dict[str, Any], target: str | None = None
) -> ExperienceLibrary:
    """The run's library (``target``, a URL, or ``output/experience_library.db``), refusing
    to resume a run collected with other settings."""
    output.mkdir(parents=True, exist_ok=True)
    library = ExperienceLibrary(target or output / DB_NAME)
    previous = library.run_info(run_id)
    if previous is not None and previous != signature:
        changed = sorted(k for k in signature if previous.get(k) != signature[k])
        library.close()
        raise DataError(
            f"{output}: run {run_id!r} was collected with other settings "
            f"({', '.join(changed)} differ); resume with the same ones or use a new --output"
        )
    return library


def _results(
    backend: Backend,
    tasks: list[tuple[str, list[str]]],
    config_json: str,
    run_id: str,
    workers: int,
    models: str | None,
) -> Iterator[list[ExperienceStep]]:
    """Each chunk's steps as ``backend`` computes them (here, on a pool or on Ray)."""
    if backend == "serial" or (backend == "process" and workers == 1):
        return (collect_chunk(config_json, run_id, s, d, models) for s, d in tasks)
    if backend == "ray":
        return _run_ray(tasks, config_json, run_id, workers, models)
    return _run_pool(tasks, config_json, run_id, workers, models)


def _progress_bar(shown: bool) -> Progress:
    return Progress(
        TextColumn("collecting"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        disable=not shown,
    )


def _store(
    library: ExperienceLibrary,
    results: Iterator[list[ExperienceStep]],
    splits: DateSplits | None,
    progress: Progress,
    task_id: TaskID,
) -> int:
    """Write each chunk's steps (with their segment) as it arrives; the rows inserted."""
    inserted = 0
    for steps in results:
        if splits is not None:
            steps = [
                step.model_copy(update={"segment": splits.segment_of(step.as_of)}) for step in steps
            ]
        inserted += library.add_steps(steps)
        progress.advance(task_id, len(steps))
    return inserted


def _finish(
    library: ExperienceLibrary, run_id: str, manifest: TrajectoriesManifest, output: Path
) -> CollectionCounts:
    """Record the run's end (complete or interrupted) in the library and the manifest."""
    library.finish_run(run_id, manifest.status or "interrupted")
    counts = CollectionCounts(
        steps=library.count(run_id),
        by_symbol=library.counts(run_id, "symbol"),
        actions=library.counts(run_id, "action"),
        by_segment=library.counts(run_id, "segment"),
    )
    manifest.updated_at = dt.datetime.now(dt.UTC).isoformat()
    manifest.counts = counts
    write_manifest(output / "manifest.json", manifest)
    library.close()
    return counts


def collect_trajectories(
    symbols: Sequence[str],
    start: dt.date | None,
    end: dt.date | None,
    output: Path,
    config: AppConfig | None = None,
    every: int = 1,
    max_days: int | None = None,
    backend: Backend = "process",
    workers: int | None = None,
    run_id: str | None = None,
    progress: bool = True,
    models: str | Path | None = None,
    library: str | None = None,
) -> CollectionSummary:
    """Collect decision steps into ``output/experience_library.db``, or into ``library``
    (a database URL such as ``postgresql+psycopg://...``: several runs, one database),
    resumably; the run's manifest stays in ``output``.

    Running again with the same ``output`` resumes: only missing steps are computed.
    A resume with other settings (config, symbols, dates, data) is refused, so one run
    never mixes steps made in different ways.
    """
    _check_options(every, max_days, workers, backend)
    config = load_config(config)
    started = time.perf_counter()
    plan, skipped, data_hash, calendar = _plan(config, symbols, start, end, every, max_days)
    splits = _splits(calendar, config)
    config_json = config.model_dump_json()
    models = str(models) if models is not None else None
    if models is not None and backend == "process" and workers is None:
        workers = 1  # each worker would load its own copy of the models
    signature = _signature(config, plan, start, end, every, max_days, data_hash, models)
    run_id = run_id or output.name
    store = _open_library(output, run_id, signature, library)
    done = store.existing(run_id)
    planned = sum(len(d) for d in plan.values())
    present = sum(1 for s, days in plan.items() for d in days if (s, d) in done)
    manifest = TrajectoriesManifest.model_validate(
        {
            "run_id": run_id,
            "stockagents_version": __version__,
            "created_at": dt.datetime.now(dt.UTC).isoformat(),
            **signature,
            "skipped": skipped,
            "backend": backend,
            "config": json.loads(config_json),
            "data": {"source": config.data.prices.provider, "sha256": data_hash},
            "splits": splits.to_dict() if splits is not None else None,
            "database": store.where if library else DB_NAME,
            "status": "interrupted",
        }
    )
    store.start_run(run_id, signature)
    tasks = list(_chunks(plan, done))
    workers = max(1, min(workers or (os.cpu_count() or 1), len(plan)))
    inserted = 0
    bar = _progress_bar(progress)
    try:
        with bar:
            task_id = bar.add_task("steps", total=planned, completed=present)
            results = _results(backend, tasks, config_json, run_id, workers, models)
            inserted = _store(store, results, splits, bar, task_id)
        manifest.status = "complete"
    finally:
        counts = _finish(store, run_id, manifest, output)
    status = manifest.status or "interrupted"
    return CollectionSummary(
        run_id=run_id,
        output=output,
        symbols=list(plan),
        skipped=skipped,
        planned=planned,
        inserted=inserted,
        already_present=present,
        seconds=time.perf_counter() - started,
        actions=dict(counts.actions),
        status=status,
        library=store.where if library else None,
    )

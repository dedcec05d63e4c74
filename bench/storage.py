"""Benchmark: inserts per second of the project's SQL stores on SQLite and PostgreSQL.

For each store and each backend, on an empty database:

- the experience library: ``add_steps`` of 2,000 steps in chunks of 50 (as a collection
  chunk writes them), then the same again (all duplicates: nothing inserted);
- the answer cache: 1,000 ``put`` calls, one transaction each, then 1,000 ``get``;
- the decision journal: 100 days of 6 decisions, one transaction a day.

PostgreSQL is the server ``$STOCKAGENTS_TEST_DATABASE_URL`` names (``.ci/postgres start
DIR`` prints one); without it only SQLite runs.

Run: ``python bench/storage.py``.
"""

from __future__ import annotations

import datetime as dt
import os
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa

from stockagents.backtest.experience import ExperienceLibrary
from stockagents.core.types import AgentIO, Decision, ExperienceStep
from stockagents.evaluation.cache import AnswerCache
from stockagents.monitoring.journal import Journal

START = dt.date(2015, 1, 1)


def _step(i: int) -> ExperienceStep:
    as_of = START + dt.timedelta(days=i)
    return ExperienceStep(
        run_id="bench", symbol=f"S{i % 20}", as_of=as_of, data_date=as_of, price=100.0,
        agents={"technical": AgentIO(prompt='{"rsi": 55}' * 20, output='{"signal": "bullish"}')},
        decision=Decision(symbol=f"S{i % 20}", as_of=as_of, action="BUY", position_size=0.1,
                          confidence=0.6, reasoning="composite above the threshold"),
        forward_returns={1: 0.01, 5: 0.02, 10: None, 20: None}, horizon_return=0.02,
        cost=0.002, reward=0.018, model_versions={"technical": "expert-3"},
    )  # fmt: skip


def _decision(day: dt.date, symbol: str) -> dict[str, object]:
    return {
        "day": day, "symbol": symbol, "release": "r1", "deployment": None, "data_date": day,
        "price": 100.0, "action": "HOLD", "position_size": 0.0, "confidence": 0.4,
        "stop_loss": None, "take_profit": None, "horizon_days": 5, "valid": True,
        "repairs": 0, "latency_ms": 1.0, "tokens": 0, "model_hashes": {}, "model_versions": {},
        "prompt_hashes": {}, "signals": {}, "features": {}, "reasoning": "r",
    }  # fmt: skip


def _timed(work: Callable[[], object]) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def _library(target: str) -> tuple[float, float]:
    library = ExperienceLibrary(target)
    steps = [_step(i) for i in range(2000)]
    chunks = [steps[i : i + 50] for i in range(0, len(steps), 50)]
    first = _timed(lambda: [library.add_steps(c) for c in chunks])
    again = _timed(lambda: [library.add_steps(c) for c in chunks])
    library.close()
    return 2000 / first, 2000 / again


def _cache(target: str) -> tuple[float, float]:
    cache = AnswerCache(target)

    def put_all() -> None:
        for i in range(1000):
            cache.put_json(f"k{i}", {"i": i})

    put = _timed(put_all)
    get = _timed(lambda: [cache.get_json(f"k{i}") for i in range(1000)])
    cache.close()
    return 1000 / put, 1000 / get


def _journal(target: str) -> float:
    journal = Journal(target)
    info = {"release": "r1", "deployment": None, "symbols": 6, "seconds": 0.1, "mode": "run"}
    days = [START + dt.timedelta(days=i) for i in range(100)]
    seconds = _timed(
        lambda: [
            journal.write_day(d, [_decision(d, f"S{j}") for j in range(6)], info) for d in days
        ]
    )
    journal.close()
    return 600 / seconds


def _fresh_postgres(url: str) -> tuple[str, Callable[[], None]]:
    name = f"bench_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    target = str(sa.make_url(url).set(database=name).render_as_string(hide_password=False))

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        admin.dispose()

    return target, drop


def main() -> None:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        backends: list[tuple[str, Callable[[str], tuple[str, Callable[[], None]]]]] = [
            ("SQLite", lambda what: (str(Path(tmp) / f"{what}.db"), lambda: None))
        ]
        url = os.environ.get("STOCKAGENTS_TEST_DATABASE_URL")
        if url:
            backends.append(("PostgreSQL", lambda what: _fresh_postgres(url)))
        for name, fresh in backends:
            target, drop = fresh("library")
            inserted, duplicate = _library(target)
            drop()
            target, drop = fresh("cache")
            put, get = _cache(target)
            drop()
            target, drop = fresh("journal")
            journal = _journal(target)
            drop()
            rows.append((name, inserted, duplicate, put, get, journal))
    print("| backend | library steps/s | library duplicates/s | cache puts/s | cache gets/s "
          "| journal decisions/s (a day a transaction) |")  # fmt: skip
    print("|---|---:|---:|---:|---:|---:|")
    for name, inserted, duplicate, put, get, journal in rows:
        print(f"| {name} | {inserted:,.0f} | {duplicate:,.0f} | {put:,.0f} | {get:,.0f} "
              f"| {journal:,.0f} |")  # fmt: skip
    if not url:
        print("PostgreSQL: set STOCKAGENTS_TEST_DATABASE_URL (.ci/postgres start DIR prints one)")


if __name__ == "__main__":
    main()

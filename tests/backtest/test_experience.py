from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path

import pytest

from stockagents.backtest.experience import SCHEMA_VERSION, ExperienceLibrary
from stockagents.core.errors import DataError
from stockagents.core.types import AgentIO, Decision, ExperienceStep


def _step(day: int, symbol: str = "AAPL", run_id: str = "r1") -> ExperienceStep:
    as_of = dt.date(2023, 6, day)
    return ExperienceStep(
        run_id=run_id,
        symbol=symbol,
        as_of=as_of,
        data_date=as_of,
        price=190.0,
        agents={"technical": AgentIO(prompt='{"rsi": 55}', output='{"signal": "bullish"}')},
        decision=Decision(
            symbol=symbol,
            as_of=as_of,
            action="BUY",
            position_size=0.1,
            confidence=0.6,
            reasoning="r",
        ),
        forward_returns={1: 0.01, 5: 0.02, 10: None, 20: None},
        horizon_return=0.02,
        cost=0.002,
        reward=0.018,
        model_versions={"technical": "expert-1"},
    )


def test_round_trip_and_idempotent_inserts(tmp_path: Path) -> None:
    library = ExperienceLibrary(tmp_path / "x.db")
    library.start_run("r1", {"symbols": ["AAPL"]})
    assert library.add_steps([_step(1), _step(2)]) == 2
    assert library.add_steps([_step(2), _step(3)]) == 1  # the duplicate is skipped
    assert library.count("r1") == 3
    assert library.existing("r1") == {("AAPL", dt.date(2023, 6, d)) for d in (1, 2, 3)}
    frame = library.frame(run_id="r1", start=dt.date(2023, 6, 2))
    assert list(frame["as_of"]) == [dt.date(2023, 6, 2), dt.date(2023, 6, 3)]
    row = frame.iloc[0]
    assert row["fwd_ret_5"] == pytest.approx(0.02)
    assert row["fwd_ret_10"] is None or row["fwd_ret_10"] != row["fwd_ret_10"]
    assert row["agents"]["technical"]["prompt"] == '{"rsi": 55}'
    assert row["decision"]["action"] == "BUY"
    library.finish_run("r1", "complete")
    assert library.runs()[0]["status"] == "complete"
    library.close()


def test_wal_and_schema_version(tmp_path: Path) -> None:
    path = tmp_path / "x.db"
    ExperienceLibrary(path).close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("SELECT value FROM meta").fetchone()[0] == str(SCHEMA_VERSION)
        conn.execute("UPDATE meta SET value = '999'")
    with pytest.raises(DataError, match="schema version 999"):
        ExperienceLibrary(path)


def test_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "junk.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(DataError, match="not a usable database"):
        ExperienceLibrary(path)


def test_runs_are_separate(tmp_path: Path) -> None:
    library = ExperienceLibrary(f"sqlite:///{tmp_path / 'y.db'}")
    library.add_steps([_step(1, run_id="a"), _step(1, run_id="b")])
    assert library.count("a") == library.count("b") == 1
    assert library.count() == 2

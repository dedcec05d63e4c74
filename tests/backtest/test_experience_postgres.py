"""The experience library on PostgreSQL (a fresh database per test; skipped without a
server: ``.ci/run`` starts one on loopback), behaving as it does on SQLite."""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from stockagents.backtest.experience import SCHEMA_VERSION, ExperienceLibrary
from stockagents.core.errors import DataError
from stockagents.core.types import ExperienceStep
from stockagents.data.splits import FORWARD_HORIZONS
from tests.backtest.test_experience import _step

pytestmark = pytest.mark.postgres


def _written(step: ExperienceStep) -> dict[str, Any]:
    """What ``frame()`` should give back for ``step`` (JSON columns decoded)."""
    d = step.decision
    return {
        "run_id": step.run_id,
        "symbol": step.symbol,
        "as_of": step.as_of,
        "data_date": step.data_date,
        "price": step.price,
        "action": d.action.value,
        "position_size": d.position_size,
        "confidence": d.confidence,
        "horizon_days": d.horizon_days,
        **{f"fwd_ret_{h}": step.forward_returns.get(h) for h in FORWARD_HORIZONS},
        "horizon_return": step.horizon_return,
        "cost": step.cost,
        "reward": step.reward,
        "agents": {k: v.model_dump() for k, v in step.agents.items()},
        "decision": json.loads(d.model_dump_json()),
        "model_versions": step.model_versions,
        "segment": step.segment,
    }


def _read(row: dict[str, Any]) -> dict[str, Any]:
    """A frame row without its id, missing values (NaN from pandas) as None."""
    return {
        k: None if isinstance(v, float) and math.isnan(v) else v
        for k, v in row.items()
        if k != "id"
    }


def test_round_trip_and_idempotent_inserts(postgres_db: str) -> None:
    library = ExperienceLibrary(postgres_db)
    assert library.engine.dialect.name == "postgresql"
    library.start_run("r1", {"symbols": ["AAPL"]})
    steps = [_step(1), _step(2), _step(3, symbol="MSFT")]
    assert library.add_steps(steps) == 3
    assert library.add_steps(steps) == 0  # the same (run_id, symbol, as_of) adds nothing
    assert library.add_steps([_step(2), _step(4)]) == 1  # only the new one
    assert library.count("r1") == 4
    assert library.existing("r1") == {
        ("AAPL", dt.date(2023, 6, 1)),
        ("AAPL", dt.date(2023, 6, 2)),
        ("MSFT", dt.date(2023, 6, 3)),
        ("AAPL", dt.date(2023, 6, 4)),
    }
    written = [*steps, _step(4)]
    frame = library.frame(run_id="r1")
    assert [_read(row) for row in frame.to_dict("records")] == [_written(s) for s in written]
    assert list(library.frame(run_id="r1", symbols=["MSFT"])["as_of"]) == [dt.date(2023, 6, 3)]
    assert len(library.frame(start=dt.date(2023, 6, 2), end=dt.date(2023, 6, 3))) == 2
    assert library.counts("r1", "symbol") == {"AAPL": 3, "MSFT": 1}
    library.close()


def test_same_frame_as_sqlite(postgres_db: str, tmp_path: Path) -> None:
    steps = [_step(1), _step(2, run_id="r2"), _step(2, symbol="MSFT")]
    frames = []
    for target in (postgres_db, tmp_path / "x.db"):
        library = ExperienceLibrary(target)
        library.add_steps(steps)
        frames.append(library.frame().drop(columns="id"))
        library.close()
    assert frames[0].to_dict("records") == frames[1].to_dict("records")


def test_runs(postgres_db: str) -> None:
    library = ExperienceLibrary(postgres_db)
    assert library.run_info("r1") is None
    library.start_run("r1", {"symbols": ["AAPL"], "start": dt.date(2023, 6, 1)})
    library.start_run("r1", {"ignored": True})  # an existing run is only marked running
    library.finish_run("r1", "complete")
    assert library.run_info("r1") == {"symbols": ["AAPL"], "start": "2023-06-01"}
    [run] = library.runs()
    assert (run["run_id"], run["status"]) == ("r1", "complete")
    library.add_steps([_step(1, run_id="a"), _step(1, run_id="b")])
    assert library.count("a") == library.count("b") == 1
    assert library.count() == 2
    library.close()


def test_reopen_and_schema_version(postgres_db: str) -> None:
    library = ExperienceLibrary(postgres_db)
    library.add_steps([_step(1)])
    library.close()
    library = ExperienceLibrary(postgres_db)  # the same version: opens, keeps the steps
    assert library.count() == 1
    with library.engine.begin() as conn:
        assert conn.execute(sa.text("SELECT value FROM meta")).scalar() == str(SCHEMA_VERSION)
        conn.execute(sa.text("UPDATE meta SET value = '999'"))
    library.close()
    with pytest.raises(DataError, match="schema version 999"):
        ExperienceLibrary(postgres_db)


def test_missing_database(postgres_db: str) -> None:
    url = sa.make_url(postgres_db).set(database="t_does_not_exist")
    with pytest.raises(DataError, match="not a usable database"):
        ExperienceLibrary(url.render_as_string(hide_password=False))


def test_collection_into_postgresql_through_the_cli(
    postgres_db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from stockagents.cli.main import main

    args = ["collect", "AAPL", "NVDA", "--start", "2023-08-01", "--end", "2023-08-31",
            "--backend", "serial", "--library", postgres_db]  # fmt: skip
    assert main([*args, "--output", str(tmp_path / "a")]) == 0
    printed = capsys.readouterr().out.replace("\n", "")  # the terminal may wrap the URL
    assert "experience library: postgresql+psycopg://" in printed
    assert not (tmp_path / "a" / "experience_library.db").exists()  # the steps are in the URL
    manifest = json.loads((tmp_path / "a" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["database"].startswith("postgresql+psycopg://")
    assert main([*args, "--output", str(tmp_path / "a")]) == 0  # a rerun resumes: nothing new
    library = ExperienceLibrary(postgres_db)
    frame = library.frame(run_id="a")
    assert len(frame) == 2 * 23  # two symbols x the 23 trading days of August 2023
    assert not frame.duplicated(["symbol", "as_of"]).any()

"""The decision journal on SQLite and PostgreSQL: a day is all or nothing and written once,
outcomes and verdicts are replaced, an action is claimed once, versions and migrations."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from stockagents.core.errors import MonitorError
from stockagents.monitoring import journal as journal_module
from stockagents.monitoring.broker import OrderRecord
from stockagents.monitoring.journal import Journal

DAY = dt.date(2023, 9, 1)


def _decision(symbol: str, day: dt.date = DAY, **changes: Any) -> dict[str, Any]:
    row = {
        "day": day, "symbol": symbol, "release": "r1", "deployment": "deployment_x",
        "data_date": day, "price": 100.0, "action": "BUY", "position_size": 0.1,
        "confidence": 0.6, "stop_loss": 95.0, "take_profit": 110.0, "horizon_days": 5,
        "valid": True, "repairs": 0, "latency_ms": 12.5, "tokens": 40,
        "model_hashes": {"strategist": "abc"}, "model_versions": {"strategist": "v1"},
        "prompt_hashes": {"strategist": "p1"}, "signals": {"technical": {"score": 0.3}},
        "features": {"rsi_14": 55.0}, "reasoning": "composite above the threshold",
    }  # fmt: skip
    row.update(changes)
    return row


_INFO = {"release": "r1", "deployment": None, "symbols": 2, "seconds": 1.0, "mode": "run"}


def _exercise(journal: Journal) -> None:
    order = OrderRecord(DAY, "AAPL", "simulated", "buy", 0.1, 0.1, "planned", "sa-2023-09-01-AAPL")
    assert journal.write_day(DAY, [_decision("AAPL"), _decision("MSFT")], _INFO, [order])
    assert not journal.write_day(DAY, [_decision("AAPL")], _INFO)  # the same day: nothing
    rows = journal.decisions()
    assert [r["symbol"] for r in rows] == ["AAPL", "MSFT"]
    assert rows[0]["model_hashes"] == {"strategist": "abc"}
    assert rows[0]["valid"] is True
    assert journal.has_day(DAY)
    assert journal.last_day() == DAY
    journal.set_outcomes({rows[0]["id"]: {"outcome_day": DAY + dt.timedelta(days=8),
                                          "forward_return": 0.02, "net_return": 0.019,
                                          "exit_reason": "signal"}})  # fmt: skip
    assert journal.decisions()[0]["net_return"] == pytest.approx(0.019)
    journal.write_orders([OrderRecord(DAY, "AAPL", "simulated", "buy", 0.1, 0.1, "filled",
                                      "sa-2023-09-01-AAPL", filled_price=101.0)])  # fmt: skip
    (stored,) = journal.orders()
    assert stored["status"] == "filled"
    assert stored["filled_price"] == 101.0
    first = journal.add_verdict(DAY, "r1", "watch", ["a"], {"sharpe": 0.1})
    again = journal.add_verdict(DAY, "r1", "degraded", ["b"], {"sharpe": -1.0})
    assert first == again
    assert [v["verdict"] for v in journal.verdicts()] == ["degraded"]
    assert journal.claim_action(again, DAY, "r1", "rollback") is not None
    assert journal.claim_action(again, DAY, "r1", "rollback") is None  # never twice
    journal.note_release({"release": "r1", "deployment": "d", "path": None, "hashes": {},
                          "evaluation": {"set": {"name": "x"}}, "first_day": DAY})  # fmt: skip
    journal.note_release({"release": "r1", "deployment": "other", "path": None, "hashes": {},
                          "evaluation": None, "first_day": DAY})  # fmt: skip
    assert journal.releases()["r1"]["evaluation"] == {"set": {"name": "x"}}


def test_the_journal_on_sqlite(tmp_path: Path) -> None:
    with Journal(tmp_path / "sub" / "journal.db") as journal:
        _exercise(journal)
        assert journal.schema_version == journal_module.SCHEMA_VERSION


@pytest.mark.postgres
def test_the_journal_on_postgresql(postgres_db: str) -> None:
    with Journal(postgres_db) as journal:
        _exercise(journal)
    with Journal(postgres_db) as journal:  # reopened: the same data
        assert len(journal.decisions()) == 2


def test_a_failed_write_leaves_no_part_of_the_day(tmp_path: Path) -> None:
    with Journal(tmp_path / "journal.db") as journal:
        broken = _decision("MSFT", action=None)  # NOT NULL: the insert fails mid-day
        with pytest.raises(sa.exc.IntegrityError):
            journal.write_day(DAY, [_decision("AAPL"), broken], _INFO)
        assert journal.decisions() == []
        assert journal.days() == []
        assert journal.write_day(DAY, [_decision("AAPL"), _decision("MSFT")], _INFO)


def test_a_newer_journal_is_refused_and_an_older_one_migrated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "journal.db"
    with Journal(path) as journal:
        journal.write_day(DAY, [_decision("AAPL")], _INFO)
    engine = sa.create_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE meta SET value = '7' WHERE key = 'schema_version'"))
    with pytest.raises(MonitorError, match="schema version 7, newer than this stockagents"):
        Journal(path)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE meta SET value = '1' WHERE key = 'schema_version'"))
    engine.dispose()

    applied: list[int] = []

    def add_note(conn: sa.Connection) -> None:
        applied.append(1)
        conn.execute(sa.text("ALTER TABLE days ADD COLUMN note TEXT"))

    monkeypatch.setattr(journal_module, "SCHEMA_VERSION", 2)
    monkeypatch.setattr(journal_module, "MIGRATIONS", {1: add_note})
    with Journal(path) as journal:
        assert journal.schema_version == 2
        assert len(journal.decisions()) == 1
    with Journal(path) as journal:  # migrated once
        assert journal.schema_version == 2
    assert applied == [1]
    monkeypatch.setattr(journal_module, "SCHEMA_VERSION", 3)
    with pytest.raises(MonitorError, match="version 2, which this stockagents cannot migrate"):
        Journal(path)


def test_a_journal_that_is_not_a_database_is_one_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "journal.db"
    path.write_text("not a database", encoding="utf-8")
    with pytest.raises(MonitorError, match=r"monitor.journal .*: not a usable database"):
        Journal(path)


def test_a_day_another_monitor_wrote_first_adds_nothing(tmp_path: Path) -> None:
    path = tmp_path / "journal.db"
    with Journal(path) as mine, Journal(path) as other:
        assert not mine.has_day(DAY)  # both find the day missing...
        assert other.write_day(DAY, [_decision("AAPL")], _INFO)  # ...the other writes first
        assert mine.write_day(DAY, [_decision("AAPL"), _decision("MSFT")], _INFO) is False
        assert [d["symbol"] for d in mine.decisions()] == ["AAPL"]

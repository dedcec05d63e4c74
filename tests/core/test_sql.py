"""Opening one new SQL store from several places at once: whoever loses the race to
create the tables or write the schema version looks again and finds them."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa

from stockagents.backtest.experience import ExperienceLibrary
from stockagents.core.errors import DataError, MonitorError
from stockagents.core.sql import open_engine, prepare_schema
from stockagents.evaluation.cache import AnswerCache
from stockagents.monitoring.journal import Journal

STORES = pytest.mark.parametrize(
    "store",
    [AnswerCache, ExperienceLibrary, Journal],
    ids=["answer-cache", "experience-library", "journal"],
)


def _integrity() -> sa.exc.IntegrityError:
    return sa.exc.IntegrityError("INSERT", {}, Exception("UNIQUE constraint failed: meta.key"))


ENGINE = sa.create_engine("postgresql+psycopg://trainer:s3cret@db-host:5432/stockagents")


def test_a_lost_race_is_prepared_again() -> None:
    calls: list[int] = []

    def prepare() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise (
                _integrity()
                if len(calls) == 1
                else sa.exc.OperationalError(
                    "CREATE TABLE answers", {}, Exception("table answers already exists")
                )
            )
        return "ready"

    assert prepare_schema(ENGINE, prepare, "answer cache", DataError) == "ready"
    assert len(calls) == 3


def test_other_database_errors_are_one_line_without_the_password() -> None:
    calls: list[int] = []
    reason = (
        'connection to server at "db-host" failed: Connection refused\n\tIs the server running?'
    )

    def prepare() -> None:
        calls.append(1)
        raise sa.exc.OperationalError("SELECT", {}, Exception(reason))

    with pytest.raises(DataError) as caught:
        prepare_schema(ENGINE, prepare, "experience library", DataError)
    assert len(calls) == 1  # not a race: not retried
    assert str(caught.value) == (
        "experience library postgresql+psycopg://trainer:***@db-host:5432/stockagents: "
        'not a usable database (connection to server at "db-host" failed: Connection refused)'
    )


def test_a_race_lost_every_time_is_the_stores_error() -> None:
    def prepare() -> None:
        raise _integrity()

    with pytest.raises(MonitorError, match="UNIQUE constraint failed"):
        prepare_schema(ENGINE, prepare, "monitor.journal", MonitorError, attempts=2)


def test_a_url_that_cannot_be_opened_hides_its_password() -> None:
    with pytest.raises(DataError) as caught:
        open_engine("nosuch://trainer:s3cret@db-host/x", "answer cache", DataError)
    assert "s3cret" not in str(caught.value)
    assert str(caught.value).startswith("answer cache nosuch://db-host/x: cannot open")


@STORES
def test_many_openers_of_one_new_store_all_succeed(
    tmp_path: Path, store: Callable[[str | Path], object]
) -> None:
    _open_at_once(store, tmp_path / "store.sqlite")


@pytest.mark.postgres
@STORES
def test_many_openers_of_one_new_postgres_store_all_succeed(
    postgres_db: str, store: Callable[[str | Path], object]
) -> None:
    _open_at_once(store, postgres_db)


def _open_at_once(store: Callable[[str | Path], object], target: str | Path) -> None:
    start = threading.Barrier(6)
    errors: list[BaseException] = []

    def open_it() -> None:
        start.wait()
        try:
            opened = store(target)
            opened.close()  # type: ignore[attr-defined]
        except BaseException as exc:  # collected for the assertion
            errors.append(exc)

    threads = [threading.Thread(target=open_it) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []

"""Opening one new SQL store from several places at once: whoever loses the race to
create the tables or write the schema version looks again and finds them."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa

from stockagents.backtest.experience import ExperienceLibrary
from stockagents.core.sql import prepare_schema
from stockagents.evaluation.cache import AnswerCache
from stockagents.monitoring.journal import Journal

STORES = pytest.mark.parametrize(
    "store",
    [AnswerCache, ExperienceLibrary, Journal],
    ids=["answer-cache", "experience-library", "journal"],
)


def _integrity() -> sa.exc.IntegrityError:
    return sa.exc.IntegrityError("INSERT", {}, Exception("UNIQUE constraint failed: meta.key"))


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

    assert prepare_schema(prepare) == "ready"
    assert len(calls) == 3


def test_other_database_errors_are_not_retried() -> None:
    calls: list[int] = []

    def prepare() -> None:
        calls.append(1)
        raise sa.exc.DatabaseError("SELECT", {}, Exception("file is not a database"))

    with pytest.raises(sa.exc.DatabaseError, match="not a database"):
        prepare_schema(prepare)
    assert len(calls) == 1


def test_a_race_lost_every_time_is_raised() -> None:
    def prepare() -> None:
        raise _integrity()

    with pytest.raises(sa.exc.IntegrityError):
        prepare_schema(prepare, attempts=2)


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

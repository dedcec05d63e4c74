"""The answer cache and the experience library on SQLite and PostgreSQL, with writers in
several processes at once: nothing lost, nothing twice."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from stockagents.backtest.experience import ExperienceLibrary
from stockagents.evaluation.cache import CACHE_VARIABLE, AnswerCache
from stockagents.orchestration import SystemCoordinator

REPO = Path(__file__).parents[2]


@pytest.fixture(scope="module")
def answer() -> object:
    with SystemCoordinator(models="expert") as coordinator:
        return coordinator.analyze_symbol("AAPL", "2023-09-01")


def _round_trip(cache: AnswerCache, answer: object) -> None:
    key = AnswerCache.key("AAPL", "2023-09-01")
    assert cache.get(key) is None
    cache.put(key, answer)  # type: ignore[arg-type]
    cache.put(key, answer)  # type: ignore[arg-type]  # again: replaced, not added
    assert cache.get(key) == answer
    cache.put_json("judge", {"evidence": 1})
    assert cache.get_json("judge") == {"evidence": 1}
    assert (cache.hits, cache.misses) == (1, 1)


def test_the_cache_on_sqlite(tmp_path: Path, answer: object) -> None:
    cache = AnswerCache(tmp_path / "cache" / "answers.sqlite")
    _round_trip(cache, answer)
    cache.close()
    again = AnswerCache(tmp_path / "cache" / "answers.sqlite")
    assert again.get(AnswerCache.key("AAPL", "2023-09-01")) == answer  # kept on disk
    again.close()


def test_the_cache_is_found_through_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert AnswerCache.at(tmp_path).target == tmp_path / ".cache" / "answers.sqlite"
    monkeypatch.setenv(CACHE_VARIABLE, str(tmp_path / "shared.sqlite"))
    assert AnswerCache.at(tmp_path).target == str(tmp_path / "shared.sqlite")


@pytest.mark.postgres
def test_the_cache_on_postgresql(postgres_db: str, answer: object) -> None:
    cache = AnswerCache(postgres_db)
    _round_trip(cache, answer)
    cache.close()


_WRITER = """
import sys
from stockagents.backtest.experience import ExperienceLibrary
from stockagents.evaluation.cache import AnswerCache
from tests.backtest.test_experience import _step
target, first, last = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
library = ExperienceLibrary(target)
for day in range(first, last):  # one insert per step: the writers interleave
    library.add_steps([_step(day % 28 + 1, symbol="AAPL" if day < 28 else "MSFT")])
cache = AnswerCache(target.replace("library", "cache") if "://" not in target else target)
for i in range(first, last):
    cache.put_json(f"k{i}", {"writer": first, "i": i})
"""


def _writers(target: str, tmp_path: Path) -> None:
    """Two processes write overlapping steps (days 10-40 and 20-50) at the same time."""
    env = {**os.environ, "PYTHONPATH": f"{REPO / 'src'}{os.pathsep}{REPO}"}
    script = textwrap.dedent(_WRITER)
    procs = [
        subprocess.Popen([sys.executable, "-c", script, target, str(a), str(b)], env=env,
                         stderr=subprocess.PIPE, text=True, cwd=REPO)
        for a, b in ((10, 40), (20, 50))
    ]  # fmt: skip
    for proc in procs:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err[-800:]


def _check(library: ExperienceLibrary, cache: AnswerCache) -> None:
    frame = library.frame()
    assert len(frame) == 40  # days 10..49: 18 + 22 distinct (symbol, as_of), none twice
    assert not frame.duplicated(["run_id", "symbol", "as_of"]).any()
    assert all(cache.get_json(f"k{i}") is not None for i in range(10, 50))


def test_two_writers_on_one_sqlite_file(tmp_path: Path) -> None:
    target = str(tmp_path / "library.db")
    _writers(target, tmp_path)
    _check(ExperienceLibrary(target), AnswerCache(tmp_path / "cache.db"))


@pytest.mark.postgres
def test_two_writers_on_one_postgresql_database(postgres_db: str, tmp_path: Path) -> None:
    _writers(postgres_db, tmp_path)
    _check(ExperienceLibrary(postgres_db), AnswerCache(postgres_db))

"""Shared fixtures: the real price sample, synthetic news/fundamentals files, builders."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from stockagents.data.factory import DataSources
from stockagents.data.fundamentals import FileFundamentalsProvider, NoFundamentalsProvider
from stockagents.data.news import JsonlNewsProvider, NoNewsProvider
from stockagents.data.sample import SamplePriceProvider
from stockagents.orchestration import SystemCoordinator

FIXTURES = Path(__file__).parent / "fixtures"

# Under pytest-xdist, one torch thread per worker (and per command a test starts): with
# a thread per core in every worker, OpenMP threads spin against each other and a tiny
# complete run takes 7x longer than alone (``core.threads`` honours the variable).
if int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")) > 1:
    os.environ.setdefault("OMP_NUM_THREADS", "1")

#: The fake OpenAI / Anthropic server (``server``) and ``no_keys`` fixtures.
pytest_plugins = ["tests.fake_api", "tests.fake_data_api"]

#: The longest units of work under pytest-xdist (``--dist loadscope``: a module, or a
#: class, runs on one worker), longest first: the guide's chain of runs, then the rest of
#: the guide beside it, then the suites that train tiny models or start subprocesses.
LONGEST_FIRST = (
    "tests/test_guide.py::TestInOrder",
    "tests/test_guide.py",
    "tests/pipelines/test_complete.py",
    "tests/training/test_rl.py",
    "tests/training/test_sft.py",
    "tests/deployment/test_deployer.py",
    "tests/deployment/test_kills.py",
    "tests/evaluation/test_evaluate.py",
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under pytest-xdist, hand out the longest work first, so that the workers finish
    together: the units in ``LONGEST_FIRST`` order, then the modules with slow tests, then
    the rest, each in collection order (pyproject's ``--no-loadscope-reorder`` keeps it)."""
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        return
    slow = {_unit(item) for item in items if item.get_closest_marker("slow")}

    def rank(item: pytest.Item) -> int:
        unit = _unit(item)
        if unit in LONGEST_FIRST:
            return LONGEST_FIRST.index(unit)
        return len(LONGEST_FIRST) + (0 if unit in slow else 1)

    items.sort(key=rank)


def _unit(item: pytest.Item) -> str:
    """What ``--dist loadscope`` sends to one worker: the item's module or class."""
    return item.nodeid.rsplit("::", 1)[0]


@pytest.fixture(scope="session", autouse=True)
def _model_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Built models (the tiny preset) go to a per-session cache, not the user's."""
    old = os.environ.get("STOCKAGENTS_CACHE_DIR")
    os.environ["STOCKAGENTS_CACHE_DIR"] = str(tmp_path_factory.mktemp("model-cache"))
    yield
    if old is None:
        os.environ.pop("STOCKAGENTS_CACHE_DIR", None)
    else:
        os.environ["STOCKAGENTS_CACHE_DIR"] = old


@pytest.fixture(autouse=True)
def models_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test's own models directory: a developer's deployed production set never
    answers in a test, and deployments in tests never touch the user's."""
    directory = tmp_path_factory.mktemp("models")
    monkeypatch.setenv("STOCKAGENTS_MODELS_DIR", str(directory))
    return directory


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    return FIXTURES


@pytest.fixture
def sample_sources() -> DataSources:
    return DataSources(SamplePriceProvider(), NoNewsProvider(), NoFundamentalsProvider())


@pytest.fixture
def full_sources() -> DataSources:
    """Sample prices with the synthetic news and fundamentals fixtures."""
    return DataSources(
        SamplePriceProvider(),
        JsonlNewsProvider(FIXTURES / "news_aapl.jsonl"),
        FileFundamentalsProvider(FIXTURES / "fundamentals.json"),
    )


@pytest.fixture
def coordinator(sample_sources: DataSources) -> Iterator[SystemCoordinator]:
    with SystemCoordinator(sources=sample_sources) as coord:
        yield coord


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """The PostgreSQL server of the tests marked ``postgres`` (``.ci/run`` starts one on
    loopback and sets STOCKAGENTS_TEST_DATABASE_URL); skips without a reachable one."""
    url = os.environ.get("STOCKAGENTS_TEST_DATABASE_URL")
    if not url:
        pytest.skip(
            "PostgreSQL tests need STOCKAGENTS_TEST_DATABASE_URL: .ci/run starts a server on loopback"
        )
    try:
        engine = sa.create_engine(url, connect_args={"connect_timeout": 10})
        with engine.connect():
            pass
        engine.dispose()
    except (sa.exc.SQLAlchemyError, ImportError) as exc:
        pytest.skip(f"PostgreSQL at STOCKAGENTS_TEST_DATABASE_URL: {str(exc).splitlines()[0]}")
    return url


@pytest.fixture
def postgres_db(postgres_url: str) -> Iterator[str]:
    """The URL of a new, empty database on that server, dropped after the test."""
    name = f"t_{uuid.uuid4().hex[:16]}"
    admin = sa.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        yield sa.make_url(postgres_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

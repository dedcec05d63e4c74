"""A cache of the agents' answers, so re-running an evaluation costs no model calls.

Each entry is one ``Recommendation`` (the decision, the three signals and every raw
completion) under a key that hashes everything that could change it: the package's own
code and prompts, the content of every model file the set loads, the config sections the
agents read, and the question (symbol, date, portfolio context, and everything the agents read then:
the observation's prices, indicators, news and filings). Change any of them and the entry
is simply not found. A model judge's verdicts are kept too, keyed by the judge, its
rubric and the graded answer. Entries live in one SQL table (an SQLite file by default,
PostgreSQL by URL through ``$STOCKAGENTS_ANSWER_CACHE``), written as they are made, so an
evaluation that is killed keeps what it had computed.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from stockagents.core.errors import DataError
from stockagents.core.registry import content_hash
from stockagents.core.sql import open_engine, prepare_schema, upsert
from stockagents.core.types import Recommendation

__all__ = ["AnswerCache", "code_fingerprint", "model_fingerprint"]

_PACKAGE = Path(__file__).resolve().parents[1]

#: The subpackages whose code shapes an answer (reports, training and the CLI do not).
ANSWERING_CODE = ("core", "data", "features", "llm", "agents", "orchestration")


@functools.lru_cache(maxsize=1)
def code_fingerprint() -> str:
    """A hash of the source, prompts and data files of ``ANSWERING_CODE``."""
    digest = hashlib.sha256()
    files = (f for part in ANSWERING_CODE for f in (_PACKAGE / part).rglob("*"))
    for file in sorted(files):
        if file.is_file() and file.suffix in (".py", ".md", ".json"):
            digest.update(str(file.relative_to(_PACKAGE)).encode())
            digest.update(file.read_bytes())
    return digest.hexdigest()[:16]


def model_fingerprint(agents: Mapping[str, str]) -> dict[str, str]:
    """Per agent: the hash of its model directory's files, or the entry itself
    (``expert``, a preset, an API model)."""
    out = {}
    for agent, entry in agents.items():
        path = Path(entry)
        out[agent] = content_hash(path) if path.is_dir() else entry
    return out


_metadata = sa.MetaData()
_answers = sa.Table(
    "answers",
    _metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

#: Where ``AnswerCache.at`` keeps the cache instead (a path or an SQLAlchemy URL).
CACHE_VARIABLE = "STOCKAGENTS_ANSWER_CACHE"


class AnswerCache:
    """``Recommendation`` by key, in ``target``: an SQLite file, or any SQLAlchemy URL
    (``postgresql+psycopg://...``, so evaluations on several machines share answers);
    safe across threads and processes (a key written twice keeps one row)."""

    def __init__(self, target: str | Path) -> None:
        self.target = target
        self.engine = open_engine(target, "answer cache", DataError)
        prepare_schema(
            self.engine, lambda: _metadata.create_all(self.engine), "answer cache", DataError
        )
        self.hits = 0
        self.misses = 0

    @classmethod
    def at(cls, output_root: Path) -> AnswerCache:
        """The cache of evaluations written under ``output_root`` (``.cache/answers.sqlite``),
        or the one ``$STOCKAGENTS_ANSWER_CACHE`` names."""
        return cls(os.environ.get(CACHE_VARIABLE) or output_root / ".cache" / "answers.sqlite")

    @staticmethod
    def key(*parts: Any) -> str:
        text = json.dumps(parts, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()

    def _read(self, key: str) -> str | None:
        with self.engine.connect() as conn:
            value: str | None = conn.execute(
                sa.select(_answers.c.value).where(_answers.c.key == key)
            ).scalar()
        return value

    def _write(self, key: str, value: str) -> None:
        with self.engine.begin() as conn:
            upsert(conn, _answers, [{"key": key, "value": value}], ["key"])

    def get(self, key: str) -> Recommendation | None:
        text = self._read(key)
        if text is None:
            self.misses += 1
            return None
        try:
            value = Recommendation.model_validate_json(text)
        except ValueError:  # written by another version of the contract: recompute
            self.misses += 1
            return None
        self.hits += 1
        return value

    def put(self, key: str, value: Recommendation) -> None:
        self._write(key, value.model_dump_json())

    def get_json(self, key: str) -> Any:
        """A JSON value stored with ``put_json`` (judge verdicts), or None."""
        text = self._read(key)
        return json.loads(text) if text is not None else None

    def put_json(self, key: str, value: Any) -> None:
        self._write(key, json.dumps(value))

    def close(self) -> None:
        self.engine.dispose()

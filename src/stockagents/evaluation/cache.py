"""A cache of the agents' answers, so re-running an evaluation costs no model calls.

Each entry is one ``Recommendation`` (the decision, the three signals and every raw
completion) under a key that hashes everything that could change it: the package's own
code and prompts, the content of every model file the set loads, the config sections the
agents read, and the question (symbol, date, portfolio context, and everything the agents read then:
the observation's prices, indicators, news and filings). Change any of them and the entry
is simply not found. A model judge's verdicts are kept too, keyed by the judge, its
rubric and the graded answer. Entries live in one SQLite file, written as they are made,
so an evaluation that is killed keeps what it had computed.
"""

from __future__ import annotations

import functools
import hashlib
import json
import sqlite3
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from stockagents.core.registry import content_hash
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


class AnswerCache:
    """``Recommendation`` by key, in ``path`` (an SQLite file); safe across threads."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS answers (key TEXT PRIMARY KEY, value TEXT)")
        self.hits = 0
        self.misses = 0

    @staticmethod
    def key(*parts: Any) -> str:
        text = json.dumps(parts, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()

    def get(self, key: str) -> Recommendation | None:
        with self._lock:
            row = self._db.execute("SELECT value FROM answers WHERE key = ?", (key,)).fetchone()
        if row is None:
            self.misses += 1
            return None
        try:
            value = Recommendation.model_validate_json(row[0])
        except ValueError:  # written by another version of the contract: recompute
            self.misses += 1
            return None
        self.hits += 1
        return value

    def put(self, key: str, value: Recommendation) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO answers (key, value) VALUES (?, ?)",
                (key, value.model_dump_json()),
            )

    def get_json(self, key: str) -> Any:
        """A JSON value stored with ``put_json`` (judge verdicts), or None."""
        with self._lock:
            row = self._db.execute("SELECT value FROM answers WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else None

    def put_json(self, key: str, value: Any) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO answers (key, value) VALUES (?, ?)",
                (key, json.dumps(value)),
            )

    def close(self) -> None:
        with self._lock:
            self._db.close()

"""Opening an SQL store by path or URL: what the experience library, the answer cache's
peers and the decision journal share.

``open_engine(target)`` takes a file path (an SQLite file, its folder created) or any
SQLAlchemy URL (``postgresql+psycopg://user@host/db``). SQLite connections use the WAL
journal and a 30 s busy timeout, so readers and one writer share a file across processes;
``synchronous`` is the caller's choice (``FULL`` where a committed row must survive a
power cut, ``NORMAL`` where a lost last transaction is redone). A URL it cannot use is
the caller's error type, with the fix. ``upsert`` inserts rows or replaces the ones with
the same key, in one statement on SQLite and PostgreSQL. ``prepare_schema`` runs a
store's set-up (create its tables, write its schema version) again when another process
did the same between the check and the write, which is how two writers open one new store,
and turns a database it cannot use into the store's one-line error. Messages show a URL
without its password.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from stockagents.core.errors import StockAgentsError
from stockagents.core.redact import redact_url

__all__ = ["open_engine", "prepare_schema", "shown_url", "sql_url", "upsert"]

T = TypeVar("T")


def sql_url(target: str | Path) -> str:
    """``target`` itself when it is a URL, else the URL of an SQLite file there."""
    text = str(target)
    return text if "://" in text else f"sqlite:///{Path(text)}"


def shown_url(engine: sa.Engine) -> str:
    """The engine's URL as messages and manifests show it: without its password."""
    return engine.url.render_as_string(hide_password=True)


def open_engine(
    target: str | Path,
    what: str,
    error: type[StockAgentsError],
    synchronous: Literal["NORMAL", "FULL"] = "NORMAL",
) -> sa.Engine:
    """An engine on ``target``; ``what`` names the store in ``error``'s message."""
    url = sql_url(target)
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    try:
        engine = sa.create_engine(url)
    except (sa.exc.ArgumentError, ImportError) as exc:
        raise error(
            f"{what} {redact_url(str(target))}: cannot open ({exc}); give a file path or an "
            "SQLAlchemy URL "
            "such as postgresql+psycopg://user@host/db (pip install 'stockagents[postgres]')"
        ) from None
    if engine.dialect.name == "sqlite":

        def pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA busy_timeout=30000")  # first: switching to WAL waits too
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA synchronous={synchronous}")
            cursor.close()

        sa.event.listen(engine, "connect", pragmas)
    return engine


def upsert(
    conn: sa.Connection,
    table: sa.Table,
    rows: Sequence[Mapping[str, Any]],
    keys: Sequence[str],
) -> None:
    """Insert ``rows`` into ``table``, replacing a row with the same ``keys`` (an
    autoincrement id keeps its value)."""
    if not rows:
        return
    dialect = conn.dialect.name
    insert: Any
    if dialect == "postgresql":
        insert = postgresql.insert(table)
    elif dialect == "sqlite":
        insert = sqlite.insert(table)
    else:  # any other database: one delete and insert a row, in the caller's transaction
        for row in rows:
            conn.execute(sa.delete(table).where(*(table.c[k] == row[k] for k in keys)))
            conn.execute(sa.insert(table).values(**row))
        return
    update = {
        c.name: insert.excluded[c.name]
        for c in table.columns
        if c.name not in keys and not c.primary_key
    }
    conn.execute(insert.on_conflict_do_update(index_elements=list(keys), set_=update), list(rows))


def _lost_a_race(exc: sa.exc.DBAPIError) -> bool:
    """Whether ``exc`` is another process having created the same table or row first (or,
    on SQLite, holding the file while it does: a read that would have to become a write)."""
    if isinstance(exc, sa.exc.IntegrityError):
        return True
    text = str(exc.orig).lower()
    return any(sign in text for sign in ("already exists", "duplicate", "database is locked"))


def prepare_schema(
    engine: sa.Engine,
    prepare: Callable[[], T],
    what: str,
    error: type[StockAgentsError],
    attempts: int = 5,
) -> T:
    """``prepare()``, run again (up to ``attempts`` times) when it lost a race with another
    process preparing the same store: its second look then finds what the other made. A
    database it cannot use (unreachable, not a database, refused) is ``error`` in one line:
    ``what``, the URL without its password, and the first line of the driver's reason."""
    for attempt in range(1, attempts + 1):
        try:
            return prepare()
        except sa.exc.DBAPIError as exc:
            if attempt < attempts and _lost_a_race(exc):
                time.sleep(0.05 * attempt)
                continue
            reason = (str(exc.orig).strip().splitlines() or [type(exc.orig).__name__])[0]
            raise error(f"{what} {shown_url(engine)}: not a usable database ({reason})") from None
    raise AssertionError("unreachable")  # pragma: no cover

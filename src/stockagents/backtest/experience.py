"""The experience library: every decision step of every collection run, in SQL.

SQLite (``experience_library.db``, WAL journal) by default; any SQLAlchemy URL such as
``postgresql+psycopg://...`` works the same way. The schema is versioned in the
``meta`` table; opening a library with another version is a clear error. Inserts are
idempotent on ``(run_id, symbol, as_of)``, so an interrupted collection resumes by
inserting what is missing and nothing twice.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from stockagents.core.errors import DataError
from stockagents.core.sql import open_engine, prepare_schema, shown_url
from stockagents.core.types import ExperienceStep
from stockagents.data.splits import FORWARD_HORIZONS

__all__ = ["SCHEMA_VERSION", "ExperienceLibrary"]

SCHEMA_VERSION = 1

_metadata = sa.MetaData()
_meta = sa.Table(
    "meta",
    _metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)
_runs = sa.Table(
    "runs",
    _metadata,
    sa.Column("run_id", sa.String(128), primary_key=True),
    sa.Column("created_at", sa.String(40), nullable=False),
    sa.Column("info", sa.Text, nullable=False),
    sa.Column("status", sa.String(32), nullable=False),
)
_steps = sa.Table(
    "steps",
    _metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.String(128), nullable=False, index=True),
    sa.Column("symbol", sa.String(32), nullable=False),
    sa.Column("as_of", sa.Date, nullable=False),
    sa.Column("data_date", sa.Date, nullable=False),
    sa.Column("price", sa.Float, nullable=False),
    sa.Column("action", sa.String(8), nullable=False),
    sa.Column("position_size", sa.Float, nullable=False),
    sa.Column("confidence", sa.Float, nullable=False),
    sa.Column("horizon_days", sa.Integer, nullable=False),
    *(sa.Column(f"fwd_ret_{h}", sa.Float, nullable=True) for h in FORWARD_HORIZONS),
    sa.Column("horizon_return", sa.Float, nullable=True),
    sa.Column("cost", sa.Float, nullable=False),
    sa.Column("reward", sa.Float, nullable=True),
    sa.Column("agents", sa.Text, nullable=False),
    sa.Column("decision", sa.Text, nullable=False),
    sa.Column("model_versions", sa.Text, nullable=False),
    sa.Column("segment", sa.String(16), nullable=True, index=True),
    sa.UniqueConstraint("run_id", "symbol", "as_of", name="uq_step"),
)


class ExperienceLibrary:
    """Read and write decision steps; ``target`` is a file path or a database URL."""

    def __init__(self, target: str | Path) -> None:
        self.engine = open_engine(target, "experience library", DataError)
        prepare_schema(self.engine, self._prepare, "experience library", DataError)

    def _prepare(self) -> None:
        _metadata.create_all(self.engine)
        with self.engine.begin() as conn:
            found = conn.execute(
                sa.select(_meta.c.value).where(_meta.c.key == "schema_version")
            ).scalar()
            if found is None:
                conn.execute(_meta.insert().values(key="schema_version", value=str(SCHEMA_VERSION)))
            elif int(found) != SCHEMA_VERSION:
                raise DataError(
                    f"experience library {self.where}: schema version {found}, this version "
                    f"of stockagents reads {SCHEMA_VERSION}; collect into a new file"
                )

    @property
    def where(self) -> str:
        """The library's URL without a password."""
        return shown_url(self.engine)

    def close(self) -> None:
        self.engine.dispose()

    def start_run(self, run_id: str, info: dict[str, Any]) -> None:
        """Record a run (or mark an existing one as running again)."""
        now = dt.datetime.now(dt.UTC).isoformat()
        with self.engine.begin() as conn:
            exists = conn.execute(sa.select(_runs.c.run_id).where(_runs.c.run_id == run_id)).first()
            if exists:
                conn.execute(
                    _runs.update().where(_runs.c.run_id == run_id).values(status="running")
                )
            else:
                conn.execute(
                    _runs.insert().values(
                        run_id=run_id,
                        created_at=now,
                        info=json.dumps(info, default=str),
                        status="running",
                    )
                )

    def finish_run(self, run_id: str, status: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(_runs.update().where(_runs.c.run_id == run_id).values(status=status))

    def runs(self) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(_runs)).mappings().all()
        return [{**row, "info": json.loads(row["info"])} for row in rows]

    def existing(self, run_id: str) -> set[tuple[str, dt.date]]:
        """The ``(symbol, as_of)`` pairs already stored for ``run_id``."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(_steps.c.symbol, _steps.c.as_of).where(_steps.c.run_id == run_id)
            ).all()
        return {(row[0], row[1]) for row in rows}

    def add_steps(self, steps: Sequence[ExperienceStep]) -> int:
        """Insert ``steps`` in one transaction, skipping any already stored; returns the count."""
        if not steps:
            return 0
        rows = [_row(step) for step in steps]
        dialect = self.engine.dialect.name
        if dialect == "sqlite":
            statement: Any = sqlite.insert(_steps).on_conflict_do_nothing()
        elif dialect == "postgresql":
            # With several rows, SQLAlchemy sends one INSERT ... VALUES and psycopg's
            # rowcount is -1: count the rows RETURNING gives back (the inserted ones).
            statement = postgresql.insert(_steps).on_conflict_do_nothing().returning(_steps.c.id)
        else:  # pragma: no cover - other databases: check, then insert
            statement = _steps.insert()
            have = self.existing(steps[0].run_id)
            rows = [r for r in rows if (r["symbol"], r["as_of"]) not in have]
            if not rows:
                return 0
        with self.engine.begin() as conn:
            result = conn.execute(statement, rows)
            if dialect == "postgresql":
                return len(result.all())
        return (
            int(result.rowcount)
            if result.rowcount is not None and result.rowcount >= 0
            else len(rows)
        )

    def run_info(self, run_id: str) -> dict[str, Any] | None:
        """The info recorded when ``run_id`` started, or None for a new run."""
        with self.engine.connect() as conn:
            info = conn.execute(sa.select(_runs.c.info).where(_runs.c.run_id == run_id)).scalar()
        return json.loads(info) if info is not None else None

    def counts(self, run_id: str, column: str) -> dict[str, int]:
        """Row counts of ``run_id`` grouped by ``column`` (symbol, action or segment)."""
        if column not in ("symbol", "action", "segment"):
            raise ValueError(f"cannot group by {column!r}")
        col = _steps.c[column]
        query = sa.select(col, sa.func.count()).where(_steps.c.run_id == run_id).group_by(col)
        with self.engine.connect() as conn:
            return {str(k): int(v) for k, v in conn.execute(query).all()}

    def count(self, run_id: str | None = None) -> int:
        query = sa.select(sa.func.count()).select_from(_steps)
        if run_id is not None:
            query = query.where(_steps.c.run_id == run_id)
        with self.engine.connect() as conn:
            return int(conn.execute(query).scalar() or 0)

    def frame(
        self,
        run_id: str | None = None,
        symbols: Iterable[str] | None = None,
        start: dt.date | None = None,
        end: dt.date | None = None,
    ) -> pd.DataFrame:
        """Steps as a DataFrame (JSON columns decoded), filtered as asked, by date."""
        query = sa.select(_steps).order_by(_steps.c.as_of, _steps.c.symbol)
        if run_id is not None:
            query = query.where(_steps.c.run_id == run_id)
        if symbols is not None:
            query = query.where(_steps.c.symbol.in_(list(symbols)))
        if start is not None:
            query = query.where(_steps.c.as_of >= start)
        if end is not None:
            query = query.where(_steps.c.as_of <= end)
        with self.engine.connect() as conn:
            frame = pd.DataFrame(conn.execute(query).mappings().all())
        if frame.empty:
            return pd.DataFrame(columns=[c.name for c in _steps.columns])
        for column in ("agents", "decision", "model_versions"):
            frame[column] = frame[column].map(json.loads)
        return frame


def _row(step: ExperienceStep) -> dict[str, Any]:
    d = step.decision
    row: dict[str, Any] = {
        "run_id": step.run_id,
        "symbol": step.symbol,
        "as_of": step.as_of,
        "data_date": step.data_date,
        "price": step.price,
        "action": d.action.value,
        "position_size": d.position_size,
        "confidence": d.confidence,
        "horizon_days": d.horizon_days,
        "horizon_return": step.horizon_return,
        "cost": step.cost,
        "reward": step.reward,
        "agents": json.dumps({k: v.model_dump() for k, v in step.agents.items()}),
        "decision": d.model_dump_json(),
        "model_versions": json.dumps(step.model_versions),
        "segment": step.segment,
    }
    for h in FORWARD_HORIZONS:
        row[f"fwd_ret_{h}"] = step.forward_returns.get(h)
    return row

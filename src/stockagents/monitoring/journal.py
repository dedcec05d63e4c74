"""The decision journal: every decision production made, what became of it, the paper
book, orders, verdicts, alerts and the actions taken, in SQL.

An SQLite file by default (WAL journal); any SQLAlchemy URL (``postgresql+psycopg://...``)
works the same way, with the same schema. The schema carries its version in ``meta``;
opening an older journal applies ``MIGRATIONS`` in order, in one transaction; a journal
newer than this code is refused with the fix.

Durability: a day's decisions are written in **one transaction** together with the row
in ``days`` that says the day is complete, so a run killed mid-day leaves nothing of that
day, and running the day again completes it; a day already in ``days`` is never written
again. Outcomes, the paper book and verdicts are recomputed from the decisions and the
prices, and replaced whole in one transaction each.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from stockagents.core.errors import MonitorError
from stockagents.core.jsonio import dumps
from stockagents.core.sql import open_engine, prepare_schema, shown_url, upsert
from stockagents.monitoring.broker import OrderRecord

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "Journal"]

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 1

#: ``MIGRATIONS[v]`` upgrades a journal from version ``v`` to ``v + 1`` (in a transaction).
MIGRATIONS: dict[int, Callable[[sa.Connection], None]] = {}

_metadata = sa.MetaData()
_meta = sa.Table(
    "meta",
    _metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)
_days = sa.Table(
    "days",
    _metadata,
    sa.Column("day", sa.Date, primary_key=True),
    sa.Column("release", sa.String(64), nullable=False),
    sa.Column("deployment", sa.String(128), nullable=True),
    sa.Column("symbols", sa.Integer, nullable=False),
    sa.Column("seconds", sa.Float, nullable=False),
    sa.Column("mode", sa.String(16), nullable=False),
    sa.Column("finished_at", sa.String(40), nullable=False),
)
_releases = sa.Table(
    "releases",
    _metadata,
    sa.Column("release", sa.String(64), primary_key=True),
    sa.Column("deployment", sa.String(128), nullable=True),
    sa.Column("path", sa.Text, nullable=True),
    sa.Column("hashes", sa.Text, nullable=False),
    sa.Column("evaluation", sa.Text, nullable=True),
    sa.Column("first_day", sa.Date, nullable=False),
)
_decisions = sa.Table(
    "decisions",
    _metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("day", sa.Date, nullable=False, index=True),
    sa.Column("symbol", sa.String(32), nullable=False),
    sa.Column("release", sa.String(64), nullable=False, index=True),
    sa.Column("deployment", sa.String(128), nullable=True),
    sa.Column("data_date", sa.Date, nullable=False),
    sa.Column("price", sa.Float, nullable=False),
    sa.Column("action", sa.String(8), nullable=False),
    sa.Column("position_size", sa.Float, nullable=False),
    sa.Column("confidence", sa.Float, nullable=False),
    sa.Column("stop_loss", sa.Float, nullable=True),
    sa.Column("take_profit", sa.Float, nullable=True),
    sa.Column("horizon_days", sa.Integer, nullable=False),
    sa.Column("valid", sa.Boolean, nullable=False),
    sa.Column("repairs", sa.Integer, nullable=False),
    sa.Column("latency_ms", sa.Float, nullable=False),
    sa.Column("tokens", sa.Integer, nullable=False),
    sa.Column("model_hashes", sa.Text, nullable=False),
    sa.Column("model_versions", sa.Text, nullable=False),
    sa.Column("prompt_hashes", sa.Text, nullable=False),
    sa.Column("signals", sa.Text, nullable=False),
    sa.Column("features", sa.Text, nullable=False),
    sa.Column("reasoning", sa.Text, nullable=False),
    sa.Column("outcome_day", sa.Date, nullable=True),
    sa.Column("forward_return", sa.Float, nullable=True),
    sa.Column("net_return", sa.Float, nullable=True),
    sa.Column("exit_reason", sa.String(32), nullable=True),
    sa.UniqueConstraint("day", "symbol", name="uq_decision"),
)
_book = sa.Table(
    "book",
    _metadata,
    sa.Column("day", sa.Date, primary_key=True),
    sa.Column("release", sa.String(64), nullable=False),
    sa.Column("equity", sa.Float, nullable=False),
    sa.Column("daily_return", sa.Float, nullable=False),
    sa.Column("positions", sa.Text, nullable=False),
)
_orders = sa.Table(
    "orders",
    _metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("day", sa.Date, nullable=False, index=True),
    sa.Column("symbol", sa.String(32), nullable=False),
    sa.Column("broker", sa.String(32), nullable=False),
    sa.Column("side", sa.String(8), nullable=False),
    sa.Column("quantity", sa.Float, nullable=False),
    sa.Column("target_weight", sa.Float, nullable=False),
    sa.Column("status", sa.String(24), nullable=False),
    sa.Column("broker_order_id", sa.String(64), nullable=True),
    sa.Column("filled_quantity", sa.Float, nullable=True),
    sa.Column("filled_price", sa.Float, nullable=True),
    sa.Column("reason", sa.Text, nullable=True),
)
_verdicts = sa.Table(
    "verdicts",
    _metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("day", sa.Date, nullable=False),
    sa.Column("release", sa.String(64), nullable=False, index=True),
    sa.Column("verdict", sa.String(16), nullable=False),
    sa.Column("reasons", sa.Text, nullable=False),
    sa.Column("metrics", sa.Text, nullable=False),
    sa.UniqueConstraint("day", "release", name="uq_verdict"),
)
_alerts = sa.Table(
    "alerts",
    _metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("day", sa.Date, nullable=False),
    sa.Column("release", sa.String(64), nullable=False),
    sa.Column("previous", sa.String(16), nullable=True),
    sa.Column("verdict", sa.String(16), nullable=False),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("delivery", sa.Text, nullable=False),
    sa.Column("created_at", sa.String(40), nullable=False),
)
_actions = sa.Table(
    "actions",
    _metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("verdict_id", sa.Integer, nullable=False, unique=True),
    sa.Column("day", sa.Date, nullable=False),
    sa.Column("release", sa.String(64), nullable=False),
    sa.Column("action", sa.String(16), nullable=False),
    sa.Column("outcome", sa.String(16), nullable=False),
    sa.Column("deployment", sa.String(128), nullable=True),
    sa.Column("detail", sa.Text, nullable=False),
    sa.Column("created_at", sa.String(40), nullable=False),
)

#: The columns that hold JSON text.
_JSON = {
    "model_hashes", "model_versions", "prompt_hashes", "signals", "features", "positions",
    "reasons", "metrics", "hashes", "evaluation",
}  # fmt: skip
#: The outcome columns ``update`` fills.
OUTCOME_COLUMNS = ("outcome_day", "forward_return", "net_return", "exit_reason")


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _encode(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        k: dumps(v, indent=None) if k in _JSON and not isinstance(v, str) else v
        for k, v in row.items()
    }


def _decode(row: Mapping[Any, Any]) -> dict[str, Any]:
    return {k: json.loads(v) if k in _JSON and isinstance(v, str) else v for k, v in row.items()}


class Journal:
    """The decision journal at ``target`` (a path or an SQLAlchemy URL)."""

    def __init__(self, target: str | Path) -> None:
        self.engine = open_engine(target, "monitor.journal", MonitorError, "FULL")
        prepare_schema(self.engine, self._prepare, "monitor.journal", MonitorError)

    @property
    def where(self) -> str:
        """The journal's URL without a password."""
        return shown_url(self.engine)

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # -- schema -----------------------------------------------------------------------

    def _prepare(self) -> None:
        with self.engine.begin() as conn:
            value = None
            if sa.inspect(conn).has_table("meta"):
                value = conn.execute(
                    sa.select(_meta.c.value).where(_meta.c.key == "schema_version")
                ).scalar()
            if value is None:  # a new journal (or one another process is creating now)
                _metadata.create_all(conn)
                conn.execute(sa.insert(_meta).values(key="schema_version", value="1"))
                version = 1
            else:
                version = int(value)
            if version > SCHEMA_VERSION:
                raise MonitorError(
                    f"the journal {self.where} has schema version {version}, newer than this "
                    f"stockagents ({SCHEMA_VERSION}); upgrade stockagents or use another journal"
                )
            while version < SCHEMA_VERSION:
                migrate = MIGRATIONS.get(version)
                if migrate is None:
                    raise MonitorError(
                        f"the journal {self.where} has schema version {version}, which this "
                        "stockagents cannot migrate; start a new journal"
                    )
                migrate(conn)
                version += 1
                logger.info("journal %s migrated to schema version %d", self.where, version)
            conn.execute(
                sa.update(_meta).where(_meta.c.key == "schema_version").values(value=str(version))
            )
            _metadata.create_all(conn)  # tables a migration left for create_all

    @property
    def schema_version(self) -> int:
        with self.engine.connect() as conn:
            value = conn.execute(
                sa.select(_meta.c.value).where(_meta.c.key == "schema_version")
            ).scalar()
        return int(value or 0)

    # -- releases ---------------------------------------------------------------------

    def note_release(self, row: Mapping[str, Any]) -> None:
        """Keep what a release is (its models, its deployment evaluation) the first time it
        answers; a later sighting changes nothing."""
        with self.engine.begin() as conn:
            found = conn.execute(
                sa.select(_releases.c.release).where(_releases.c.release == row["release"])
            ).first()
            if found is None:
                conn.execute(sa.insert(_releases).values(**_encode(row)))

    def releases(self) -> dict[str, dict[str, Any]]:
        """Every release that answered, by key, oldest first."""
        with self.engine.connect() as conn:
            query = sa.select(_releases).order_by(_releases.c.first_day)
            rows = conn.execute(query).mappings().all()
        return {r["release"]: _decode(r) for r in rows}

    # -- days and decisions -------------------------------------------------------------

    def has_day(self, day: dt.date) -> bool:
        with self.engine.connect() as conn:
            return (
                conn.execute(sa.select(_days.c.day).where(_days.c.day == day)).first() is not None
            )

    def write_day(
        self,
        day: dt.date,
        decisions: Sequence[Mapping[str, Any]],
        info: Mapping[str, Any],
        orders: Sequence[OrderRecord] = (),
    ) -> bool:
        """Write a whole day (its decisions, the orders made, and its row in ``days``) in
        one transaction; False (nothing written) when the day is journaled already, by
        this process or by another that wrote it first."""
        try:
            with self.engine.begin() as conn:
                if conn.execute(sa.select(_days.c.day).where(_days.c.day == day)).first():
                    return False
                if decisions:
                    conn.execute(sa.insert(_decisions), [_encode(d) for d in decisions])
                upsert(conn, _orders, [o.as_row() for o in orders], ["key"])
                conn.execute(sa.insert(_days).values(day=day, finished_at=_now(), **info))
        except sa.exc.IntegrityError:
            if self.has_day(day):  # another monitor journaled it meanwhile
                return False
            raise
        return True

    def days(self) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(_days).order_by(_days.c.day)).mappings().all()
        return [dict(r) for r in rows]

    def last_day(self) -> dt.date | None:
        with self.engine.connect() as conn:
            value: dt.date | None = conn.execute(sa.select(sa.func.max(_days.c.day))).scalar()
        return value

    def decisions(
        self, release: str | None = None, since: dt.date | None = None
    ) -> list[dict[str, Any]]:
        """Decisions in day order (then symbol), JSON columns decoded."""
        query = sa.select(_decisions).order_by(_decisions.c.day, _decisions.c.symbol)
        if release is not None:
            query = query.where(_decisions.c.release == release)
        if since is not None:
            query = query.where(_decisions.c.day >= since)
        with self.engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        return [_decode(r) for r in rows]

    def set_outcomes(self, outcomes: Mapping[int, Mapping[str, Any]]) -> None:
        """Fill the outcome columns of decisions by id, in one transaction."""
        if not outcomes:
            return
        with self.engine.begin() as conn:
            for ident, values in outcomes.items():
                conn.execute(sa.update(_decisions).where(_decisions.c.id == ident).values(**values))

    # -- book and orders --------------------------------------------------------------

    def replace_book(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """The paper book, day by day, replaced whole."""
        with self.engine.begin() as conn:
            conn.execute(sa.delete(_book))
            if rows:
                conn.execute(sa.insert(_book), [_encode(r) for r in rows])

    def book(self) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(_book).order_by(_book.c.day)).mappings().all()
        return [_decode(r) for r in rows]

    def write_orders(self, orders: Iterable[OrderRecord]) -> None:
        """Insert orders, or replace the record of one with the same key."""
        with self.engine.begin() as conn:
            upsert(conn, _orders, [o.as_row() for o in orders], ["key"])

    def orders(self, since: dt.date | None = None) -> list[dict[str, Any]]:
        query = sa.select(_orders).order_by(_orders.c.day, _orders.c.symbol)
        if since is not None:
            query = query.where(_orders.c.day >= since)
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(query).mappings().all()]

    # -- verdicts, alerts, actions ------------------------------------------------------

    def add_verdict(
        self,
        day: dt.date,
        release: str,
        verdict: str,
        reasons: Sequence[str],
        metrics: Mapping[str, Any],
    ) -> int:
        """Record ``release``'s verdict on ``day`` (replacing one of the same day); its id."""
        row = _encode(
            {"day": day, "release": release, "verdict": verdict, "reasons": list(reasons),
             "metrics": dict(metrics)}
        )  # fmt: skip
        with self.engine.begin() as conn:
            upsert(conn, _verdicts, [row], ["day", "release"])
            ident: int = conn.execute(
                sa.select(_verdicts.c.id).where(
                    _verdicts.c.day == day, _verdicts.c.release == release
                )
            ).scalar_one()
        return ident

    def verdicts(self, release: str | None = None) -> list[dict[str, Any]]:
        query = sa.select(_verdicts).order_by(_verdicts.c.day, _verdicts.c.id)
        if release is not None:
            query = query.where(_verdicts.c.release == release)
        with self.engine.connect() as conn:
            return [_decode(r) for r in conn.execute(query).mappings().all()]

    def add_alert(self, **row: Any) -> None:
        with self.engine.begin() as conn:
            conn.execute(sa.insert(_alerts).values(created_at=_now(), **row))

    def alerts(self) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            query = sa.select(_alerts).order_by(_alerts.c.id)
            return [dict(r) for r in conn.execute(query).mappings().all()]

    def claim_action(self, verdict_id: int, day: dt.date, release: str, action: str) -> int | None:
        """Claim the one action a verdict may cause: the action's id, or None when one was
        claimed for this verdict already (by this process or another)."""
        try:
            with self.engine.begin() as conn:
                result = conn.execute(
                    sa.insert(_actions).values(
                        verdict_id=verdict_id,
                        day=day,
                        release=release,
                        action=action,
                        outcome="started",
                        detail="",
                        created_at=_now(),
                    )
                )
                key = result.inserted_primary_key
                return int(key[0]) if key else None
        except sa.exc.IntegrityError:
            return None

    def finish_action(
        self, ident: int, outcome: str, detail: str, deployment: str | None = None
    ) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                sa.update(_actions)
                .where(_actions.c.id == ident)
                .values(outcome=outcome, detail=detail, deployment=deployment)
            )

    def actions(self) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            query = sa.select(_actions).order_by(_actions.c.id)
            return [dict(r) for r in conn.execute(query).mappings().all()]

"""``Monitor``: the production loop. ``run`` a day, ``update`` outcomes and verdicts,
``replay`` past days as if live, ``status`` for the CLI and ``/monitor``.

- ``run(as_of)`` analyses the watchlist with production (the deployed release, or the
  expert rules when nothing is deployed) on what was known at the close of ``as_of``,
  each symbol against the position the paper book holds, sends the day's targets to the
  broker and journals the day in one transaction (``journal``). A day journaled already
  is left as it is.
- ``update(as_of)`` fills the outcomes whose horizon has passed by ``as_of``, rebuilds the
  paper book, collects the broker's fills, judges every release that answered in the
  window (``health``), raises an alert on each verdict change (``alerts``), and, with
  ``on_degraded: rollback``, rolls production back through ``ModelDeployer`` when the
  release in production turns ``degraded``: once per verdict change, recorded in the
  journal's ``actions`` (claimed before it runs, so two monitors cannot both act).
- ``replay(start, end)`` is ``run`` then ``update`` for each trading day in order; every
  step reads prices cut at its day, so a replay sees what a live run would have seen.

A release is keyed by its model set's identity (``core.registry.set_identity``): a
rollback to an earlier set continues that set's record.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pandas as pd

from stockagents.backtest.engine import target_weight
from stockagents.core.config import AppConfig, load_config
from stockagents.core.errors import DataError, MonitorError, StockAgentsError
from stockagents.core.jsonio import dumps, jsonable
from stockagents.core.registry import (
    production_manifest,
    production_models,
    release_evaluation,
    set_identity,
)
from stockagents.core.types import PortfolioContext
from stockagents.data.factory import DataSources, build_sources
from stockagents.deployment import ModelDeployer
from stockagents.monitoring.alerts import send_webhook
from stockagents.monitoring.book import (
    PaperBook,
    decision_of,
    outcomes,
    positions_at,
    replay_book,
)
from stockagents.monitoring.broker import Broker, OrderRecord, SimulatedBroker
from stockagents.monitoring.health import (
    DRIFT_FEATURES,
    Health,
    drift,
    drift_reference,
    judge,
    live_metrics,
)
from stockagents.monitoring.journal import Journal
from stockagents.orchestration import SystemCoordinator
from stockagents.orchestration.coordinator import Analysis

__all__ = ["DayResult", "Monitor", "Release"]

logger = logging.getLogger(__name__)

EXPERT = "expert"


@dataclass(frozen=True)
class Release:
    """What production is: its key (the model set's identity, or ``expert``), the
    deployment that installed it, its directory and its deployment evaluation."""

    key: str
    deployment: str | None
    path: Path | None
    hashes: dict[str, str]
    evaluation: dict[str, Any] | None


@dataclass(frozen=True)
class DayResult:
    """What ``run`` did for one day."""

    day: dt.date
    written: bool
    release: str
    decisions: int
    seconds: float
    orders: int = 0


def _hash(value: Any) -> str:
    return hashlib.sha256(dumps(value, indent=None).encode()).hexdigest()[:16]


class Monitor:
    """The production monitor of ``config`` (``AppConfig``, a YAML path or None).

    ``sources`` overrides the configured data (tests, notebooks); ``broker`` the
    configured broker; ``before_write(day)`` is called after a day is analysed and
    before it is journaled (tests stop a run there).
    """

    def __init__(
        self,
        config: AppConfig | str | Path | None = None,
        *,
        sources: DataSources | None = None,
        broker: Broker | None = None,
        journal: str | Path | None = None,
        before_write: Callable[[dt.date], None] | None = None,
    ) -> None:
        self.config = load_config(config)
        self.settings = self.config.monitor
        self.models_dir = Path(self.config.deployment.models_dir)
        self.sources = sources or build_sources(self.config.data)
        self.journal = Journal(journal or self.settings.journal)
        self._broker = broker
        self.before_write = before_write or (lambda day: None)
        self._coordinators: dict[str, SystemCoordinator] = {}
        self._reference: tuple[dt.date, dict[str, Any]] | None = None

    def close(self) -> None:
        self._coordinators.clear()
        self.journal.close()

    def __enter__(self) -> Monitor:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # -- what is watched --------------------------------------------------------------

    def watchlist(self) -> list[str]:
        """The configured symbols (every symbol the price source has when none)."""
        known = self.sources.prices.symbols()
        wanted = list(self.settings.watchlist) or known
        missing = [s for s in wanted if s not in known]
        if missing:
            raise self.sources.prices.unknown(missing[0])
        return wanted

    def calendar(self) -> list[dt.date]:
        """The trading days of the watchlist's data."""
        days: set[dt.date] = set()
        for symbol in self.watchlist():
            start, end = self.sources.prices.date_range(symbol)
            frame = self.sources.prices.prices(symbol, as_of=end, start=start)
            days.update(ts.date() for ts in frame.index)
        return sorted(days)

    def latest_day(self) -> dt.date:
        """The last close the data has: what a run after today's close analyses."""
        return max(self.sources.prices.date_range(s)[1] for s in self.watchlist())

    def prices(self, as_of: dt.date) -> dict[str, pd.DataFrame]:
        """Every watched symbol's bars up to the close of ``as_of`` (nothing later)."""
        out = {}
        for symbol in self.watchlist():
            start, end = self.sources.prices.date_range(symbol)
            if start <= as_of:
                out[symbol] = self.sources.prices.prices(symbol, as_of=min(as_of, end), start=start)
        return out

    def release(self) -> Release:
        """Production now (resolved once), or the expert rules when nothing is deployed."""
        path = production_models(self.models_dir)
        if path is None:
            return Release(EXPERT, None, None, {}, None)
        manifest = production_manifest(self.models_dir)
        identity = set_identity(path) or EXPERT
        return Release(
            key=identity,
            deployment=manifest.deployment if manifest else None,
            path=path,
            hashes=dict(manifest.hashes) if manifest else {},
            evaluation=release_evaluation(path),
        )

    def broker(self) -> Broker:
        if self._broker is None:
            if self.settings.broker == "alpaca-paper":
                from stockagents.monitoring.alpaca import AlpacaPaperBroker

                self._broker = AlpacaPaperBroker(self.settings.alpaca)
            else:
                self._broker = SimulatedBroker()
        return self._broker

    def _coordinator(self, release: Release) -> SystemCoordinator:
        coordinator = self._coordinators.get(release.key)
        if coordinator is None:
            models = str(release.path) if release.path else EXPERT
            coordinator = SystemCoordinator(self.config, sources=self.sources, models=models)
            self._coordinators = {release.key: coordinator}  # one set in memory at a time
        return coordinator

    # -- the daily run ----------------------------------------------------------------

    def run(self, as_of: dt.date | None = None, *, mode: str = "run") -> DayResult:
        """Analyse and journal ``as_of`` (default: the last close in the data)."""
        day = as_of or self.latest_day()
        release = self.release()
        if self.journal.has_day(day):
            logger.info("%s is journaled already; nothing to do", day)
            return DayResult(day, False, release.key, 0, 0.0)
        started = time.perf_counter()
        prices = self.prices(day)
        symbols = [s for s, frame in prices.items() if len(frame) and frame.index[-1].date() == day]
        if not symbols:
            raise DataError(f"no watched symbol has a bar on {day}; pick a trading day in the data")
        books = positions_at(prices, self.journal.decisions(), self.config.backtest, day)
        coordinator = self._coordinator(release)
        asks = [(s, day, books.get(s, PortfolioContext())) for s in symbols]
        analyses = coordinator.analyze_many(asks)
        rows = [self._row(a, release, day) for a in analyses]
        orders = self._orders(day, rows, books, prices)
        seconds = time.perf_counter() - started
        self.before_write(day)
        self.journal.note_release(
            {"release": release.key, "deployment": release.deployment,
             "path": str(release.path) if release.path else None, "hashes": release.hashes,
             "evaluation": release.evaluation, "first_day": day}
        )  # fmt: skip
        info = {
            "release": release.key, "deployment": release.deployment, "symbols": len(rows),
            "seconds": round(seconds, 3), "mode": mode,
        }  # fmt: skip
        written = self.journal.write_day(day, rows, info, orders)
        logger.info(
            "%s: %d decisions by %s in %.1f s%s",
            day, len(rows), release.key, seconds, "" if written else " (journaled already)",
        )  # fmt: skip
        return DayResult(day, written, release.key, len(rows), seconds, len(orders))

    def _row(self, analysis: Analysis, release: Release, day: dt.date) -> dict[str, Any]:
        rec = analysis.recommendation
        decision = rec.decision
        answers = analysis.answers
        invalid = [n for n, s in rec.signals.items() if not s.valid]
        if not decision.valid:
            invalid.append("strategist")
        features = {name: analysis.observation.technical.get(name) for name in DRIFT_FEATURES}
        return {
            "day": day,
            "symbol": rec.symbol,
            "release": release.key,
            "deployment": release.deployment,
            "data_date": rec.data_date,
            "price": rec.price,
            "action": decision.action.value,
            "position_size": decision.position_size,
            "confidence": decision.confidence,
            "stop_loss": decision.stop_loss,
            "take_profit": decision.take_profit,
            "horizon_days": decision.horizon_days,
            "valid": not invalid,
            "repairs": sum(1 for a in answers.values() if a.completion.repaired),
            "latency_ms": round(rec.timings_ms.get("total_ms", 0.0), 3),
            "tokens": sum(a.completion.tokens or 0 for a in answers.values()),
            "model_hashes": release.hashes or dict.fromkeys(answers, EXPERT),
            "model_versions": rec.model_versions,
            "prompt_hashes": {n: _hash(jsonable(a.prompt())) for n, a in answers.items()},
            "signals": {
                n: {
                    "signal": s.signal.value,
                    "score": s.score,
                    "confidence": s.confidence,
                    "valid": s.valid,
                }
                for n, s in rec.signals.items()
            }
            | {"invalid": invalid},
            "features": jsonable(features),
            "reasoning": decision.reasoning,
        }

    def _orders(
        self,
        day: dt.date,
        rows: Sequence[Mapping[str, Any]],
        books: Mapping[str, PortfolioContext],
        prices: Mapping[str, pd.DataFrame],
    ) -> list[OrderRecord]:
        """The day's targets sent to the broker: each decision's weight (HOLD keeps the
        book's), as the backtester reads a decision."""
        targets: dict[str, float] = {}
        for row in rows:
            held = books.get(row["symbol"], PortfolioContext()).position
            wanted = target_weight(decision_of(row), self.config.backtest)
            targets[row["symbol"]] = held if wanted is None else wanted
        closes = {s: float(f["close"].iloc[-1]) for s, f in prices.items() if s in targets}
        broker = self.broker()
        if isinstance(broker, SimulatedBroker):
            broker.holdings = {s: b.position for s, b in books.items()}
        return list(broker.rebalance(day, targets, closes))

    # -- outcomes, book, verdicts ------------------------------------------------------

    def update(self, as_of: dt.date | None = None) -> list[Health]:
        """Outcomes, the paper book, broker fills and every release's verdict as of
        ``as_of`` (default: the last close in the data); alerts and a rollback follow."""
        day = as_of or self.latest_day()
        prices = self.prices(day)
        decisions = [r for r in self.journal.decisions() if r["day"] <= day]
        if not decisions:
            logger.info("the journal has no decisions up to %s; run a day first", day)
            return []
        self.journal.set_outcomes(outcomes(prices, decisions, self.config.backtest))
        book = replay_book(prices, decisions, self.config.backtest, day)
        owners = {d["day"]: d["release"] for d in self.journal.days() if d["day"] <= day}
        self.journal.replace_book(book.rows(owners))
        self._fills(book, day)
        return self._judge_all(day, prices)

    def _fills(self, book: PaperBook, latest: dt.date) -> None:
        """The broker's news about its orders; the simulated broker's are the paper book's
        fills (a decision's order fills at the next open)."""
        broker = self.broker()
        existing = {o["key"]: o for o in self.journal.orders()}
        if not existing:
            return
        first = min(o["day"] for o in existing.values())
        if isinstance(broker, SimulatedBroker):
            updates = []
            fills = book.result.fills if book.result is not None else []
            for order in existing.values():
                if order["status"] != "planned":
                    continue
                after = [
                    f for f in fills
                    if f["symbol"] == order["symbol"] and f["date"] > order["day"]
                    and f["reason"] == "signal"
                ]  # fmt: skip
                next_day = self._next_day(order["symbol"], order["day"])
                if next_day is None or next_day > latest:
                    continue
                if not after or after[0]["date"] != next_day:
                    updates.append(
                        replace(
                            _record(order), status="canceled",
                            reason=f"not filled at the open of {next_day} (a stop or no cash)",
                        )
                    )  # fmt: skip
                else:
                    fill = after[0]
                    updates.append(
                        replace(
                            _record(order),
                            status="filled", filled_quantity=abs(float(str(fill["shares"]))),
                            filled_price=float(str(fill["price"])),
                            reason=f"filled at the open of {fill['date']}",
                        )
                    )  # fmt: skip
        else:
            updates = []
            for record in broker.updates(first):
                known = existing.get(record.key)
                weight = known["target_weight"] if known else record.target_weight
                updates.append(_with_weight(record, weight))
        self.journal.write_orders(updates)

    def _next_day(self, symbol: str, day: dt.date) -> dt.date | None:
        end = self.sources.prices.date_range(symbol)[1]
        frame = self.sources.prices.prices(symbol, as_of=end, start=day)
        later = [ts.date() for ts in frame.index if ts.date() > day]
        return later[0] if later else None

    def _drift_reference(self, day: dt.date, prices: Mapping[str, pd.DataFrame]) -> dict[str, Any]:
        if self._reference is None or self._reference[0] != day:
            self._reference = (day, drift_reference(prices, self.config))
        return self._reference[1]

    def _judge_all(self, day: dt.date, prices: Mapping[str, pd.DataFrame]) -> list[Health]:
        rules = self.settings.rules
        days = [d["day"] for d in self.journal.days() if d["day"] <= day]
        window = set(days[-rules.window_days :])
        since = min(window)
        releases = self.journal.releases()
        decisions = [r for r in self.journal.decisions(since=since) if r["day"] in window]
        book = [b for b in self.journal.book() if b["day"] >= since and b["day"] <= day]
        reference = self._drift_reference(day, prices)
        out = []
        current = self.release().key
        for key in sorted({r["release"] for r in decisions}):
            mine = [r for r in decisions if r["release"] == key]
            realised = sum(1 for r in mine if r.get("forward_return") is not None)
            if key != current and realised < rules.min_decisions:
                continue  # out of production and leaving the window: its last verdict stands
            metrics = live_metrics(
                mine, [b for b in book if b["release"] == key],
                self.config.backtest.risk_free_rate,
            )  # fmt: skip
            evaluation = (releases.get(key) or {}).get("evaluation")
            psi, limits = (
                drift(mine, reference, evaluation, rules.window_days)
                if len(mine) >= rules.min_decisions
                else ({}, {})
            )
            health = judge(
                key, day, metrics, psi, evaluation, rules, self.config.deployment.max_drawdown,
                limits,
            )  # fmt: skip
            health.metrics["psi_limits"] = limits
            self._record(health)
            out.append(health)
        return out

    def _record(self, health: Health) -> None:
        """Journal the verdict; on a change, alert and (when asked) roll back.

        A new verdict holds only once the rules have found it ``rules.confirm_days`` days
        running (the day's own finding is kept as ``metrics.finding``); until then the
        release keeps its verdict, so one noisy day neither alerts nor rolls back."""
        earlier = [v for v in self.journal.verdicts(health.release) if v["day"] < health.day]
        previous = earlier[-1]["verdict"] if earlier else None
        finding = health.verdict
        health.metrics["finding"] = finding
        needed = self.settings.rules.confirm_days - 1
        recent = (
            [v["metrics"].get("finding", v["verdict"]) for v in earlier[-needed:]] if needed else []
        )
        confirmed = finding == "pending" or (len(recent) == needed and set(recent) <= {finding})
        if previous is not None and finding != previous and not confirmed:
            health.verdict = previous
            health.reasons = [
                f"{previous} until confirmed: {health.reasons[0]}",
                *health.reasons[1:],
            ]
        ident = self.journal.add_verdict(
            health.day, health.release, health.verdict, health.reasons, jsonable(health.metrics)
        )
        if previous == health.verdict or (previous is None and health.verdict == "pending"):
            return
        self._alert(health, previous)
        if (
            health.verdict == "degraded"
            and self.settings.on_degraded == "rollback"
            and self.release().key == health.release
        ):
            self._rollback(ident, health)

    def _alert(self, health: Health, previous: str | None) -> None:
        message = (
            f"release {health.release} is {health.verdict} on {health.day}"
            f" (was {previous or 'new'}): {health.reasons[0]}"
        )
        level = logging.WARNING if health.verdict in ("watch", "degraded") else logging.INFO
        logger.log(level, "%s", message)
        delivery = "no webhook configured"
        if self.settings.webhook_url:
            payload = {
                "kind": "stockagents.monitor.verdict", "release": health.release,
                "day": health.day.isoformat(), "previous": previous, "verdict": health.verdict,
                "reasons": health.reasons, "metrics": jsonable(health.metrics),
                "message": message,
            }  # fmt: skip
            delivery = send_webhook(
                self.settings.webhook_url, payload,
                retries=self.settings.webhook_retries, timeout=self.settings.webhook_timeout,
            )  # fmt: skip
        self.journal.add_alert(
            day=health.day, release=health.release, previous=previous,
            verdict=health.verdict, message=message, delivery=delivery,
        )  # fmt: skip

    def _rollback(self, verdict_id: int, health: Health) -> None:
        action = self.journal.claim_action(verdict_id, health.day, health.release, "rollback")
        if action is None:
            logger.info("release %s: rolled back for this verdict already", health.release)
            return
        deployer = ModelDeployer(self.models_dir, config=self.config)
        try:
            record = deployer.rollback()
        except StockAgentsError as exc:
            self.journal.finish_action(action, "failed", str(exc))
            logger.error("rollback of %s failed: %s", health.release, exc)
            return
        self.journal.finish_action(
            action, "done", f"production is now {Path(record.get('release') or '').name}",
            record.get("id"),
        )  # fmt: skip
        self._coordinators.clear()
        logger.warning("release %s degraded: rolled back (%s)", health.release, record.get("id"))

    # -- replay and status ------------------------------------------------------------

    def replay(
        self,
        start: dt.date,
        end: dt.date,
        progress: Callable[[dt.date], None] | None = None,
    ) -> list[DayResult]:
        """``run`` then ``update`` for every trading day from ``start`` to ``end``."""
        if end < start:
            raise MonitorError(f"--end {end} is before --start {start}")
        days = [d for d in self.calendar() if start <= d <= end]
        if not days:
            raise DataError(f"no trading day between {start} and {end} in the data")
        out = []
        for day in days:
            out.append(self.run(day, mode="replay"))
            self.update(day)
            if progress is not None:
                progress(day)
        return out

    def status(self) -> dict[str, Any]:
        """Production, the journal's last day and lag, each release's latest verdict,
        recent alerts and actions (what ``/monitor`` answers)."""
        release = self.release()
        last = self.journal.last_day()
        latest = self.latest_day()
        lag = len([d for d in self.calendar() if last < d <= latest]) if last is not None else None
        latest_verdicts: dict[str, dict[str, Any]] = {}
        for verdict in self.journal.verdicts():
            latest_verdicts[verdict["release"]] = verdict
        out: dict[str, Any] = json.loads(
            dumps(
                {
                    "journal": self.journal.where,
                    "production": release.key,
                    "deployment": release.deployment,
                    "last_day": last,
                    "latest_data": latest,
                    "lag_days": lag,
                    "days": len(self.journal.days()),
                    "releases": [
                        {
                            "release": k,
                            "day": v["day"],
                            "verdict": v["verdict"],
                            "reasons": v["reasons"],
                            "metrics": v["metrics"],
                        }
                        for k, v in latest_verdicts.items()
                    ],
                    "alerts": self.journal.alerts()[-10:],
                    "actions": self.journal.actions(),
                }
            )
        )
        return out


def _record(row: Mapping[str, Any]) -> OrderRecord:
    return OrderRecord(**{k: row[k] for k in OrderRecord.__dataclass_fields__})


def _with_weight(record: OrderRecord, weight: float) -> OrderRecord:
    return replace(record, target_weight=weight)

"""What ``/metrics`` exposes in Prometheus' text format, and ``/monitor``'s source.

Per app (a registry of its own, so two apps in one process do not mix):

- ``stockagents_http_requests_total{method,route,status}`` and
  ``stockagents_http_request_duration_seconds{route}`` (a histogram), by route template
  (``/analyze/{symbol:path}``, never the raw path, so labels stay few);
- ``stockagents_decisions_total{action}`` and ``stockagents_answers_total{valid}``: the
  served recommendations' actions, and whether each agent's answer was valid output;
- read from the decision journal at scrape time (``monitoring``):
  ``stockagents_monitor_journal_lag_days``, ``stockagents_monitor_days``,
  ``stockagents_monitor_verdict{release,verdict}`` (1 for the release's latest verdict),
  ``stockagents_monitor_verdict_level{release}`` (0 pending, 1 healthy, 2 watch,
  3 degraded), ``stockagents_monitor_valid_share{release}``,
  ``stockagents_monitor_sharpe{release}`` and
  ``stockagents_monitor_decisions{release,action}`` over the rolling window.

A journal that does not exist yet is reported as such (``days`` 0), not created.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from stockagents.core.config import AppConfig
from stockagents.core.errors import StockAgentsError
from stockagents.core.sql import sql_url
from stockagents.core.types import Recommendation
from stockagents.data.factory import DataSources
from stockagents.monitoring import Monitor

__all__ = ["MetricsMiddleware", "Telemetry"]

logger = logging.getLogger(__name__)

_LEVELS = {"pending": 0, "healthy": 1, "watch": 2, "degraded": 3}


class Telemetry:
    """The app's metrics and its view of the monitor's journal."""

    def __init__(self, config: AppConfig) -> None:
        self.config = config
        self.sources: DataSources | None = None
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "stockagents_http_requests", "HTTP requests answered",
            ["method", "route", "status"], registry=self.registry,
        )  # fmt: skip
        self.latency = Histogram(
            "stockagents_http_request_duration_seconds", "Time to answer a request",
            ["route"], registry=self.registry,
            buckets=(0.005, 0.025, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
        )  # fmt: skip
        self.decisions = Counter(
            "stockagents_decisions", "Served decisions by action", ["action"],
            registry=self.registry,
        )  # fmt: skip
        self.answers = Counter(
            "stockagents_answers", "Served agent answers, valid model output or not",
            ["valid"], registry=self.registry,
        )  # fmt: skip
        self.registry.register(_JournalCollector(self))

    def served(self, recommendation: Recommendation) -> None:
        """Count one served recommendation."""
        self.decisions.labels(recommendation.decision.action.value).inc()
        valid = [s.valid for s in recommendation.signals.values()]
        valid.append(recommendation.decision.valid)
        for flag in valid:
            self.answers.labels("true" if flag else "false").inc()

    def journal_exists(self) -> bool:
        url = sql_url(self.config.monitor.journal)
        return not url.startswith("sqlite:///") or Path(url.removeprefix("sqlite:///")).is_file()

    def monitor_status(self) -> dict[str, Any]:
        """The monitor's status, or a stub saying the journal does not exist yet."""
        if not self.journal_exists():
            return {
                "journal": self.config.monitor.journal, "production": None, "deployment": None,
                "last_day": None, "latest_data": None, "lag_days": None, "days": 0,
                "releases": [], "alerts": [], "actions": [],
            }  # fmt: skip
        with Monitor(self.config, sources=self.sources) as monitor:
            return monitor.status()


class _JournalCollector(Collector):
    """Gauges read from the journal at each scrape."""

    def __init__(self, telemetry: Telemetry) -> None:
        self.telemetry = telemetry

    def describe(self) -> list[Any]:
        return []

    def collect(self) -> Iterator[GaugeMetricFamily]:
        try:
            status = self.telemetry.monitor_status()
        except (StockAgentsError, OSError) as exc:
            logger.warning("metrics: the journal could not be read: %s", exc)
            return
        days = GaugeMetricFamily("stockagents_monitor_days", "Days in the decision journal")
        days.add_metric([], float(status["days"]))
        yield days
        if status["lag_days"] is not None:
            lag = GaugeMetricFamily(
                "stockagents_monitor_journal_lag_days",
                "Trading days between the data's last close and the journal's last day",
            )
            lag.add_metric([], float(status["lag_days"]))
            yield lag
        verdict = GaugeMetricFamily(
            "stockagents_monitor_verdict", "1 for each release's latest verdict",
            labels=["release", "verdict"],
        )  # fmt: skip
        level = GaugeMetricFamily(
            "stockagents_monitor_verdict_level",
            "0 pending, 1 healthy, 2 watch, 3 degraded", labels=["release"],
        )  # fmt: skip
        valid = GaugeMetricFamily(
            "stockagents_monitor_valid_share", "Valid-output share in the window",
            labels=["release"],
        )  # fmt: skip
        sharpe = GaugeMetricFamily(
            "stockagents_monitor_sharpe", "Paper-book Sharpe in the window", labels=["release"]
        )
        decisions = GaugeMetricFamily(
            "stockagents_monitor_decisions", "Decisions in the window by action",
            labels=["release", "action"],
        )  # fmt: skip
        for release in status["releases"]:
            key, metrics = release["release"], release["metrics"]
            for name in _LEVELS:
                verdict.add_metric([key, name], 1.0 if release["verdict"] == name else 0.0)
            level.add_metric([key], float(_LEVELS[release["verdict"]]))
            if metrics.get("valid_share") is not None:
                valid.add_metric([key], float(metrics["valid_share"]))
            if metrics.get("sharpe") is not None:
                sharpe.add_metric([key], float(metrics["sharpe"]))
            for action, count in (metrics.get("actions") or {}).items():
                decisions.add_metric([key, action], float(count))
        yield from (verdict, level, valid, sharpe, decisions)


class MetricsMiddleware:
    """Counts and times every HTTP request by its route template."""

    def __init__(self, app: ASGIApp, telemetry: Telemetry) -> None:
        self.app = app
        self.telemetry = telemetry

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            self.telemetry.requests.labels(scope.get("method", ""), template, str(status)).inc()
            self.telemetry.latency.labels(template).observe(time.perf_counter() - started)

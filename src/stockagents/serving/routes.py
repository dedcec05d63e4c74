"""The HTTP API's routes; each is small and declares its response model. Sync handlers:
FastAPI runs them in its thread pool, so slow analyses do not block the event loop.

Every route refuses query parameters it does not declare and bodies that are not JSON
(``_guards``); symbols are validated by the request models (``schemas.Symbol``)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from stockagents import __version__
from stockagents.core.errors import UnknownSymbolError
from stockagents.core.jsonio import jsonable
from stockagents.core.registry import production_manifest
from stockagents.core.types import Recommendation
from stockagents.evaluation.agent_backtest import backtest_agents
from stockagents.serving._errors import one_line
from stockagents.serving._guards import reject_unknown_query, require_json
from stockagents.serving.schemas import (
    AnalyzeBatch,
    AnalyzeRequest,
    BacktestRequest,
    BacktestResponse,
    Health,
    ModelsInfo,
    MonitorStatus,
    Problem,
    Symbol,
)
from stockagents.serving.service import Service
from stockagents.serving.telemetry import Telemetry

__all__ = ["router"]

_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": Problem, "description": why}
    for status, why in {
        401: "missing or wrong X-API-Key (when a key is configured)",
        404: "unknown symbol, or no such route",
        413: "request body over the limit (64 KiB by default)",
        415: "a body that is not application/json",
        422: "invalid input: a symbol, a date, an unknown query parameter",
        500: "unexpected server error (no details)",
        503: "a data source or the model backend failed, or every backtest slot is busy",
    }.items()
}

router = APIRouter(
    dependencies=[Depends(reject_unknown_query), Depends(require_json)], responses=_ERRORS
)


def _service(request: Request) -> Service:
    service: Service = request.app.state.service
    return service


@router.get("/health", response_model=Health, tags=["system"])
def health(request: Request) -> Health:
    """Liveness, and which models answer."""
    return Health(version=__version__, model_set=_service(request).coordinator.model_set)


@router.get("/metrics", response_class=PlainTextResponse, tags=["system"])
def metrics(request: Request) -> PlainTextResponse:
    """Prometheus metrics: requests, latency, served decisions and valid output, and the
    monitor's journal (lag, verdicts, valid share, Sharpe) read at each scrape."""
    telemetry: Telemetry = request.app.state.telemetry
    return PlainTextResponse(generate_latest(telemetry.registry), media_type=CONTENT_TYPE_LATEST)


@router.get("/monitor", response_model=MonitorStatus, tags=["system"])
def monitor(request: Request) -> MonitorStatus:
    """The production monitor: production, the journal's last day and lag, each
    release's latest verdict with its metrics, recent alerts and actions."""
    telemetry: Telemetry = request.app.state.telemetry
    return MonitorStatus(**telemetry.monitor_status())


@router.get("/models", response_model=ModelsInfo, tags=["system"])
def models(request: Request) -> ModelsInfo:
    """The model set, each agent's version, and the deployed production manifest."""
    coordinator = _service(request).coordinator
    production = production_manifest(coordinator.config.deployment.models_dir)
    return ModelsInfo(
        model_set=coordinator.model_set,
        model_versions=coordinator.model_versions,
        production=production.as_json() if production is not None else None,
    )


# ``:path``: "..%2FOUTSIDE" reaches the validator (a 422 naming the rule), not a 404
@router.get("/analyze/{symbol:path}", response_model=Recommendation, tags=["analysis"])
def analyze(
    request: Request,
    symbol: Annotated[Symbol, Path(description="a ticker, e.g. AAPL, BRK.B, ^GSPC")],
    as_of: Annotated[dt.date | None, Query(description="data up to this date's close")] = None,
) -> Recommendation:
    """One symbol's recommendation (the decision, the three signals, model versions)."""
    service = _service(request)
    with service.serialized():
        result = service.coordinator.analyze_symbol(symbol, as_of)
    request.app.state.telemetry.served(result)
    return result


@router.post("/analyze", response_model=AnalyzeBatch, tags=["analysis"])
def analyze_many(request: Request, body: AnalyzeRequest) -> AnalyzeBatch:
    """Several symbols; a symbol without data is reported under ``errors``."""
    service = _service(request)
    errors: dict[str, str] = {}
    observations = []
    for symbol in body.symbols:  # valid, upper case and unique (``schemas``)
        try:
            observations.append(service.coordinator.observe(symbol, body.as_of))
        except UnknownSymbolError as exc:
            errors[symbol] = one_line(exc)
    with service.serialized():  # every symbol's analysts in one batch, then the strategists
        analyses = service.coordinator.analyze_observed(
            observations, as_of=[body.as_of] * len(observations)
        )
    results = [analysis.recommendation for analysis in analyses]
    for result in results:
        request.app.state.telemetry.served(result)
    return AnalyzeBatch(results=results, errors=errors)


@router.post("/backtest", response_model=BacktestResponse, tags=["analysis"])
def backtest(request: Request, body: BacktestRequest) -> BacktestResponse:
    """The agents against buy-and-hold, with and without costs (bounded in size; a 503
    with ``Retry-After`` when every backtest slot is taken)."""
    service = _service(request)
    with service.backtest_slot(), service.serialized():
        run = backtest_agents(
            service.coordinator, body.symbols, body.start, body.end,
            max_days=service.max_backtest_days,
        )  # fmt: skip
    clean: dict[str, dict[str, float | None]] = jsonable(run.metrics())  # NaN, inf -> null
    return BacktestResponse(
        period=run.period,
        symbols=[str(c) for c in run.with_costs.positions.columns],
        skipped={s: one_line(why) for s, why in run.skipped.items()},
        metrics=clean,
    )

"""The HTTP API's routes; each is small and declares its response model. Sync handlers:
FastAPI runs them in its thread pool, so slow analyses do not block the event loop."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Query, Request

from stockagents import __version__
from stockagents.core.errors import UnknownSymbolError
from stockagents.core.jsonio import jsonable
from stockagents.core.registry import production_manifest
from stockagents.core.types import Recommendation
from stockagents.evaluation.agent_backtest import backtest_agents
from stockagents.serving.app import Service
from stockagents.serving.schemas import (
    AnalyzeBatch,
    AnalyzeRequest,
    BacktestRequest,
    BacktestResponse,
    Health,
    ModelsInfo,
)

__all__ = ["router"]

router = APIRouter()


def _service(request: Request) -> Service:
    service: Service = request.app.state.service
    return service


@router.get("/health", response_model=Health, tags=["system"])
def health(request: Request) -> Health:
    """Liveness, and which models answer."""
    return Health(version=__version__, model_set=_service(request).coordinator.model_set)


@router.get("/models", response_model=ModelsInfo, tags=["system"])
def models(request: Request) -> ModelsInfo:
    """The model set, each agent's version, and the deployed production manifest."""
    coordinator = _service(request).coordinator
    return ModelsInfo(
        model_set=coordinator.model_set,
        model_versions=coordinator.model_versions,
        production=production_manifest(coordinator.config.deployment.models_dir),
    )


@router.get("/analyze/{symbol}", response_model=Recommendation, tags=["analysis"])
def analyze(
    request: Request,
    symbol: str,
    as_of: Annotated[dt.date | None, Query(description="data up to this date's close")] = None,
) -> Recommendation:
    """One symbol's recommendation (the decision, the three signals, model versions)."""
    service = _service(request)
    with service.serialized():
        return service.coordinator.analyze_symbol(symbol, as_of)


@router.post("/analyze", response_model=AnalyzeBatch, tags=["analysis"])
def analyze_many(request: Request, body: AnalyzeRequest) -> AnalyzeBatch:
    """Several symbols; a symbol without data is reported under ``errors``."""
    service = _service(request)
    results: list[Recommendation] = []
    errors: dict[str, str] = {}
    for symbol in dict.fromkeys(s.strip().upper() for s in body.symbols):
        try:
            with service.serialized():
                results.append(service.coordinator.analyze_symbol(symbol, body.as_of))
        except UnknownSymbolError as exc:
            errors[symbol] = str(exc).splitlines()[0]
    return AnalyzeBatch(results=results, errors=errors)


@router.post("/backtest", response_model=BacktestResponse, tags=["analysis"])
def backtest(request: Request, body: BacktestRequest) -> BacktestResponse:
    """The agents against buy-and-hold, with and without costs (bounded in size)."""
    service = _service(request)
    with service.serialized():
        run = backtest_agents(
            service.coordinator, [s.strip().upper() for s in body.symbols], body.start,
            body.end, max_days=service.max_backtest_days,
        )  # fmt: skip
    clean: dict[str, dict[str, float | None]] = jsonable(run.metrics())  # NaN, inf -> null
    return BacktestResponse(
        period=run.period,
        symbols=[str(c) for c in run.with_costs.positions.columns],
        skipped={s: why.splitlines()[0] for s, why in run.skipped.items()},
        metrics=clean,
    )

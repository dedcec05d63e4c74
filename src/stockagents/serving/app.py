"""The HTTP API: ``create_app(...)`` builds a FastAPI app around one ``SystemCoordinator``.

Routes (OpenAPI docs at ``/docs``):

- ``GET /health``, ``GET /models``;
- ``GET /analyze/{symbol}?as_of=YYYY-MM-DD`` and ``POST /analyze`` for 1-20 symbols;
- ``POST /backtest`` for 1-5 symbols and at most ``max_backtest_days`` trading days.

The models load once, when the app starts, and are shared by every request. Model-backed
analyses run one at a time under a lock (the backend batches inside a request, not
across them); the expert rules run concurrently. When ``STOCKAGENTS_API_KEY`` is set,
every route but ``/health`` needs it in the ``X-API-Key`` header. Errors are JSON
``{"error", "detail"}`` with one line: 401 for a missing or wrong key, 404 for an
unknown symbol, 422 for bad input (FastAPI's validation too), 500 for anything else.
"""

from __future__ import annotations

import hmac
import logging
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from stockagents import __version__
from stockagents.core.config import AppConfig, load_config
from stockagents.core.errors import DataError, StockAgentsError, UnknownSymbolError
from stockagents.core.settings import load_settings
from stockagents.orchestration import SystemCoordinator

__all__ = ["Service", "create_app"]

logger = logging.getLogger(__name__)

_OPEN = ("/health", "/docs", "/openapi.json", "/redoc")


class Service:
    """What the routes share: the coordinator and the lock model-backed work takes."""

    def __init__(self, coordinator: SystemCoordinator, max_backtest_days: int) -> None:
        self.coordinator = coordinator
        self.max_backtest_days = max_backtest_days
        self._lock = threading.Lock()
        runtimes = [a.runtime for a in coordinator.analysts.values()]
        self.models_loaded = any(runtimes) or coordinator.strategist.runtime is not None

    @contextmanager
    def serialized(self) -> Iterator[None]:
        """One model-backed analysis at a time; the rules need no lock."""
        if not self.models_loaded:
            yield
            return
        with self._lock:
            yield


def _problem(status: int, error: str, detail: str) -> JSONResponse:
    first = detail.splitlines()[0] if detail else error
    return JSONResponse(status_code=status, content={"error": error, "detail": first})


def create_app(
    config: AppConfig | str | Path | None = None,
    *,
    models: str | Path | None = None,
    api_key: str | None = None,
    max_backtest_days: int = 260,
    coordinator_factory: Callable[[AppConfig], SystemCoordinator] | None = None,
) -> FastAPI:
    """The app. ``models`` as ``SystemCoordinator`` takes it (None: production when
    deployed, else the rules); ``api_key`` defaults to ``STOCKAGENTS_API_KEY``."""
    app_config = load_config(config)
    if api_key is None:
        secret = load_settings().stockagents_api_key
        api_key = secret.get_secret_value() if secret is not None else None

    def build(cfg: AppConfig) -> SystemCoordinator:
        return SystemCoordinator(cfg, models=models)

    factory = coordinator_factory or build

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        coordinator = factory(app_config)
        app.state.service = Service(coordinator, max_backtest_days)
        logger.info("serving %s", coordinator.model_set)
        try:
            yield
        finally:
            coordinator.close()

    app = FastAPI(
        title="stockagents",
        version=__version__,
        description="A team of language-model agents for stock analysis.",
        lifespan=lifespan,
    )

    @app.middleware("http")
    async def require_key(request: Request, call_next: Any) -> Any:
        if api_key and request.url.path not in _OPEN:
            given = request.headers.get("x-api-key", "")
            if not hmac.compare_digest(given.encode(), api_key.encode()):
                return _problem(401, "unauthorized", "missing or wrong X-API-Key header")
        return await call_next(request)

    @app.exception_handler(UnknownSymbolError)
    async def unknown_symbol(request: Request, exc: UnknownSymbolError) -> JSONResponse:
        return _problem(404, "unknown symbol", str(exc))

    @app.exception_handler(DataError)
    async def bad_data(request: Request, exc: DataError) -> JSONResponse:
        return _problem(422, "bad request", str(exc))

    @app.exception_handler(StockAgentsError)
    async def failed(request: Request, exc: StockAgentsError) -> JSONResponse:
        return _problem(400, type(exc).__name__, str(exc))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        first = errors[0] if errors else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        return _problem(422, "invalid request", f"{where}: {first.get('msg', 'invalid')}")

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:  # the API edge
        logger.exception("unexpected error on %s", request.url.path)
        return _problem(500, "internal error", f"unexpected {type(exc).__name__}")

    from stockagents.serving.routes import router

    app.include_router(router)
    return app

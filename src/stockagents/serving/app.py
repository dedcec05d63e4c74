"""The HTTP API: ``create_app(...)`` builds a FastAPI app around one ``SystemCoordinator``.

Routes (``serving.routes``; OpenAPI docs at ``/docs``):

- ``GET /health``, ``GET /models``;
- ``GET /analyze/{symbol}?as_of=YYYY-MM-DD`` and ``POST /analyze`` for 1-20 symbols;
- ``POST /backtest`` for 1-5 symbols and at most ``max_backtest_days`` trading days;
- ``GET /metrics`` (Prometheus text) and ``GET /monitor`` (the production monitor's
  status as JSON), see ``serving.telemetry``.

The models load once, when the app starts, and are shared by every request. Model-backed
analyses run one at a time under a lock (the backend batches inside a request, not
across them); the expert rules run concurrently. At most ``max_concurrent_backtests``
backtests run at once; one more is a 503 with ``Retry-After``, answered at once, so a
queue of backtests never holds the other routes up.

What reaches a route is checked first (``serving._guards``): the ``X-API-Key`` when
``STOCKAGENTS_API_KEY`` is set (every route but ``/health`` and the docs), a body of at
most ``max_body_bytes`` (413), JSON bodies only (415), no undeclared query parameter and
valid symbols (422). Every error answer, Starlette's own 404 and 405 included, is JSON
``{"error", "detail"}`` with one redacted line (``serving._errors`` has the statuses); a
500 never carries the exception's text.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from stockagents import __version__
from stockagents.core.config import AppConfig, load_config
from stockagents.core.errors import ConfigError
from stockagents.core.settings import load_settings
from stockagents.orchestration import SystemCoordinator
from stockagents.serving._errors import install_error_handlers
from stockagents.serving._guards import (
    MAX_BODY_BYTES,
    ApiKeyMiddleware,
    BodyLimitMiddleware,
    check_bind,
)
from stockagents.serving.routes import router
from stockagents.serving.service import RETRY_AFTER_SECONDS, Service
from stockagents.serving.telemetry import MetricsMiddleware, Telemetry

__all__ = ["RETRY_AFTER_SECONDS", "Service", "check_bind", "create_app"]

logger = logging.getLogger(__name__)

_OPEN = ("/health", "/docs", "/docs/oauth2-redirect", "/openapi.json", "/redoc")


def _at_least_one(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{name} must be a whole number of at least 1, not {value!r}")


def create_app(
    config: AppConfig | dict[str, Any] | str | Path | None = None,
    *,
    models: str | Path | None = None,
    api_key: str | None = None,
    max_backtest_days: int = 260,
    max_concurrent_backtests: int = 1,
    max_body_bytes: int = MAX_BODY_BYTES,
    coordinator_factory: Callable[[AppConfig], SystemCoordinator] | None = None,
) -> FastAPI:
    """The app. ``models`` as ``SystemCoordinator`` takes it (None: production when
    deployed, else the rules); ``api_key`` defaults to ``STOCKAGENTS_API_KEY`` (an
    empty string turns auth off); the limits must be at least 1 (a ``ConfigError``)."""
    _at_least_one("--max-backtest-days", max_backtest_days)
    _at_least_one("--max-concurrent-backtests", max_concurrent_backtests)
    _at_least_one("max_body_bytes", max_body_bytes)
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
        app.state.service = Service(coordinator, max_backtest_days, max_concurrent_backtests)
        telemetry.sources = coordinator.sources
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
    telemetry = Telemetry(app_config)
    app.state.telemetry = telemetry
    app.add_middleware(BodyLimitMiddleware, max_bytes=max_body_bytes)
    if api_key:  # added last: the outermost, a request without the key is refused unread
        app.add_middleware(ApiKeyMiddleware, api_key=api_key, open_paths=_OPEN)
    install_error_handlers(app)
    app.add_middleware(MetricsMiddleware, telemetry=telemetry)  # outermost: counts every answer

    app.include_router(router)
    return app

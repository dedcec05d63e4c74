"""Every error answer of the HTTP API: ``{"error": <kind>, "detail": <one line>}``.

``problem(status, error, detail)`` builds one; ``install_error_handlers(app)`` maps the
exceptions to statuses:

===== ========================================================================
400   another ``StockAgentsError`` (``error`` is its type); an unparsable body
401   a missing or wrong ``X-API-Key`` (``_guards``)
404   ``UnknownSymbolError``, and Starlette's own 404 for an unknown route
405   Starlette's own 405 for a method a route does not take (``Allow`` kept)
413   a body over the limit (``_guards``)
415   a POST whose body is not ``application/json`` (``_guards``)
422   ``RequestValidationError`` (FastAPI's validation, invalid symbols), another
      ``DataError`` (dates outside the data, an over-long backtest), an unknown
      query parameter (``_guards``)
500   anything unexpected: logged with its traceback, answered without its text
503   ``UpstreamError`` (its ``summary`` only, never the provider's words),
      ``BackendError`` (generic), no free backtest slot (``Retry-After``)
===== ========================================================================

Every detail goes through ``core.redact.redact``, keeps its first line only and is cut
to ``MAX_DETAIL`` characters. This module knows nothing about routes or the coordinator.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from stockagents.core.errors import (
    BackendError,
    DataError,
    StockAgentsError,
    UnknownSymbolError,
    UpstreamError,
)
from stockagents.core.redact import redact

logger = logging.getLogger(__name__)

#: The longest ``detail`` an answer carries (a longer one is cut, ending in ``...``).
MAX_DETAIL = 300

#: The ``error`` of an answer by status, when nothing more specific names it.
_KINDS = {
    400: "bad request",
    401: "unauthorized",
    403: "forbidden",
    404: "not found",
    405: "method not allowed",
    413: "payload too large",
    415: "unsupported media type",
    422: "invalid request",
    429: "too many requests",
    500: "internal error",
    503: "service unavailable",
}


def one_line(text: object, limit: int = MAX_DETAIL) -> str:
    """``text`` redacted, its first non-blank line only, cut to ``limit`` characters.

    >>> one_line("bad thing\\n  Traceback ...")
    'bad thing'
    >>> one_line("x" * 400, limit=10)
    'xxxxxxx...'
    """
    lines = [line.strip() for line in redact(str(text)).splitlines() if line.strip()]
    first = lines[0] if lines else ""
    return first if len(first) <= limit else first[: limit - 3] + "..."


def problem(
    status: int, error: str, detail: str, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    """The answer for an error: ``{"error", "detail"}``, ``detail`` made safe by
    ``one_line`` (``error`` when it is empty)."""
    return JSONResponse(
        status_code=status,
        content={"error": error, "detail": one_line(detail) or error},
        headers=dict(headers) if headers else None,
    )


def kind(status: int) -> str:
    """The ``error`` of a status: ``404 -> "not found"``."""
    return _KINDS.get(status, "error")


def _route_detail(request: Request, exc: StarletteHTTPException) -> str:
    """A useful line for Starlette's own 404 / 405, whose detail is just the phrase."""
    where = f"{request.method} {request.url.path[:80]}"
    if exc.status_code == 404 and exc.detail == "Not Found":
        return f"no route {where}; see /docs for the routes"
    if exc.status_code == 405 and exc.detail == "Method Not Allowed":
        allowed = (exc.headers or {}).get("Allow") or (exc.headers or {}).get("allow")
        return f"{where} is not allowed" + (f"; use {allowed}" if allowed else "")
    return str(exc.detail)


def _validation_detail(exc: RequestValidationError) -> str:
    """The first of FastAPI's errors as ``where: what`` (``path.symbol: ...``)."""
    errors = exc.errors()
    first = errors[0] if errors else {}
    if first.get("type") == "json_invalid":
        reason = first.get("ctx", {}).get("error", "invalid")
        return f"the body is not valid JSON ({reason}); send a JSON object"
    where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
    message = str(first.get("msg", "invalid"))
    return f"{where}: {message}" if where else message


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers that give every error answer the ``{"error", "detail"}``
    shape (the module doc has the table)."""

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = _route_detail(request, exc)
        return problem(exc.status_code, kind(exc.status_code), detail, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return problem(422, kind(422), _validation_detail(exc))

    @app.exception_handler(UnknownSymbolError)
    async def unknown_symbol(request: Request, exc: UnknownSymbolError) -> JSONResponse:
        return problem(404, "unknown symbol", str(exc))

    @app.exception_handler(UpstreamError)
    async def upstream(request: Request, exc: UpstreamError) -> JSONResponse:
        logger.warning("a data provider failed on %s: %s", request.url.path, exc)
        return problem(503, "upstream unavailable", f"a data source failed: {exc.summary}")

    @app.exception_handler(DataError)
    async def bad_data(request: Request, exc: DataError) -> JSONResponse:
        return problem(422, "bad request", str(exc))

    @app.exception_handler(BackendError)
    async def backend(request: Request, exc: BackendError) -> JSONResponse:
        logger.warning("the model backend failed on %s: %s", request.url.path, exc)
        return problem(503, kind(503), "the model backend failed; try again later")

    @app.exception_handler(StockAgentsError)
    async def failed(request: Request, exc: StockAgentsError) -> JSONResponse:
        return problem(400, type(exc).__name__, str(exc))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:  # the API edge
        logger.exception("unexpected error on %s", request.url.path)
        return problem(500, kind(500), "unexpected server error; the server log has the details")

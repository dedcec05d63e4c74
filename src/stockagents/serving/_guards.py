"""What a request must pass before a route sees it, and where the server may listen.

- ``ApiKeyMiddleware``: with a key configured, every path but the open ones (``/health``
  and the docs) needs it in ``X-API-Key`` (constant-time comparison), else 401.
- ``BodyLimitMiddleware``: a body over ``max_bytes`` is a 413 before anything parses it,
  whether its ``Content-Length`` says so or a chunked body grows past the limit.
- ``reject_unknown_query``: a router dependency; a query parameter the route does not
  declare (``?asof=`` for ``?as_of=``) is a 422 naming it, not silently ignored.
- ``require_json``: a router dependency; a route that takes a body takes JSON only, any
  other ``Content-Type`` (text, form data, none) is a 415.
- ``check_bind``: the rule ``stockagents serve`` applies to ``--host``: a non-loopback
  interface needs ``STOCKAGENTS_API_KEY``, or an explicit ``--insecure-no-auth``.

The answers are built by ``serving._errors``; this module knows no route by name.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Collection
from typing import Any

from fastapi import HTTPException, Request
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from stockagents.core.errors import ConfigError
from stockagents.serving._errors import kind, problem

#: The largest request body the API reads: 64 KiB (20 symbols and two dates need < 1 KiB).
MAX_BODY_BYTES = 64 * 1024


class ApiKeyMiddleware:
    """401 for a request without the right ``X-API-Key``, except on ``open_paths``."""

    def __init__(self, app: ASGIApp, api_key: str, open_paths: Collection[str]) -> None:
        self.app = app
        self._key = api_key.encode()
        self._open = frozenset(open_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] not in self._open:
            given = Headers(scope=scope).get("x-api-key", "")
            if not hmac.compare_digest(given.encode(), self._key):
                answer = problem(401, kind(401), "missing or wrong X-API-Key header")
                await answer(scope, receive, send)
                return
        await self.app(scope, receive, send)


class BodyLimitMiddleware:
    """Reads the body (at most ``max_bytes``) before the app does; 413 beyond that.

    A declared ``Content-Length`` over the limit is refused unread; a chunked body is
    counted as it arrives and refused as soon as it passes the limit. The body read is
    handed to the app unchanged."""

    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        limit = f"{self.max_bytes} bytes"
        if self.max_bytes % 1024 == 0:
            limit += f" ({self.max_bytes // 1024} KiB)"
        detail = f"the request body is over the limit of {limit}; send a smaller JSON body"
        await problem(413, kind(413), detail, {"Connection": "close"})(scope, receive, send)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length")
        if declared is not None:
            if not declared.strip().isdigit():
                answer = problem(400, kind(400), "the Content-Length header is not a number")
                await answer(scope, receive, send)
                return
            if int(declared) > self.max_bytes:
                await self._refuse(scope, receive, send)
                return
        chunks: list[bytes] = []
        size = 0
        first: Message | None = None
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client left: let the app see it
                first = message
                break
            body = message.get("body", b"")
            size += len(body)
            if size > self.max_bytes:
                await self._refuse(scope, receive, send)
                return
            chunks.append(body)
            if not message.get("more_body", False):
                break
        if first is None:
            first = {"type": "http.request", "body": b"".join(chunks), "more_body": False}
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return first
            return await receive()

        await self.app(scope, replay, send)


def _shown(name: str) -> str:
    text = repr(name)
    return text if len(text) <= 40 else text[:37] + "..."


def _query_names(dependant: Any) -> set[str]:
    """The query parameters a route declares, its dependencies' included."""
    names = {field.alias for field in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _query_names(sub)
    return names


def reject_unknown_query(request: Request) -> None:
    """422 for a query parameter the matched route does not declare."""
    dependant = getattr(request.scope.get("route"), "dependant", None)
    if dependant is None:
        return
    allowed = _query_names(dependant)
    for name in request.query_params:
        if name not in allowed:
            takes = ", ".join(sorted(allowed)) if allowed else "no query parameters"
            raise HTTPException(
                422, f"unknown query parameter {_shown(name)}; this route takes {takes}"
            )


def require_json(request: Request) -> None:
    """415 unless a route that takes a body is sent ``application/json`` (or ``+json``)."""
    if getattr(request.scope.get("route"), "body_field", None) is None:
        return
    given = request.headers.get("content-type", "")
    media = given.split(";", 1)[0].strip().lower()
    main, _, subtype = media.partition("/")
    if main == "application" and (subtype == "json" or subtype.endswith("+json")):
        return
    sent = f"got {_shown(media)}" if media else "got no Content-Type"
    raise HTTPException(415, f"send application/json ({sent})")


def is_loopback(host: str) -> bool:
    """Whether ``host`` names only this machine: ``localhost``, 127.0.0.0/8 or ::1.

    >>> [is_loopback(h) for h in ("127.0.0.1", "localhost", "::1", "[::1]", "0.0.0.0")]
    [True, True, True, True, False]
    """
    name = host.strip().lower()
    if name.startswith("[") and name.endswith("]"):
        name = name[1:-1]
    if name in ("localhost", "localhost."):
        return True
    try:
        address = ipaddress.ip_address(name)
    except ValueError:  # another host name: it may resolve to anything
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback


def check_bind(host: str, *, api_key_set: bool, insecure_no_auth: bool = False) -> str | None:
    """The rule for ``stockagents serve --host``: None when binding ``host`` is safe,
    a warning to log when it is allowed only by ``insecure_no_auth``, else a
    ``ConfigError`` saying the fix.

    >>> check_bind("127.0.0.1", api_key_set=False) is None
    True
    >>> check_bind("0.0.0.0", api_key_set=True) is None
    True
    >>> check_bind("0.0.0.0", api_key_set=False)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    stockagents.core.errors.ConfigError: refusing to serve on 0.0.0.0 without an API key...
    """
    if is_loopback(host) or api_key_set:
        return None
    if insecure_no_auth:
        return (
            f"serving on {host} without an API key (--insecure-no-auth): anyone who can "
            "reach this interface can use the API"
        )
    raise ConfigError(
        f"refusing to serve on {host} without an API key: set STOCKAGENTS_API_KEY, "
        "listen on 127.0.0.1, or pass --insecure-no-auth to accept an open API"
    )

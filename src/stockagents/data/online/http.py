"""The HTTP client every online provider shares: timeouts, retries, a rate limit, a cache.

``ApiClient.get_json`` / ``post_json`` send one request and return the decoded JSON with
the moment it was fetched. Around each request:

- a **rate limit** (``RateLimiter``): requests are spaced so that no more than
  ``rate_limit_per_minute`` leave per minute;
- **retries**: a 429 or a 5xx answer, a timeout or a refused connection is retried up
  to ``max_retries`` times, waiting what ``Retry-After`` says (seconds or an HTTP date,
  capped at ``max_wait``) or else an exponential backoff (1 s, 2 s, 4 s, ...);
- an **on-disk cache** of successful answers under ``cache_dir``, keyed by a SHA-256 of
  method, URL, query parameters and body. Credentials never enter the key, a log line or
  an error: they travel only in the headers given as ``secret_headers``.

Failures become one-line ``DataError`` messages that name the provider and the fix. The
clock and the sleep are injectable so that tests can assert waits without waiting.
"""

from __future__ import annotations

import email.utils
import hashlib
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from stockagents.core.errors import DataError

__all__ = ["ApiClient", "Fetched", "RateLimiter", "default_cache_dir"]

logger = logging.getLogger(__name__)

Clock = Callable[[], float]
Sleep = Callable[[float], None]

_RETRY_STATUS = frozenset({429, 500, 502, 503, 504})


def default_cache_dir() -> Path:
    """``$STOCKAGENTS_CACHE_DIR/http`` or ``~/.cache/stockagents/http``."""
    configured = os.environ.get("STOCKAGENTS_CACHE_DIR")
    root = Path(configured) if configured else Path.home() / ".cache" / "stockagents"
    return root / "http"


@dataclass(frozen=True)
class Fetched:
    """A decoded JSON answer and when it was fetched (Unix seconds; cached: the original)."""

    data: Any
    fetched_at: float
    cached: bool = False


class RateLimiter:
    """Spaces calls so that at most ``per_minute`` start in any minute (thread-safe)."""

    def __init__(self, per_minute: float, clock: Clock = time.monotonic, sleep: Sleep = time.sleep):
        self.interval = 60.0 / per_minute if per_minute > 0 else 0.0
        self._clock = clock
        self._sleep = sleep
        self._next = 0.0
        self._lock = threading.Lock()

    def wait(self) -> None:
        with self._lock:
            now = self._clock()
            delay = self._next - now
            if delay > 0:
                self._sleep(delay)
                now += delay
            self._next = now + self.interval


def _retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta seconds or an HTTP date)."""
    if not value:
        return None
    text = value.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - now)


def _api_message(response: httpx.Response) -> str:
    """The error text an API put in its body, if any (short)."""
    try:
        body = response.json()
    except ValueError:
        return ""
    if isinstance(body, dict):
        for key in ("message", "error", "detail"):
            value = body.get(key)
            if isinstance(value, str) and value:
                return value[:200]
            if isinstance(value, dict) and isinstance(value.get("message"), str):
                return str(value["message"])[:200]
    return ""


class ApiClient:
    """One provider's HTTP access. ``transport`` is a seam for tests (httpx transports)."""

    def __init__(
        self,
        name: str,
        *,
        timeout: float = 10.0,
        max_retries: int = 3,
        rate_limit_per_minute: float = 60.0,
        cache_dir: str | Path | None = None,
        cache_ttl_hours: float = 12.0,
        headers: Mapping[str, str] | None = None,
        secret_headers: Mapping[str, str] | None = None,
        auth_hint: str = "",
        max_wait: float = 60.0,
        clock: Clock = time.time,
        sleep: Sleep = time.sleep,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.name = name
        self.max_retries = max_retries
        self.cache_dir = Path(cache_dir) / name if cache_dir is not None else None
        self.cache_ttl = cache_ttl_hours * 3600.0
        self.auth_hint = auth_hint
        self.max_wait = max_wait
        self._clock = clock
        self._sleep = sleep
        self.limiter = RateLimiter(rate_limit_per_minute, clock=clock, sleep=sleep)
        self.requests_sent = 0
        self._client = httpx.Client(
            timeout=timeout,
            headers={**(headers or {}), **(secret_headers or {})},
            transport=transport,
            follow_redirects=True,
        )

    def close(self) -> None:
        self._client.close()

    # -- the cache -------------------------------------------------------------------
    def cache_key(self, method: str, url: str, params: Mapping[str, Any] | None, body: Any) -> str:
        """A SHA-256 of the request; secret headers are not part of it."""
        query = sorted((str(k), str(v)) for k, v in (params or {}).items())
        canonical = json.dumps(
            [method.upper(), url, query, body],
            sort_keys=True,
            default=str,
        )
        return hashlib.sha256(canonical.encode()).hexdigest()

    def _cache_read(self, key: str) -> Fetched | None:
        if self.cache_dir is None:
            return None
        path = self.cache_dir / f"{key}.json"
        try:
            entry = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        fetched_at = float(entry.get("fetched_at", 0.0))
        if self._clock() - fetched_at > self.cache_ttl:
            return None
        return Fetched(entry.get("data"), fetched_at, cached=True)

    def _cache_write(self, key: str, fetched: Fetched) -> None:
        if self.cache_dir is None:
            return
        try:
            self.cache_dir.mkdir(parents=True, exist_ok=True)
            path = self.cache_dir / f"{key}.json"
            tmp = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
            tmp.write_text(
                json.dumps({"fetched_at": fetched.fetched_at, "data": fetched.data}),
                encoding="utf-8",
            )
            tmp.replace(path)
        except OSError as exc:
            logger.warning(
                "%s: could not cache an answer under %s: %s", self.name, self.cache_dir, exc
            )

    # -- requests --------------------------------------------------------------------
    def get_json(self, url: str, params: Mapping[str, Any] | None = None) -> Fetched:
        return self.request("GET", url, params=params)

    def post_json(self, url: str, body: Any) -> Fetched:
        return self.request("POST", url, body=body)

    def request(
        self,
        method: str,
        url: str,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
    ) -> Fetched:
        """The decoded JSON answer to one request, from the cache when fresh."""
        key = self.cache_key(method, url, params, body)
        cached = self._cache_read(key)
        if cached is not None:
            logger.debug("%s: cache hit for %s", self.name, url)
            return cached
        response = self._send(method, url, params, body)
        try:
            data = response.json()
        except ValueError:
            raise DataError(
                f"{self.name}: the answer from {url} is not valid JSON (HTTP "
                f"{response.status_code}); the service may be down, try again later"
            ) from None
        fetched = Fetched(data, self._clock())
        self._cache_write(key, fetched)
        return fetched

    def _send(
        self, method: str, url: str, params: Mapping[str, Any] | None, body: Any
    ) -> httpx.Response:
        attempt = 0
        while True:
            self.limiter.wait()
            self.requests_sent += 1
            wait: float | None = None
            response: httpx.Response | None = None
            try:
                answer = self._client.request(
                    method, url, params=dict(params or {}) or None, json=body
                )
            except httpx.TimeoutException:
                problem = "timed out"
            except httpx.TransportError as exc:
                problem = f"connection failed ({type(exc).__name__})"
            else:
                if answer.status_code < 400:
                    return answer
                if answer.status_code not in _RETRY_STATUS:
                    raise self._http_error(url, answer)
                response = answer
                problem = f"HTTP {answer.status_code}"
                wait = _retry_after(answer.headers.get("Retry-After"), self._clock())
            if attempt >= self.max_retries:
                message = _api_message(response) if response is not None else ""
                detail = f" ({message})" if message else ""
                tries = f"after {attempt + 1} attempt{'s' if attempt else ''}"
                raise DataError(
                    f"{self.name}: {url} {problem}{detail} {tries}; "
                    "try again later or lower the provider's rate_limit_per_minute"
                )
            if wait is None:
                wait = float(2**attempt)
            wait = min(wait, self.max_wait)
            logger.info("%s: %s, retrying in %.1f s", self.name, problem, wait)
            self._sleep(wait)
            attempt += 1

    def _http_error(self, url: str, response: httpx.Response) -> DataError:
        status = response.status_code
        message = _api_message(response)
        detail = f" ({message})" if message else ""
        if status in (401, 403) and self.auth_hint:
            fix = self.auth_hint
        elif status == 404:
            fix = "check the symbol and the provider's base_url"
        else:
            fix = "check the request and the provider's base_url"
        return DataError(f"{self.name}: {url} answered HTTP {status}{detail}; {fix}")

"""The HTTP client every online provider shares: timeouts, retries, a rate limit, a cache.

``ApiClient.get`` / ``post`` send one request and return what ``parse`` makes of the
decoded JSON (``get_json`` / ``post_json``: the JSON with the moment it was fetched).
Around each request:

- a **rate limit** (``RateLimiter``, on the monotonic clock): requests are spaced so
  that no more than ``rate_limit_per_minute`` leave per minute. The limiter is per
  process; ``build.client_for`` shares one per provider name;
- **retries**: a 429 or any 5xx answer, a timeout or a refused connection is retried up
  to ``max_retries`` times, waiting what ``Retry-After`` says (seconds or an HTTP date)
  or else an exponential backoff (1 s, 2 s, 4 s, ...). A ``Retry-After`` longer than
  ``max_wait`` fails at once ("rate-limited by X; retry after N s"), and the whole
  request, retries included, gives up after ``deadline`` seconds;
- **redirects** are followed only to the same origin (scheme, host, port): the key
  headers never reach another host;
- an **on-disk cache** under ``cache_dir``, keyed by a SHA-256 of method, URL, query
  parameters and body. Credentials never enter the key, a log line or an error: they
  travel only in the headers given as ``secret_headers``. An answer is written only
  after ``parse`` accepted it, so an error body is never cached.

**Cache freshness.** A query may name its ``cutoff``: the Unix time after which nothing
more can appear in its answer (for news, the end of the window; for filings, the end of
the last filing day visible). An entry fetched at or after the cutoff is *complete* and
reused forever; one fetched before it (or for a query without a cutoff, such as a
Serper search) is reused only for ``cache_ttl_minutes``, then fetched again.

**Errors.** A failure is one ``UpstreamError`` line: the provider, the HTTP status, a
short fixed reason for it (401 "key rejected", 403 "access refused", 429 "rate
limited", 5xx "upstream error", ...) and the fix, e.g. ``finnhub: HTTP 401 (key
rejected) from https://finnhub.io/api/v1/company-news; check FINNHUB_API_KEY``. The
upstream body is never quoted whole (a careless server echoes the request's headers):
at most a short, redacted excerpt of its JSON error field, and none for 401/403. A URL
shown has no user info and no key-like query value (``core.redact.redact_url``). The
error's ``summary`` (``HTTP 401 from finnhub``) is what reaches analyses and HTTP
answers. The clocks and the sleep are injectable so that tests can assert waits
without waiting.
"""

from __future__ import annotations

import email.utils
import hashlib
import json
import logging
import math
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx

from stockagents.core.errors import DataError, UpstreamError, http_status_reason
from stockagents.core.redact import excerpt, redact_url, register_secret
from stockagents.data.online._ratelimit import Clock, RateLimiter, Sleep

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: Phrases of a body that mean "slow down" even under another status (the SEC's 403).
_RATE_LIMIT_TEXT = ("Request Rate Threshold Exceeded",)
_MAX_REDIRECTS = 5
#: Statuses whose body is never quoted, not even an excerpt: they concern the key.
_AUTH_STATUSES = frozenset({401, 403, 407})


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


def _as_is(fetched: Fetched) -> Fetched:
    return fetched


def _retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta seconds or an HTTP date)."""
    if not value:
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if math.isfinite(seconds) else None
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, when.timestamp() - now)


def _api_message(response: httpx.Response) -> str:
    """A short, redacted excerpt of the error an API put in its JSON body ("" for an
    auth status, whose body is never quoted, and for a body that is not JSON)."""
    if response.status_code in _AUTH_STATUSES:
        return ""
    try:
        body = response.json()
    except ValueError:
        return ""
    if isinstance(body, dict):
        for key in ("message", "error", "detail"):
            value = body.get(key)
            if isinstance(value, dict):
                value = value.get("message")
            if isinstance(value, str) and value.strip():
                return excerpt(value)
    return ""


def _reason(response: httpx.Response) -> str:
    """``key rejected`` or ``upstream error: <excerpt of the API's words>``."""
    message = _api_message(response)
    reason = http_status_reason(response.status_code)
    return f"{reason}: {message}" if message else reason


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    return url.scheme, url.host, url.port


class ApiClient:
    """One provider's HTTP access. ``transport`` is a seam for tests (httpx transports);
    ``clock`` is the wall clock of cache entries and ``Retry-After`` dates, ``monotonic``
    the clock of the rate limit and the deadline (the injected ``clock`` when only that
    one is given)."""

    def __init__(
        self,
        name: str,
        *,
        timeout: float = 10.0,
        max_retries: int = 3,
        rate_limit_per_minute: float = 60.0,
        cache_dir: str | Path | None = None,
        cache_ttl_minutes: float = 15.0,
        headers: Mapping[str, str] | None = None,
        secret_headers: Mapping[str, str] | None = None,
        auth_hint: str = "",
        max_wait: float = 60.0,
        deadline: float = 60.0,
        clock: Clock = time.time,
        monotonic: Clock | None = None,
        sleep: Sleep = time.sleep,
        transport: httpx.BaseTransport | None = None,
        limiter: RateLimiter | None = None,
    ) -> None:
        self.name = name
        self.timeout = timeout
        self.max_retries = max_retries
        self.cache_dir = Path(cache_dir) / name if cache_dir is not None else None
        self.cache_ttl = cache_ttl_minutes * 60.0
        self.auth_hint = auth_hint
        self.max_wait = max_wait
        self.deadline = deadline
        self._clock = clock
        self._monotonic = monotonic or (time.monotonic if clock is time.time else clock)
        self._sleep = sleep
        self.limiter = limiter or RateLimiter(
            rate_limit_per_minute, clock=self._monotonic, sleep=sleep
        )
        self.requests_sent = 0
        for value in (secret_headers or {}).values():
            register_secret(value)  # redacted wherever it might still show up
        self._client = httpx.Client(
            timeout=timeout,
            headers={**(headers or {}), **(secret_headers or {})},
            transport=transport,
            follow_redirects=False,  # followed by hand, same origin only (keys stay home)
        )

    def close(self) -> None:
        """Close the connection pool."""
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

    def _cache_read(self, key: str, cutoff: float | None) -> Fetched | None:
        """The cached answer if still usable (see the module doc), else None."""
        if self.cache_dir is None:
            return None
        path = self.cache_dir / f"{key}.json"
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except OSError as exc:
            logger.warning(
                "%s: cannot read the cache file %s (%s); refetching", self.name, path, exc
            )
            return None
        try:
            entry = json.loads(text)
            fetched_at = float(entry["fetched_at"])
            data = entry["data"]
            if not math.isfinite(fetched_at):
                raise ValueError("fetched_at is not finite")
        except (ValueError, TypeError, KeyError, IndexError):
            logger.warning(
                "%s: the cache file %s is corrupt; ignored, it will be overwritten",
                self.name,
                path,
            )
            return None
        if cutoff is not None and fetched_at >= cutoff:
            return Fetched(data, fetched_at, cached=True)  # complete: nothing can be added
        if self._clock() - fetched_at <= self.cache_ttl:
            return Fetched(data, fetched_at, cached=True)
        return None

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
    def get_json(
        self, url: str, params: Mapping[str, Any] | None = None, *, cutoff: float | None = None
    ) -> Fetched:
        """The decoded JSON of ``GET url?params`` and when it was fetched."""
        return self.request("GET", url, params=params, cutoff=cutoff, parse=_as_is)

    def post_json(self, url: str, body: Any, *, cutoff: float | None = None) -> Fetched:
        """The decoded JSON of ``POST url`` with a JSON ``body`` and when it was fetched."""
        return self.request("POST", url, body=body, cutoff=cutoff, parse=_as_is)

    def get(
        self,
        url: str,
        params: Mapping[str, Any] | None = None,
        *,
        parse: Callable[[Fetched], T],
        cutoff: float | None = None,
    ) -> T:
        """``parse`` of the answer to ``GET url?params`` (cached only once parsed)."""
        return self.request("GET", url, params=params, cutoff=cutoff, parse=parse)

    def post(
        self, url: str, body: Any, *, parse: Callable[[Fetched], T], cutoff: float | None = None
    ) -> T:
        """``parse`` of the answer to ``POST url`` (cached only once parsed)."""
        return self.request("POST", url, body=body, cutoff=cutoff, parse=parse)

    def request(
        self,
        method: str,
        url: str,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        *,
        parse: Callable[[Fetched], T],
        cutoff: float | None = None,
    ) -> T:
        """What ``parse`` makes of the answer, from the cache when usable for ``cutoff``.

        ``parse`` validates: when it raises, the answer is not cached (the error
        propagates); a cached answer it rejects is fetched again."""
        key = self.cache_key(method, url, params, body)
        cached = self._cache_read(key, cutoff)
        if cached is not None:
            try:
                result = parse(cached)
            except DataError as exc:
                logger.warning("%s: a cached answer was rejected (%s); refetching", self.name, exc)
            else:
                logger.debug("%s: cache hit for %s", self.name, redact_url(url))
                return result
        response = self._send(method, url, params, body)
        try:
            data = response.json()
        except ValueError:
            status = response.status_code
            raise UpstreamError(
                f"{self.name}: the answer from {redact_url(url)} is not valid JSON (HTTP "
                f"{status}); the service may be down, try again later",
                self.name,
                f"invalid answer from {self.name} (HTTP {status})",
                status,
            ) from None
        fetched = Fetched(data, self._clock())
        result = parse(fetched)
        self._cache_write(key, fetched)
        return result

    def _attempt(
        self, method: str, url: str, params: Mapping[str, Any] | None, body: Any, timeout: float
    ) -> httpx.Response:
        """One request, following redirects within the same origin only."""
        request = self._client.build_request(
            method, url, params=dict(params or {}) or None, json=body, timeout=timeout
        )
        origin = _origin(request.url)
        for _ in range(_MAX_REDIRECTS + 1):
            response = self._client.send(request)
            target = response.next_request
            if target is None:
                return response
            response.close()
            if _origin(target.url) != origin:
                raise UpstreamError(
                    f"{self.name}: {redact_url(url)} redirected to {target.url.scheme}://"
                    f"{target.url.host}, another host; not followed, so the key is not sent "
                    "there: fix base_url",
                    self.name,
                    f"HTTP {response.status_code} from {self.name} (redirect not followed)",
                    response.status_code,
                )
            request = target
        raise UpstreamError(
            f"{self.name}: {redact_url(url)} redirected more than {_MAX_REDIRECTS} times; "
            "check the provider's base_url",
            self.name,
            f"too many redirects from {self.name}",
        )

    def _send(
        self, method: str, url: str, params: Mapping[str, Any] | None, body: Any
    ) -> httpx.Response:
        started = self._monotonic()
        attempt = 0
        while True:
            self.limiter.wait()
            self.requests_sent += 1
            wait: float | None = None
            response: httpx.Response | None = None
            left = self.deadline - (self._monotonic() - started)
            try:
                answer = self._attempt(method, url, params, body, max(0.1, min(self.timeout, left)))
            except httpx.TimeoutException:
                problem = "timed out"
            except httpx.TransportError as exc:
                problem = f"connection failed ({type(exc).__name__})"
            except (httpx.HTTPError, httpx.InvalidURL, httpx.StreamError) as exc:
                raise UpstreamError(
                    f"{self.name}: {redact_url(url)} failed ({type(exc).__name__}: "
                    f"{excerpt(exc)}); check the provider's base_url",
                    self.name,
                    f"request to {self.name} failed ({type(exc).__name__})",
                ) from None
            else:
                status = answer.status_code
                if status < 300:
                    return answer
                if any(text in answer.text for text in _RATE_LIMIT_TEXT):
                    raise UpstreamError(
                        f"{self.name}: rate-limited by {self.name} ({redact_url(url)} "
                        f"answered HTTP {status}: {_RATE_LIMIT_TEXT[0]}); wait 10 minutes "
                        "and lower rate_limit_per_minute",
                        self.name,
                        f"HTTP {status} from {self.name} (rate limited)",
                        status,
                    )
                if status != 429 and status < 500:
                    raise self._http_error(url, answer)
                response = answer
                problem = f"HTTP {status} ({_reason(answer)}) from {redact_url(url)}"
                wait = _retry_after(answer.headers.get("Retry-After"), self._clock())
                if wait is not None and wait > self.max_wait:
                    raise UpstreamError(
                        f"{self.name}: rate-limited by {self.name} ({redact_url(url)} "
                        f"answered HTTP {status}); retry after {math.ceil(wait)} s",
                        self.name,
                        f"HTTP {status} from {self.name} (rate limited)",
                        status,
                    )
            elapsed = self._monotonic() - started
            if wait is None:
                wait = float(2**attempt)
            if attempt >= self.max_retries or elapsed + wait > self.deadline:
                tries = f"after {attempt + 1} attempt{'s' if attempt else ''}"
                if attempt < self.max_retries:
                    tries += f" and {elapsed:.0f} s (deadline {self.deadline:g} s)"
                fix = "try again later or lower the provider's rate_limit_per_minute"
                if response is None:
                    where = f"{redact_url(url)} {problem}"
                    summary = f"no answer from {self.name} ({problem.split(' (')[0]})"
                else:
                    where = problem
                    summary = f"HTTP {response.status_code} from {self.name}"
                    if response.status_code >= 500:
                        fix = "the service is failing; try again later"
                raise UpstreamError(
                    f"{self.name}: {where} {tries}; {fix}",
                    self.name,
                    summary,
                    response.status_code if response is not None else None,
                )
            logger.info("%s: %s, retrying in %.1f s", self.name, problem, wait)
            self._sleep(wait)
            attempt += 1

    def _http_error(self, url: str, response: httpx.Response) -> UpstreamError:
        """A 3xx or 4xx answer other than 429 as one line: status, reason, fix."""
        status = response.status_code
        if status in _AUTH_STATUSES:
            fix = self.auth_hint or "check the provider's credentials"
        elif status == 404:
            fix = "check the symbol and the provider's base_url"
        elif 300 <= status < 400:
            fix = "check the provider's base_url"
        else:
            fix = "check the request and the provider's base_url"
        return UpstreamError(
            f"{self.name}: HTTP {status} ({_reason(response)}) from {redact_url(url)}; {fix}",
            self.name,
            f"HTTP {status} from {self.name}",
            status,
        )

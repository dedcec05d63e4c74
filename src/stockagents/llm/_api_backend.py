"""What the HTTP API backends share: keys, concurrency, and one-line errors.

``APIBackend`` owns resolving the API key (a placeholder for any other ``base_url``, so a
real key never goes to a third-party server), running a batch concurrently in order,
closing the client, and turning the SDKs' errors (both SDKs raise ``APITimeoutError``,
``APIConnectionError`` and ``APIStatusError``) into one line: the provider, the HTTP
status, a short fixed reason and the fix, e.g. ``OpenAI API error HTTP 401 (key
rejected) for model 'gpt-4o-mini' at api.openai.com; check OPENAI_API_KEY``. The
server's body is never quoted whole (the SDKs' own messages do; a careless server
echoes the request's headers): for a status other than 401/403 at most a short,
redacted excerpt of its JSON error message, which is what says what was wrong with a
request ("Invalid schema for response_format ..."). Subclasses say how to build their
client and how to ask for one answer. Retries with backoff and ``Retry-After`` are the
SDKs'.
"""

from __future__ import annotations

import logging
import time
from abc import abstractmethod
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, ClassVar
from urllib.parse import urlsplit

from pydantic import SecretStr

from stockagents.core.errors import BackendError, ProviderUnavailableError, http_status_reason
from stockagents.core.packages import require_packages
from stockagents.core.redact import excerpt, redact, register_secret
from stockagents.core.settings import Settings, load_settings
from stockagents.llm.base import Backend, GenerationRequest, Sampling

logger = logging.getLogger(__name__)

#: Sent to a compatible server given by ``base_url`` when no key is passed; they ignore it.
PLACEHOLDER_KEY = "not-needed"
#: Requests of one batch in flight at once.
MAX_CONCURRENCY = 4
_RETRYABLE_STATUS = frozenset({408, 409, 429})
#: Statuses whose body is never quoted: they concern the key.
_AUTH_STATUS = frozenset({401, 403, 407})


def _server_message(body: object) -> str:
    """The server's own error message from a decoded JSON error body ("" if none): the
    ``message`` of its ``error`` object, never the raw body."""
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and isinstance(inner.get("message"), str):
            return str(inner["message"])
        if isinstance(inner, str):
            return inner
        if isinstance(body.get("message"), str):
            return str(body["message"])
    return ""


def _one_line(text: str, limit: int = 500) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def _where(base_url: object) -> str:
    """Host and port of the server, without any credentials the URL may carry."""
    parts = urlsplit(str(base_url))
    host = parts.hostname or str(base_url)
    return f"{host}:{parts.port}" if parts.port else host


class APIBackend(Backend):
    """A chat model behind an HTTP API and its official SDK."""

    #: The provider's name in messages ("OpenAI").
    provider: ClassVar[str]
    #: The environment variable the key comes from ("OPENAI_API_KEY").
    key_variable: ClassVar[str]
    #: The SDK's package name ("openai").
    package: ClassVar[str]

    def __init__(
        self,
        model: str,
        api_key: str | None,
        base_url: str | None,
        timeout: float,
        max_retries: int,
        client: Any,
    ) -> None:
        self._model = model
        self._timeout = timeout
        self._max_retries = max_retries
        self._owns_client = client is None
        self._secret: str | None = None
        if client is None:
            key = self._resolve_key(api_key, base_url)
            self._secret = key
            client = self._make_client(self.sdk(), key, base_url, timeout, max_retries)
        else:
            self._max_retries = client.max_retries
            if isinstance(client.timeout, int | float):
                self._timeout = float(client.timeout)
            self._secret = client.api_key if isinstance(client.api_key, str) else None
        if self._secret != PLACEHOLDER_KEY:
            register_secret(self._secret)  # redacted in any message or log line
        self._client = client
        logger.debug(
            "%s backend: model=%s server=%s timeout=%ss max_retries=%d",
            self.provider,
            model,
            _where(client.base_url),
            self._timeout,
            self._max_retries,
        )

    @classmethod
    def sdk(cls) -> Any:
        """The SDK module, or a clear error saying how to install it."""
        install = f"pip install {cls.package}"
        require_packages(cls.package, needed_by=f"the {cls.provider} backend", install=install)
        return __import__(cls.package)

    @abstractmethod
    def _make_client(
        self, sdk: Any, key: str, base_url: str | None, timeout: float, max_retries: int
    ) -> Any:
        """The SDK client."""

    @abstractmethod
    def _settings_key(self, settings: Settings) -> SecretStr | None:
        """This provider's key in the settings."""

    @abstractmethod
    def _answer(self, request: GenerationRequest, sampling: Sampling) -> str:
        """One request's answer; SDK errors go through ``_error``."""

    def _resolve_key(self, api_key: str | None, base_url: str | None) -> str:
        if api_key:
            return api_key
        if base_url is not None:
            return PLACEHOLDER_KEY
        secret = self._settings_key(load_settings())
        if secret is None:
            raise ProviderUnavailableError(
                f"{self.key_variable} is not set; put it in the environment or .env, pass "
                f"api_key, or pass base_url to use another {self.provider}-compatible server"
            )
        return secret.get_secret_value()

    @property
    def model_id(self) -> str:
        return self._model

    def generate(self, requests: Sequence[GenerationRequest], sampling: Sampling) -> list[str]:
        if not requests:
            return []
        started = time.perf_counter()
        if len(requests) == 1:
            texts = [self._answer(requests[0], sampling)]
        else:
            workers = min(MAX_CONCURRENCY, len(requests))
            pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=self.kind)
            try:
                futures: list[Future[str]] = [
                    pool.submit(self._answer, request, sampling) for request in requests
                ]
                texts = [future.result() for future in futures]
            finally:
                # On a failure, requests not started yet are dropped rather than sent.
                pool.shutdown(wait=True, cancel_futures=True)
        logger.debug(
            "%s %s answered %d request(s) in %.2fs",
            self.provider,
            self._model,
            len(requests),
            time.perf_counter() - started,
        )
        return texts

    def close(self) -> None:
        if self._owns_client:
            self._client.close()

    def _warn_cut_off(self, sampling: Sampling) -> None:
        logger.warning(
            "%s %s stopped at max_tokens=%d; the answer may be cut off",
            self.provider,
            self._model,
            sampling.max_new_tokens,
        )

    def _fix(self, status: int) -> str:
        """What to do about an HTTP error ``status``."""
        if status in _AUTH_STATUS:
            return f"check {self.key_variable} (or the api_key given)"
        if status == 404:
            return "check the model name and base_url"
        if status in _RETRYABLE_STATUS or status >= 500:
            return f"gave up after {self._max_retries} retries; try again later"
        return "check the request"

    def _error(self, exc: BaseException) -> BackendError:
        """One line for the user: what failed, the HTTP status, a reason and the fix."""
        sdk = self.sdk()
        where = _where(self._client.base_url)
        name, model = self.provider, self._model
        if isinstance(exc, sdk.APITimeoutError):
            attempts = self._max_retries + 1
            message = (
                f"{name} request to {where} for model {model!r} timed out "
                f"(timeout {self._timeout:g}s per attempt, {attempts} attempt(s))"
            )
        elif isinstance(exc, sdk.APIConnectionError):
            cause = exc.__cause__ or exc.__context__
            detail = f": {excerpt(cause)}" if cause is not None else ""
            message = f"could not connect to {name} server {where} for model {model!r}{detail}"
        elif isinstance(exc, sdk.APIStatusError):
            status = int(exc.status_code)
            reason = http_status_reason(status, server="server error")
            said = "" if status in _AUTH_STATUS else _server_message(exc.body)
            if said:
                reason += f": {excerpt(said)}"
            message = (
                f"{name} API error HTTP {status} ({reason}) for model {model!r} at {where}; "
                f"{self._fix(status)}"
            )
        else:
            message = f"{name} request for model {model!r} failed: {excerpt(exc)}"
        text = _one_line(message)
        if self._secret and self._secret != PLACEHOLDER_KEY:
            text = text.replace(self._secret, "***")
        return BackendError(redact(text))

"""The OpenAI backend: Chat Completions over the official ``openai`` SDK.

Owns turning ``GenerationRequest`` batches into Chat Completions calls (structured output
through ``response_format`` json_schema), running a batch concurrently, and mapping SDK
failures to ``BackendError``. Retries (429, 408, 409, 5xx, timeouts, connection errors)
with exponential backoff and ``Retry-After`` are the SDK's; this module only configures
them. With ``base_url`` it talks to any OpenAI-compatible server (vLLM, Ollama,
llama.cpp). The API key is never logged nor put in an error message.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import urlsplit

from stockagents.core.errors import BackendError, ProviderUnavailableError
from stockagents.core.settings import load_settings
from stockagents.llm.base import Backend, GenerationRequest, Sampling

if TYPE_CHECKING:
    import openai
    from openai.types.chat import ChatCompletionMessageParam
    from openai.types.shared_params import ResponseFormatJSONSchema

__all__ = ["OpenAIBackend"]

logger = logging.getLogger(__name__)

#: Sent when a local OpenAI-compatible server is used without a key; they ignore it.
PLACEHOLDER_KEY = "not-needed"
#: Requests of one batch in flight at once.
MAX_CONCURRENCY = 4
_RETRYABLE_STATUS = frozenset({408, 409, 429})


def _import_openai() -> Any:
    try:
        import openai
    except ImportError as exc:
        raise ProviderUnavailableError(
            "the openai package is not installed; install it with `pip install openai`"
        ) from exc
    return openai


def _server_message(body: object, fallback: str) -> str:
    """The server's own error text from a decoded error body."""
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and isinstance(inner.get("message"), str):
            return str(inner["message"])
        if isinstance(inner, str):
            return inner
        if isinstance(body.get("message"), str):
            return str(body["message"])
    if isinstance(body, str) and body.strip():
        return body.strip()
    return fallback


def _one_line(text: str, limit: int = 500) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def _where(base_url: object) -> str:
    """Host and port of the server, without any credentials the URL may carry."""
    parts = urlsplit(str(base_url))
    host = parts.hostname or str(base_url)
    return f"{host}:{parts.port}" if parts.port else host


class OpenAIBackend(Backend):
    """Answers requests with an OpenAI (or OpenAI-compatible) chat model.

    ``api_key`` defaults to ``OPENAI_API_KEY`` from the settings (environment or
    ``.env``) when no ``base_url`` is given; with a ``base_url`` and no key a placeholder
    is sent, so a real OpenAI key never goes to a third-party server by accident.
    ``max_retries`` and ``timeout`` (seconds, per attempt) configure the SDK's own retry
    loop. ``client`` injects a ready ``openai.OpenAI`` (the other options are then unused).
    """

    kind = "openai"

    def __init__(
        self,
        model: str,
        api_key: str | None = None,
        base_url: str | None = None,
        timeout: float = 60.0,
        max_retries: int = 3,
        client: openai.OpenAI | None = None,
    ) -> None:
        self._model = model
        self._timeout = timeout
        self._max_retries = max_retries
        self._owns_client = client is None
        self._secret: str | None = None
        if client is None:
            sdk = _import_openai()
            key = self._resolve_key(api_key, base_url)
            self._secret = key
            client = cast(
                "openai.OpenAI",
                sdk.OpenAI(
                    api_key=key, base_url=base_url, timeout=timeout, max_retries=max_retries
                ),
            )
        else:
            self._max_retries = client.max_retries
            if isinstance(client.timeout, int | float):
                self._timeout = float(client.timeout)
            self._secret = client.api_key if isinstance(client.api_key, str) else None
        self._client = client
        logger.debug(
            "OpenAI backend: model=%s server=%s timeout=%ss max_retries=%d",
            model,
            _where(client.base_url),
            timeout,
            self._max_retries,
        )

    @staticmethod
    def _resolve_key(api_key: str | None, base_url: str | None) -> str:
        if api_key:
            return api_key
        if base_url is not None:
            return PLACEHOLDER_KEY
        secret = load_settings().openai_api_key
        if secret is None:
            raise ProviderUnavailableError(
                "OPENAI_API_KEY is not set; put it in the environment or .env, pass api_key, "
                "or pass base_url to use an OpenAI-compatible server"
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
            texts = self._answer_concurrently(requests, sampling)
        logger.debug(
            "OpenAI %s answered %d request(s) in %.2fs",
            self._model,
            len(requests),
            time.perf_counter() - started,
        )
        return texts

    def close(self) -> None:
        if self._owns_client:
            self._client.close()

    def _answer_concurrently(
        self, requests: Sequence[GenerationRequest], sampling: Sampling
    ) -> list[str]:
        workers = min(MAX_CONCURRENCY, len(requests))
        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="openai-backend")
        try:
            futures: list[Future[str]] = [
                pool.submit(self._answer, request, sampling) for request in requests
            ]
            return [future.result() for future in futures]
        finally:
            # On a failure, requests not started yet are dropped rather than sent.
            pool.shutdown(wait=True, cancel_futures=True)

    def _answer(self, request: GenerationRequest, sampling: Sampling) -> str:
        from openai import omit

        sdk = _import_openai()
        response_format: ResponseFormatJSONSchema | None = None
        if request.schema is not None:
            response_format = {
                "type": "json_schema",
                "json_schema": {"name": request.name, "schema": request.schema, "strict": False},
            }
        messages = cast("list[ChatCompletionMessageParam]", [dict(m) for m in request.messages])
        try:
            completion = self._client.chat.completions.create(
                model=self._model,
                messages=messages,
                temperature=sampling.temperature,
                top_p=sampling.top_p,
                max_tokens=sampling.max_new_tokens,
                seed=sampling.seed if sampling.seed is not None else omit,
                response_format=response_format if response_format is not None else omit,
            )
        except sdk.OpenAIError as exc:
            raise BackendError(self._describe(exc)) from None
        if not completion.choices:
            raise BackendError(f"OpenAI model {self._model!r} returned no choices")
        choice = completion.choices[0]
        if choice.finish_reason == "length":
            logger.warning(
                "OpenAI %s stopped at max_tokens=%d; the answer may be cut off",
                self._model,
                sampling.max_new_tokens,
            )
        content = choice.message.content
        if content is None and getattr(choice.message, "refusal", None):
            logger.warning("OpenAI %s refused: %s", self._model, choice.message.refusal)
        return content or ""

    def _describe(self, exc: BaseException) -> str:
        """One line for the user: what failed, the HTTP status and the server's words."""
        sdk = _import_openai()
        where = _where(self._client.base_url)
        if isinstance(exc, sdk.APITimeoutError):
            attempts = self._max_retries + 1
            message = (
                f"OpenAI request to {where} for model {self._model!r} timed out "
                f"(timeout {self._timeout:g}s per attempt, {attempts} attempt(s))"
            )
        elif isinstance(exc, sdk.APIConnectionError):
            cause = exc.__cause__ or exc.__context__
            detail = f": {cause}" if cause is not None else ""
            message = (
                f"could not connect to OpenAI server {where} for model {self._model!r}{detail}"
            )
        elif isinstance(exc, sdk.APIStatusError):
            status = int(exc.status_code)
            text = _server_message(exc.body, exc.message)
            message = f"OpenAI API error HTTP {status} for model {self._model!r} at {where}: {text}"
            if status in _RETRYABLE_STATUS or status >= 500:
                message += f" (after {self._max_retries} retries)"
        else:
            message = f"OpenAI request for model {self._model!r} failed: {exc}"
        return self._redact(_one_line(message))

    def _redact(self, text: str) -> str:
        if self._secret and self._secret != PLACEHOLDER_KEY:
            text = text.replace(self._secret, "[redacted]")
        return text

"""The Anthropic backend: the Messages API over the official ``anthropic`` SDK.

Owns turning ``GenerationRequest`` batches into Messages calls (system messages into the
``system`` parameter, structured output through one forced tool whose input is the
answer), running a batch concurrently, and mapping SDK failures to ``BackendError``.
Retries (429, 408, 409, 5xx, timeouts, connection errors) with exponential backoff and
``Retry-After`` are the SDK's; this module only configures them. The API key is never
logged nor put in an error message.

Sampling: Messages API version ``2023-06-01`` takes ``temperature`` and ``top_p``; newer
API versions (the ``anthropic`` 2.x SDK sends ``2026-10-21``) reject them, so they are
sent only when the client speaks ``2023-06-01`` (pin it with
``default_headers={"anthropic-version": "2023-06-01"}`` on an injected client).
"""

from __future__ import annotations

import json
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
    import anthropic
    from anthropic.types import Message, MessageParam, ToolChoiceToolParam, ToolParam

__all__ = ["AnthropicBackend"]

logger = logging.getLogger(__name__)

#: Sent when an Anthropic-compatible local server is used without a key; they ignore it.
PLACEHOLDER_KEY = "not-needed"
#: Requests of one batch in flight at once.
MAX_CONCURRENCY = 4
#: The Messages API version that still accepts ``temperature`` / ``top_p``.
SAMPLING_API_VERSION = "2023-06-01"
TOOL_DESCRIPTION = "Answer in this structure."
_RETRYABLE_STATUS = frozenset({408, 409, 429})


def _import_anthropic() -> Any:
    try:
        import anthropic
    except ImportError as exc:
        raise ProviderUnavailableError(
            "the anthropic package is not installed; install it with `pip install anthropic`"
        ) from exc
    return anthropic


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


class AnthropicBackend(Backend):
    """Answers requests with a Claude model through the Messages API.

    ``api_key`` defaults to ``ANTHROPIC_API_KEY`` from the settings (environment or
    ``.env``) when no ``base_url`` is given; with a ``base_url`` and no key a placeholder
    is sent, so a real key never goes to a third-party server by accident.
    ``max_retries`` and ``timeout`` (seconds, per attempt) configure the SDK's own retry
    loop. ``client`` injects a ready ``anthropic.Anthropic`` (the other options are then
    unused).
    """

    kind = "anthropic"

    def __init__(
        self,
        model: str,
        api_key: str | None = None,
        base_url: str | None = None,
        timeout: float = 60.0,
        max_retries: int = 3,
        client: anthropic.Anthropic | None = None,
    ) -> None:
        self._model = model
        self._timeout = timeout
        self._max_retries = max_retries
        self._owns_client = client is None
        self._secret: str | None = None
        if client is None:
            sdk = _import_anthropic()
            key = self._resolve_key(api_key, base_url)
            self._secret = key
            client = cast(
                "anthropic.Anthropic",
                sdk.Anthropic(
                    api_key=key, base_url=base_url, timeout=timeout, max_retries=max_retries
                ),
            )
        else:
            self._max_retries = client.max_retries
            if isinstance(client.timeout, int | float):
                self._timeout = float(client.timeout)
            self._secret = client.api_key
        self._client = client
        version = client.default_headers.get("anthropic-version")
        self._sampling_supported = version == SAMPLING_API_VERSION
        logger.debug(
            "Anthropic backend: model=%s server=%s api_version=%s timeout=%ss max_retries=%d",
            model,
            _where(client.base_url),
            version,
            timeout,
            self._max_retries,
        )

    @staticmethod
    def _resolve_key(api_key: str | None, base_url: str | None) -> str:
        if api_key:
            return api_key
        if base_url is not None:
            return PLACEHOLDER_KEY
        secret = load_settings().anthropic_api_key
        if secret is None:
            raise ProviderUnavailableError(
                "ANTHROPIC_API_KEY is not set; put it in the environment or .env, pass "
                "api_key, or pass base_url to use an Anthropic-compatible server"
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
            "Anthropic %s answered %d request(s) in %.2fs",
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
        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="anthropic-backend")
        try:
            futures: list[Future[str]] = [
                pool.submit(self._answer, request, sampling) for request in requests
            ]
            return [future.result() for future in futures]
        finally:
            # On a failure, requests not started yet are dropped rather than sent.
            pool.shutdown(wait=True, cancel_futures=True)

    def _sampling_body(self, sampling: Sampling) -> dict[str, object] | None:
        if not self._sampling_supported:
            return None
        body: dict[str, object] = {"temperature": sampling.temperature}
        if sampling.top_p < 1.0:
            body["top_p"] = sampling.top_p
        return body

    def _answer(self, request: GenerationRequest, sampling: Sampling) -> str:
        from anthropic import omit

        sdk = _import_anthropic()
        system, messages = _split_messages(request)
        tools: list[ToolParam] | None = None
        tool_choice: ToolChoiceToolParam | None = None
        if request.schema is not None:
            tools = [
                {
                    "name": request.name,
                    "description": TOOL_DESCRIPTION,
                    "input_schema": request.schema,
                }
            ]
            tool_choice = {"type": "tool", "name": request.name}
        try:
            message = self._client.messages.create(
                model=self._model,
                max_tokens=sampling.max_new_tokens,
                messages=messages,
                system=system if system else omit,
                tools=tools if tools is not None else omit,
                tool_choice=tool_choice if tool_choice is not None else omit,
                extra_body=self._sampling_body(sampling),
            )
        except sdk.AnthropicError as exc:
            raise BackendError(self._describe(exc)) from None
        if message.stop_reason == "max_tokens":
            logger.warning(
                "Anthropic %s stopped at max_tokens=%d; the answer may be cut off",
                self._model,
                sampling.max_new_tokens,
            )
        return self._text_of(message, request)

    def _text_of(self, message: Message, request: GenerationRequest) -> str:
        text = "".join(block.text for block in message.content if block.type == "text")
        if request.schema is None:
            return text
        uses = [block for block in message.content if block.type == "tool_use"]
        for block in uses:
            if block.name == request.name:
                return json.dumps(block.input)
        if uses:
            return json.dumps(uses[0].input)
        logger.warning(
            "Anthropic %s answered %r without calling its tool; returning its text",
            self._model,
            request.name,
        )
        return text

    def _describe(self, exc: BaseException) -> str:
        """One line for the user: what failed, the HTTP status and the server's words."""
        sdk = _import_anthropic()
        where = _where(self._client.base_url)
        if isinstance(exc, sdk.APITimeoutError):
            attempts = self._max_retries + 1
            message = (
                f"Anthropic request to {where} for model {self._model!r} timed out "
                f"(timeout {self._timeout:g}s per attempt, {attempts} attempt(s))"
            )
        elif isinstance(exc, sdk.APIConnectionError):
            cause = exc.__cause__ or exc.__context__
            detail = f": {cause}" if cause is not None else ""
            message = (
                f"could not connect to Anthropic server {where} for model {self._model!r}{detail}"
            )
        elif isinstance(exc, sdk.APIStatusError):
            status = int(exc.status_code)
            text = _server_message(exc.body, exc.message)
            message = (
                f"Anthropic API error HTTP {status} for model {self._model!r} at {where}: {text}"
            )
            if status in _RETRYABLE_STATUS or status >= 500:
                message += f" (after {self._max_retries} retries)"
        else:
            message = f"Anthropic request for model {self._model!r} failed: {exc}"
        return self._redact(_one_line(message))

    def _redact(self, text: str) -> str:
        if self._secret and self._secret != PLACEHOLDER_KEY:
            text = text.replace(self._secret, "[redacted]")
        return text


def _split_messages(request: GenerationRequest) -> tuple[str, list[MessageParam]]:
    """System text (several system messages joined) and the conversation."""
    system_parts: list[str] = []
    conversation: list[MessageParam] = []
    for message in request.messages:
        role = message.get("role", "user")
        content = message.get("content", "")
        if role == "system":
            system_parts.append(content)
        elif role in ("user", "assistant"):
            conversation.append(cast("MessageParam", {"role": role, "content": content}))
        else:
            raise BackendError(
                f"message role {role!r} is not supported by the Anthropic backend "
                "(use system, user or assistant)"
            )
    return "\n\n".join(part for part in system_parts if part), conversation

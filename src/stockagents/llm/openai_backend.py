"""The OpenAI backend: Chat Completions over the official ``openai`` SDK.

Owns turning one ``GenerationRequest`` into a Chat Completions call, with structured
output through ``response_format`` json_schema. With ``base_url`` it talks to any
OpenAI-compatible server (vLLM, Ollama, llama.cpp). Keys, batching, retries and error
messages are ``APIBackend``'s.

llama-cpp-python's server (``python -m llama_cpp.server``) refuses the json_schema form
(HTTP 500, "Input should be 'text' or 'json_object'") and takes ``{"type":
"json_object", "schema": ...}`` instead, whose grammar ignores ``minimum`` and
``maximum``. A server that refuses json_schema naming json_object is asked again in that
form, from then on, with every bounded number written as the enum of its grid values
(``enumerated_schema``: what the local backend's grammar allows), which llama.cpp does
enforce.
"""

from __future__ import annotations

import logging
import math
from typing import TYPE_CHECKING, Any, cast

from pydantic import SecretStr

from stockagents.core.errors import BackendError
from stockagents.core.settings import Settings
from stockagents.llm._api_backend import APIBackend
from stockagents.llm.base import GenerationRequest, Sampling

if TYPE_CHECKING:
    import openai
    from openai.types.chat import ChatCompletionMessageParam
    from openai.types.shared_params import ResponseFormatJSONSchema

__all__ = ["OpenAIBackend", "enumerated_schema"]

logger = logging.getLogger(__name__)

#: Bounded numbers with more grid values than this keep their bounds only.
_ENUM_MAX = 1000


def _places(*bounds: float) -> int:
    """Decimals of the grid: two, more where a bound needs them (0.001)."""
    places = 2
    while places < 6 and any(round(b, places) != b for b in bounds):
        places += 1
    return places


def enumerated_schema(node: Any) -> Any:
    """``node`` (a JSON schema) with each number or integer bounded by ``minimum`` and
    ``maximum`` also given as the ``enum`` of its grid values: whole numbers for integers,
    two decimals for numbers (more where a bound needs them). For servers whose JSON-schema
    grammar enforces enums but not bounds (llama.cpp)."""
    if isinstance(node, list):
        return [enumerated_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: enumerated_schema(value) for key, value in node.items()}
    low, high, kind = out.get("minimum"), out.get("maximum"), out.get("type")
    if (
        kind in ("number", "integer")
        and isinstance(low, int | float)
        and isinstance(high, int | float)
    ):
        places = 0 if kind == "integer" else _places(low, high)
        step = 10**places
        first, last = math.ceil(low * step - 1e-9), math.floor(high * step + 1e-9)
        if 0 <= last - first <= _ENUM_MAX:
            grid = range(first, last + 1)
            out["enum"] = list(grid) if places == 0 else [round(n / step, places) for n in grid]
    return out


def _wants_json_object(exc: Any) -> bool:
    """Whether an API error is a server refusing the json_schema form and naming
    json_object (llama-cpp-python's server)."""
    body = getattr(exc, "body", None)
    error = body.get("error", body) if isinstance(body, dict) else body
    text = str(error.get("message", "") if isinstance(error, dict) else error or "")
    return "response_format" in text and "json_object" in text


class OpenAIBackend(APIBackend):
    """Answers requests with an OpenAI (or OpenAI-compatible) chat model.

    ``api_key`` defaults to ``OPENAI_API_KEY`` from the settings (environment or
    ``.env``) when no ``base_url`` is given; with a ``base_url`` and no key a placeholder
    is sent, so a real OpenAI key never goes to a third-party server by accident.
    ``max_retries`` and ``timeout`` (seconds, per attempt) configure the SDK's own retry
    loop. ``client`` injects a ready ``openai.OpenAI`` (the other options are then unused).
    """

    kind = "openai"
    provider = "OpenAI"
    key_variable = "OPENAI_API_KEY"
    package = "openai"

    def __init__(
        self,
        model: str,
        api_key: str | None = None,
        base_url: str | None = None,
        timeout: float = 60.0,
        max_retries: int = 3,
        client: openai.OpenAI | None = None,
    ) -> None:
        super().__init__(model, api_key, base_url, timeout, max_retries, client)
        #: Structured output as ``{"type": "json_object", "schema": ...}`` (llama.cpp).
        self._json_object = False

    def _make_client(
        self, sdk: Any, key: str, base_url: str | None, timeout: float, max_retries: int
    ) -> Any:
        return sdk.OpenAI(api_key=key, base_url=base_url, timeout=timeout, max_retries=max_retries)

    def _settings_key(self, settings: Settings) -> SecretStr | None:
        return settings.openai_api_key

    def _answer(self, request: GenerationRequest, sampling: Sampling) -> str:
        sdk = self.sdk()
        try:
            completion = self._complete(request, sampling)
        except sdk.APIStatusError as exc:
            if request.schema is None or not _wants_json_object(exc):
                raise self._error(exc) from None
            logger.info(
                "%s server for %s refused json_schema: asking for json_object with the schema",
                self.provider,
                self._model,
            )
            self._json_object = True
            try:
                completion = self._complete(request, sampling)
            except sdk.OpenAIError as again:
                raise self._error(again) from None
        except sdk.OpenAIError as exc:
            raise self._error(exc) from None
        if not completion.choices:
            raise BackendError(f"OpenAI model {self._model!r} returned no choices")
        choice = completion.choices[0]
        if choice.finish_reason == "length":
            self._warn_cut_off(sampling)
        content = choice.message.content
        if content is None and getattr(choice.message, "refusal", None):
            logger.warning("OpenAI %s refused: %s", self._model, choice.message.refusal)
        return content or ""

    def _complete(self, request: GenerationRequest, sampling: Sampling) -> Any:
        from openai import omit

        response_format: ResponseFormatJSONSchema | None = None
        if request.schema is not None and self._json_object:
            llama_form = {"type": "json_object", "schema": enumerated_schema(request.schema)}
            response_format = cast("ResponseFormatJSONSchema", llama_form)
        elif request.schema is not None:
            response_format = {
                "type": "json_schema",
                "json_schema": {"name": request.name, "schema": request.schema, "strict": False},
            }
        messages = cast("list[ChatCompletionMessageParam]", [dict(m) for m in request.messages])
        return self._client.chat.completions.create(
            model=self._model,
            messages=messages,
            temperature=sampling.temperature,
            top_p=sampling.top_p,
            max_tokens=sampling.max_new_tokens,
            seed=sampling.seed if sampling.seed is not None else omit,
            response_format=response_format if response_format is not None else omit,
        )

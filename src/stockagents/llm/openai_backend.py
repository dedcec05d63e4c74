"""The OpenAI backend: Chat Completions over the official ``openai`` SDK.

Owns turning one ``GenerationRequest`` into a Chat Completions call, with structured
output through ``response_format`` json_schema. With ``base_url`` it talks to any
OpenAI-compatible server (vLLM, Ollama, llama.cpp). Keys, batching, retries and error
messages are ``APIBackend``'s.
"""

from __future__ import annotations

import logging
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

__all__ = ["OpenAIBackend"]

logger = logging.getLogger(__name__)


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

    def _make_client(
        self, sdk: Any, key: str, base_url: str | None, timeout: float, max_retries: int
    ) -> Any:
        return sdk.OpenAI(api_key=key, base_url=base_url, timeout=timeout, max_retries=max_retries)

    def _settings_key(self, settings: Settings) -> SecretStr | None:
        return settings.openai_api_key

    def _answer(self, request: GenerationRequest, sampling: Sampling) -> str:
        from openai import omit

        sdk = self.sdk()
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

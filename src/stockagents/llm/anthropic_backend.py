"""The Anthropic backend: the Messages API over the official ``anthropic`` SDK.

Owns turning one ``GenerationRequest`` into a Messages call: system messages into the
``system`` parameter, structured output through one forced tool whose input is the
answer. Keys, batching, retries and error messages are ``APIBackend``'s.

Sampling: Messages API version ``2023-06-01`` takes ``temperature`` and ``top_p``; newer
API versions (the ``anthropic`` 2.x SDK sends ``2026-10-21``) reject them, so they are
sent only when the client speaks ``2023-06-01`` (pin it with
``default_headers={"anthropic-version": "2023-06-01"}`` on an injected client).
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any, cast

from pydantic import SecretStr

from stockagents.core.errors import BackendError
from stockagents.core.settings import Settings
from stockagents.llm._api_backend import APIBackend
from stockagents.llm.base import GenerationRequest, Sampling

if TYPE_CHECKING:
    import anthropic
    from anthropic.types import Message, MessageParam, ToolChoiceToolParam, ToolParam

__all__ = ["AnthropicBackend"]

logger = logging.getLogger(__name__)

#: The Messages API version that still accepts ``temperature`` / ``top_p``.
SAMPLING_API_VERSION = "2023-06-01"
TOOL_DESCRIPTION = "Answer in this structure."


class AnthropicBackend(APIBackend):
    """Answers requests with a Claude model through the Messages API.

    ``api_key`` defaults to ``ANTHROPIC_API_KEY`` from the settings (environment or
    ``.env``) when no ``base_url`` is given; with a ``base_url`` and no key a placeholder
    is sent, so a real key never goes to a third-party server by accident.
    ``max_retries`` and ``timeout`` (seconds, per attempt) configure the SDK's own retry
    loop. ``client`` injects a ready ``anthropic.Anthropic`` (the other options are then
    unused).
    """

    kind = "anthropic"
    provider = "Anthropic"
    key_variable = "ANTHROPIC_API_KEY"
    package = "anthropic"

    def __init__(
        self,
        model: str,
        api_key: str | None = None,
        base_url: str | None = None,
        timeout: float = 60.0,
        max_retries: int = 3,
        client: anthropic.Anthropic | None = None,
    ) -> None:
        super().__init__(model, api_key, base_url, timeout, max_retries, client)
        version = self._client.default_headers.get("anthropic-version")
        self._sampling_supported = version == SAMPLING_API_VERSION
        logger.debug("Anthropic backend: api_version=%s", version)

    def _make_client(
        self, sdk: Any, key: str, base_url: str | None, timeout: float, max_retries: int
    ) -> Any:
        return sdk.Anthropic(
            api_key=key, base_url=base_url, timeout=timeout, max_retries=max_retries
        )

    def _settings_key(self, settings: Settings) -> SecretStr | None:
        return settings.anthropic_api_key

    def _sampling_body(self, sampling: Sampling) -> dict[str, object] | None:
        if not self._sampling_supported:
            return None
        body: dict[str, object] = {"temperature": sampling.temperature}
        if sampling.top_p < 1.0:
            body["top_p"] = sampling.top_p
        return body

    def _answer(self, request: GenerationRequest, sampling: Sampling) -> str:
        from anthropic import omit

        sdk = self.sdk()
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
            raise self._error(exc) from None
        if message.stop_reason == "max_tokens":
            self._warn_cut_off(sampling)
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

"""The one interface every model backend implements.

``Backend.generate(requests, sampling) -> texts``: a batch of chat conversations, each
with the JSON schema its answer must follow (and, for local models, which LoRA adapter
answers it), in; one raw text per request out. ``Backend.complete`` is the same call that
also says what each answer cost (new tokens), where the backend counts them. Backends
know nothing about agents, observations or trading; parsing, validation and repair live
in ``stockagents.agents``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Backend", "ChatMessage", "Generation", "GenerationRequest", "Sampling"]

#: ``{"role": "system" | "user" | "assistant", "content": "..."}``
ChatMessage = dict[str, str]


@dataclass(frozen=True)
class Sampling:
    """How to decode. Temperature 0 means greedy."""

    max_new_tokens: int = 256
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int | None = 0


@dataclass(frozen=True)
class GenerationRequest:
    """One conversation to answer.

    ``schema`` is the JSON schema of the answer (None: free text). ``name`` names the
    schema for providers that want one. ``adapter`` picks a LoRA adapter on local
    backends (None: the base model). ``context`` carries structured data for backends
    that do not read text (the expert backend); text backends ignore it.
    """

    messages: list[ChatMessage]
    schema: dict[str, Any] | None = None
    name: str = "answer"
    adapter: str | None = None
    context: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Generation:
    """One raw answer and its new tokens (None when the backend does not count them)."""

    text: str
    tokens: int | None = None


class Backend(ABC):
    """Turns a batch of requests into raw texts, one per request, in order."""

    #: Short backend kind ("hf", "openai", "anthropic", "expert", "scripted").
    kind: str = "backend"

    @property
    @abstractmethod
    def model_id(self) -> str:
        """What answers: a model name, path or preset, for manifests and results."""

    @abstractmethod
    def generate(self, requests: Sequence[GenerationRequest], sampling: Sampling) -> list[str]:
        """Answer every request; a failed request raises ``BackendError``."""

    def complete(
        self, requests: Sequence[GenerationRequest], sampling: Sampling
    ) -> list[Generation]:
        """``generate`` with each answer's token count where the backend knows it."""
        return [Generation(text) for text in self.generate(requests, sampling)]

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release clients or memory."""

"""A backend that answers from a script: for tests, no model involved."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from stockagents.llm.base import Backend, GenerationRequest, Sampling

__all__ = ["ScriptedBackend"]


class ScriptedBackend(Backend):
    """Answers with ``responses`` in turn (cycling), or with ``responses(request)``.

    Every request it receives is kept in ``requests`` for assertions.
    """

    kind = "scripted"

    def __init__(
        self,
        responses: Sequence[str] | Callable[[GenerationRequest], str],
        name: str = "scripted",
    ) -> None:
        self.responses = responses
        self.name = name
        self.requests: list[GenerationRequest] = []
        self.calls = 0

    @property
    def model_id(self) -> str:
        return self.name

    def generate(self, requests: Sequence[GenerationRequest], sampling: Sampling) -> list[str]:
        self.calls += 1
        out = []
        for request in requests:
            if callable(self.responses):
                out.append(self.responses(request))
            else:
                out.append(self.responses[len(self.requests) % len(self.responses)])
            self.requests.append(request)
        return out

"""Teachers: who writes the answers a student agent learns from.

A teacher is one or more backends answering the agents' own requests (the same prompt,
the same answer schema, one repair round): ``expert`` (the rule-based agents, offline,
the default), ``openai`` and ``anthropic`` (their SDKs; keys from the environment or
``.env``; ``base_url`` for compatible servers), or several at once (``openai,anthropic``),
which take turns example by example for diversity. The API providers among them can
also write the headlines of news days (``headline_writer``; ``teacher_headlines``).

A provider that cannot be used here (its key is not set, or its SDK is not installed)
falls back to the expert teacher with a warning, so the guide's commands run offline as
written; ``Teacher.fallbacks`` says what was replaced and why, and the data manifests
record it. ``fallback=False`` (``--no-fallback``) makes it an error instead, and so does a
provider given a ``base_url`` (a server was named, so it is not silently replaced).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from stockagents.agents.answering import Answer, Prompt, answer_prompts
from stockagents.agents.expert_backend import ExpertBackend
from stockagents.core.errors import ConfigError, ProviderUnavailableError
from stockagents.llm.base import Backend, Sampling
from stockagents.training.synthetic.teacher_headlines import HeadlineWriter

__all__ = ["PROVIDERS", "Teacher", "TeacherAnswer", "make_teacher"]

logger = logging.getLogger(__name__)

PROVIDERS = ("expert", "openai", "anthropic")
#: Backend kinds that can write news headlines (the expert only answers).
HEADLINE_PROVIDERS = ("openai", "anthropic")
DEFAULT_MODELS = {"openai": "gpt-4o", "anthropic": "claude-sonnet-4-5", "expert": "rules"}
_BATCH = 8


@dataclass(frozen=True)
class TeacherAnswer:
    """A teacher's answer to one example (``parsed`` None: invalid after the repair)."""

    teacher: str
    answer: Answer


class Teacher:
    """Answers payloads for an agent, rotating over its backends."""

    def __init__(
        self,
        backends: Sequence[tuple[str, Backend]],
        temperature: float = 0.0,
        fallbacks: Sequence[str] = (),
    ):
        if not backends:
            raise ConfigError("a teacher needs at least one provider")
        self.backends = list(backends)
        self.sampling = Sampling(max_new_tokens=400, temperature=temperature)
        #: The providers replaced by the expert teacher, each with why.
        self.fallbacks = list(fallbacks)

    @property
    def name(self) -> str:
        return ",".join(name for name, _ in self.backends)

    @property
    def headline_writers(self) -> list[str]:
        """The names of the backends that can write headlines (the API providers)."""
        return [name for name, b in self.backends if b.kind in HEADLINE_PROVIDERS]

    def headline_writer(self, share: float) -> HeadlineWriter:
        """A writer over this teacher's API backends, for ``share`` of the news days."""
        writers = [(n, b) for n, b in self.backends if b.kind in HEADLINE_PROVIDERS]
        return HeadlineWriter(writers, share)

    def answer(
        self,
        agent: str,
        payloads: Sequence[dict[str, object]],
        progress: Callable[[int], None] | None = None,
    ) -> list[TeacherAnswer]:
        """One answer per payload, in order; ``progress(n)`` after each batch."""
        out: list[TeacherAnswer | None] = [None] * len(payloads)
        for slot, (name, backend) in enumerate(self.backends):
            mine = list(range(slot, len(payloads), len(self.backends)))
            for start in range(0, len(mine), _BATCH):
                rows = mine[start : start + _BATCH]
                prompts = [Prompt(dict(payloads[i])) for i in rows]
                for i, answer in zip(
                    rows, answer_prompts(agent, backend, prompts, self.sampling), strict=True
                ):
                    out[i] = TeacherAnswer(name, answer)
                if progress is not None:
                    progress(len(rows))
        return [a for a in out if a is not None]

    def close(self) -> None:
        for _, backend in self.backends:
            backend.close()


def make_teacher(
    provider: str,
    model: str | None = None,
    base_url: str | None = None,
    *,
    fallback: bool = True,
) -> Teacher:
    """The teacher for ``provider`` (``expert``, ``openai``, ``anthropic`` or a comma list).

    ``model`` names the API model (one for all providers, or a comma list in the same
    order). A provider that is unavailable (no key, no SDK) is replaced by the expert
    teacher with a warning, or with ``fallback=False`` is a ``ProviderUnavailableError``
    naming the key. A ``base_url`` needs no key, so it never falls back.
    """
    names = [p.strip().lower() for p in provider.split(",") if p.strip()]
    unknown = [n for n in names if n not in PROVIDERS]
    if not names or unknown:
        raise ConfigError(
            f"--provider {provider!r}: use expert, openai, anthropic or a comma list of them"
        )
    models = [m.strip() for m in (model or "").split(",") if m.strip()]
    if len(models) > 1 and len(models) != len(names):
        raise ConfigError(f"--model {model!r}: give one model, or one per provider ({provider})")
    backends: list[tuple[str, Backend]] = []
    fallbacks: list[str] = []
    for i, name in enumerate(names):
        chosen = models[i] if len(models) > 1 else models[0] if models else None
        if name == "expert":
            backends.append(("expert", ExpertBackend()))
            continue
        chosen = chosen or DEFAULT_MODELS[name]
        try:
            backends.append((f"{name}:{chosen}", _api_backend(name, chosen, base_url)))
        except ProviderUnavailableError as exc:
            if not fallback or base_url is not None:
                raise
            why = f"{name}:{chosen} unavailable ({str(exc).split(';')[0]})"
            logger.warning("%s: the expert teacher answers instead (--no-fallback stops)", why)
            fallbacks.append(why)
            backends.append(("expert", ExpertBackend()))
    unique = {n: b for n, b in backends}  # one expert, however many providers fell back
    for n, b in backends:
        if unique.get(n) is not b:
            b.close()
    return Teacher(list(unique.items()), fallbacks=fallbacks)


def _api_backend(name: str, model: str, base_url: str | None) -> Backend:
    if name == "openai":
        from stockagents.llm.openai_backend import OpenAIBackend

        return OpenAIBackend(model, base_url=base_url)
    from stockagents.llm.anthropic_backend import AnthropicBackend

    return AnthropicBackend(model, base_url=base_url)

"""One way for an agent to answer: ``agent.answer(question)`` and ``answer_all(asks)``.

Every agent (the three analysts and the strategist; expert rules or a model) answers a
``Question`` with an ``Answered``: the result (a ``Signal`` or a ``Decision``) and the
``Completion`` that produced it (the raw text, whether it was valid or repaired, latency
and tokens). ``answer_all`` answers many (agent, question) pairs in as few model calls
as possible: the questions whose agents share a backend (and sampling) go in one batch,
the rules and the "no data" answers need no call at all.

``answer_prompts`` asks a model prepared questions (a teacher writing training data,
held-out evaluation, reward scoring): an agent's payload, or recorded prompt messages.

Callers (the coordinator, evaluation, collection, serving, training) use only this
module; how a rule or a model produces a signal stays inside ``stockagents.agents``.
"""

from __future__ import annotations

import dataclasses
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, Protocol, TypeVar

from stockagents.agents._model_answers import Answer, answer_batch, build_request, expert_completion
from stockagents.agents.prompting import render_prompt
from stockagents.agents.runtime import ModelRuntime
from stockagents.core.types import Decision, PortfolioContext, Signal
from stockagents.features.observation import Observation
from stockagents.llm.base import Backend, ChatMessage, GenerationRequest, Sampling

__all__ = [
    "Answer",
    "Answered",
    "Completion",
    "Prompt",
    "Question",
    "Responder",
    "answer_all",
    "answer_prompts",
]

R = TypeVar("R", Signal, Decision)


@dataclass(frozen=True)
class Question:
    """What an agent is asked: an observation and, for the strategist, the analysts'
    signals and the portfolio it would trade in."""

    observation: Observation
    signals: Mapping[str, Signal] | None = None
    portfolio: PortfolioContext | None = None


@dataclass(frozen=True)
class Completion:
    """How an answer was produced.

    ``text`` is the model's raw completion, or for the rules their answer written as a
    model would write it (the answer schema's JSON). ``source`` is ``model`` or
    ``rules`` (the rules also answer for a model agent when there is no data to read).
    ``latency_ms`` is the wall time of the call that produced it (shared by a batch);
    ``tokens`` the new tokens, where the backend counts them.
    """

    text: str
    source: Literal["model", "rules"]
    valid: bool = True
    repaired: bool = False
    error: str | None = None
    latency_ms: float = 0.0
    tokens: int | None = None


@dataclass(frozen=True)
class Answered(Generic[R]):
    """An agent's answer: its result and the completion behind it; ``payload()`` is what
    the agent read (its prompt's facts) and ``prompt()`` the chat a model reads."""

    agent: str
    result: R
    completion: Completion
    reader: Callable[[], dict[str, Any]] = field(repr=False, compare=False, default=dict)

    def payload(self) -> dict[str, Any]:
        """What the agent read, as JSON-ready data."""
        return self.reader()

    def prompt(self) -> list[ChatMessage]:
        """The chat messages a model reads for this question."""
        return render_prompt(self.agent, self.payload())


@dataclass(frozen=True)
class Plan(Generic[R]):
    """How an agent will answer one question: already answered (rules, no data), or a
    model request and how to read the model's answer."""

    payload: Callable[[], dict[str, Any]]
    ready: R | None = None
    runtime: ModelRuntime | None = None
    request: GenerationRequest | None = None
    price: float = 0.0
    read: Callable[[Answer], R] | None = None


class Responder(Protocol[R]):
    """What every agent is to ``answer_all``: a name, validity counts and a plan per
    question."""

    @property
    def name(self) -> str: ...

    @property
    def stats(self) -> Counter[str]: ...

    def plan(self, question: Question) -> Plan[R]: ...


def _rules(plan: Plan[R], agent: str, result: R, price: float, started: float) -> Answered[R]:
    text = expert_completion(result, price)  # a signal's completion ignores the price
    latency = (time.perf_counter() - started) * 1000
    completion = Completion(text, "rules", latency_ms=round(latency, 3))
    return Answered(agent, result, completion, plan.payload)


def _from_model(
    plan: Plan[R], agent: str, result: R, answer: Answer, latency_ms: float
) -> Answered[R]:
    completion = Completion(
        text=answer.raw,
        source="model",
        valid=answer.parsed is not None,
        repaired=answer.repaired,
        error=answer.error,
        latency_ms=round(latency_ms, 3),
        tokens=answer.tokens,
    )
    return Answered(agent, result, completion, plan.payload)


def answer_all(
    asks: Sequence[tuple[Responder[R], Question]],
    stats: Counter[str] | None = None,
    *,
    parallel: bool = False,
) -> list[Answered[R]]:
    """Every (agent, question)'s answer, in order, in as few model calls as possible.

    Rules answer at once; model questions are grouped by backend and sampling, each group
    in one ``generate`` call (the backend splits it into its own batch size), with one
    repair round for invalid answers; ``parallel`` runs the groups (different backends)
    concurrently. Validity counts go to each agent's ``stats`` and to ``stats``.
    """
    out: list[Answered[R] | None] = [None] * len(asks)
    groups: dict[tuple[int, object], list[tuple[int, Plan[R]]]] = {}
    for i, (agent, question) in enumerate(asks):
        started = time.perf_counter()
        plan = agent.plan(question)
        if plan.ready is not None:
            out[i] = _rules(plan, agent.name, plan.ready, question.observation.price, started)
        else:
            assert plan.runtime is not None
            key = (id(plan.runtime.backend), plan.runtime.sampling)
            groups.setdefault(key, []).append((i, plan))

    def run(members: list[tuple[int, Plan[R]]]) -> None:
        runtime = members[0][1].runtime
        assert runtime is not None
        items = [(asks[i][0].name, p.request, p.price) for i, p in members]
        started = time.perf_counter()
        answers = answer_batch(runtime.backend, items, runtime.sampling)  # type: ignore[arg-type]
        latency = (time.perf_counter() - started) * 1000
        for (i, plan), answer in zip(members, answers, strict=True):
            assert plan.read is not None
            agent = asks[i][0]
            key = "invalid" if answer.parsed is None else "repaired" if answer.repaired else "valid"
            for counter in (agent.stats, stats):
                if counter is not None:
                    counter[f"{agent.name}.{key}"] += 1
            out[i] = _from_model(plan, agent.name, plan.read(answer), answer, latency)

    if parallel and len(groups) > 1:
        with ThreadPoolExecutor(len(groups), thread_name_prefix="answer") as pool:
            for future in [pool.submit(run, members) for members in groups.values()]:
                future.result()
    else:
        for members in groups.values():
            run(members)
    return [a for a in out if a is not None]


@dataclass(frozen=True)
class Prompt:
    """A prepared question: the ``payload`` an agent reads and, when recorded, the exact
    ``messages`` to send (None: the agent's prompt for ``payload``); ``close`` is the
    price levels are relative to."""

    payload: dict[str, Any] = field(default_factory=dict)
    messages: list[ChatMessage] | None = None
    close: float = 0.0


def answer_prompts(
    agent: str,
    backend: Backend,
    prompts: Sequence[Prompt],
    sampling: Sampling,
    *,
    adapter: str | None = None,
    stats: Counter[str] | None = None,
) -> list[Answer]:
    """``backend``'s answers as ``agent`` to ``prompts``, in one call, validated against
    the agent's answer schema with one repair round (``Answer.parsed`` is None when still
    invalid)."""
    items = []
    for prompt in prompts:
        request = build_request(agent, prompt.payload, adapter)
        if prompt.messages is not None:
            request = dataclasses.replace(request, messages=prompt.messages)
        items.append((agent, request, prompt.close))
    return answer_batch(backend, items, sampling, stats)

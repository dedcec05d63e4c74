"""Answering with models: batch the requests, validate, repair once, fall back.

Private to ``stockagents.agents``: callers answer through ``agents.answering``.

``answer_batch`` sends every request that shares a backend in one call, parses each
answer against its schema (plus the checks a schema cannot state, such as a BUY's stop
below the close), asks once more with the error for the invalid ones, and gives up on
what is still invalid. ``signal_from`` / ``decision_from`` turn an answer into the
contract, or into a fallback flagged ``valid=False`` that keeps the raw text.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from stockagents.agents.prompting import (
    REASONING_MAX,
    DecisionAnswer,
    SignalAnswer,
    answer_schema,
    parse_answer,
    render_prompt,
    repair_messages,
)
from stockagents.core.errors import BackendError
from stockagents.core.types import Action, AgentName, Decision, Signal, SignalLabel
from stockagents.features.observation import Observation
from stockagents.llm.base import Backend, Generation, GenerationRequest, Sampling


@dataclass
class Answer:
    """One agent's answer after validation (and maybe a repair)."""

    agent: str
    request: GenerationRequest
    raw: str
    parsed: SignalAnswer | DecisionAnswer | None
    error: str | None
    repaired: bool = False
    tokens: int | None = None


def build_request(agent: str, payload: dict[str, object], adapter: str | None) -> GenerationRequest:
    """The model request for ``agent`` reading ``payload`` (its prompt and answer schema)."""
    return GenerationRequest(
        messages=render_prompt(agent, payload),
        schema=answer_schema(agent),
        name=f"{agent}_answer",
        adapter=adapter,
        context={"agent": agent, "payload": payload},
    )


def _check(
    agent: str, text: str, price: float
) -> tuple[SignalAnswer | DecisionAnswer | None, str | None]:
    del price  # levels are relative to the close, so nothing price-dependent to check
    return parse_answer(agent, text)


def _repair_request(answer: Answer) -> GenerationRequest:
    request = answer.request
    return GenerationRequest(
        messages=repair_messages(request.messages, answer.raw, answer.error or "invalid"),
        schema=request.schema,
        name=request.name,
        adapter=request.adapter,
        context=request.context,
    )


def answer_batch(
    backend: Backend,
    items: Sequence[tuple[str, GenerationRequest, float]],
    sampling: Sampling,
    stats: Counter[str] | None = None,
) -> list[Answer]:
    """Answers for ``(agent, request, close)`` items, with one repair round."""
    try:
        first = backend.complete([request for _, request, _ in items], sampling)
    except BackendError as exc:  # the model is unreachable: every answer falls back
        answers = [
            Answer(agent, request, "", None, f"backend failed: {exc}")
            for agent, request, _ in items
        ]
        _count(answers, stats)
        return answers
    answers = []
    for (agent, request, price), generation in zip(items, first, strict=True):
        parsed, error = _check(agent, generation.text, price)
        text, tokens = generation.text, generation.tokens
        answers.append(Answer(agent, request, text, parsed, error, False, tokens))
    broken = [i for i, a in enumerate(answers) if a.parsed is None]
    if broken:
        retries = [_repair_request(answers[i]) for i in broken]
        try:
            again = backend.complete(retries, sampling)
        except BackendError as exc:
            again = [Generation("")] * len(retries)
            for i in broken:
                answers[i].error = f"{answers[i].error}; repair failed: {exc}"
        for i, generation in zip(broken, again, strict=True):
            text = generation.text
            parsed, error = _check(answers[i].agent, text, items[i][2])
            tokens = _add(answers[i].tokens, generation.tokens)
            answers[i].tokens = tokens
            if parsed is not None:
                answers[i] = Answer(
                    answers[i].agent, answers[i].request, text, parsed, None, True, tokens
                )
            else:
                answers[i].error = f"{answers[i].error}; after repair: {error}"
                answers[i].raw = f"{answers[i].raw}\n--- repair ---\n{text}"
    _count(answers, stats)
    return answers


def _add(a: int | None, b: int | None) -> int | None:
    return None if a is None or b is None else a + b


def _count(answers: Sequence[Answer], stats: Counter[str] | None) -> None:
    if stats is None:
        return
    for answer in answers:
        key = "invalid" if answer.parsed is None else "repaired" if answer.repaired else "valid"
        stats[f"{answer.agent}.{key}"] += 1


def _distance(level: float | None, price: float) -> float | None:
    if level is None or price <= 0:
        return None
    return round(min(0.5, max(0.001, abs(level - price) / price)), 4)


def _shorten(text: str, limit: int = REASONING_MAX) -> str:
    """The first sentence of ``text`` (the experts open with the numbers their decision
    follows from, which is what a model should learn to write; the rest is for people),
    cut to ``limit`` characters at a word boundary."""
    text = text.split(". ", 1)[0].strip()
    if len(text) <= limit:
        return text
    cut = text[: limit - 1].rsplit(" ", 1)[0].rstrip(" ,;:")
    return f"{cut}…"


def expert_completion(result: Signal | Decision, price: float = 0.0) -> str:
    """An expert's answer written as a model would write it (the answer schema's JSON);
    ``price`` (the close) turns a decision's levels into distances."""
    if isinstance(result, Signal):
        answer: SignalAnswer | DecisionAnswer = SignalAnswer(
            signal=result.signal.value,
            score=result.score,
            confidence=result.confidence,
            reasoning=_shorten(result.reasoning),
        )
    else:
        answer = DecisionAnswer(
            action=result.action.value,
            position_size=result.position_size,
            confidence=result.confidence,
            stop_loss_pct=_distance(result.stop_loss, price),
            take_profit_pct=_distance(result.take_profit, price),
            horizon_days=min(result.horizon_days, 20),
            reasoning=_shorten(result.reasoning),
        )
    return answer.model_dump_json()


def signal_from(agent: AgentName, observation: Observation, answer: Answer) -> Signal:
    """The analyst's Signal, or a neutral fallback flagged invalid with the raw text."""
    parsed = answer.parsed
    if isinstance(parsed, SignalAnswer):
        return Signal(
            agent=agent,
            symbol=observation.symbol,
            as_of=observation.as_of,
            signal=SignalLabel(parsed.signal),
            score=parsed.score,
            confidence=parsed.confidence,
            reasoning=parsed.reasoning,
            key_factors=["repaired answer"] if answer.repaired else [],
        )
    return Signal(
        agent=agent,
        symbol=observation.symbol,
        as_of=observation.as_of,
        signal=SignalLabel.NEUTRAL,
        score=0.0,
        confidence=0.0,
        reasoning=f"model output invalid ({answer.error}); raw: {answer.raw[:300]!r}",
        key_factors=["invalid model output"],
        valid=False,
    )


def decision_from(observation: Observation, answer: Answer, horizon_cap: int) -> Decision:
    """The strategist's Decision, or HOLD with zero size flagged invalid."""
    parsed = answer.parsed
    if isinstance(parsed, DecisionAnswer):
        side = {"BUY": 1.0, "SELL": -1.0}.get(parsed.action, 0.0)
        price = observation.price
        stop = take = None
        if side and price > 0:
            if parsed.stop_loss_pct is not None:
                stop = round(price * (1 - side * parsed.stop_loss_pct), 4)
            if parsed.take_profit_pct is not None:
                take = round(price * (1 + side * parsed.take_profit_pct), 4)
        return Decision(
            symbol=observation.symbol,
            as_of=observation.as_of,
            action=Action(parsed.action),
            position_size=parsed.position_size,
            confidence=parsed.confidence,
            stop_loss=stop,
            take_profit=take,
            horizon_days=min(parsed.horizon_days, horizon_cap),
            reasoning=parsed.reasoning,
            key_factors=["repaired answer"] if answer.repaired else [],
        )
    return Decision(
        symbol=observation.symbol,
        as_of=observation.as_of,
        action=Action.HOLD,
        position_size=0.0,
        confidence=0.0,
        reasoning=f"model output invalid ({answer.error}); raw: {answer.raw[:300]!r}",
        key_factors=["invalid model output"],
        valid=False,
    )

"""One way to answer: ``agent.answer`` and ``answer_all`` (batching, completions, counts)."""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from collections.abc import Sequence
from typing import Any

from stockagents.agents import FundamentalAgent, NewsAgent, StrategistAgent, TechnicalAgent
from stockagents.agents.answering import Prompt, Question, answer_all, answer_prompts
from stockagents.agents.runtime import ModelRuntime
from stockagents.agents.team import AgentTeam
from stockagents.core.config import AppConfig
from stockagents.core.types import Action
from stockagents.data.factory import DataSources
from stockagents.features.observation import ObservationBuilder
from stockagents.llm.base import Generation, GenerationRequest, Sampling
from tests.scripted import ScriptedBackend

GOOD = json.dumps({"signal": "bearish", "score": -0.4, "confidence": 0.5, "reasoning": "down"})
DECISION = json.dumps(
    {"action": "BUY", "position_size": 0.1, "confidence": 0.6, "stop_loss_pct": 0.05,
     "take_profit_pct": 0.1, "horizon_days": 5, "reasoning": "go"}
)  # fmt: skip


class Counting(ScriptedBackend):
    """Scripted answers that report 7 new tokens each."""

    def complete(
        self, requests: Sequence[GenerationRequest], sampling: Sampling
    ) -> list[Generation]:
        return [Generation(text, 7) for text in self.generate(requests, sampling)]


def _observations(sources: DataSources, days: int = 3) -> list:  # type: ignore[type-arg]
    builder = ObservationBuilder(sources)
    start = dt.date(2023, 6, 26)
    return [builder.build("AAPL", start + dt.timedelta(days=i)) for i in range(days)]


def test_analysts_of_many_days_answer_in_one_call(full_sources: DataSources) -> None:
    backend = Counting([GOOD])
    runtime = ModelRuntime(backend, None, Sampling(), "scripted", "scripted-1")
    agents: list[Any] = [NewsAgent(sources=full_sources), TechnicalAgent(sources=full_sources)]
    for agent in agents:
        agent.runtime = runtime
    expert = FundamentalAgent(sources=full_sources)
    observations = _observations(full_sources)
    asks = [(a, Question(o)) for o in observations for a in (*agents, expert)]
    stats: Counter[str] = Counter()
    answers = answer_all(asks, stats)
    assert backend.calls == 1  # six model questions, one generate call
    assert len(backend.requests) == 6
    assert [a.agent for a in answers] == ["news", "technical", "fundamental"] * 3
    model = answers[1]
    assert (model.result.score, model.result.valid) == (-0.4, True)
    assert model.completion.source == "model"
    assert (model.completion.text, model.completion.tokens) == (GOOD, 7)
    assert model.completion.latency_ms >= 0
    assert model.payload()["symbol"] == "AAPL"
    assert model.prompt()[0]["role"] == "system"
    rules = answers[2]
    assert rules.completion.source == "rules"
    assert rules.completion.tokens is None
    assert json.loads(rules.completion.text)["score"] == rules.result.score
    assert stats == {"news.valid": 3, "technical.valid": 3}
    assert agents[1].stats["technical.valid"] == 3


def test_a_repair_is_flagged_and_its_tokens_add_up(sample_sources: DataSources) -> None:
    agent = TechnicalAgent(sources=sample_sources)
    agent.runtime = ModelRuntime(Counting(["nope", GOOD]), None, Sampling(), "s", "s")
    (observation,) = _observations(sample_sources, 1)
    answered = agent.answer(observation)
    assert answered.completion.repaired
    assert answered.completion.valid
    assert answered.completion.tokens == 14
    assert answered.result.key_factors == ["repaired answer"]


def test_an_invalid_answer_keeps_its_text_and_error(sample_sources: DataSources) -> None:
    agent = TechnicalAgent(sources=sample_sources)
    agent.runtime = ModelRuntime(ScriptedBackend(["nope"]), None, Sampling(), "s", "s")
    (observation,) = _observations(sample_sources, 1)
    answered = agent.answer(observation)
    assert not answered.completion.valid
    assert not answered.result.valid
    assert "no JSON object found" in (answered.completion.error or "")
    assert answered.completion.text.startswith("nope")


def test_the_team_decides_in_one_batch(sample_sources: DataSources) -> None:
    team = AgentTeam.build(AppConfig(), sample_sources, "expert")
    backend = ScriptedBackend([DECISION])
    team.strategist.runtime = ModelRuntime(backend, None, Sampling(), "s", "s")
    observations = _observations(sample_sources)
    analysts = team.analyze(observations)
    assert all(a.completion.source == "rules" for row in analysts for a in row.values())
    items = [
        (o, {n: a.result for n, a in row.items()}, None)
        for o, row in zip(observations, analysts, strict=True)
    ]
    decisions = team.decide(items)
    assert backend.calls == 1
    assert [d.result.action for d in decisions] == [Action.BUY] * 3
    assert decisions[0].payload()["signals"].keys() == {"news", "technical", "fundamental"}
    assert team.stats == {"strategist.valid": 3}


def test_answer_prompts_sends_recorded_messages(sample_sources: DataSources) -> None:
    backend = ScriptedBackend([GOOD])
    messages = [{"role": "user", "content": "recorded"}]
    (answer,) = answer_prompts("technical", backend, [Prompt({"x": 1}, messages)], Sampling())
    assert backend.requests[0].messages == messages
    assert backend.requests[0].context["payload"] == {"x": 1}
    assert answer.parsed is not None
    assert answer.raw == GOOD


def test_the_strategist_answers_like_decide(sample_sources: DataSources) -> None:
    (observation,) = _observations(sample_sources, 1)
    strategist = StrategistAgent()
    signals = {"technical": TechnicalAgent().expert_signal(observation)}
    answered = strategist.answer(Question(observation, signals))
    assert answered.result == strategist.decide(observation, signals)
    assert answered.completion.source == "rules"

"""Agents on models: prompts, validation, repair, fallback, model sets, batching."""

from __future__ import annotations

import datetime as dt
import json
import logging
from pathlib import Path
from typing import Any

import pytest

from stockagents.agents import NewsAgent, StrategistAgent, TechnicalAgent
from stockagents.agents._model_answers import answer_batch, build_request, signal_from
from stockagents.agents.expert_backend import ExpertBackend
from stockagents.agents.prompting import answer_schema, prompt_version, render_prompt
from stockagents.agents.runtime import ModelRuntime, model_set_paths
from stockagents.core.errors import AgentError, BackendError
from stockagents.core.types import Action
from stockagents.data.factory import DataSources
from stockagents.features.observation import ObservationBuilder
from stockagents.llm.base import GenerationRequest, Sampling
from stockagents.llm.hf_backend import HFBackend
from stockagents.orchestration import SystemCoordinator
from tests.helpers import make_tiny_adapter
from tests.scripted import ScriptedBackend

DAY = dt.date(2023, 6, 30)
GOOD = json.dumps({"signal": "bullish", "score": 0.5, "confidence": 0.7, "reasoning": "RSI up"})


def _scripted_agent(
    sources: DataSources, responses: list[str]
) -> tuple[TechnicalAgent, ScriptedBackend]:
    agent = TechnicalAgent(sources=sources)
    backend = ScriptedBackend(responses)
    agent.runtime = ModelRuntime(backend, None, Sampling(), "scripted", "scripted")
    return agent, backend


def test_prompts_are_compact_files_with_versions(full_sources: DataSources) -> None:
    obs = ObservationBuilder(full_sources).build("AAPL", DAY)
    agent = TechnicalAgent()
    messages = render_prompt("technical", agent.input_payload(obs))
    assert messages[0]["role"] == "system"
    assert "technical analyst" in messages[0]["content"]
    assert messages[1]["content"].startswith("AAPL at the close of 2023-06-30: vs_sma50=")
    assert " rsi_14=" in messages[1]["content"]
    assert len(messages[1]["content"]) < 300
    assert len({prompt_version(a) for a in ("news", "technical", "fundamental", "strategist")}) == 4
    news = render_prompt("news", NewsAgent().input_payload(obs))[1]["content"]
    assert "stories=4" in news
    assert "Apple to hold product event" in news


def test_valid_answer_becomes_a_signal(sample_sources: DataSources) -> None:
    agent, backend = _scripted_agent(sample_sources, [GOOD])
    signal = agent.analyze("AAPL", as_of=DAY)
    assert (signal.signal.value, signal.score, signal.confidence, signal.valid) == (
        "bullish",
        0.5,
        0.7,
        True,
    )
    (request,) = backend.requests
    assert request.schema == answer_schema("technical")
    assert agent.stats["technical.valid"] == 1


def test_invalid_then_repaired(sample_sources: DataSources) -> None:
    agent, backend = _scripted_agent(sample_sources, ["Sure! The stock looks great.", GOOD])
    signal = agent.analyze("AAPL", as_of=DAY)
    assert signal.valid
    assert signal.key_factors == ["repaired answer"]
    repair = backend.requests[1].messages
    assert repair[-2] == {"role": "assistant", "content": "Sure! The stock looks great."}
    assert "no JSON object found" in repair[-1]["content"]
    assert agent.stats["technical.repaired"] == 1


def test_invalid_twice_falls_back_flagged(sample_sources: DataSources) -> None:
    bad = json.dumps({"signal": "up", "score": 3, "confidence": 0.5, "reasoning": "x"})
    agent, _ = _scripted_agent(sample_sources, [bad, "{not json"])
    signal = agent.analyze("AAPL", as_of=DAY)
    assert not signal.valid
    assert (signal.signal.value, signal.score, signal.confidence) == ("neutral", 0.0, 0.0)
    assert "signal: Input should be" in signal.reasoning
    assert "after repair: no JSON object found" in signal.reasoning
    assert "{not json" in signal.reasoning  # the raw text is kept
    assert agent.stats["technical.invalid"] == 1


def test_strategist_levels_from_distances(sample_sources: DataSources) -> None:
    obs = ObservationBuilder(sample_sources).build("AAPL", DAY)
    answer = {"action": "BUY", "position_size": 0.1, "confidence": 0.6, "stop_loss_pct": 0.05,
              "take_profit_pct": 0.1, "horizon_days": 5, "reasoning": "go"}  # fmt: skip
    strategist = StrategistAgent(config={"allow_short": True})
    strategist.runtime = ModelRuntime(
        ScriptedBackend([json.dumps(answer), json.dumps({**answer, "action": "SELL"})]),
        None, Sampling(), "scripted", "scripted",
    )  # fmt: skip
    signals = {"technical": TechnicalAgent().expert_signal(obs)}
    buy = strategist.decide(obs, signals)
    assert buy.action is Action.BUY
    assert buy.stop_loss == pytest.approx(obs.price * 0.95, rel=1e-6)
    assert buy.take_profit == pytest.approx(obs.price * 1.10, rel=1e-6)
    sell = strategist.decide(obs, signals)
    assert sell.stop_loss == pytest.approx(obs.price * 1.05, rel=1e-6)
    assert sell.take_profit == pytest.approx(obs.price * 0.90, rel=1e-6)
    too_far = {**answer, "stop_loss_pct": 0.9}
    strategist.runtime.backend = ScriptedBackend([json.dumps(too_far)])
    fallback = strategist.decide(obs, signals)
    assert not fallback.valid
    assert fallback.action is Action.HOLD
    assert "stop_loss_pct" in fallback.reasoning


def test_expert_backend_answers_like_the_experts(full_sources: DataSources) -> None:
    obs = ObservationBuilder(full_sources).build("AAPL", DAY)
    backend = ExpertBackend()
    for agent in (TechnicalAgent(), NewsAgent()):
        request = build_request(agent.name, agent.input_payload(obs), None)
        (answer,) = answer_batch(backend, [(agent.name, request, obs.price)], Sampling())
        from_backend = signal_from(agent.name, obs, answer)
        expert = agent.expert_signal(obs)
        assert (from_backend.signal, from_backend.score, from_backend.confidence) == (
            expert.signal,
            expert.score,
            expert.confidence,
        )


def test_guide_constructor_with_a_model_dir(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, full_sources: DataSources
) -> None:
    path = make_tiny_adapter(tmp_path / "models" / "production" / "news", seed=3)
    with caplog.at_level(logging.WARNING):
        agent = NewsAgent(model_path=str(path), config={"fp16": True})
    assert "using float32" in caplog.text
    assert agent.version.startswith("test-3 on tiny prompt ")
    # The guide's call: no news source offline, so no model call and the neutral answer.
    offline = agent.analyze("AAPL", lookback_days=7)
    assert (offline.confidence, offline.valid) == (0.0, True)
    assert agent.stats == {}
    # With news, the model answers; constrained decoding keeps it inside the schema.
    with_news = NewsAgent(model_path=str(path), config={"fp16": True}, sources=full_sources)
    signal = with_news.analyze("AAPL", lookback_days=7, as_of=DAY)
    assert signal.agent == "news"
    assert signal.valid
    assert with_news.stats["news.valid"] == 1


def test_missing_and_malformed_model_dirs(tmp_path: Path) -> None:
    (tmp_path / "junk").mkdir()
    with pytest.raises(AgentError, match="not a model directory"):
        NewsAgent(model_path=str(tmp_path / "junk"))
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "manifest.json").write_text("{oops")
    with pytest.raises(AgentError, match=r"manifest\.json: not valid JSON"):
        NewsAgent(model_path=str(tmp_path / "bad"))
    with pytest.raises(AgentError, match="does not exist"):
        model_set_paths(tmp_path / "nowhere")


def test_model_set_mixes_models_and_experts_and_batches_analysts(
    tmp_path: Path, full_sources: DataSources, monkeypatch: pytest.MonkeyPatch
) -> None:
    models = tmp_path / "set"
    for seed, agent in enumerate(("news", "technical", "fundamental"), start=10):
        make_tiny_adapter(models / agent, seed=seed, agent=agent)
    assert model_set_paths(models)["strategist"] is None
    calls: list[list[str | None]] = []
    original = HFBackend.complete

    def spy(self: HFBackend, requests: Any, sampling: Sampling) -> list[str]:
        calls.append([r.adapter for r in requests])
        return original(self, requests, sampling)

    monkeypatch.setattr(HFBackend, "complete", spy)
    with SystemCoordinator(sources=full_sources, models=models) as coordinator:
        backends = {id(a.runtime.backend) for a in coordinator.analysts.values() if a.runtime}
        assert len(backends) == 1  # one base model shared by the three adapters
        rec = coordinator.analyze_symbol("AAPL", as_of=DAY)
    assert len(calls[0]) == 3
    assert len(set(calls[0])) == 3
    assert rec.model_versions["strategist"] == "expert-3"
    assert rec.model_versions["news"].startswith("test-10 on tiny")
    assert all(s.valid for s in rec.signals.values())
    assert set(json.loads(rec.completions["technical"], strict=False)) == {
        "signal",
        "score",
        "confidence",
        "reasoning",
    }


def test_top_level_manifest_maps_agents(tmp_path: Path) -> None:
    models = tmp_path / "set"
    make_tiny_adapter(models / "adapters" / "tech", seed=4, agent="technical")
    (models / "manifest.json").write_text(
        json.dumps(
            {"agents": {"technical": "adapters/tech", "news": "expert", "strategist": "tiny"}}
        )
    )
    paths = model_set_paths(models)
    assert paths == {
        "news": None,
        "technical": str(models / "adapters" / "tech"),
        "fundamental": None,
        "strategist": "tiny",
    }


def test_scripted_backend_records(sample_sources: DataSources) -> None:
    backend = ScriptedBackend(lambda r: GOOD if r.schema else "free")
    out = backend.generate(
        [GenerationRequest(messages=[], schema={"type": "object"}), GenerationRequest(messages=[])],
        Sampling(),
    )
    assert out == [GOOD, "free"]
    assert len(backend.requests) == 2


def test_manifest_base_url_never_gets_the_real_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-real-secret")
    path = tmp_path / "news"
    path.mkdir()
    (path / "manifest.json").write_text(
        json.dumps({"kind": "openai", "model": "m", "base_url": "http://127.0.0.1:9/v1"})
    )
    agent = NewsAgent(model_path=str(path))
    assert agent.runtime is not None
    assert agent.runtime.backend._secret != "sk-real-secret"  # type: ignore[attr-defined]


def test_model_set_errors_name_the_manifest(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(AgentError, match="has no news, technical"):
        model_set_paths(tmp_path / "empty")
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "manifest.json").write_text(json.dumps({"agents": {"news": "news-v2"}}))
    with pytest.raises(AgentError, match=r"news -> 'news-v2' is neither a path inside the set"):
        model_set_paths(bad)
    (bad / "manifest.json").write_text(json.dumps({"agents": {"newz": "tiny"}}))
    with pytest.raises(AgentError, match="unknown agents"):
        model_set_paths(bad)


def test_broken_model_dirs_are_agent_errors(tmp_path: Path) -> None:
    lora = tmp_path / "lora"
    lora.mkdir()
    (lora / "manifest.json").write_text(json.dumps({"kind": "lora", "base_model": "tiny"}))
    with pytest.raises(AgentError, match=r"no adapter_config\.json"):
        NewsAgent(model_path=str(lora))
    (lora / "adapter_config.json").write_text("{oops")
    with pytest.raises(
        BackendError, match=r"cannot load the LoRA adapter in .*lora: no adapter_model"
    ):
        NewsAgent(model_path=str(lora))
    odd = tmp_path / "odd"
    odd.mkdir()
    (odd / "manifest.json").write_text(json.dumps({"kind": "gguf"}))
    with pytest.raises(AgentError, match="unknown kind 'gguf'"):
        NewsAgent(model_path=str(odd))


def test_backend_failure_falls_back(sample_sources: DataSources) -> None:
    from stockagents.core.errors import BackendError

    def down(request: GenerationRequest) -> str:
        raise BackendError("HTTP 503 after 3 retries")

    agent, _ = _scripted_agent(sample_sources, [])
    agent.runtime.backend = ScriptedBackend(down)  # type: ignore[union-attr]
    signal = agent.analyze("AAPL", as_of=DAY)
    assert not signal.valid
    assert "backend failed: HTTP 503" in signal.reasoning

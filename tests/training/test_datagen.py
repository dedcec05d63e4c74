"""Synthetic SFT data: segments, validation, balance, manifests, teachers, the CLI."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from stockagents.agents.expert_backend import ExpertBackend
from stockagents.agents.prompting import parse_answer, prompt_version
from stockagents.cli.main import main
from stockagents.core.errors import ConfigError
from stockagents.data.calendar import market_close_utc
from stockagents.llm.anthropic_backend import AnthropicBackend
from stockagents.llm.base import GenerationRequest, Sampling
from stockagents.llm.openai_backend import OpenAIBackend
from stockagents.llm.scripted import ScriptedBackend
from stockagents.training.synthetic.generate import generate_dataset, heldout_path
from stockagents.training.synthetic.inputs import InputSampler
from stockagents.training.synthetic.teacher_headlines import (
    HEADLINE_MAX,
    HEADLINE_SCHEMA,
    REQUEST_NAME,
    HeadlineAsk,
    parse_headlines,
)
from stockagents.training.synthetic.teachers import Teacher, make_teacher
from tests.fake_api import FakeServer, Recorded, Reply, last_user_text


@pytest.fixture(scope="module")
def sampler() -> InputSampler:
    return InputSampler()


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.mark.parametrize("agent", ["technical", "news", "fundamental", "strategist"])
def test_expert_data_is_valid_balanced_and_point_in_time(
    tmp_path: Path, sampler: InputSampler, agent: str
) -> None:
    out = tmp_path / f"{agent}_train.jsonl"
    result = generate_dataset(
        agent, 60, out, make_teacher("expert"), sampler=sampler, heldout_examples=20,
        progress=False,
    )  # fmt: skip
    train, held = _lines(out), _lines(heldout_path(out))
    assert len(train) == result.examples == 60
    assert 0 < len(held) <= 20
    for record in train + held:
        assert [m["role"] for m in record["prompt"]] == ["system", "user"]
        assert record["completion"][0]["role"] == "assistant"
        answer, error = parse_answer(agent, record["completion"][0]["content"])
        assert error is None
        assert answer is not None
        label = answer.action if agent == "strategist" else answer.signal
        assert record["label"] == label
    train_days = [dt.date.fromisoformat(r["as_of"]) for r in train]
    held_days = [dt.date.fromisoformat(r["as_of"]) for r in held]
    assert all(d in sampler.splits.train for d in train_days)
    validation = sampler.splits.validation
    assert validation is not None
    assert all(d in validation for d in held_days)
    prompts = [json.dumps(r["prompt"]) for r in train]
    assert len(set(prompts)) == len(prompts)  # no duplicates
    assert not set(prompts) & {json.dumps(r["prompt"]) for r in held}  # no overlap
    counts = result.labels
    assert len(counts) == 3
    assert min(counts.values()) >= 0.15 * 60
    manifest = json.loads(out.with_name(f"{agent}_train.manifest.json").read_text())
    assert manifest["teacher"] == "expert"
    assert manifest["prompt_version"] == prompt_version(agent)
    sha = hashlib.sha256(out.read_bytes()).hexdigest()
    assert manifest["files"][out.name] == {"sha256": sha, "examples": 60}
    report = json.loads(out.with_name(f"{agent}_train.report.json").read_text())
    assert report["examples"] == 60
    assert report["labels"] == counts


def test_same_seed_same_data(tmp_path: Path, sampler: InputSampler) -> None:
    a, b, c = tmp_path / "a.jsonl", tmp_path / "b.jsonl", tmp_path / "c.jsonl"
    for path, seed in ((a, 1), (b, 1), (c, 2)):
        generate_dataset(
            "news", 30, path, make_teacher("expert"), sampler=sampler, seed=seed, progress=False
        )
    assert a.read_bytes() == b.read_bytes()
    assert a.read_bytes() != c.read_bytes()


def test_invalid_answers_are_rejected_and_reported(tmp_path: Path, sampler: InputSampler) -> None:
    good = '{"signal": "bullish", "score": 0.5, "confidence": 0.6, "reasoning": "up"}'
    # Every other answer is broken twice (the answer and its repair): rejected.
    script = [good, "not json", good, "still not json"] * 200
    teacher = Teacher([("scripted", ScriptedBackend(script))])
    out = tmp_path / "technical_train.jsonl"
    result = generate_dataset(
        "technical", 10, out, teacher, sampler=sampler, heldout_examples=4, oversample=1,
        progress=False,
    )  # fmt: skip
    assert result.rejected.get("invalid answer", 0) > 0
    assert result.examples < 10
    report = out.with_name("technical_train.report.md").read_text()
    assert "invalid answer" in report
    assert "kept" in report
    for record in _lines(out):
        assert parse_answer("technical", record["completion"][0]["content"])[1] is None


def _openai_body(content: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-test", "object": "chat.completion", "created": int(time.time()),
        "model": "gpt-4o",
        "choices": [{"index": 0, "finish_reason": "stop", "logprobs": None,
                     "message": {"role": "assistant", "content": content, "refusal": None}}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
    }  # fmt: skip


def _anthropic_body(answer: dict[str, Any], tool: str = "news_answer") -> dict[str, Any]:
    return {
        "id": "msg_01", "type": "message", "role": "assistant", "model": "claude",
        "content": [{"type": "tool_use", "id": "toolu_01", "name": tool, "input": answer}],
        "stop_reason": "tool_use", "stop_sequence": None,
        "usage": {"input_tokens": 10, "output_tokens": 5},
    }  # fmt: skip


def _openai_reply(content: str) -> Reply:
    return Reply(body=_openai_body(content))


def _anthropic_reply(answer: dict[str, Any]) -> Reply:
    return Reply(body=_anthropic_body(answer))


def test_openai_and_anthropic_teachers_take_turns(
    tmp_path: Path, sampler: InputSampler, server: FakeServer
) -> None:
    answer = {"signal": "bearish", "score": -0.4, "confidence": 0.7, "reasoning": "recall"}
    # Rows alternate openai / anthropic; each provider's batch goes to the one server.
    server.plan(*[_openai_reply(json.dumps(answer)) for _ in range(3)])
    server.plan(*[_anthropic_reply(answer) for _ in range(3)])
    server.plan(*[_openai_reply(json.dumps(answer)) for _ in range(4)])
    server.plan(*[_anthropic_reply(answer) for _ in range(4)])
    from stockagents.llm.anthropic_backend import AnthropicBackend
    from stockagents.llm.openai_backend import OpenAIBackend

    openai = server.keep(OpenAIBackend("gpt-4o", api_key="sk-test", base_url=server.openai_url))
    anthropic = server.keep(
        AnthropicBackend("claude", api_key="ak-test", base_url=server.anthropic_url)
    )
    teacher = Teacher([("openai:gpt-4o", openai), ("anthropic:claude", anthropic)])
    out = tmp_path / "news_train.jsonl"
    result = generate_dataset(
        "news", 8, out, teacher, sampler=sampler, heldout_examples=6, oversample=1,
        headline_share=0.0, progress=False,
    )  # fmt: skip
    assert result.examples == 8
    teachers = [r["teacher"] for r in _lines(out)]
    assert sorted(set(teachers)) == ["anthropic:claude", "openai:gpt-4o"]
    paths = [r.path for r in server.requests]
    assert "/v1/chat/completions" in paths
    assert "/v1/messages" in paths
    first = next(r for r in server.requests if r.path == "/v1/chat/completions")
    assert first.headers["authorization"] == "Bearer sk-test"
    assert first.body["response_format"]["type"] == "json_schema"
    manifest = json.loads(out.with_name("news_train.manifest.json").read_text())
    assert manifest["teacher"] == "openai:gpt-4o,anthropic:claude"


def test_cli_writes_data_and_missing_key_is_one_line(
    tmp_path: Path, no_keys: None, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "data" / "fundamental_train.jsonl"
    argv = ["datagen", "--agent-type", "fundamental", "--num-examples", "12", "-o", str(out)]
    assert main(argv) == 0
    assert len(_lines(out)) == 12
    assert (tmp_path / "data" / "fundamental_train.report.md").is_file()
    capsys.readouterr()
    code = main([*argv, "--provider", "openai", "--model", "gpt-4o"])
    err = capsys.readouterr().err.strip()
    assert code == 1
    assert err.startswith("error:")
    assert "OPENAI_API_KEY" in err
    assert len(err.splitlines()) == 1
    assert main(["datagen", "--agent-type", "quant", "-n", "3", "-o", str(out)]) == 1
    assert "use one of news, technical" in capsys.readouterr().err

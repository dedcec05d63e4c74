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
from stockagents.training.synthetic.generate import generate_dataset, heldout_path
from stockagents.training.synthetic.inputs import (
    NEAR_BAND,
    NEAR_SHARE,
    InputSampler,
    threshold_margin,
)
from stockagents.training.synthetic.teacher_headlines import (
    HEADLINE_MAX,
    HEADLINE_SCHEMA,
    REQUEST_NAME,
    HeadlineAsk,
    parse_headlines,
)
from stockagents.training.synthetic.teachers import Teacher, make_teacher
from tests.fake_api import FakeServer, Recorded, Reply, last_user_text
from tests.scripted import ScriptedBackend


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
    tmp_path: Path,
    no_keys: None,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    out = tmp_path / "data" / "fundamental_train.jsonl"
    argv = ["datagen", "--agent-type", "fundamental", "--num-examples", "12", "-o", str(out)]
    assert main(argv) == 0
    assert len(_lines(out)) == 12
    assert (tmp_path / "data" / "fundamental_train.report.md").is_file()
    capsys.readouterr()
    news = ["datagen", "--agent-type", "news", "-n", "3", "-o", str(out)]
    assert main([*news, "--teacher-headlines", "0.5"]) == 1
    assert "cannot write headlines" in capsys.readouterr().err
    assert main([*news, "--teacher-headlines", "1.5"]) == 1
    assert "share from 0 to 1" in capsys.readouterr().err
    code = main([*argv, "--provider", "openai", "--model", "gpt-4o", "--no-fallback"])
    err = capsys.readouterr().err.strip()
    assert code == 1
    assert err.startswith("error:")
    assert "OPENAI_API_KEY" in err
    assert len(err.splitlines()) == 1
    # without --no-fallback, a missing key means the expert teacher, said and recorded
    assert main([*argv, "--provider", "openai", "--model", "gpt-4o"]) == 0
    assert "OPENAI_API_KEY is not set" in caplog.text
    manifest = json.loads((tmp_path / "data" / "fundamental_train.manifest.json").read_text())
    assert manifest["teacher"] == "expert"
    assert manifest["teacher_fallbacks"][0].startswith("openai:gpt-4o unavailable")
    assert main(["datagen", "--agent-type", "quant", "-n", "3", "-o", str(out)]) == 1
    assert "use one of news, technical" in capsys.readouterr().err


# -- headlines the API teacher writes -----------------------------------------------------

_NEWS_ANSWER = {"reasoning": "news read", "signal": "bullish", "score": 0.4, "confidence": 0.7}
_ASKED = re.compile(r"Company: .+ \((?P<symbol>[A-Z]+)\)\. Date: \w+ (?P<day>\d{4}-\d{2}-\d{2})")


def _is_headline_ask(path: str, body: dict[str, Any]) -> bool:
    if path == "/v1/chat/completions":
        return bool(
            body.get("response_format", {}).get("json_schema", {}).get("name") == REQUEST_NAME
        )
    return any(tool.get("name") == REQUEST_NAME for tool in body.get("tools", []))


def _served(symbol: str, day: str) -> list[dict[str, Any]]:
    """What the fake teacher writes for one ask: stories only this (symbol, day) gets."""
    return [
        {"headline": f"{symbol} {day} wins approval for its new drug", "hours_before_close": 5},
        {"headline": f"{symbol} {day} opens new office in Dublin", "hours_before_close": 50},
    ]


class _FakeTeacher:
    """The fake server's answers: ``stories(symbol, day)`` for a headline ask, a fixed news
    answer for anything else. Remembers the asks."""

    def __init__(self, stories: Any = _served) -> None:
        self.stories = stories
        self.asks: list[tuple[str, str]] = []
        self.lock = threading.Lock()

    def __call__(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        if _is_headline_ask(path, body):
            match = _ASKED.search(last_user_text(body))
            assert match is not None, last_user_text(body)
            with self.lock:
                self.asks.append((match["symbol"], match["day"]))
            answer: dict[str, Any] = {"headlines": self.stories(match["symbol"], match["day"])}
        else:
            answer = _NEWS_ANSWER
        if path == "/v1/chat/completions":
            return _openai_body(json.dumps(answer))
        return _anthropic_body(answer, body["tools"][0]["name"])


def _openai(server: FakeServer) -> OpenAIBackend:
    return server.keep(
        OpenAIBackend("gpt-4o", api_key="sk-test", base_url=server.openai_url, max_retries=0)
    )


def _api_teacher(server: FakeServer) -> Teacher:
    anthropic = server.keep(
        AnthropicBackend("claude", api_key="ak-test", base_url=server.anthropic_url, max_retries=0)
    )
    return Teacher([("openai:gpt-4o", _openai(server)), ("anthropic:claude", anthropic)])


def _headline_asks(requests: Sequence[Recorded]) -> list[Recorded]:
    return [r for r in requests if _is_headline_ask(r.path, r.body)]


def test_api_teacher_writes_half_the_news_headlines(
    tmp_path: Path, sampler: InputSampler, server: FakeServer
) -> None:
    fake = _FakeTeacher()
    server.respond = fake
    out = tmp_path / "news_train.jsonl"
    generate_dataset(
        "news", 16, out, _api_teacher(server), sampler=sampler, heldout_examples=8,
        progress=False,
    )  # fmt: skip
    records = _lines(out) + _lines(heldout_path(out))
    written = [r for r in records if r["headlines"] != "synthetic"]
    offline = [r for r in records if r["headlines"] == "synthetic"]
    assert written
    assert offline
    assert {r["headlines"] for r in written} == {
        "teacher:openai:gpt-4o",
        "teacher:anthropic:claude",
    }
    served_anywhere = {s["headline"] for symbol, day in fake.asks for s in _served(symbol, day)}
    for record in written:
        assert record["source"] == "teacher news"
        served = [s["headline"] for s in _served(record["symbol"], record["as_of"])]
        user = record["prompt"][1]["content"]
        assert all(headline in user for headline in served)
        # The digest the agent reads is the offline one's shape, built from the replies.
        news = json.loads(record["payload"])["news"]
        assert news["count"] == 2
        assert [item["headline"] for item in news["items"]] == served  # newest first
        close = market_close_utc(dt.date.fromisoformat(record["as_of"]))
        published = [dt.datetime.fromisoformat(item["published_at"]) for item in news["items"]]
        assert published == [close - dt.timedelta(hours=5), close - dt.timedelta(hours=50)]
    for record in offline:
        assert record["source"] == "synthetic news"
        assert not any(h in record["prompt"][1]["content"] for h in served_anywhere)

    asks = _headline_asks(server.requests)
    assert len(asks) == len(fake.asks)
    by_openai = [r for r in asks if r.path == "/v1/chat/completions"]
    by_anthropic = [r for r in asks if r.path == "/v1/messages"]
    assert by_openai
    assert by_anthropic
    for request in by_openai:
        assert request.body["response_format"] == {
            "type": "json_schema",
            "json_schema": {"name": REQUEST_NAME, "schema": HEADLINE_SCHEMA, "strict": False},
        }
    for request in by_anthropic:
        [tool] = request.body["tools"]
        assert tool["name"] == REQUEST_NAME
        assert tool["input_schema"] == HEADLINE_SCHEMA
        assert request.body["tool_choice"] == {"type": "tool", "name": REQUEST_NAME}

    report = json.loads(out.with_name("news_train.report.json").read_text())
    headlines = report["headlines"]
    assert headlines["share"] == 0.5
    assert headlines["asked"] == len(fake.asks)
    assert headlines["fallbacks"] == 0
    train = _lines(out)
    assert sum(headlines["train"].values()) == len(train)
    assert headlines["train"]["synthetic"] == sum(r["headlines"] == "synthetic" for r in train)
    manifest = json.loads(out.with_name("news_train.manifest.json").read_text())
    assert manifest["headlines"]["writers"] == ["openai:gpt-4o", "anthropic:claude"]
    assert manifest["headlines"]["asked"] == len(fake.asks)
    assert "teacher share 0.5" in out.with_name("news_train.report.md").read_text()


def test_refused_headline_replies_fall_back_and_are_counted(
    tmp_path: Path, sampler: InputSampler, server: FakeServer
) -> None:
    def stories(symbol: str, day: str) -> list[dict[str, Any]]:
        if int(day[-2:]) % 2:
            return _served(symbol, day)
        late = {"headline": f"{symbol} {day} late story", "hours_before_close": -2}
        return [late, *_served(symbol, day)]  # a story after the close: the reply is refused

    fake = _FakeTeacher(stories)
    server.respond = fake
    out = tmp_path / "news_train.jsonl"
    generate_dataset(
        "news", 16, out, _api_teacher(server), sampler=sampler, heldout_examples=8,
        headline_share=1.0, progress=False,
    )  # fmt: skip
    refused = [(s, d) for s, d in fake.asks if int(d[-2:]) % 2 == 0]
    assert refused
    assert len(refused) < len(fake.asks)
    report = json.loads(out.with_name("news_train.report.json").read_text())
    assert report["headlines"]["asked"] == len(fake.asks)
    assert report["headlines"]["fallbacks"] == len(refused)
    assert "after the close" in report["headlines"]["fallback_examples"][0]
    assert "refused" in out.with_name("news_train.report.md").read_text()
    for record in _lines(out) + _lines(heldout_path(out)):
        user = record["prompt"][1]["content"]
        assert "late story" not in user
        if int(record["as_of"][-2:]) % 2 == 0:  # fell back: the offline generator's day
            assert record["headlines"] == "synthetic"
            assert record["source"] == "synthetic news"
            assert "wins approval for its new drug" not in user
        else:
            assert record["headlines"].startswith("teacher:")


def test_teacher_headlines_are_deterministic_given_the_replies(
    tmp_path: Path, sampler: InputSampler, server: FakeServer
) -> None:
    server.respond = _FakeTeacher()
    teacher = _api_teacher(server)
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    for path in (a, b):
        generate_dataset(
            "news", 10, path, teacher, sampler=sampler, seed=3, heldout_examples=4,
            progress=False,
        )  # fmt: skip
    assert a.read_bytes() == b.read_bytes()
    assert heldout_path(a).read_bytes() == heldout_path(b).read_bytes()


class _RecordingExpert(ExpertBackend):
    def __init__(self) -> None:
        super().__init__()
        self.names: list[str] = []

    def generate(self, requests: Sequence[GenerationRequest], sampling: Sampling) -> list[str]:
        self.names += [r.name for r in requests]
        return super().generate(requests, sampling)


def test_the_expert_never_writes_headlines(
    tmp_path: Path, sampler: InputSampler, server: FakeServer
) -> None:
    expert = _RecordingExpert()
    out = tmp_path / "news_train.jsonl"
    generate_dataset(
        "news", 10, out, Teacher([("expert", expert)]), sampler=sampler, heldout_examples=4,
        progress=False,
    )  # fmt: skip
    assert set(expert.names) == {"news_answer"}
    assert {r["headlines"] for r in _lines(out)} == {"synthetic"}
    manifest = json.loads(out.with_name("news_train.manifest.json").read_text())
    assert manifest["headlines"]["share"] == 0.0
    assert manifest["headlines"]["asked"] == 0
    with pytest.raises(ConfigError, match="cannot write headlines"):
        generate_dataset(
            "news", 10, out, Teacher([("expert", expert)]), sampler=sampler,
            headline_share=0.5, progress=False,
        )  # fmt: skip

    # With an API provider beside it, only the API provider is asked for headlines.
    fake = _FakeTeacher()
    server.respond = fake
    beside = _RecordingExpert()
    teacher = Teacher([("expert", beside), ("openai:gpt-4o", _openai(server))])
    mixed = tmp_path / "mixed.jsonl"
    generate_dataset(
        "news", 10, mixed, teacher, sampler=sampler, heldout_examples=4, headline_share=1.0,
        progress=False,
    )  # fmt: skip
    assert REQUEST_NAME not in beside.names
    assert fake.asks
    assert len(_headline_asks(server.requests)) == len(fake.asks)
    assert {r["headlines"] for r in _lines(mixed)} == {"teacher:openai:gpt-4o"}


_DAY = dt.date(2024, 3, 15)
_ASK = HeadlineAsk("ACMR", "Acme Robotics", _DAY, "positive", ("earnings beat",))


@pytest.mark.parametrize(
    ("stories", "error"),
    [
        ([], "0 headlines"),
        (
            [{"headline": f"Acme story {i}", "hours_before_close": i + 1} for i in range(9)],
            "9 headlines",
        ),
        ([{"headline": "   ", "hours_before_close": 3}], "non-empty string"),
        ([{"headline": "x" * (HEADLINE_MAX + 1), "hours_before_close": 3}], "chars"),
        ([{"headline": "Acme wins", "hours_before_close": 0}], "at or after the close"),
        ([{"headline": "Acme wins", "hours_before_close": -5}], "at or after the close"),
        ([{"headline": "Acme wins", "hours_before_close": 169}], "older than the 168 h window"),
        ([{"headline": "Acme wins", "hours_before_close": 2.5}], "whole number"),
        ([{"headline": "Acme wins", "hours_before_close": True}], "whole number"),
        ([{"headline": "Acme wins"}], "whole number"),
    ],
)
def test_headline_replies_are_checked(stories: list[dict[str, Any]], error: str) -> None:
    items, problem = parse_headlines(json.dumps({"headlines": stories}), _ASK)
    assert items is None
    assert problem is not None
    assert error in problem
    assert parse_headlines("I cannot help with that.", _ASK) == (None, "no JSON object found")


def test_headline_reply_becomes_point_in_time_news_items() -> None:
    reply = {
        "headlines": [
            {"headline": "Acme  Robotics beats estimates", "hours_before_close": 30},
            {"headline": "acme robotics BEATS estimates", "hours_before_close": 2},  # repeat
            {"headline": "Acme Robotics opens new office in Dublin", "hours_before_close": 1},
            {"headline": "Acme Robotics files annual report", "hours_before_close": 168.0},
        ]
    }
    items, error = parse_headlines(json.dumps(reply), _ASK, source="openai:gpt-4o")
    assert error is None
    assert items is not None
    assert [i.headline for i in items] == [
        "Acme Robotics opens new office in Dublin",
        "Acme Robotics beats estimates",
        "Acme Robotics files annual report",
    ]
    close = market_close_utc(_DAY)
    assert [close - i.published_at for i in items] == [dt.timedelta(hours=h) for h in (1, 30, 168)]
    assert {i.symbol for i in items} == {"ACMR"}
    assert {i.source for i in items} == {"openai:gpt-4o"}


@pytest.mark.parametrize("agent", ["technical", "strategist"])
def test_training_draws_put_a_share_of_sums_next_to_a_threshold(
    sampler: InputSampler, agent: str
) -> None:
    def near(segment: str) -> float:
        drawn = list(sampler.draw(agent, 120, segment, seed=3))
        margins = [threshold_margin(example.payload) for example in drawn]
        assert all(m is not None for m in margins)
        return sum(1 for m in margins if m is not None and m <= NEAR_BAND) / len(drawn)

    natural, trained = near("validation"), near("train")
    assert trained >= NEAR_SHARE * 0.8  # a quarter of the training sums sit at a threshold
    assert trained > natural + 0.1  # held-out prompts keep the natural mix


def test_threshold_margin_reads_the_sum_as_the_answer_writes_it() -> None:
    technical = {"terms": {"trend": 0.10, "mom": 0.034}, "thresholds": {"signal": 0.15}}
    assert threshold_margin(technical) == pytest.approx(0.02)  # +0.13 is 0.02 from 0.15
    assert threshold_margin({**technical, "terms": {"trend": -0.16}}) == pytest.approx(0.01)
    strategist = {"terms": {"tech": 0.05}, "thresholds": {"buy": 0.12, "sell": 0.10}}
    assert threshold_margin(strategist) == pytest.approx(0.05)
    assert threshold_margin({"terms": {}}) is None

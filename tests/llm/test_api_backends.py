"""The OpenAI and Anthropic backends against a real HTTP server on loopback.

The server (``tests/fake_api.py``) speaks each API's wire format (``POST
/v1/chat/completions``, ``POST /v1/messages``), records every request and can be scripted
to fail, throttle or stall, so these tests exercise the real SDKs: request shape, auth headers, structured output,
batch order, the SDKs' retry loops and the mapping of failures to ``BackendError``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from stockagents.core.errors import BackendError, ProviderUnavailableError
from stockagents.llm.anthropic_backend import AnthropicBackend
from stockagents.llm.base import GenerationRequest, Sampling
from stockagents.llm.openai_backend import OpenAIBackend
from tests.fake_api import FakeServer, Reply, anthropic_error, openai_completion, openai_error

pytest.importorskip("openai")
pytest.importorskip("anthropic")

OPENAI_KEY = "sk-test"
ANTHROPIC_KEY = "sk-ant-test-0123456789"
SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"action": {"type": "string"}, "confidence": {"type": "number"}},
    "required": ["action", "confidence"],
}
#: Fast SDK retries: the SDKs honour ``retry-after-ms`` (and ``Retry-After`` > 0).
FAST_RETRY = {"retry-after-ms": "10"}


def _request(text: str = "Should I buy AAPL?", *, schema: bool = True) -> GenerationRequest:
    return GenerationRequest(
        messages=[
            {"role": "system", "content": "You are a trader."},
            {"role": "user", "content": text},
        ],
        schema=SCHEMA if schema else None,
        name="trade_signal",
    )


SAMPLING = Sampling(max_new_tokens=123, temperature=0.2, top_p=0.9, seed=7)


def _openai(server: FakeServer, **kwargs: Any) -> OpenAIBackend:
    options: dict[str, Any] = {"api_key": OPENAI_KEY, "max_retries": 2, "timeout": 5.0}
    options.update(kwargs)
    return server.keep(OpenAIBackend("gpt-test", base_url=server.openai_url, **options))


def _anthropic(server: FakeServer, **kwargs: Any) -> AnthropicBackend:
    options: dict[str, Any] = {"api_key": ANTHROPIC_KEY, "max_retries": 2, "timeout": 5.0}
    options.update(kwargs)
    return server.keep(AnthropicBackend("claude-test", base_url=server.anthropic_url, **options))


# --------------------------------------------------------------------------- OpenAI


def test_openai_request_shape_auth_and_structured_output(server: FakeServer) -> None:
    backend = _openai(server)
    assert backend.kind == "openai"
    assert backend.model_id == "gpt-test"

    [text] = backend.generate([_request()], SAMPLING)

    assert json.loads(text) == {"action": "buy", "confidence": 0.7, "echo": "Should I buy AAPL?"}
    [seen] = server.requests
    assert seen.path == "/v1/chat/completions"
    assert seen.headers["authorization"] == f"Bearer {OPENAI_KEY}"
    assert seen.body["model"] == "gpt-test"
    assert seen.body["messages"] == [
        {"role": "system", "content": "You are a trader."},
        {"role": "user", "content": "Should I buy AAPL?"},
    ]
    assert seen.body["max_tokens"] == 123
    assert seen.body["temperature"] == 0.2
    assert seen.body["top_p"] == 0.9
    assert seen.body["seed"] == 7
    assert seen.body["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "trade_signal", "schema": SCHEMA, "strict": False},
    }
    backend.close()


def test_openai_free_text_without_seed(server: FakeServer) -> None:
    backend = _openai(server)
    [text] = backend.generate([_request("hi", schema=False)], Sampling(seed=None))
    assert text == "echo: hi"
    body = server.requests[0].body
    assert "response_format" not in body
    assert "seed" not in body


def test_openai_null_content_is_empty_string(server: FakeServer) -> None:
    reply = openai_completion({"model": "gpt-test"})
    reply["choices"][0]["message"]["content"] = None
    server.plan(Reply(body=reply))
    assert _openai(server).generate([_request()], SAMPLING) == [""]


def test_openai_batch_preserves_order(server: FakeServer) -> None:
    # Earlier requests answer later, so completion order differs from request order.
    server.plan(*(Reply(delay=0.05 * (5 - i)) for i in range(5)))
    prompts = [f"prompt {i}" for i in range(5)]
    texts = _openai(server).generate([_request(p) for p in prompts], SAMPLING)
    assert [json.loads(t)["echo"] for t in texts] == prompts
    assert server.attempts == 5


def test_openai_retries_429_with_retry_after(server: FakeServer) -> None:
    server.plan(Reply(429, {"Retry-After": "0"}, openai_error("Rate limit reached", "rate")))
    [text] = _openai(server).generate([_request()], SAMPLING)
    assert json.loads(text)["action"] == "buy"
    assert server.attempts == 2


def test_openai_retries_500_and_503(server: FakeServer) -> None:
    server.plan(
        Reply(500, FAST_RETRY, openai_error("boom", "server_error")),
        Reply(503, FAST_RETRY, openai_error("overloaded", "server_error")),
    )
    [text] = _openai(server).generate([_request()], SAMPLING)
    assert json.loads(text)["action"] == "buy"
    assert server.attempts == 3


def test_openai_400_is_not_retried(server: FakeServer) -> None:
    server.plan(Reply(400, body=openai_error("Invalid schema for response_format 'x'")))
    with pytest.raises(BackendError) as info:
        _openai(server, max_retries=3).generate([_request()], SAMPLING)
    message = str(info.value)
    assert "HTTP 400" in message
    assert "Invalid schema for response_format 'x'" in message
    assert "\n" not in message
    assert server.attempts == 1


def test_openai_persistent_500_gives_up_after_max_retries(server: FakeServer) -> None:
    server.plan(*(Reply(500, FAST_RETRY, openai_error("still broken")) for _ in range(10)))
    with pytest.raises(BackendError, match=r"HTTP 500.*still broken"):
        _openai(server, max_retries=2).generate([_request()], SAMPLING)
    assert server.attempts == 3


def test_openai_timeout(server: FakeServer) -> None:
    server.plan(Reply(delay=4.0))  # well past the 0.3 s timeout
    started = time.perf_counter()
    with pytest.raises(BackendError, match="timed out"):
        _openai(server, timeout=0.3, max_retries=0).generate([_request()], SAMPLING)
    assert time.perf_counter() - started < 3.5  # gave up long before the reply
    assert server.attempts == 1


def test_openai_batch_failure_raises(server: FakeServer) -> None:
    server.plan(Reply(), Reply(400, body=openai_error("bad second request")))
    with pytest.raises(BackendError, match="bad second request"):
        _openai(server).generate([_request(f"p{i}") for i in range(2)], SAMPLING)


def test_openai_key_never_in_error(server: FakeServer) -> None:
    secret = "sk-live-SECRET-123456"
    server.plan(Reply(401, body=openai_error(f"Incorrect API key provided: {secret}")))
    with pytest.raises(BackendError) as info:
        _openai(server, api_key=secret).generate([_request()], SAMPLING)
    assert "HTTP 401" in str(info.value)
    assert secret not in str(info.value)
    assert server.requests[0].headers["authorization"] == f"Bearer {secret}"


def test_openai_missing_key(no_keys: None) -> None:
    with pytest.raises(ProviderUnavailableError, match="OPENAI_API_KEY is not set"):
        OpenAIBackend("gpt-test")


def test_openai_local_server_needs_no_key(server: FakeServer, no_keys: None) -> None:
    backend = server.keep(OpenAIBackend("llama", base_url=server.openai_url, max_retries=0))
    backend.generate([_request()], SAMPLING)
    assert server.requests[0].headers["authorization"] == "Bearer not-needed"


def test_openai_key_from_settings(
    server: FakeServer, no_keys: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / ".env").write_text("OPENAI_API_KEY=sk-from-dotenv\n")
    monkeypatch.setenv("OPENAI_BASE_URL", server.openai_url)  # the SDK's own default
    server.keep(OpenAIBackend("gpt-test", max_retries=0)).generate([_request()], SAMPLING)
    assert server.requests[0].headers["authorization"] == "Bearer sk-from-dotenv"


# ------------------------------------------------------------------------ Anthropic


def _anthropic_key(headers: dict[str, str]) -> str:
    """The key a request carried: ``x-api-key`` (SDK < 2) or ``Authorization: Bearer`` (2.x)."""
    if "x-api-key" in headers:
        return headers["x-api-key"]
    return headers["authorization"].removeprefix("Bearer ")


def test_anthropic_request_shape_auth_and_tool_output(server: FakeServer) -> None:
    backend = _anthropic(server)
    assert backend.kind == "anthropic"
    assert backend.model_id == "claude-test"
    request = GenerationRequest(
        messages=[
            {"role": "system", "content": "You are a trader."},
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Should I buy AAPL?"},
            {"role": "assistant", "content": "Let me look."},
            {"role": "user", "content": "Decide."},
        ],
        schema=SCHEMA,
        name="trade_signal",
    )

    [text] = backend.generate([request], SAMPLING)

    assert json.loads(text) == {"action": "sell", "confidence": 0.4, "echo": "Decide."}
    [seen] = server.requests
    assert seen.path == "/v1/messages"
    assert _anthropic_key(seen.headers) == ANTHROPIC_KEY
    assert seen.headers["anthropic-version"]
    assert seen.body["model"] == "claude-test"
    assert seen.body["max_tokens"] == 123
    assert seen.body["system"] == "You are a trader.\n\nBe brief."
    assert seen.body["messages"] == [
        {"role": "user", "content": "Should I buy AAPL?"},
        {"role": "assistant", "content": "Let me look."},
        {"role": "user", "content": "Decide."},
    ]
    assert seen.body["tools"] == [
        {
            "name": "trade_signal",
            "description": "Answer in this structure.",
            "input_schema": SCHEMA,
        }
    ]
    assert seen.body["tool_choice"] == {"type": "tool", "name": "trade_signal"}
    backend.close()


def test_anthropic_sampling_only_on_api_2023_06_01(server: FakeServer) -> None:
    import anthropic

    # The SDK's default API version rejects temperature/top_p: they are not sent.
    _anthropic(server).generate([_request()], SAMPLING)
    default = server.requests[-1]
    if default.headers["anthropic-version"] != "2023-06-01":
        assert "temperature" not in default.body
        assert "top_p" not in default.body

    pinned = anthropic.Anthropic(
        api_key=ANTHROPIC_KEY,
        base_url=server.anthropic_url,
        max_retries=0,
        default_headers={"anthropic-version": "2023-06-01"},
    )
    backend = AnthropicBackend("claude-test", client=pinned)
    backend.close()  # an injected client belongs to the caller: still usable

    backend.generate([_request()], SAMPLING)
    assert server.requests[-1].headers["anthropic-version"] == "2023-06-01"
    assert server.requests[-1].body["temperature"] == 0.2
    assert server.requests[-1].body["top_p"] == 0.9
    backend.generate([_request()], Sampling(temperature=0.0, top_p=1.0))
    assert server.requests[-1].body["temperature"] == 0.0
    assert "top_p" not in server.requests[-1].body
    pinned.close()


def test_anthropic_free_text_concatenates_text_blocks(server: FakeServer) -> None:
    [text] = _anthropic(server).generate([_request("hello", schema=False)], SAMPLING)
    assert text == "echo: hello"
    body = server.requests[0].body
    assert "tools" not in body
    assert "tool_choice" not in body


def test_anthropic_batch_preserves_order(server: FakeServer) -> None:
    server.plan(*(Reply(delay=0.05 * (5 - i)) for i in range(5)))
    prompts = [f"prompt {i}" for i in range(5)]
    texts = _anthropic(server).generate([_request(p) for p in prompts], SAMPLING)
    assert [json.loads(t)["echo"] for t in texts] == prompts
    assert server.attempts == 5


def test_anthropic_retries_429_with_retry_after(server: FakeServer) -> None:
    server.plan(
        Reply(429, {"Retry-After": "0"}, anthropic_error("Rate limited", "rate_limit_error"))
    )
    [text] = _anthropic(server).generate([_request()], SAMPLING)
    assert json.loads(text)["action"] == "sell"
    assert server.attempts == 2


def test_anthropic_retries_500_and_503(server: FakeServer) -> None:
    server.plan(
        Reply(500, FAST_RETRY, anthropic_error("boom", "api_error")),
        Reply(503, FAST_RETRY, anthropic_error("overloaded", "overloaded_error")),
    )
    [text] = _anthropic(server).generate([_request()], SAMPLING)
    assert json.loads(text)["action"] == "sell"
    assert server.attempts == 3


def test_anthropic_400_is_not_retried(server: FakeServer) -> None:
    server.plan(Reply(400, body=anthropic_error("tools.0.input_schema: invalid")))
    with pytest.raises(BackendError) as info:
        _anthropic(server, max_retries=3).generate([_request()], SAMPLING)
    message = str(info.value)
    assert "HTTP 400" in message
    assert "tools.0.input_schema: invalid" in message
    assert "\n" not in message
    assert server.attempts == 1


def test_anthropic_persistent_500_gives_up_after_max_retries(server: FakeServer) -> None:
    server.plan(
        *(Reply(500, FAST_RETRY, anthropic_error("still broken", "api_error")) for _ in range(10))
    )
    with pytest.raises(BackendError, match=r"HTTP 500.*still broken"):
        _anthropic(server, max_retries=2).generate([_request()], SAMPLING)
    assert server.attempts == 3


def test_anthropic_timeout(server: FakeServer) -> None:
    server.plan(Reply(delay=4.0))  # well past the 0.3 s timeout
    started = time.perf_counter()
    with pytest.raises(BackendError, match="timed out"):
        _anthropic(server, timeout=0.3, max_retries=0).generate([_request()], SAMPLING)
    assert time.perf_counter() - started < 3.5  # gave up long before the reply
    assert server.attempts == 1


def test_anthropic_key_never_in_error(server: FakeServer) -> None:
    server.plan(
        Reply(
            401, body=anthropic_error(f"invalid x-api-key {ANTHROPIC_KEY}", "authentication_error")
        )
    )
    with pytest.raises(BackendError) as info:
        _anthropic(server).generate([_request()], SAMPLING)
    assert "HTTP 401" in str(info.value)
    assert ANTHROPIC_KEY not in str(info.value)


def test_anthropic_missing_key(no_keys: None) -> None:
    with pytest.raises(ProviderUnavailableError, match="ANTHROPIC_API_KEY is not set"):
        AnthropicBackend("claude-test")


def test_anthropic_key_from_settings(
    server: FakeServer, no_keys: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / ".env").write_text("ANTHROPIC_API_KEY=sk-ant-from-dotenv\n")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", server.anthropic_url)  # the SDK's own default
    server.keep(AnthropicBackend("claude-test", max_retries=0)).generate([_request()], SAMPLING)
    assert _anthropic_key(server.requests[0].headers) == "sk-ant-from-dotenv"


def test_anthropic_local_server_needs_no_key(server: FakeServer, no_keys: None) -> None:
    server.keep(AnthropicBackend("local", base_url=server.anthropic_url, max_retries=0)).generate(
        [_request()], SAMPLING
    )
    assert _anthropic_key(server.requests[0].headers) == "not-needed"


def test_anthropic_unknown_role_is_rejected(server: FakeServer) -> None:
    request = GenerationRequest(messages=[{"role": "tool", "content": "x"}])
    with pytest.raises(BackendError, match="role 'tool'"):
        _anthropic(server).generate([request], SAMPLING)
    assert server.attempts == 0

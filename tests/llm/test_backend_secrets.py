"""No key leaves through an error of the OpenAI or Anthropic backend.

The fake API (``tests/fake_api.py``) answers with ``echo``: an error whose message
repeats the request's key (as "Incorrect API key provided: ..." does) and headers,
plain and base64. The ``BackendError`` keeps the provider, the status, a short reason
and the fix; for 401/403 none of the server's words, for other statuses a short,
redacted excerpt. Logging is left unredacted (``unredacted_logging``): the records are
what the backends themselves say.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest

from stockagents.core.errors import BackendError
from stockagents.llm._api_backend import APIBackend
from stockagents.llm.anthropic_backend import AnthropicBackend
from stockagents.llm.base import GenerationRequest, Sampling
from stockagents.llm.openai_backend import OpenAIBackend
from tests.fake_api import FakeServer, Reply
from tests.leaks import BAD_KEY, leaks, unredacted_logging

pytest.importorskip("openai")
pytest.importorskip("anthropic")

SAMPLING = Sampling(max_new_tokens=16, temperature=0.0)
REQUEST = GenerationRequest(messages=[{"role": "user", "content": "hi"}])
FAST_RETRY = {"retry-after-ms": "1"}


@pytest.fixture(autouse=True)
def _raw_logging() -> Iterator[None]:
    with unredacted_logging():
        yield


def _backend(kind: str, server: FakeServer) -> APIBackend:
    options: dict[str, Any] = {"api_key": BAD_KEY, "max_retries": 1, "timeout": 5.0}
    if kind == "openai":
        return server.keep(OpenAIBackend("gpt-test", base_url=server.openai_url, **options))
    return server.keep(AnthropicBackend("claude-test", base_url=server.anthropic_url, **options))


VARIABLES = {
    "openai": ("OpenAI", "OPENAI_API_KEY"),
    "anthropic": ("Anthropic", "ANTHROPIC_API_KEY"),
}


@pytest.mark.parametrize("status", [401, 403])
@pytest.mark.parametrize("kind", ["openai", "anthropic"])
def test_a_rejected_key_is_not_echoed(
    server: FakeServer, caplog: pytest.LogCaptureFixture, kind: str, status: int
) -> None:
    server.plan(Reply(status, echo=True))
    backend = _backend(kind, server)
    with caplog.at_level(logging.DEBUG), pytest.raises(BackendError) as error:
        backend.generate([REQUEST], SAMPLING)
    assert any(BAD_KEY in value for value in server.requests[0].headers.values())  # sent
    message = str(error.value)
    provider, variable = VARIABLES[kind]
    reason = {401: "key rejected", 403: "access refused"}[status]
    assert message == (
        f"{provider} API error HTTP {status} ({reason}) for model "
        f"'{backend.model_id}' at 127.0.0.1:{server.port}; check {variable} (or the api_key "
        "given)"
    )
    assert all(leaks(r.getMessage(), BAD_KEY) == [] for r in caplog.records)


@pytest.mark.parametrize("kind", ["openai", "anthropic"])
def test_a_server_error_is_quoted_short_and_redacted(
    server: FakeServer, caplog: pytest.LogCaptureFixture, kind: str
) -> None:
    server.plan(*(Reply(500, FAST_RETRY, echo=True) for _ in range(2)))
    backend = _backend(kind, server)
    with caplog.at_level(logging.DEBUG), pytest.raises(BackendError) as error:
        backend.generate([REQUEST], SAMPLING)
    message = str(error.value)
    assert leaks(message, BAD_KEY) == []
    assert "HTTP 500 (server error: Incorrect API key provided: *** (***); request" in message
    assert message.endswith("; gave up after 1 retries; try again later")
    assert len(message) < 300
    assert all(leaks(r.getMessage(), BAD_KEY) == [] for r in caplog.records)

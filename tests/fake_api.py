"""A fake OpenAI and Anthropic API on loopback, for tests of the API backends and of
what uses them (teachers, synthetic data).

``FakeServer`` is a real HTTP server on 127.0.0.1 that speaks each API's wire format
(``POST /v1/chat/completions``, ``POST /v1/messages``), records every request and can be
scripted reply by reply (``plan``: fail, throttle, stall, a fixed body, or ``echo``: an
error that repeats the request's headers) or answer from the request itself
(``respond``). The ``server`` and ``no_keys`` fixtures are registered
for every test by ``tests/conftest.py``.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any, TypeVar

import pytest

from tests.loopback import serving

__all__ = [
    "FakeServer",
    "Recorded",
    "Reply",
    "anthropic_error",
    "anthropic_message",
    "last_user_text",
    "no_keys",
    "openai_completion",
    "openai_error",
    "server",
]

T = TypeVar("T")

#: ``respond(path, body)``: the JSON body to answer a request with (None: the default).
Responder = Callable[[str, dict[str, Any]], dict[str, Any] | None]


@dataclass
class Reply:
    """One scripted answer: status, extra headers, JSON body (None: the default) and delay;
    ``echo``: an error body in both APIs' formats whose message repeats the request's
    headers (the key among them), plain and base64."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: dict[str, Any] | None = None
    delay: float = 0.0
    echo: bool = False


@dataclass
class Recorded:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


class FakeServer:
    """State shared by the handler threads: the script, the record and a stop switch."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.script: list[Reply] = []
        self.requests: list[Recorded] = []
        self.stop = threading.Event()
        self.port = 0
        self.closers: list[Any] = []  # backends and clients to close at teardown
        self.respond: Responder | None = None  # answers unscripted requests when set

    def keep(self, item: T) -> T:
        self.closers.append(item)
        return item

    def plan(self, *replies: Reply) -> None:
        with self.lock:
            self.script.extend(replies)

    def next_reply(self) -> Reply:
        with self.lock:
            return self.script.pop(0) if self.script else Reply()

    def record(self, item: Recorded) -> None:
        with self.lock:
            self.requests.append(item)

    @property
    def attempts(self) -> int:
        with self.lock:
            return len(self.requests)

    @property
    def openai_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def anthropic_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def last_user_text(body: dict[str, Any]) -> str:
    for message in reversed(body.get("messages", [])):
        if message.get("role") == "user" and isinstance(message.get("content"), str):
            return str(message["content"])
    return ""


def openai_completion(body: dict[str, Any]) -> dict[str, Any]:
    prompt = last_user_text(body)
    if "response_format" in body:
        content = json.dumps({"action": "buy", "confidence": 0.7, "echo": prompt})
    else:
        content = f"echo: {prompt}"
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.get("model", "unknown"),
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content, "refusal": None},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
    }


def anthropic_message(body: dict[str, Any]) -> dict[str, Any]:
    prompt = last_user_text(body)
    content: list[dict[str, Any]]
    if body.get("tools"):
        tool = body["tools"][0]["name"]
        content = [
            {"type": "text", "text": "Here is the structure."},
            {
                "type": "tool_use",
                "id": "toolu_01",
                "name": tool,
                "input": {"action": "sell", "confidence": 0.4, "echo": prompt},
            },
        ]
        stop_reason = "tool_use"
    else:
        content = [{"type": "text", "text": "echo: "}, {"type": "text", "text": prompt}]
        stop_reason = "end_turn"
    return {
        "id": "msg_01",
        "type": "message",
        "role": "assistant",
        "model": body.get("model", "unknown"),
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": {"input_tokens": 10, "output_tokens": 5},
    }


def openai_error(message: str, kind: str = "invalid_request_error") -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": None, "code": None}}


def anthropic_error(message: str, kind: str = "invalid_request_error") -> dict[str, Any]:
    return {"type": "error", "error": {"type": kind, "message": message}}


def _make_handler(state: FakeServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        timeout = 10  # a stuck client cannot hold a handler thread for long

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            raw = self.rfile.read(length) if length else b"{}"
            body = json.loads(raw or b"{}")
            headers = {name.lower(): value for name, value in self.headers.items()}
            state.record(Recorded(self.path, headers, body))
            reply = state.next_reply()
            if reply.delay:
                state.stop.wait(reply.delay)
            payload = reply.body
            if reply.echo:  # the key first, as "Incorrect API key provided: ..." does
                key = headers.get("authorization", "").removeprefix("Bearer ")
                key = key or headers.get("x-api-key", "")
                seen = json.dumps(headers)
                text = (
                    f"Incorrect API key provided: {key} "
                    f"({base64.b64encode(key.encode()).decode()}); request {seen}; "
                    f"trace {base64.b64encode(seen.encode()).decode()}"
                )
                payload = {"type": "error", "error": {"type": "echo", "message": text}}
            if payload is None and state.respond is not None:
                payload = state.respond(self.path, body)
            if payload is None:
                if self.path == "/v1/chat/completions":
                    payload = openai_completion(body)
                elif self.path == "/v1/messages":
                    payload = anthropic_message(body)
                else:
                    reply = Reply(status=404)
                    payload = {"error": {"message": f"no route {self.path}"}}
            data = json.dumps(payload).encode()
            try:
                self.send_response(reply.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)
            except OSError:  # the client gave up (timeout test)
                pass

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet."""

    return Handler


@pytest.fixture
def server() -> Iterator[FakeServer]:
    state = FakeServer()
    with serving(_make_handler(state)) as port:
        state.port = port
        try:
            yield state
        finally:
            for item in state.closers:
                item.close()
            state.stop.set()  # release handlers still sleeping


@pytest.fixture
def no_keys(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No key in the environment and no .env file in the working directory."""
    for name in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)

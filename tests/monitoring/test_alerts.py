"""The alert webhook: a JSON POST to a real server on loopback, retried on 5xx/429, never
raising."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from stockagents.monitoring.alerts import send_webhook


class _Hook:
    def __init__(self, statuses: list[int]) -> None:
        self.statuses = statuses
        self.bodies: list[dict[str, Any]] = []
        self.types: list[str] = []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                hook.bodies.append(json.loads(body))
                hook.types.append(self.headers["Content-Type"])
                status = hook.statuses.pop(0) if hook.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/alerts"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


@pytest.fixture
def hook(request: pytest.FixtureRequest) -> Iterator[_Hook]:
    server = _Hook(list(request.param))
    yield server
    server.httpd.shutdown()
    server.httpd.server_close()


@pytest.mark.parametrize("hook", [[503, 429]], indirect=True)
def test_a_failing_webhook_is_retried_until_it_answers(hook: _Hook) -> None:
    payload = {"kind": "stockagents.monitor.verdict", "verdict": "degraded"}
    outcome = send_webhook(hook.url, payload, retries=3, pause=0.0)
    assert outcome == "delivered (200) after 3 attempts"
    assert hook.bodies == [payload] * 3
    assert hook.types[0] == "application/json"


@pytest.mark.parametrize("hook", [[503] * 10], indirect=True)
def test_retries_end_and_the_outcome_is_one_line(hook: _Hook) -> None:
    assert send_webhook(hook.url, {"a": 1}, retries=2, pause=0.0) == "failed after 3 attempts: 503"


@pytest.mark.parametrize("hook", [[400]], indirect=True)
def test_a_client_error_is_not_retried(hook: _Hook) -> None:
    assert send_webhook(hook.url, {"a": 1}, retries=3, pause=0.0) == "failed after 1 attempt: 400"
    assert len(hook.bodies) == 1


def test_an_unreachable_webhook_costs_a_line() -> None:
    outcome = send_webhook("http://127.0.0.1:9/x", {"a": 1}, retries=1, pause=0.0, timeout=1)
    assert outcome == "failed after 2 attempts: ConnectError"

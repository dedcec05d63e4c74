"""The alert webhook: a JSON POST to a real server on loopback, retried on 5xx/429, never
raising."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from stockagents.monitoring.alerts import send_webhook
from tests.loopback import WebhookReceiver


@pytest.fixture
def hook(request: pytest.FixtureRequest) -> Iterator[WebhookReceiver]:
    with WebhookReceiver.running(list(request.param)) as receiver:
        yield receiver


@pytest.mark.parametrize("hook", [[503, 429]], indirect=True)
def test_a_failing_webhook_is_retried_until_it_answers(hook: WebhookReceiver) -> None:
    payload = {"kind": "stockagents.monitor.verdict", "verdict": "degraded"}
    outcome = send_webhook(hook.url, payload, retries=3, pause=0.0)
    assert outcome == "delivered (200) after 3 attempts"
    assert hook.bodies == [payload] * 3
    assert hook.types[0] == "application/json"


@pytest.mark.parametrize("hook", [[503] * 10], indirect=True)
def test_retries_end_and_the_outcome_is_one_line(hook: WebhookReceiver) -> None:
    assert send_webhook(hook.url, {"a": 1}, retries=2, pause=0.0) == "failed after 3 attempts: 503"


@pytest.mark.parametrize("hook", [[400]], indirect=True)
def test_a_client_error_is_not_retried(hook: WebhookReceiver) -> None:
    assert send_webhook(hook.url, {"a": 1}, retries=3, pause=0.0) == "failed after 1 attempt: 400"
    assert len(hook.bodies) == 1


def test_an_unreachable_webhook_costs_a_line() -> None:
    outcome = send_webhook("http://127.0.0.1:9/x", {"a": 1}, retries=1, pause=0.0, timeout=1)
    assert outcome == "failed after 2 attempts: ConnectError"

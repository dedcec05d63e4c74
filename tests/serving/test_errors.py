"""Every error answer is ``{"error", "detail"}`` with one redacted line: Starlette's own
404 and 405, an API key refused, an upstream failure (its summary only), a backend
failure, and a 500 that never shows the exception's text."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from stockagents.core.config import AppConfig
from stockagents.core.errors import BackendError, DataError, UpstreamError
from stockagents.orchestration import SystemCoordinator
from stockagents.serving.app import create_app


def _problem(answer: Any, status: int) -> dict[str, str]:
    assert answer.status_code == status, answer.text
    body: dict[str, str] = answer.json()
    assert set(body) == {"error", "detail"}
    assert body["detail"]
    assert "\n" not in body["detail"]
    return body


def _failing(exc: Exception) -> Callable[[AppConfig], SystemCoordinator]:
    """A factory of coordinators whose every analysis raises ``exc``."""

    def factory(config: AppConfig) -> SystemCoordinator:
        coordinator = SystemCoordinator(config, models="expert")

        def analyze_symbol(*args: Any, **kwargs: Any) -> Any:
            raise exc

        coordinator.analyze_symbol = analyze_symbol  # type: ignore[method-assign]
        coordinator.analyze_observed = analyze_symbol  # type: ignore[method-assign]
        return coordinator

    return factory


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    with TestClient(create_app(models="expert", api_key="")) as c:
        yield c


def test_an_unknown_route_is_a_404_in_the_error_shape(client: TestClient) -> None:
    for path in ("/analyse/AAPL", "/health/extra", "/analyze/AAPL/../../etc"):
        assert _problem(client.get(path), 404)["error"] == "not found"
    body = _problem(client.get("/nope"), 404)
    assert body == {"error": "not found", "detail": "no route GET /nope; see /docs for the routes"}


def test_a_wrong_method_is_a_405_in_the_error_shape(client: TestClient) -> None:
    answer = client.delete("/health")
    body = _problem(answer, 405)
    assert body == {
        "error": "method not allowed",
        "detail": "DELETE /health is not allowed; use GET",
    }
    assert answer.headers["allow"] == "GET"
    body = _problem(client.get("/backtest"), 405)
    assert body["detail"] == "GET /backtest is not allowed; use POST"
    _problem(client.put("/analyze/AAPL", json={}), 405)


def test_invalid_json_is_a_422_saying_so(client: TestClient) -> None:
    answer = client.post(
        "/analyze", content=b'{"symbols": [AAPL]}', headers={"content-type": "application/json"}
    )
    assert "the body is not valid JSON" in _problem(answer, 422)["detail"]


def test_the_api_key_guards_unknown_routes_too() -> None:
    with TestClient(create_app(models="expert", api_key="s3cret-key")) as c:
        assert _problem(c.get("/nope"), 401)["error"] == "unauthorized"
        assert _problem(c.post("/backtest", content=b"x" * 100_000), 401)["error"] == "unauthorized"
        keyed = c.get("/nope", headers={"X-API-Key": "s3cret-key"})
        assert _problem(keyed, 404)["error"] == "not found"


def test_an_unexpected_error_is_a_500_without_its_text() -> None:
    boom = RuntimeError("Traceback: /srv/secret/path.py password=hunter2 and more\nline two")
    app = create_app(api_key="", coordinator_factory=_failing(boom))
    with TestClient(app, raise_server_exceptions=False) as c:
        answer = c.get("/analyze/AAPL")
    body = _problem(answer, 500)
    assert body == {
        "error": "internal error",
        "detail": "unexpected server error; the server log has the details",
    }
    for leaked in ("Traceback", "/srv/secret", "hunter2", "RuntimeError"):
        assert leaked not in answer.text


def test_an_upstream_failure_shows_only_its_summary() -> None:
    failure = UpstreamError(
        'finnhub answered 401: {"error": "Invalid API key abcdef123456"} for token=abcdef123456',
        provider="finnhub",
        summary="HTTP 401 from finnhub",
        status=401,
    )
    with TestClient(create_app(api_key="", coordinator_factory=_failing(failure))) as c:
        answer = c.get("/analyze/AAPL")
    body = _problem(answer, 503)
    assert body["detail"] == "a data source failed: HTTP 401 from finnhub"
    assert "abcdef123456" not in answer.text and "Invalid API key" not in answer.text  # noqa: PT018


def test_a_backend_failure_is_a_generic_503() -> None:
    failure = BackendError("openai: HTTP 500 after 3 retries: {'error': 'upstream said sk-abc123'}")
    with TestClient(create_app(api_key="", coordinator_factory=_failing(failure))) as c:
        answer = c.post("/analyze", json={"symbols": ["AAPL"]})
    assert _problem(answer, 503)["detail"] == "the model backend failed; try again later"
    assert "sk-abc123" not in answer.text


def test_a_data_error_detail_is_redacted_and_one_line() -> None:
    failure = DataError(
        "yfinance: download of AAPL failed (GET https://example.com/q?symbol=AAPL&apikey="
        "abcdef123456 -> 500)\nTraceback (most recent call last): ..."
    )
    with TestClient(create_app(api_key="", coordinator_factory=_failing(failure))) as c:
        answer = c.get("/analyze/AAPL")
    body = _problem(answer, 422)
    assert "apikey=***" in body["detail"]
    assert "abcdef123456" not in answer.text
    assert "Traceback" not in answer.text


def test_a_configured_secret_never_appears_in_an_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FINNHUB_API_KEY", "fh-secret-0123456789")
    failure = DataError("news source failed for key fh-secret-0123456789")
    with TestClient(create_app(api_key="", coordinator_factory=_failing(failure))) as c:
        answer = c.get("/analyze/AAPL")
    assert "fh-secret-0123456789" not in answer.text
    assert "***" in _problem(answer, 422)["detail"]

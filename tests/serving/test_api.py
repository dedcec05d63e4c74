"""The HTTP API: routes, validation, auth, concurrency with a shared model, and a real
uvicorn server on loopback."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi.testclient import TestClient

from stockagents.orchestration import SystemCoordinator
from stockagents.serving.app import create_app
from tests.helpers import make_tiny_adapter


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    with TestClient(create_app(models="expert")) as c:
        yield c


def test_health_models_and_docs(client: TestClient) -> None:
    assert client.get("/health").json() == {
        "status": "ok",
        "version": "0.1.0",
        "model_set": "expert",
    }
    models = client.get("/models").json()
    assert set(models["model_versions"].values()) == {"expert-3"}
    assert models["production"] is None
    assert client.get("/docs").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/health", "/models", "/analyze/{symbol}", "/analyze", "/backtest"} <= set(paths)


def test_analyze_matches_the_coordinator(client: TestClient) -> None:
    answer = client.get("/analyze/aapl", params={"as_of": "2023-06-30"})
    assert answer.status_code == 200
    body = answer.json()
    with SystemCoordinator(models="expert") as coordinator:
        direct = coordinator.analyze_symbol("AAPL", "2023-06-30")
    assert body["decision"] == json.loads(direct.decision.model_dump_json())
    assert body["symbol"] == "AAPL"
    assert body["as_of"] == "2023-06-30"
    batch = client.post(
        "/analyze", json={"symbols": ["AAPL", "nvda", "ZZZZ"], "as_of": "2023-06-30"}
    )
    assert batch.status_code == 200
    assert [r["symbol"] for r in batch.json()["results"]] == ["AAPL", "NVDA"]
    assert batch.json()["errors"]["ZZZZ"].startswith("unknown symbol 'ZZZZ'")


@pytest.mark.parametrize(
    ("method", "path", "payload", "status", "detail"),
    [
        ("get", "/analyze/ZZZZ", None, 404, "unknown symbol 'ZZZZ'"),
        ("get", "/analyze/AAPL?as_of=notadate", None, 422, "query.as_of: Input should be a valid date"),
        ("get", "/analyze/AAPL?as_of=1990-01-02", None, 422, "1990-01-02"),
        ("post", "/analyze", {"symbols": []}, 422, "symbols: List should have at least 1 item"),
        ("post", "/analyze", {"symbols": ["A"] * 21}, 422, "symbols: List should have at most 20"),
        ("post", "/analyze", {"symbols": ["AAPL"], "extra": 1}, 422, "extra: Extra inputs"),
        ("post", "/backtest", {"symbols": ["AAPL"], "start": "2019-01-01"}, 422, "at most 260 here"),
        ("post", "/backtest", {"symbols": ["AAPL"], "start": "2023-06-01", "end": "2023-01-01"}, 422,
         "is after end"),
    ],
)  # fmt: skip
def test_bad_input_is_a_clear_4xx(
    client: TestClient, method: str, path: str, payload: object, status: int, detail: str
) -> None:
    answer = client.request(method.upper(), path, json=payload)
    assert answer.status_code == status
    body = answer.json()
    assert set(body) == {"error", "detail"}
    assert detail in body["detail"]
    assert "\n" not in body["detail"]


def test_backtest_returns_metrics_with_and_without_costs(client: TestClient) -> None:
    answer = client.post(
        "/backtest", json={"symbols": ["AAPL", "ZZZZ"], "start": "2023-01-03", "end": "2023-06-30"}
    )
    assert answer.status_code == 200
    body = answer.json()
    assert body["symbols"] == ["AAPL"]
    assert "ZZZZ" in body["skipped"]
    assert set(body["metrics"]) == {"agents", "agents (no costs)", "buy & hold"}
    costs, free = body["metrics"]["agents"], body["metrics"]["agents (no costs)"]
    assert costs["total_return"] <= free["total_return"]
    assert costs["total_costs"] > 0 and free["total_costs"] == 0  # noqa: PT018


def test_an_api_key_guards_every_route_but_health() -> None:
    with TestClient(create_app(models="expert", api_key="s3cret")) as c:
        assert c.get("/health").status_code == 200
        denied = c.get("/models")
        assert denied.status_code == 401
        assert denied.json() == {
            "error": "unauthorized",
            "detail": "missing or wrong X-API-Key header",
        }
        assert c.get("/models", headers={"X-API-Key": "wrong"}).status_code == 401
        assert c.get("/models", headers={"X-API-Key": "s3cret"}).status_code == 200


def test_concurrent_requests_share_one_model_safely(tmp_path: Path) -> None:
    models = tmp_path / "set"
    make_tiny_adapter(models / "technical", seed=5, agent="technical")
    days = ["2023-06-26", "2023-06-27", "2023-06-28", "2023-06-29"]
    with TestClient(create_app(models=models)) as c:
        assert c.get("/health").json()["model_set"] == str(models)
        serial = {d: c.get("/analyze/AAPL", params={"as_of": d}).json() for d in days}
        with ThreadPoolExecutor(max_workers=8) as pool:
            answers = list(
                pool.map(lambda d: (d, c.get("/analyze/AAPL", params={"as_of": d})), days * 4)
            )
    for day, answer in answers:
        assert answer.status_code == 200
        assert answer.json()["signals"]["technical"] == serial[day]["signals"]["technical"]
    assert serial[days[0]]["model_versions"]["technical"].startswith("test-5 on tiny")


def _raw(port: int, header: str, body: bytes) -> tuple[int, dict[str, Any]]:
    """POST /analyze with ``header`` and ``body`` as sent bytes; the status and JSON."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as raw:
        raw.sendall(
            b"POST /analyze HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            + header.encode() + b"\r\n\r\n" + body
        )  # fmt: skip
        answer = raw.makefile("rb").read().decode()
    head, _, payload = answer.partition("\r\n\r\n")
    return int(head.split()[1]), json.loads(payload)


def test_a_real_uvicorn_server_on_loopback() -> None:
    # the socket is bound here and handed to uvicorn: no other process (another pytest
    # worker) can take the port between choosing it and listening on it
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = int(sock.getsockname()[1])
    config = uvicorn.Config(
        create_app(models="expert", api_key=""), host="127.0.0.1", port=port, log_level="warning"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        assert server.started
        base = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=base, timeout=30) as http:
            assert http.get("/health").json()["status"] == "ok"
            answer = http.get("/analyze/AMZN", params={"as_of": "2023-06-30"})
            assert answer.status_code == 200
            assert answer.json()["symbol"] == "AMZN"
            assert http.get("/analyze/ZZZZ").status_code == 404
            assert http.get("/nope").json()["error"] == "not found"
            # Bodies over the limit go on a raw socket that sends no more than the server
            # reads before it answers: bytes left unread when it closes would make the
            # kernel reset the connection, maybe under the answer.
            # A declared 1 MiB body: refused before any of it is read.
            status, body = _raw(port, "Content-Length: 1048576", b"")
            assert (status, body["error"]) == (413, "payload too large")
            # A chunked one: counted as it arrives, refused once past 64 KiB (9 x 8 KiB).
            chunk = b"2000\r\n" + b" " * 8192 + b"\r\n"
            status, body = _raw(port, "Transfer-Encoding: chunked", chunk * 9)
            assert (status, body["error"]) == (413, "payload too large")
            assert http.get("/health").status_code == 200  # and the server still answers
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()

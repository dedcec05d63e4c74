"""What a request must pass before a route sees it: symbols that are names (never paths),
a bounded JSON body, declared query parameters only; and where ``serve`` may listen."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator, MutableMapping
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import TypeAdapter, ValidationError

from stockagents.core.errors import ConfigError
from stockagents.serving._guards import MAX_BODY_BYTES, check_bind, is_loopback
from stockagents.serving.app import create_app
from stockagents.serving.schemas import Symbol
from tests.helpers import make_bars, write_price_dir

SECRET_MARK = "TOP-SECRET-31337"


def _assert_problem(answer: object, status: int, detail: str = "") -> dict[str, str]:
    assert answer.status_code == status, answer.text  # type: ignore[attr-defined]
    body: dict[str, str] = answer.json()  # type: ignore[attr-defined]
    assert set(body) == {"error", "detail"}
    assert detail in body["detail"]
    assert "\n" not in body["detail"]
    assert len(body["detail"]) <= 300
    return body


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    with TestClient(create_app(models="expert", api_key="")) as c:
        yield c


@pytest.fixture
def csv_client(tmp_path: Path) -> Iterator[TestClient]:
    """An app on a CSV price directory, with a readable price file just outside it."""
    bars = make_bars([100 + i * 0.1 for i in range(300)], start="2022-06-01")
    prices = write_price_dir(tmp_path / "prices", {"AAPL": bars})
    outside = write_price_dir(tmp_path / "OUTSIDE", {"SECRET": bars * 313.37})
    secret = outside / "SECRET.csv"
    secret.write_text(secret.read_text().replace("volume", f"volume,{SECRET_MARK}", 1))
    config = {"data": {"prices": {"provider": "csv", "csv_dir": str(prices)}}}
    with TestClient(create_app(config, models="expert", api_key="")) as c:
        yield c


@pytest.mark.parametrize(
    ("method", "path", "payload"),
    [
        ("get", "/analyze/..%2FOUTSIDE%2FSECRET", None),
        ("get", "/analyze/%2E%2E%2FOUTSIDE%2FSECRET", None),
        ("get", "/analyze/..%5COUTSIDE%5CSECRET", None),
        ("post", "/analyze", {"symbols": ["../OUTSIDE/SECRET"]}),
        ("post", "/analyze", {"symbols": ["AAPL", "../OUTSIDE/SECRET"]}),
        ("post", "/backtest", {"symbols": ["../OUTSIDE/SECRET"]}),
    ],
)
def test_a_symbol_is_never_a_path(
    csv_client: TestClient, method: str, path: str, payload: object
) -> None:
    answer = csv_client.request(method.upper(), path, json=payload)
    body = _assert_problem(answer, 422, "is not a valid symbol: a symbol is 1-15 letters")
    assert "SECRET" in body["detail"]  # names the symbol it refused
    assert SECRET_MARK not in answer.text
    assert "3133" not in answer.text  # the secret file's prices are ~31337


def test_the_csv_app_does_answer_for_a_real_symbol(csv_client: TestClient) -> None:
    answer = csv_client.get("/analyze/aapl")
    assert answer.status_code == 200, answer.text
    assert answer.json()["symbol"] == "AAPL"


def test_an_oversized_symbol_is_refused_with_a_short_answer(client: TestClient) -> None:
    huge = "A" * 60_000  # the longest URL the test client sends; the body allows less
    answer = client.get(f"/analyze/{huge}")
    _assert_problem(answer, 422, "is not a valid symbol")
    assert len(answer.content) < 500
    answer = client.post("/analyze", json={"symbols": ["A" * 2**20]})
    _assert_problem(answer, 413, "over the limit of 65536 bytes (64 KiB)")
    assert len(answer.content) < 500
    with pytest.raises(ValidationError, match="is not a valid symbol"):
        TypeAdapter(Symbol).validate_python("A" * 2**20)


def test_a_megabyte_symbol_in_the_path_is_422() -> None:
    """Sent straight to the app: no HTTP client sends a 1 MB URL (and uvicorn refuses a
    request line that long itself, with a plain 400)."""
    app = create_app(models="expert", api_key="")
    path = "/analyze/" + "A" * 2**20
    sent: list[MutableMapping[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
        "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
        "root_path": "", "headers": [(b"host", b"test")], "client": ("127.0.0.1", 1),
        "server": ("test", 80),
    }  # fmt: skip
    asyncio.run(app(scope, receive, send))
    assert sent[0]["status"] == 422
    body = b"".join(m.get("body", b"") for m in sent[1:])
    assert len(body) < 500
    answer = json.loads(body)
    assert set(answer) == {"error", "detail"}
    assert "is not a valid symbol" in answer["detail"]


def test_a_body_over_the_limit_is_413_before_parsing(client: TestClient) -> None:
    padding = " " * MAX_BODY_BYTES
    declared = client.post(
        "/analyze",
        content=b'{"symbols": ["AAPL"]}' + padding.encode(),
        headers={"content-type": "application/json"},
    )
    _assert_problem(declared, 413, "over the limit of 65536 bytes")

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
        yield b'{"symbols": ["AAPL"]'
        for _ in range(10):
            yield b" " * 8192
        yield b"}"

    chunked = client.post(
        "/analyze", content=chunks(), headers={"content-type": "application/json"}
    )
    _assert_problem(chunked, 413, "over the limit")


def test_a_body_within_a_small_limit_still_passes_chunked() -> None:
    with TestClient(create_app(models="expert", api_key="", max_body_bytes=200)) as c:

        def chunks() -> Iterator[bytes]:
            yield b'{"symbols": '
            yield b'["AAPL"], "as_of": '
            yield b'"2023-06-30"}'

        answer = c.post("/analyze", content=chunks(), headers={"content-type": "application/json"})
        assert answer.status_code == 200, answer.text
        assert [r["symbol"] for r in answer.json()["results"]] == ["AAPL"]
        too_long = c.post("/analyze", json={"symbols": ["AAPL"] * 30})
        _assert_problem(too_long, 413, "over the limit of 200 bytes")


@pytest.mark.parametrize(
    ("kwargs", "got"),
    [
        ({"content": b"AAPL", "headers": {"content-type": "text/plain"}}, "'text/plain'"),
        ({"data": {"symbols": "AAPL"}}, "'application/x-www-form-urlencoded'"),
        ({"files": {"symbols": ("s.json", b'{"symbols": ["AAPL"]}')}}, "'multipart/form-data'"),
        ({"content": b'{"symbols": ["AAPL"]}'}, "got no Content-Type"),
    ],
)
def test_a_body_that_is_not_json_is_415(
    client: TestClient, kwargs: dict[str, object], got: str
) -> None:
    for path in ("/analyze", "/backtest"):
        answer = client.post(path, **kwargs)  # type: ignore[arg-type]
        body = _assert_problem(answer, 415, "send application/json")
        assert got in body["detail"]
        assert body["error"] == "unsupported media type"


def test_json_with_a_charset_or_a_json_suffix_is_accepted(client: TestClient) -> None:
    for media in ("application/json; charset=utf-8", "application/vnd.api+json"):
        answer = client.post(
            "/analyze",
            content=b'{"symbols": ["AAPL"], "as_of": "2023-06-30"}',
            headers={"content-type": media},
        )
        assert answer.status_code == 200, (media, answer.text)


@pytest.mark.parametrize(
    ("method", "path", "payload", "detail"),
    [
        ("get", "/analyze/AAPL?asof=2023-01-01", None,
         "unknown query parameter 'asof'; this route takes as_of"),
        ("get", "/health?verbose=1", None, "unknown query parameter 'verbose'"),
        ("get", "/models?x=1&y=2", None, "unknown query parameter 'x'"),
        ("post", "/analyze?as_of=2023-06-30", {"symbols": ["AAPL"]},
         "unknown query parameter 'as_of'; this route takes no query parameters"),
        ("post", "/backtest?dry_run=1", {"symbols": ["AAPL"]}, "unknown query parameter 'dry_run'"),
    ],
)  # fmt: skip
def test_an_unknown_query_parameter_is_422_naming_it(
    client: TestClient, method: str, path: str, payload: object, detail: str
) -> None:
    _assert_problem(client.request(method.upper(), path, json=payload), 422, detail)


def test_declared_query_parameters_still_work(client: TestClient) -> None:
    answer = client.get("/analyze/AAPL", params={"as_of": "2023-06-30"})
    assert answer.status_code == 200
    assert answer.json()["as_of"] == "2023-06-30"


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.1.2.3", True),
        ("localhost", True),
        ("LOCALHOST", True),
        ("::1", True),
        ("[::1]", True),
        ("::ffff:127.0.0.1", True),
        ("0.0.0.0", False),
        ("::", False),
        ("192.168.1.10", False),
        ("10.0.0.1", False),
        ("example.internal", False),
        ("localhost.example.com", False),
        ("", False),
    ],
)
def test_which_hosts_are_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_the_bind_rule() -> None:
    assert check_bind("127.0.0.1", api_key_set=False) is None
    assert check_bind("::1", api_key_set=False, insecure_no_auth=True) is None
    assert check_bind("0.0.0.0", api_key_set=True) is None
    assert check_bind("0.0.0.0", api_key_set=True, insecure_no_auth=True) is None
    warning = check_bind("0.0.0.0", api_key_set=False, insecure_no_auth=True)
    assert warning is not None and "without an API key" in warning  # noqa: PT018
    with pytest.raises(ConfigError) as refused:
        check_bind("0.0.0.0", api_key_set=False)
    message = str(refused.value)
    assert "\n" not in message
    assert "STOCKAGENTS_API_KEY" in message and "--insecure-no-auth" in message  # noqa: PT018


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_backtest_days": 0},
        {"max_backtest_days": -5},
        {"max_concurrent_backtests": 0},
        {"max_body_bytes": 0},
    ],
)
def test_create_app_refuses_limits_below_one(kwargs: dict[str, int]) -> None:
    with pytest.raises(ConfigError, match="must be a whole number of at least 1"):
        create_app(models="expert", api_key="", **kwargs)  # type: ignore[arg-type]

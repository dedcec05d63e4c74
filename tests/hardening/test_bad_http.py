"""Bad requests to the HTTP API (``create_app`` with the expert rules, in process): every
answer is a 4xx in the ``{"error", "detail"}`` shape with a one-line detail, never a
traceback, and a symbol is never read as a path."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import quote

import numpy as np
import pytest
from fastapi.testclient import TestClient

from stockagents.serving.app import create_app
from tests.hardening.support import SECRET_PRICE, SECRET_TEXT, Scratch, bars_csv

RULE = "is not a valid symbol"
UNSET: Any = object()


@dataclass(frozen=True)
class HttpCase:
    method: str
    path: str
    json: Any = UNSET
    content: bytes | str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    status: tuple[int, ...] = (422,)
    needles: tuple[str, ...] = ()

    def send(self, client: TestClient) -> Any:
        kwargs: dict[str, Any] = {"headers": self.headers}
        if self.json is not UNSET:
            kwargs["json"] = self.json
        if self.content is not None:
            kwargs["content"] = self.content
        return client.request(self.method, self.path, **kwargs)


def assert_problem(answer: Any, case: HttpCase) -> None:
    text = answer.text
    assert "Traceback" not in text, text[:500]
    assert SECRET_TEXT not in text
    assert SECRET_PRICE not in text, "the outside price file was read and shown"
    assert answer.status_code in case.status, f"{answer.status_code}: {text[:500]}"
    assert answer.headers["content-type"].startswith("application/json"), answer.headers
    body = answer.json()
    assert isinstance(body, dict), body
    assert set(body) == {"error", "detail"}, body
    assert isinstance(body["detail"], str), body
    assert body["detail"], body
    assert "\n" not in body["detail"], body["detail"]
    assert len(body["detail"]) <= 300, len(body["detail"])
    for needle in case.needles:
        assert needle in body["detail"], f"{needle!r} not in {body['detail']!r}"


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    """The app on the offline sample with the expert rules and no API key."""
    with TestClient(create_app(models="expert", api_key="")) as c:
        yield c


@pytest.fixture(scope="module")
def csv_layout(tmp_path_factory: pytest.TempPathFactory) -> Scratch:
    """A scratch price directory with ``AAPL.csv``, and ``outside/SECRET.csv`` beside it."""
    layout = Scratch(tmp_path_factory.mktemp("http")).build()
    (layout.prices / "AAPL.csv").write_text(bars_csv(np.linspace(100.0, 130.0, 300)))
    layout.snapshot = layout.take_snapshot()
    return layout


@pytest.fixture(scope="module")
def csv_client(csv_layout: Scratch) -> Iterator[TestClient]:
    config = {"data": {"prices": {"provider": "csv", "csv_dir": str(csv_layout.prices)}}}
    with TestClient(create_app(config, models="expert", api_key="")) as c:
        yield c


MEGABYTE = "X" * 1_000_000
JSON = {"content-type": "application/json"}


def get(path: str, *needles: str, status: tuple[int, ...] = (422,)) -> HttpCase:
    return HttpCase("GET", path, status=status, needles=needles)


def post(path: str, body: Any, *needles: str, status: tuple[int, ...] = (422,)) -> HttpCase:
    return HttpCase("POST", path, json=body, status=status, needles=needles)


def raw(
    method: str,
    path: str,
    content: bytes | str,
    headers: dict[str, str],
    *needles: str,
    status: tuple[int, ...],
) -> HttpCase:
    return HttpCase(method, path, content=content, headers=headers, status=status, needles=needles)


HTTP_CASES = [
    # routes and methods
    ("unknown-route", get("/nope", "/nope", status=(404,))),
    ("path-with-slash", get("/analyze/AAPL/extra", RULE)),
    ("get-on-post-route", get("/backtest", status=(405,))),
    ("delete-analyze", HttpCase("DELETE", "/analyze/AAPL", status=(405,))),
    ("put-backtest", HttpCase("PUT", "/backtest", json={"symbols": ["AAPL"]}, status=(405,))),
    ("patch-health", HttpCase("PATCH", "/health", status=(405,))),
    # content types and bodies
    ("text-plain", raw("POST", "/analyze", '{"symbols": ["AAPL"]}', {"content-type": "text/plain"}, "application/json", status=(415,))),
    ("no-content-type", raw("POST", "/analyze", b'{"symbols": ["AAPL"]}', {}, status=(415,))),
    ("form-data", raw("POST", "/analyze", "symbols=AAPL", {"content-type": "application/x-www-form-urlencoded"}, status=(415,))),
    ("backtest-text-plain", raw("POST", "/backtest", '{"symbols": ["AAPL"]}', {"content-type": "text/plain"}, status=(415,))),
    ("invalid-json", raw("POST", "/analyze", '{"symbols": [', JSON, "JSON", status=(422,))),
    ("empty-body", raw("POST", "/analyze", b"", JSON, status=(422,))),
    ("body-not-utf8", raw("POST", "/analyze", b'{"symbols": ["\xff\xfe"]}', JSON, status=(400, 422))),
    ("body-deep-nesting", raw("POST", "/analyze", "[" * 30_000 + "]" * 30_000, JSON, status=(400, 422))),
    ("body-nan", raw("POST", "/analyze", '{"symbols": ["AAPL"], "as_of": NaN}', JSON, "as_of", status=(422,))),
    ("body-is-list", post("/analyze", ["AAPL"])),
    ("body-is-null", raw("POST", "/analyze", "null", JSON, status=(422,))),
    ("body-is-string", post("/analyze", "AAPL")),
    ("unknown-body-field", post("/analyze", {"symbols": ["AAPL"], "extra": 1}, "extra")),
    ("misspelt-body-field", post("/analyze", {"symbol": ["AAPL"]}, "symbol")),
    ("body-over-limit", post("/analyze", {"symbols": [MEGABYTE]}, status=(413, 422))),
    ("backtest-body-over-limit", post("/backtest", {"symbols": [MEGABYTE]}, status=(413, 422))),
    # query parameters
    ("unknown-query", get("/analyze/AAPL?asof=2023-01-01", "asof")),
    ("query-on-health", get("/health?verbose=1", "verbose")),
    ("bad-as-of", get("/analyze/AAPL?as_of=31-12-2023", "as_of")),
    ("as-of-future", get("/analyze/AAPL?as_of=2031-01-01", "2031-01-01")),
    ("as-of-before-data", get("/analyze/AAPL?as_of=1990-01-02", "1990-01-02")),
    ("as-of-empty", get("/analyze/AAPL?as_of=", status=(422,))),
    # symbols in the path
    ("path-traversal", get("/analyze/..%2Foutside%2FSECRET", RULE)),
    ("path-absolute", get("/analyze/%2Fetc%2Fpasswd", RULE)),
    ("path-space", get("/analyze/a%20b", RULE)),
    ("path-semicolon", get("/analyze/AAPL%3Brm", RULE)),
    ("path-nul", get("/analyze/AAPL%00", RULE)),
    ("path-unicode", get("/analyze/%C3%84PPLE", RULE)),
    ("path-sharp-s", get("/analyze/%C3%9FAPL", RULE)),
    ("path-sixteen-chars", get("/analyze/" + "A" * 16, RULE)),
    ("path-dotdot", get("/analyze/%2E%2E", RULE, status=(404, 422))),
    ("path-long", get("/analyze/" + "X" * 50_000, RULE)),
    # symbols in bodies
    ("body-symbol-traversal", post("/analyze", {"symbols": ["../outside/SECRET"]}, RULE)),
    ("body-second-symbol-bad", post("/analyze", {"symbols": ["AAPL", "a b"]}, RULE)),
    ("body-symbol-empty", post("/analyze", {"symbols": [""]}, RULE)),
    ("body-symbol-number", post("/analyze", {"symbols": [1]})),
    ("body-symbol-null", post("/analyze", {"symbols": [None]})),
    ("body-symbols-string", post("/analyze", {"symbols": "AAPL"})),
    ("body-symbols-empty", post("/analyze", {"symbols": []}, "symbols")),
    ("body-21-symbols", post("/analyze", {"symbols": [f"S{i}" for i in range(21)]}, "symbols")),
    ("body-bad-as-of", post("/analyze", {"symbols": ["AAPL"], "as_of": "2023-13-01"}, "as_of")),
    ("body-as-of-future", post("/analyze", {"symbols": ["AAPL"], "as_of": "2031-01-01"}, "2031-01-01")),
    # backtests
    ("backtest-window-too-long", post("/backtest", {"symbols": ["AAPL"], "start": "2019-01-01"}, "260")),
    ("backtest-start-after-end", post("/backtest", {"symbols": ["AAPL"], "start": "2023-06-01", "end": "2023-01-01"})),
    ("backtest-bad-start", post("/backtest", {"symbols": ["AAPL"], "start": "2023-13-01"}, "start")),
    ("backtest-six-symbols", post("/backtest", {"symbols": ["AAPL", "AMZN", "GOOG", "META", "NFLX", "NVDA"]}, "symbols")),
    ("backtest-bad-symbol", post("/backtest", {"symbols": ["/etc/passwd"]}, RULE)),
    ("backtest-unknown-field", post("/backtest", {"symbols": ["AAPL"], "days": 5}, "days")),
    ("backtest-no-body", raw("POST", "/backtest", b"", JSON, status=(422,))),
]  # fmt: skip


@pytest.mark.parametrize("case", [pytest.param(c, id=i) for i, c in HTTP_CASES])
def test_bad_requests(client: TestClient, case: HttpCase) -> None:
    assert_problem(case.send(client), case)


TRAVERSALS = [
    ("get-up-one", get("/analyze/..%2Foutside%2FSECRET", RULE)),
    ("get-up-two", get("/analyze/..%2F..%2Foutside%2FSECRET", RULE)),
    ("get-absolute", get("/analyze/@OUTSIDE@/SECRET", status=(404, 422))),
    ("get-absolute-encoded", get("/analyze/@OUTSIDE_ENCODED@%2FSECRET", RULE)),
    ("post-up-two", post("/analyze", {"symbols": ["../../outside/SECRET"]}, RULE)),
    ("post-absolute-upper", post("/analyze", {"symbols": ["@OUTSIDE_UPPER@/SECRET"]}, RULE)),
    ("backtest-up-two", post("/backtest", {"symbols": ["../../outside/SECRET"]}, RULE)),
]


@pytest.mark.parametrize("case", [pytest.param(c, id=i) for i, c in TRAVERSALS])
def test_a_symbol_never_reads_outside_the_price_directory(
    csv_client: TestClient, csv_layout: Scratch, case: HttpCase
) -> None:
    def fill(text: str) -> str:
        encoded = quote(str(csv_layout.outside), safe="")
        return csv_layout.fill(text.replace("@OUTSIDE_ENCODED@", encoded))

    body = case.json
    if isinstance(body, dict):
        body = {**body, "symbols": [fill(s) for s in body["symbols"]]}
    real = replace(case, path=fill(case.path), json=body)
    assert_problem(real.send(csv_client), real)
    csv_layout.assert_outside_unchanged()


def test_the_csv_app_answers_for_its_own_symbol(csv_client: TestClient) -> None:
    """Control: the refusals above are the symbol's fault, not the app's."""
    answer = csv_client.get("/analyze/aapl")
    assert answer.status_code == 200, answer.text
    assert answer.json()["symbol"] == "AAPL"

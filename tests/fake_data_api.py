"""Fake Finnhub, NewsAPI, Serper and SEC EDGAR APIs on loopback, for the online data
providers.

``DataApi`` is a real HTTP server on 127.0.0.1 that answers in each API's documented
format, checks credentials as the real services do (Finnhub ``X-Finnhub-Token``, NewsAPI
``X-Api-Key``, Serper ``X-API-KEY``, EDGAR a declared ``User-Agent``), records every
request, and can be scripted reply by reply (``plan``: a status, headers such as
``Retry-After``, a JSON body or raw bytes, or ``echo``: a careless server's error body
that repeats the request's headers and query, plain, base64 and URL-quoted). Routes
(``base`` is ``api.url``):

- ``GET /finnhub/company-news?symbol&from&to`` and ``GET /finnhub/stock/metric``
- ``GET /newsapi/everything?q&from&to...``
- ``POST /serper/news`` with ``{"q", "num"}``
- ``GET /sec/files/company_tickers.json`` and
  ``GET /sec/api/xbrl/companyfacts/CIK##########.json``

The canned stories are about AAPL around 2023-06-30, whose close is 20:00 UTC.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import pytest

from tests.loopback import serving

__all__ = [
    "EDGAR_AGENT",
    "FINNHUB_KEY",
    "NEWSAPI_KEY",
    "SERPER_KEY",
    "DataApi",
    "DataReply",
    "data_api",
    "finnhub_url",
    "running_api",
]

FINNHUB_KEY = "test-finnhub-key"
NEWSAPI_KEY = "test-newsapi-key"
SERPER_KEY = "test-serper-key"
EDGAR_AGENT = "Test Runner test@example.com"


def finnhub_url(story_id: str) -> str:
    """A Finnhub company-news link as the real API gives it: a redirect keyed by a hash."""
    return f"https://finnhub.io/api/news?id={story_id}"


def _unix(text: str) -> int:
    import datetime as dt

    return int(dt.datetime.fromisoformat(text).timestamp())


#: Finnhub company-news items (documented fields), newest first as Finnhub sends them;
#: like the real ones, every ``url`` is the same redirect path with another ``?id=``.
FINNHUB_NEWS: list[dict[str, Any]] = [
    {
        "category": "company",
        "datetime": _unix("2023-06-30T20:01:00+00:00"),
        "headline": "Apple shares plunge after hours",
        "id": 3,
        "image": "",
        "related": "AAPL",
        "source": "Reuters",
        "summary": "After the close.",
        "url": finnhub_url("5b1e2d0c7a9f4e3b8c6d1a2f0e9b8c7d"),
    },
    {
        "category": "company",
        "datetime": _unix("2023-06-30T19:59:00+00:00"),
        "headline": "Apple to hold product event in September",
        "id": 2,
        "image": "",
        "related": "AAPL",
        "source": "Reuters",
        "summary": "One minute before the close.",
        "url": finnhub_url("9c0b1a2d3e4f5061728394a5b6c7d8e9"),
    },
    {
        "category": "company",
        "datetime": _unix("2023-06-29T14:00:00+00:00"),
        "headline": "Apple nears $3 trillion valuation",
        "id": 1,
        "image": "",
        "related": "AAPL",
        "source": "Bloomberg",
        "summary": "",
        "url": finnhub_url("0f1e2d3c4b5a69788796a5b4c3d2e1f0"),
    },
    {
        "category": "company",
        "datetime": 0,
        "headline": "Undated story",
        "id": 0,
        "image": "",
        "related": "AAPL",
        "source": "X",
        "summary": "",
        "url": finnhub_url("aa11bb22cc33dd44ee55ff6677889900"),
    },
]

#: NewsAPI articles; the first is the same story as Finnhub's id 1, seen an hour earlier.
NEWSAPI_ARTICLES: list[dict[str, Any]] = [
    {
        "source": {"id": None, "name": "CNBC"},
        "author": "A. Writer",
        "title": "Apple nears $3 Trillion valuation!",
        "description": "Shares of Apple rose.",
        "url": "http://example.com/3t/",
        "urlToImage": None,
        "publishedAt": "2023-06-29T13:00:00Z",
        "content": "...",
    },
    {
        "source": {"id": None, "name": "[Removed]"},
        "author": None,
        "title": "[Removed]",
        "description": "[Removed]",
        "url": "https://removed.com",
        "urlToImage": None,
        "publishedAt": "2023-06-29T12:00:00Z",
        "content": "[Removed]",
    },
    {
        "source": {"id": "the-verge", "name": "The Verge"},
        "author": None,
        "title": "Vision Pro developer kits ship",
        "description": "Kits for developers.",
        "url": "https://example.org/vision",
        "urlToImage": None,
        "publishedAt": "2023-06-28T09:30:00Z",
        "content": "...",
    },
]

SERPER_NEWS: list[dict[str, Any]] = [
    {
        "title": "Apple stock hits a record",
        "link": "https://example.net/record",
        "snippet": "Record high.",
        "date": "2 hours ago",
        "source": "MarketWatch",
        "imageUrl": "",
        "position": 1,
    },
    {
        "title": "Apple suppliers rally",
        "link": "https://example.net/suppliers",
        "snippet": "Suppliers up.",
        "date": "Jun 29, 2023",
        "source": "Barron's",
        "imageUrl": "",
        "position": 2,
    },
    {
        "title": "Undated Serper story",
        "link": "https://example.net/undated",
        "snippet": "",
        "date": "",
        "source": "Blog",
        "position": 3,
    },
]

COMPANY_TICKERS = {
    "0": {"cik_str": 320193, "ticker": "AAPL", "title": "Apple Inc."},
    "1": {"cik_str": 1067983, "ticker": "BRK-B", "title": "BERKSHIRE HATHAWAY INC"},
}


def _fact(
    val: float,
    end: str,
    accn: str,
    form: str,
    filed: str,
    start: str | None = None,
    fy: int = 2023,
    fp: str = "Q1",
) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "end": end,
        "val": val,
        "accn": accn,
        "fy": fy,
        "fp": fp,
        "form": form,
        "filed": filed,
    }
    if start is not None:
        entry = {"start": start, **entry}
    return entry


#: Two filings: the FY2022 10-K (filed 2022-10-28) and the Q3 FY2023 10-Q (filed
#: 2023-08-04), whose flows come as a quarter and as nine months, with the prior year's
#: comparatives repeated under the 10-Q's accession number.
K22, Q23 = "0000320193-22-000108", "0000320193-23-000077"
COMPANY_FACTS: dict[str, Any] = {
    "cik": 320193,
    "entityName": "Apple Inc.",
    "facts": {
        "dei": {
            "EntityCommonStockSharesOutstanding": {
                "label": "Entity Common Stock, Shares Outstanding",
                "units": {
                    "shares": [
                        _fact(15_908_118_000, "2022-10-14", K22, "10-K", "2022-10-28"),
                        _fact(15_634_232_000, "2023-07-21", Q23, "10-Q", "2023-08-04"),
                    ]
                },
            }
        },
        "us-gaap": {
            "RevenueFromContractWithCustomerExcludingAssessedTax": {
                "units": {
                    "USD": [
                        _fact(394_328e6, "2022-09-24", K22, "10-K", "2022-10-28", "2021-09-26"),
                        _fact(81_797e6, "2023-07-01", Q23, "10-Q", "2023-08-04", "2023-04-02"),
                        _fact(281_708e6, "2023-07-01", Q23, "10-Q", "2023-08-04", "2022-09-25"),
                        _fact(82_959e6, "2022-06-25", Q23, "10-Q", "2023-08-04", "2022-03-27"),
                    ]
                }
            },
            "GrossProfit": {
                "units": {
                    "USD": [
                        _fact(170_782e6, "2022-09-24", K22, "10-K", "2022-10-28", "2021-09-26"),
                        _fact(36_413e6, "2023-07-01", Q23, "10-Q", "2023-08-04", "2023-04-02"),
                    ]
                }
            },
            "OperatingIncomeLoss": {
                "units": {
                    "USD": [
                        _fact(119_437e6, "2022-09-24", K22, "10-K", "2022-10-28", "2021-09-26"),
                        _fact(22_998e6, "2023-07-01", Q23, "10-Q", "2023-08-04", "2023-04-02"),
                    ]
                }
            },
            "NetIncomeLoss": {
                "units": {
                    "USD": [
                        _fact(99_803e6, "2022-09-24", K22, "10-K", "2022-10-28", "2021-09-26"),
                        _fact(19_881e6, "2023-07-01", Q23, "10-Q", "2023-08-04", "2023-04-02"),
                        _fact(74_039e6, "2023-07-01", Q23, "10-Q", "2023-08-04", "2022-09-25"),
                    ]
                }
            },
            "EarningsPerShareDiluted": {
                "units": {
                    "USD/shares": [
                        _fact(6.11, "2022-09-24", K22, "10-K", "2022-10-28", "2021-09-26"),
                        _fact(1.26, "2023-07-01", Q23, "10-Q", "2023-08-04", "2023-04-02"),
                    ]
                }
            },
            "NetCashProvidedByUsedInOperatingActivities": {
                "units": {
                    "USD": [
                        _fact(122_151e6, "2022-09-24", K22, "10-K", "2022-10-28", "2021-09-26"),
                        _fact(88_945e6, "2023-07-01", Q23, "10-Q", "2023-08-04", "2022-09-25"),
                    ]
                }
            },
            "PaymentsToAcquirePropertyPlantAndEquipment": {
                "units": {
                    "USD": [
                        _fact(10_708e6, "2022-09-24", K22, "10-K", "2022-10-28", "2021-09-26"),
                        _fact(8_796e6, "2023-07-01", Q23, "10-Q", "2023-08-04", "2022-09-25"),
                    ]
                }
            },
            "StockholdersEquity": {
                "units": {
                    "USD": [
                        _fact(50_672e6, "2022-09-24", K22, "10-K", "2022-10-28"),
                        _fact(60_274e6, "2023-07-01", Q23, "10-Q", "2023-08-04"),
                        _fact(50_672e6, "2022-09-24", Q23, "10-Q", "2023-08-04"),
                    ]
                }
            },
            "LongTermDebtNoncurrent": {
                "units": {
                    "USD": [
                        _fact(98_959e6, "2022-09-24", K22, "10-K", "2022-10-28"),
                        _fact(98_071e6, "2023-07-01", Q23, "10-Q", "2023-08-04"),
                    ]
                }
            },
            "Assets": {
                "units": {"USD": [_fact(352_755e6, "2022-09-24", K22, "10-K", "2022-10-28")]}
            },
            "Revenues": {"units": {"USD": [_fact(1.0, "2010-09-25", "x", "8-K", "2010-10-01")]}},
        },
    },
}

FINNHUB_METRICS: dict[str, Any] = {
    "metric": {"peTTM": 29.5, "epsTTM": 5.89},
    "metricType": "all",
    "series": {
        "annual": {"eps": [{"period": "2022-09-24", "v": 6.11}]},
        "quarterly": {
            "eps": [{"period": "2023-07-01", "v": 1.26}, {"period": "bad", "v": 1.0}],
            "netMargin": [{"period": "2023-07-01", "v": 0.243}],
        },
    },
    "symbol": "AAPL",
}


@dataclass
class DataReply:
    """One scripted answer: status, headers, a JSON body or raw bytes (None: the route's);
    ``echo``: a JSON error body repeating the request (see ``echo_body``)."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None
    raw: bytes | None = None
    echo: bool = False


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any


class DataApi:
    """The shared state of the handler threads: scripts, the record and the port."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.script: dict[str, list[DataReply]] = {}
        self.requests: list[Request] = []
        self.port = 0
        self.finnhub_news = list(FINNHUB_NEWS)
        self.newsapi_articles = list(NEWSAPI_ARTICLES)
        self.serper_news = list(SERPER_NEWS)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def plan(self, path: str, *replies: DataReply) -> None:
        """Script the next answers to requests for ``path`` (a route, without query)."""
        with self.lock:
            self.script.setdefault(path, []).extend(replies)

    def scripted(self, path: str) -> DataReply | None:
        with self.lock:
            queue = self.script.get(path)
            return queue.pop(0) if queue else None

    def to(self, path: str) -> list[Request]:
        with self.lock:
            return [r for r in self.requests if r.path == path]

    # -- the routes ------------------------------------------------------------------
    def answer(self, request: Request) -> DataReply:
        path, headers, query = request.path, request.headers, request.query
        if path.startswith("/finnhub/"):
            if headers.get("x-finnhub-token") != FINNHUB_KEY:
                return DataReply(401, body={"error": "Invalid API key"})
            if path == "/finnhub/company-news":
                start, end = query.get("from", ""), query.get("to", "")
                import datetime as dt

                def day(item: dict[str, Any]) -> str:
                    stamp = dt.datetime.fromtimestamp(item["datetime"], tz=dt.UTC)
                    return stamp.date().isoformat()

                return DataReply(
                    body=[i for i in self.finnhub_news if start <= day(i) <= end]
                    if query.get("symbol") == "AAPL"
                    else []
                )
            if path == "/finnhub/stock/metric":
                if query.get("symbol") != "AAPL":
                    return DataReply(body={})
                return DataReply(body=FINNHUB_METRICS)
        if path == "/newsapi/everything":
            if headers.get("x-api-key") != NEWSAPI_KEY:
                return DataReply(
                    401,
                    body={
                        "status": "error",
                        "code": "apiKeyInvalid",
                        "message": "Your API key is invalid or incorrect.",
                    },
                )
            start, end = query.get("from", ""), query.get("to", "")
            articles = [
                a
                for a in self.newsapi_articles
                if start <= a["publishedAt"] <= end and query.get("q") == "AAPL"
            ]
            return DataReply(
                body={"status": "ok", "totalResults": len(articles), "articles": articles}
            )
        if path == "/serper/news":
            if headers.get("x-api-key") != SERPER_KEY:
                return DataReply(403, body={"message": "Unauthorized.", "statusCode": 403})
            return DataReply(
                body={
                    "searchParameters": {"q": request.body.get("q"), "type": "news"},
                    "news": self.serper_news,
                }
            )
        if path.startswith("/sec/"):
            if "@" not in headers.get("user-agent", ""):
                return DataReply(
                    403,
                    raw=b"<html>Your Request Originates from an Undeclared Automated Tool</html>",
                )
            if path == "/sec/files/company_tickers.json":
                return DataReply(body=COMPANY_TICKERS)
            if path == "/sec/api/xbrl/companyfacts/CIK0000320193.json":
                return DataReply(body=COMPANY_FACTS)
            return DataReply(404, raw=b"<Error><Code>NoSuchKey</Code></Error>")
        return DataReply(404, body={"error": f"no route {path}"})


def echo_body(method: str, target: str, headers: dict[str, str]) -> dict[str, Any]:
    """What a careless server answers: each credential header's value (plain, base64 and
    URL-quoted), then the request line and every header, in every field an error parser
    might read."""
    values = [v for k, v in headers.items() if k.startswith("x-") or k == "authorization"]
    said = " ".join(
        f"{v} {base64.b64encode(v.encode()).decode()} {quote(v, safe='')}" for v in values
    )
    seen = json.dumps({"request": f"{method} {target}", "headers": headers})
    text = f"bad key {said}; request {seen}; trace {base64.b64encode(seen.encode()).decode()}"
    return {"error": text, "message": text, "detail": text, "code": text, "headers": headers}


def _make_handler(state: DataApi) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        timeout = 10

        def _handle(self, method: str) -> None:
            parts = urlsplit(self.path)
            query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
            length = int(self.headers.get("Content-Length", "0"))
            raw = self.rfile.read(length) if length else b""
            body = json.loads(raw) if raw else None
            headers = {name.lower(): value for name, value in self.headers.items()}
            request = Request(method, parts.path, query, headers, body)
            with state.lock:
                state.requests.append(request)
            reply = state.scripted(parts.path) or state.answer(request)
            if reply.echo:
                reply = DataReply(
                    reply.status, reply.headers, echo_body(method, self.path, headers)
                )
            if reply.raw is None and reply.body is None:
                reply = DataReply(reply.status, reply.headers, state.answer(request).body)
            data = reply.raw if reply.raw is not None else json.dumps(reply.body).encode()
            try:
                self.send_response(reply.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)
            except OSError:
                pass

        def do_GET(self) -> None:
            self._handle("GET")

        def do_POST(self) -> None:
            self._handle("POST")

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet."""

    return Handler


@contextmanager
def running_api() -> Iterator[DataApi]:
    """A fake API server on its own loopback port, for the duration of the block."""
    state = DataApi()
    with serving(_make_handler(state)) as port:
        state.port = port
        yield state


@pytest.fixture
def data_api(monkeypatch: pytest.MonkeyPatch) -> Iterator[DataApi]:
    """The fake APIs, with no real key or User-Agent of the developer's in the way."""
    from stockagents.data.online.build import close_clients

    for name in ("FINNHUB_API_KEY", "NEWSAPI_KEY", "SERPER_API_KEY", "SEC_USER_AGENT"):
        monkeypatch.delenv(name, raising=False)
    close_clients()  # no client (nor rate limiter) shared with another test
    try:
        with running_api() as state:
            yield state
    finally:
        close_clients()

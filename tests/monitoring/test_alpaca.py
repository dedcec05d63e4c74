"""The Alpaca paper broker against a fake Alpaca on loopback: orders from targets, equity
and positions, idempotent reruns, rejections, retries, refused endpoints and keys,
updates."""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import socket
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from stockagents.core.config import AlpacaConfig
from stockagents.core.errors import BrokerError
from stockagents.core.settings import Settings
from stockagents.monitoring.alpaca import AlpacaPaperBroker
from stockagents.monitoring.broker import order_key
from tests.loopback import serving

KEY_ID = "PKFAKE7Q2W9E4R1T6Y3U"
SECRET = "fake-secret-Zx81Lm03Qp57Vr26Ws94Tn"
DAY = dt.date(2024, 3, 1)
UNAUTHORIZED = {"code": 40110000, "message": "request is not authorized"}


def _stamp(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse_stamp(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, str]
    body: Any


@dataclass
class FakeAlpaca:
    """An in-memory paper account that speaks Alpaca's wire format."""

    port: int = 0
    equity: str = "100000"
    status: str = "ACTIVE"
    trading_blocked: bool = False
    positions: dict[str, float] = field(default_factory=dict)
    orders: list[dict[str, Any]] = field(default_factory=list)
    #: symbol -> (HTTP status, Alpaca's message) of a refused order.
    refuse: dict[str, tuple[int, str]] = field(
        default_factory=lambda: {
            "BAD": (422, "asset BAD is not tradable"),
            "BIG": (403, "insufficient buying power"),
        }
    )
    fail_next: int = 0
    fail_status: int = 503
    #: GET /v2/orders does not list orders yet (Alpaca's listing lags its writes).
    list_lags: bool = False
    now: dt.datetime = dt.datetime(2024, 3, 1, 21, 0, tzinfo=dt.UTC)
    seen: list[Seen] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def posts(self) -> list[dict[str, Any]]:
        return [s.body for s in self.seen if s.method == "POST"]

    def by_key(self, key: str) -> dict[str, Any]:
        return next(o for o in self.orders if o["client_order_id"] == key)

    def fill(self, key: str, price: float, qty: float | None = None, *, status: str = "") -> None:
        """Fill (part of) an order and move the position."""
        with self.lock:
            order = self.by_key(key)
            done = float(order["qty"]) if qty is None else qty
            order["filled_qty"] = str(done)
            order["filled_avg_price"] = str(price)
            order["status"] = status or ("filled" if qty is None else "partially_filled")
            order["filled_at"] = order["updated_at"] = _stamp(self.now)
            sign = 1 if order["side"] == "buy" else -1
            symbol = order["symbol"]
            self.positions[symbol] = self.positions.get(symbol, 0.0) + sign * done

    # -- the routes ------------------------------------------------------------------
    def answer(self, method: str, path: str, query: dict[str, str], body: Any) -> tuple[int, Any]:
        if self.fail_next > 0:
            self.fail_next -= 1
            return self.fail_status, {"code": 50010000, "message": "service unavailable"}
        if path == "/v2/account" and method == "GET":
            return 200, self._account()
        if path == "/v2/positions" and method == "GET":
            return 200, [self._position(s, q) for s, q in sorted(self.positions.items()) if q]
        if path == "/v2/orders" and method == "POST":
            return self._create(body)
        if path == "/v2/orders" and method == "GET":
            return 200, self._list(query)
        if path == "/v2/orders:by_client_order_id" and method == "GET":
            key = query.get("client_order_id", "")
            found = [o for o in self.orders if o["client_order_id"] == key]
            if not found:
                return 404, {"code": 40410000, "message": "order not found"}
            return 200, found[0]
        return 404, {"code": 40410000, "message": "endpoint not found"}

    def _account(self) -> dict[str, Any]:
        return {
            "id": "3f1c9d2e-0000-4000-8000-000000000001",
            "account_number": "PA3EXAMPLE01",
            "status": self.status,
            "crypto_status": "ACTIVE",
            "currency": "USD",
            "cash": self.equity,
            "portfolio_value": self.equity,
            "equity": self.equity,
            "last_equity": self.equity,
            "buying_power": str(2 * float(self.equity)),
            "pattern_day_trader": False,
            "trading_blocked": self.trading_blocked,
            "transfers_blocked": False,
            "account_blocked": False,
            "shorting_enabled": True,
            "multiplier": "2",
        }

    @staticmethod
    def _position(symbol: str, qty: float) -> dict[str, Any]:
        text = f"{qty:g}"
        return {
            "asset_id": str(uuid.uuid5(uuid.NAMESPACE_DNS, symbol)),
            "symbol": symbol,
            "exchange": "NASDAQ",
            "asset_class": "us_equity",
            "avg_entry_price": "100.0",
            "qty": text,
            "qty_available": text,
            "side": "long" if qty > 0 else "short",
            "market_value": str(qty * 100),
            "cost_basis": str(qty * 100),
        }

    def _create(self, body: Any) -> tuple[int, Any]:
        if not isinstance(body, dict):
            return 400, {"code": 40010000, "message": "invalid request body"}
        for name in ("symbol", "qty", "side", "type", "time_in_force", "client_order_id"):
            if name not in body:
                return 422, {"code": 40010000, "message": f"{name} is required"}
        if not isinstance(body["qty"], str) or float(body["qty"]) <= 0:
            return 422, {"code": 40010000, "message": "qty must be a positive number string"}
        if body["side"] not in ("buy", "sell") or body["type"] != "market":
            return 422, {"code": 40010000, "message": "invalid side or type"}
        if any(o["client_order_id"] == body["client_order_id"] for o in self.orders):
            return 422, {"code": 40010001, "message": "client_order_id must be unique"}
        if body["symbol"] in self.refuse:
            status, message = self.refuse[body["symbol"]]
            return status, {"code": 40010001 if status == 422 else 40310000, "message": message}
        self.now += dt.timedelta(seconds=1)
        order = {
            "id": str(uuid.uuid4()),
            "client_order_id": body["client_order_id"],
            "created_at": _stamp(self.now),
            "updated_at": _stamp(self.now),
            "submitted_at": _stamp(self.now),
            "filled_at": None,
            "expired_at": None,
            "canceled_at": None,
            "failed_at": None,
            "asset_id": str(uuid.uuid5(uuid.NAMESPACE_DNS, body["symbol"])),
            "symbol": body["symbol"],
            "asset_class": "us_equity",
            "notional": None,
            "qty": body["qty"],
            "filled_qty": "0",
            "filled_avg_price": None,
            "order_class": "",
            "order_type": "market",
            "type": "market",
            "side": body["side"],
            "time_in_force": body["time_in_force"],
            "limit_price": None,
            "stop_price": None,
            "status": "accepted",
            "extended_hours": False,
            "legs": None,
        }
        self.orders.append(order)
        return 200, order

    def _list(self, query: dict[str, str]) -> list[dict[str, Any]]:
        if self.list_lags:
            return []
        orders = list(self.orders)
        if query.get("status", "open") == "open":
            orders = [o for o in orders if o["status"] in ("new", "accepted", "pending_new")]
        if "after" in query:
            after = _parse_stamp(query["after"])
            orders = [o for o in orders if _parse_stamp(o["submitted_at"]) > after]
        orders.sort(key=lambda o: o["submitted_at"], reverse=query.get("direction") != "asc")
        return orders[: int(query.get("limit", "50"))]


def _handler(state: FakeAlpaca) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body leave at once: no 40 ms stall

        def _handle(self, method: str) -> None:
            parts = urlsplit(self.path)
            query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
            length = int(self.headers.get("Content-Length", "0"))
            body = json.loads(self.rfile.read(length)) if length else None
            with state.lock:
                state.seen.append(Seen(method, parts.path, query, body))
                if (
                    self.headers.get("APCA-API-KEY-ID") != KEY_ID
                    or self.headers.get("APCA-API-SECRET-KEY") != SECRET
                ):
                    status, answer = 401, UNAUTHORIZED
                else:
                    status, answer = state.answer(method, parts.path, query, body)
            data = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            self._handle("GET")

        def do_POST(self) -> None:
            self._handle("POST")

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet."""

    return Handler


@pytest.fixture
def alpaca() -> Iterator[FakeAlpaca]:
    state = FakeAlpaca()
    with serving(_handler(state)) as port:
        state.port = port
        yield state


def _settings(key_id: str | None = KEY_ID, secret: str | None = SECRET) -> Settings:
    values = {"APCA_API_KEY_ID": key_id, "APCA_API_SECRET_KEY": secret}
    return Settings(_env_file=None, **{k: v for k, v in values.items() if v is not None})  # type: ignore[arg-type]


def _broker(url: str, *, settings: Settings | None = None, **config: Any) -> AlpacaPaperBroker:
    options = {"max_retries": 2, **config}
    return AlpacaPaperBroker(
        AlpacaConfig(base_url=url, **options),
        settings if settings is not None else _settings(),
        retry_delay=0.0,
    )


# -- orders ---------------------------------------------------------------------------
TARGETS = {"AAPL": 0.3, "MSFT": 0.1, "TSLA": -0.05, "NVDA": 0.0, "GOOG": 0.2, "AMZN": 0.1}
PRICES = {"AAPL": 190.0, "MSFT": 400.0, "TSLA": 250.0, "NVDA": 900.0, "GOOG": 150.0}


def _book(alpaca: FakeAlpaca) -> None:
    alpaca.positions.update({"AAPL": 100, "MSFT": 40, "NVDA": -10, "GOOG": 133})


def test_orders_from_targets_equity_and_positions(alpaca: FakeAlpaca) -> None:
    _book(alpaca)
    with _broker(alpaca.url) as broker:
        records = broker.rebalance(DAY, TARGETS, PRICES)
    # AAPL 30000/190 = 157.9 -> 157 (hold 100: buy 57); MSFT 25 (hold 40: sell 15);
    # TSLA -20 (short it); NVDA 0 (cover the short of 10); GOOG 133 held: nothing;
    # AMZN has no price: nothing. Sells first.
    assert alpaca.posts() == [
        {
            "symbol": symbol,
            "qty": qty,
            "side": side,
            "type": "market",
            "time_in_force": "day",
            "client_order_id": f"sa-2024-03-01-{symbol}",
        }
        for symbol, qty, side in [
            ("MSFT", "15", "sell"),
            ("TSLA", "20", "sell"),
            ("AAPL", "57", "buy"),
            ("NVDA", "10", "buy"),
        ]
    ]
    assert [(r.symbol, r.side, r.quantity, r.status) for r in records] == [
        ("MSFT", "sell", 15.0, "submitted"),
        ("TSLA", "sell", 20.0, "submitted"),
        ("AAPL", "buy", 57.0, "submitted"),
        ("NVDA", "buy", 10.0, "submitted"),
    ]
    aapl = records[2]
    assert aapl.broker == "alpaca-paper"
    assert aapl.key == order_key(DAY, "AAPL")
    assert aapl.day == DAY
    assert aapl.target_weight == 0.3
    assert aapl.broker_order_id == alpaca.by_key(aapl.key)["id"]
    assert aapl.filled_quantity == 0.0
    assert aapl.filled_price is None


def test_fractional_shares_six_decimals_toward_zero(alpaca: FakeAlpaca) -> None:
    alpaca.positions["AAPL"] = 100
    with _broker(alpaca.url, fractional_shares=True) as broker:
        broker.rebalance(DAY, {"AAPL": 0.3, "TSLA": -0.01}, {"AAPL": 190.0, "TSLA": 300.0})
    # 30000/190 = 157.8947368... -> 157.894736; -1000/300 = -3.3333333 -> -3.333333
    assert [(p["symbol"], p["side"], p["qty"]) for p in alpaca.posts()] == [
        ("TSLA", "sell", "3.333333"),
        ("AAPL", "buy", "57.894736"),
    ]


def test_rerun_sends_nothing_new_and_returns_the_same_orders(alpaca: FakeAlpaca) -> None:
    _book(alpaca)
    with _broker(alpaca.url) as broker:
        first = broker.rebalance(DAY, TARGETS, PRICES)
        sent = len(alpaca.posts())
        again = broker.rebalance(DAY, TARGETS, PRICES)
        assert len(alpaca.posts()) == sent  # nothing posted at all
        assert [r.as_row() for r in again] == [r.as_row() for r in first]
        # after a fill the positions changed, yet the rerun still sends nothing and
        # reports the day's orders as they are now
        alpaca.fill(order_key(DAY, "MSFT"), 401.5)
        later = broker.rebalance(DAY, TARGETS, PRICES)
    assert len(alpaca.posts()) == sent
    assert [r.key for r in later] == [r.key for r in first]
    msft = later[0]
    assert (msft.symbol, msft.status, msft.filled_quantity, msft.filled_price) == (
        "MSFT",
        "filled",
        15.0,
        401.5,
    )


def test_rerun_when_the_listing_lags_reads_each_order_by_client_order_id(
    alpaca: FakeAlpaca,
) -> None:
    _book(alpaca)
    with _broker(alpaca.url) as broker:
        first = broker.rebalance(DAY, TARGETS, PRICES)
        alpaca.list_lags = True
        again = broker.rebalance(DAY, TARGETS, PRICES)
    assert len(alpaca.orders) == 4  # the second round of POSTs got 422, nothing new
    assert len(alpaca.posts()) == 8
    lookups = [s for s in alpaca.seen if s.path == "/v2/orders:by_client_order_id"]
    assert sorted(s.query["client_order_id"] for s in lookups) == sorted(r.key for r in first)
    assert [r.as_row() for r in again] == [r.as_row() for r in first]


def test_a_rejection_is_recorded_and_the_other_orders_still_go(alpaca: FakeAlpaca) -> None:
    targets = {"AAPL": 0.3, "BAD": 0.1, "BIG": 0.5}
    prices = {"AAPL": 190.0, "BAD": 10.0, "BIG": 100.0}
    with _broker(alpaca.url) as broker:
        records = {r.symbol: r for r in broker.rebalance(DAY, targets, prices)}
    assert records["BAD"].status == "rejected"
    assert records["BAD"].reason == "asset BAD is not tradable"
    assert records["BAD"].quantity == 1000.0
    assert records["BAD"].broker_order_id is None
    assert records["BIG"].status == "rejected"
    assert records["BIG"].reason == "insufficient buying power"
    assert records["AAPL"].status == "submitted"
    assert [o["symbol"] for o in alpaca.orders] == ["AAPL"]


@pytest.mark.parametrize(("status", "blocked"), [("ACCOUNT_UPDATED", False), ("ACTIVE", True)])
def test_an_account_that_cannot_trade_is_refused(
    alpaca: FakeAlpaca, status: str, blocked: bool
) -> None:
    alpaca.status, alpaca.trading_blocked = status, blocked
    with _broker(alpaca.url) as broker, pytest.raises(BrokerError) as caught:
        broker.rebalance(DAY, {"AAPL": 0.3}, {"AAPL": 190.0})
    assert "\n" not in str(caught.value)
    assert ("not ACTIVE" if not blocked else "blocked") in str(caught.value)
    assert alpaca.posts() == []


# -- retries --------------------------------------------------------------------------
def test_503_twice_then_success_is_retried(alpaca: FakeAlpaca) -> None:
    alpaca.fail_next = 2
    with _broker(alpaca.url) as broker:
        records = broker.rebalance(DAY, {"AAPL": 0.3}, {"AAPL": 190.0})
    assert [r.status for r in records] == ["submitted"]
    account_calls = [s for s in alpaca.seen if s.path == "/v2/account"]
    assert len(account_calls) == 3


def test_429_is_retried_too(alpaca: FakeAlpaca) -> None:
    alpaca.fail_next, alpaca.fail_status = 1, 429
    with _broker(alpaca.url) as broker:
        assert broker.updates(DAY) == []
    assert len(alpaca.seen) == 2


def test_503_forever_is_one_line_broker_error(alpaca: FakeAlpaca) -> None:
    alpaca.fail_next = 1_000
    with _broker(alpaca.url, max_retries=2) as broker, pytest.raises(BrokerError) as caught:
        broker.rebalance(DAY, {"AAPL": 0.3}, {"AAPL": 190.0})
    message = str(caught.value)
    assert "\n" not in message
    assert "HTTP 503" in message
    assert "service unavailable" in message
    assert "3 attempts" in message
    assert len(alpaca.seen) == 3


def test_no_answer_is_retried_then_one_line_error() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    broker = _broker(f"http://127.0.0.1:{port}", max_retries=1)
    with broker, pytest.raises(BrokerError) as caught:
        broker.updates(DAY)
    assert "\n" not in str(caught.value)
    assert "no answer" in str(caught.value)
    assert "2 attempts" in str(caught.value)


def test_other_4xx_is_not_retried(alpaca: FakeAlpaca) -> None:
    broker = _broker(alpaca.url, settings=_settings(secret="wrong-secret-Hq93Kd71"))
    with broker, pytest.raises(BrokerError):
        broker.updates(DAY)
    assert len(alpaca.seen) == 1


# -- endpoints and keys ---------------------------------------------------------------
@pytest.mark.parametrize(
    "url",
    [
        "https://api.alpaca.markets",
        "https://api.alpaca.markets/v2",
        "https://API.alpaca.markets:443",
    ],
)
def test_the_live_endpoint_is_refused(url: str) -> None:
    with pytest.raises(BrokerError) as caught:
        _broker(url)
    message = str(caught.value)
    assert "only paper trading is supported" in message
    assert "https://paper-api.alpaca.markets" in message  # the fix
    assert "\n" not in message


@pytest.mark.parametrize(
    "url",
    [
        "https://example.com",
        "https://paper-api.alpaca.markets.example.com",
        "http://paper-api.alpaca.markets",
        "ftp://127.0.0.1",
        "https://user:pw@paper-api.alpaca.markets",
    ],
)
def test_other_endpoints_are_refused(url: str) -> None:
    with pytest.raises(BrokerError) as caught:
        _broker(url)
    assert "\n" not in str(caught.value)
    assert "user:pw" not in str(caught.value)


@pytest.mark.parametrize(
    ("url", "kept"),
    [
        ("https://paper-api.alpaca.markets", "https://paper-api.alpaca.markets"),
        ("https://paper-api.alpaca.markets/v2/", "https://paper-api.alpaca.markets"),
        ("http://127.0.0.1:8123", "http://127.0.0.1:8123"),
        ("https://127.0.0.1:8123", "https://127.0.0.1:8123"),
        ("http://localhost:8123", "http://localhost:8123"),
        ("http://[::1]:8123", "http://[::1]:8123"),
    ],
)
def test_paper_and_loopback_are_accepted(url: str, kept: str) -> None:
    with _broker(url) as broker:
        assert broker.base_url == kept
        assert broker.name == "alpaca-paper"


def test_missing_keys_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("APCA_API_KEY_ID", raising=False)
    monkeypatch.delenv("APCA_API_SECRET_KEY", raising=False)
    for settings in (_settings(None, None), _settings(secret=None), _settings(key_id="  ")):
        with pytest.raises(BrokerError, match="APCA_API_KEY_ID and APCA_API_SECRET_KEY"):
            _broker("https://paper-api.alpaca.markets", settings=settings)


def test_keys_from_the_environment(
    alpaca: FakeAlpaca, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    monkeypatch.chdir(tmp_path)  # no developer's .env
    monkeypatch.setenv("APCA_API_KEY_ID", KEY_ID)
    monkeypatch.setenv("APCA_API_SECRET_KEY", SECRET)
    broker = AlpacaPaperBroker(AlpacaConfig(base_url=alpaca.url))
    with broker:
        assert broker.updates(DAY) == []


def test_wrong_keys_are_one_line_without_the_keys(
    alpaca: FakeAlpaca, caplog: pytest.LogCaptureFixture
) -> None:
    wrong = "wrong-secret-Ab12Cd34Ef56"
    caplog.set_level(logging.DEBUG)
    broker = _broker(alpaca.url, settings=_settings(KEY_ID, wrong))
    with broker, pytest.raises(BrokerError) as caught:
        broker.rebalance(DAY, {"AAPL": 0.3}, {"AAPL": 190.0})
    message = str(caught.value)
    assert "401" in message
    assert "not authorized" in message
    assert "APCA_API_SECRET_KEY" in message  # the fix
    assert "\n" not in message
    assert wrong not in message
    assert KEY_ID not in message
    assert wrong not in caplog.text
    assert alpaca.posts() == []


def test_the_keys_are_sent_as_headers_and_never_logged(
    alpaca: FakeAlpaca, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with _broker(alpaca.url) as broker:
        records = broker.rebalance(DAY, {"AAPL": 0.3}, {"AAPL": 190.0})
    assert records[0].status == "submitted"  # the fake checked both headers
    assert SECRET not in caplog.text
    assert KEY_ID not in caplog.text
    assert SECRET not in repr(broker.__dict__)


# -- updates --------------------------------------------------------------------------
def test_updates_maps_fills_and_keeps_only_our_orders(alpaca: FakeAlpaca) -> None:
    _book(alpaca)
    with _broker(alpaca.url) as broker:
        broker.rebalance(DAY, TARGETS, PRICES)
        alpaca.fill(order_key(DAY, "AAPL"), 190.25)
        alpaca.fill(order_key(DAY, "MSFT"), 401.0, qty=5)
        alpaca.fill(order_key(DAY, "NVDA"), 0.0, qty=0, status="expired")
        with alpaca.lock:  # someone's own order in the same account
            alpaca.now += dt.timedelta(seconds=1)
            alpaca.orders.append({**alpaca.orders[0], "id": "manual", "client_order_id": "x-1"})
            alpaca.orders[-1]["submitted_at"] = _stamp(alpaca.now)
        records = {r.symbol: r for r in broker.updates(DAY)}
        query = next(s for s in alpaca.seen if s.path == "/v2/orders" and s.method == "GET").query
        assert broker.updates(DAY + dt.timedelta(days=1)) == []
    assert query == {
        "status": "all",
        "after": "2024-03-01T00:00:00Z",
        "limit": "500",
        "direction": "asc",
    }
    assert sorted(records) == ["AAPL", "MSFT", "NVDA", "TSLA"]
    aapl = records["AAPL"]
    assert (aapl.day, aapl.side, aapl.quantity, aapl.status) == (DAY, "buy", 57.0, "filled")
    assert (aapl.filled_quantity, aapl.filled_price) == (57.0, 190.25)
    assert aapl.broker_order_id == alpaca.by_key(aapl.key)["id"]
    assert math.isnan(aapl.target_weight)  # not known to Alpaca
    msft = records["MSFT"]
    assert (msft.status, msft.filled_quantity, msft.filled_price) == (
        "partially_filled",
        5.0,
        401.0,
    )
    assert (records["NVDA"].status, records["NVDA"].reason) == ("canceled", "Alpaca: expired")
    assert records["TSLA"].status == "submitted"


def test_updates_reads_every_page(alpaca: FakeAlpaca) -> None:
    targets = {s: 0.01 for s in ("A", "B", "C", "D", "E")}
    with _broker(alpaca.url) as broker:
        broker.rebalance(DAY, targets, dict.fromkeys(targets, 10.0))
        broker._page_size = 2
        records = broker.updates(DAY)
    assert sorted(r.symbol for r in records) == ["A", "B", "C", "D", "E"]
    assert len([s for s in alpaca.seen if s.path == "/v2/orders" and s.method == "GET"]) >= 4


# -- the monitor with the Alpaca paper broker --------------------------------------------
def test_the_daily_run_sends_the_days_targets_and_update_journals_the_fills(
    alpaca: FakeAlpaca, tmp_path: Any
) -> None:
    from stockagents.core.config import load_config
    from stockagents.monitoring import Monitor

    config = load_config(
        {
            "monitor": {
                "journal": str(tmp_path / "j.db"),
                "watchlist": ["AAPL", "AMZN", "GOOG"],
                "broker": "alpaca-paper",
            }
        }
    )
    with Monitor(config, broker=_broker(alpaca.url)) as monitor:
        calendar = monitor.calendar()
        day = next(d for d in reversed(calendar[:-6]) if _buys(monitor, d))
        result = monitor.run(day)
        sent = alpaca.posts()
        assert result.orders == len(sent) > 0
        assert all(p["client_order_id"] == f"sa-{day.isoformat()}-{p['symbol']}" for p in sent)
        journaled = {o["key"]: o for o in monitor.journal.orders()}
        assert set(journaled) == {p["client_order_id"] for p in sent}
        assert {o["status"] for o in journaled.values()} == {"submitted"}
        assert monitor.run(day).written is False  # the same day: nothing sent again
        assert len(alpaca.posts()) == len(sent)
        for post in sent:
            alpaca.fill(post["client_order_id"], 101.5)
        monitor.update(calendar[calendar.index(day) + 1])
        filled = monitor.journal.orders()
        assert {o["status"] for o in filled} == {"filled"}
        assert all(o["filled_price"] == 101.5 for o in filled)
        assert [o["target_weight"] for o in filled] == [
            journaled[o["key"]]["target_weight"] for o in filled
        ]  # Alpaca does not know the weight; the journal keeps it


def _buys(monitor: Any, day: Any) -> bool:
    """Whether the rules buy something on ``day`` (so the day sends orders)."""
    coordinator = monitor._coordinator(monitor.release())
    return any(
        a.recommendation.decision.action.value == "BUY"
        for a in coordinator.analyze_many([(s, day, None) for s in monitor.watchlist()])
    )

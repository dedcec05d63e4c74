"""Alpaca's paper-trading REST API as a ``Broker`` (``broker: alpaca-paper``).

This module owns the wire protocol with Alpaca: which endpoint may be used, the key
headers, the retries, how the day's targets become market orders and how Alpaca's
orders become ``OrderRecord``s. It sends orders only to the paper endpoint
(``https://paper-api.alpaca.markets``) or, for tests and fakes, to a loopback host; any
other ``base_url``, Alpaca's live endpoint first of all, is refused before anything is
sent.

``rebalance(day, targets, prices)``:

1. reads the account (``GET /v2/account``: its ``equity``; an account that is not
   ``ACTIVE`` or whose trading is blocked is refused) and the positions
   (``GET /v2/positions``: signed quantities, shorts negative);
2. for each target symbol with a price, wants ``target * equity / price`` shares, whole
   shares rounded toward zero (6 decimals with ``fractional_shares``), and sends the
   difference with what is held as a market day order (``POST /v2/orders``), sells
   before buys, with ``client_order_id = order_key(day, symbol)``;
3. is idempotent: an order whose client order id Alpaca already has (listed among the
   orders since ``day``, or answered "client_order_id must be unique") is not sent
   again; its current state is returned instead.

A 403 or 422 answer to an order is a rejection (an ``OrderRecord`` with status
``rejected`` and Alpaca's message as ``reason``); the other orders still go.
``updates(since)`` lists the orders since a day and keeps ours (client order ids
``sa-...``).

429, 5xx, timeouts and refused connections are retried ``max_retries`` times with an
exponential backoff (``retry_delay``, 2x, 4x...); any other failure is one
``BrokerError`` line. The keys travel only in the ``APCA-API-KEY-ID`` /
``APCA-API-SECRET-KEY`` headers: they are registered for redaction and never enter a log
line or a message.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import time
import urllib.parse
from collections.abc import Mapping, Sequence
from decimal import ROUND_DOWN, Decimal, InvalidOperation
from typing import Any, Literal

import httpx

from stockagents.core.config import AlpacaConfig
from stockagents.core.errors import BrokerError
from stockagents.core.redact import excerpt, redact_url, register_secret
from stockagents.core.settings import Settings, load_settings
from stockagents.monitoring.broker import OrderRecord, OrderStatus, order_key

__all__ = ["PAPER_HOST", "AlpacaPaperBroker"]

logger = logging.getLogger(__name__)

#: The only remote host orders may go to.
PAPER_HOST = "paper-api.alpaca.markets"
_PAPER_URL = f"https://{PAPER_HOST}"
#: Alpaca's live-trading host: refused with its own message.
_LIVE_HOST = "api.alpaca.markets"
_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})
_KEY_PREFIX = "sa-"
_PAGE_SIZE = 500
_WHOLE = Decimal("1")
_FRACTION = Decimal("0.000001")

#: Alpaca's order statuses in ours; any other (held, done_for_day, ...) is "submitted".
_STATUS: dict[str, OrderStatus] = {
    "new": "submitted",
    "accepted": "submitted",
    "pending_new": "submitted",
    "accepted_for_bidding": "submitted",
    "filled": "filled",
    "partially_filled": "partially_filled",
    "rejected": "rejected",
    "canceled": "canceled",
    "expired": "canceled",
}


def _check_base_url(base_url: str) -> str:
    """``base_url`` without a trailing ``/`` or ``/v2``, if it is the paper endpoint or a
    loopback host; else a ``BrokerError`` that says the fix."""
    fix = f"set monitor.alpaca.base_url to {_PAPER_URL}"
    try:
        parts = urllib.parse.urlsplit(base_url.strip())
        host = (parts.hostname or "").lower()
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        raise BrokerError(
            f"alpaca-paper: base_url {redact_url(base_url)!r} is not a valid URL; {fix}"
        ) from None
    shown = redact_url(base_url)
    if parts.username or parts.password:
        raise BrokerError(
            f"alpaca-paper: base_url {shown} carries credentials; remove them (the keys come "
            "from APCA_API_KEY_ID / APCA_API_SECRET_KEY)"
        )
    scheme = parts.scheme.lower()
    allowed = (host == PAPER_HOST and scheme == "https") or (
        host in _LOOPBACK_HOSTS and scheme in ("http", "https")
    )
    if not allowed:
        if host == _LIVE_HOST:
            raise BrokerError(
                f"alpaca-paper: {shown} is Alpaca's live-trading endpoint and only paper "
                f"trading is supported; {fix}"
            )
        raise BrokerError(
            f"alpaca-paper: base_url {shown} is refused: orders go only to {_PAPER_URL} (or a "
            f"loopback test server); {fix}"
        )
    path = parts.path.rstrip("/")
    path = path.removesuffix("/v2")
    return urllib.parse.urlunsplit((scheme, parts.netloc, path, "", ""))


def _decimal(value: Any, what: str) -> Decimal:
    """A number Alpaca sent (usually as a string), checked finite."""
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        number = Decimal("NaN")
    if not number.is_finite():
        raise BrokerError(f"alpaca-paper: Alpaca sent {what} = {excerpt(value)!r}, not a number")
    return number


def _optional_float(value: Any) -> float | None:
    if value is None or value == "":
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _qty_text(qty: Decimal) -> str:
    """``Decimal("12.500000")`` -> ``"12.5"``; ``Decimal("500")`` -> ``"500"``."""
    text = format(qty.normalize(), "f")
    return "0" if text in ("-0", "") else text


def _parse_key(client_order_id: str) -> tuple[dt.date, str] | None:
    """``sa-2024-03-01-AAPL`` -> (2024-03-01, "AAPL"); None for another id."""
    if not client_order_id.startswith(_KEY_PREFIX):
        return None
    rest = client_order_id[len(_KEY_PREFIX) :]
    day_text, dash, symbol = rest[:10], rest[10:11], rest[11:]
    if dash != "-" or not symbol:
        return None
    try:
        return dt.date.fromisoformat(day_text), symbol
    except ValueError:
        return None


def _alpaca_message(response: httpx.Response) -> str:
    """Alpaca's ``message`` field on one line, redacted and short ("" when absent)."""
    try:
        body = response.json()
    except ValueError:
        return ""
    if isinstance(body, dict):
        message = body.get("message")
        if isinstance(message, str) and message.strip():
            return excerpt(message)
    return ""


class AlpacaPaperBroker:
    """Market day orders through Alpaca's paper-trading API (see the module doc).

    ``settings`` gives the keys (default: ``load_settings()``, i.e. the environment and
    ``.env``); ``transport`` is a seam for tests; ``retry_delay`` is the first wait of the
    exponential backoff, in seconds.
    """

    name = "alpaca-paper"

    def __init__(
        self,
        config: AlpacaConfig,
        settings: Settings | None = None,
        transport: httpx.BaseTransport | None = None,
        *,
        retry_delay: float = 0.5,
    ) -> None:
        self.config = config
        self.base_url = _check_base_url(config.base_url)
        settings = settings if settings is not None else load_settings()
        key_id = settings.apca_api_key_id.get_secret_value() if settings.apca_api_key_id else ""
        secret = (
            settings.apca_api_secret_key.get_secret_value() if settings.apca_api_secret_key else ""
        )
        if not key_id or not secret:
            raise BrokerError(
                "alpaca-paper needs APCA_API_KEY_ID and APCA_API_SECRET_KEY in the environment "
                "or .env (the paper account's keys)"
            )
        register_secret(key_id)
        register_secret(secret)
        self.retry_delay = max(0.0, retry_delay)
        self._page_size = _PAGE_SIZE
        self._client = httpx.Client(
            base_url=self.base_url,
            headers={"APCA-API-KEY-ID": key_id, "APCA-API-SECRET-KEY": secret},
            timeout=config.timeout,
            transport=transport,
            follow_redirects=False,  # the keys never go to another host
        )

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()

    def __enter__(self) -> AlpacaPaperBroker:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- the protocol --------------------------------------------------------------------
    def rebalance(
        self,
        day: dt.date,
        targets: Mapping[str, float],
        prices: Mapping[str, float],
    ) -> Sequence[OrderRecord]:
        """Send the orders that move the account to ``targets`` (signed fractions of
        equity) at ``prices``; returns every order of ``day``, rejections included."""
        equity = self._equity()
        held = self._positions()
        sent = {record.key: record for record in self._orders_since(day, targets)}
        step = _FRACTION if self.config.fractional_shares else _WHOLE
        planned: list[tuple[Literal["buy", "sell"], str, Decimal, float]] = []
        out: list[OrderRecord] = []
        for symbol, target in sorted(targets.items()):
            key = order_key(day, symbol)
            if key in sent:
                logger.info("%s: %s already sent; not sent again", self.name, key)
                out.append(sent[key])
                continue
            price = prices.get(symbol)
            if price is None or not math.isfinite(price) or price <= 0 or not math.isfinite(target):
                logger.warning(
                    "%s: no usable price or target for %s on %s; no order", self.name, symbol, day
                )
                continue
            desired = (Decimal(str(target)) * equity / Decimal(str(price))).quantize(
                step, rounding=ROUND_DOWN
            )
            delta = (desired - held.get(symbol, Decimal(0))).quantize(step, rounding=ROUND_DOWN)
            if delta == 0:
                continue
            planned.append(("buy" if delta > 0 else "sell", symbol, abs(delta), target))
        planned.sort(key=lambda order: (order[0] != "sell", order[1]))  # sells first
        for side, symbol, qty, target in planned:
            out.append(self._submit(day, symbol, side, qty, target))
        return sorted(out, key=lambda record: (record.side != "sell", record.symbol))

    def updates(self, since: dt.date) -> Sequence[OrderRecord]:
        """Our orders (client order ids ``sa-...``) submitted on ``since`` or later, as
        Alpaca has them now. Their ``target_weight`` is unknown here: NaN."""
        return self._orders_since(since, {})

    # -- orders --------------------------------------------------------------------------
    def _submit(
        self, day: dt.date, symbol: str, side: Literal["buy", "sell"], qty: Decimal, target: float
    ) -> OrderRecord:
        key = order_key(day, symbol)
        body = {
            "symbol": symbol,
            "qty": _qty_text(qty),
            "side": side,
            "type": "market",
            "time_in_force": "day",
            "client_order_id": key,
        }
        response = self._request("POST", "/v2/orders", json=body)
        if response.status_code < 300:
            logger.info("%s: %s %s %s sent (%s)", self.name, side, body["qty"], symbol, key)
            return self._record(self._json(response, "POST /v2/orders"), target)
        message = _alpaca_message(response)
        if response.status_code == 422 and "client_order_id" in message and "unique" in message:
            logger.info("%s: %s was sent by an earlier run; reading it", self.name, key)
            existing = self._request(
                "GET", "/v2/orders:by_client_order_id", params={"client_order_id": key}
            )
            return self._record(self._json(existing, "GET /v2/orders:by_client_order_id"), target)
        if response.status_code in (403, 422):
            reason = message or f"HTTP {response.status_code}"
            logger.warning("%s: %s %s %s rejected: %s", self.name, side, qty, symbol, reason)
            return OrderRecord(
                day=day,
                symbol=symbol,
                broker=self.name,
                side=side,
                quantity=float(qty),
                target_weight=round(target, 6),
                status="rejected",
                key=key,
                reason=reason,
            )
        raise self._error(response, "POST /v2/orders")

    def _orders_since(self, since: dt.date, targets: Mapping[str, float]) -> list[OrderRecord]:
        """Our orders submitted since ``since`` (pages of ``_page_size``, oldest first)."""
        after = f"{since.isoformat()}T00:00:00Z"
        seen: set[str] = set()
        out: list[OrderRecord] = []
        while True:
            page = self._json(
                self._request(
                    "GET",
                    "/v2/orders",
                    params={
                        "status": "all",
                        "after": after,
                        "limit": self._page_size,
                        "direction": "asc",
                    },
                ),
                "GET /v2/orders",
            )
            if not isinstance(page, list):
                raise BrokerError("alpaca-paper: GET /v2/orders did not answer a list of orders")
            fresh = [o for o in page if isinstance(o, dict) and str(o.get("id")) not in seen]
            for order in fresh:
                seen.add(str(order.get("id")))
                parsed = _parse_key(str(order.get("client_order_id") or ""))
                if parsed is not None:
                    out.append(self._record(order, targets.get(parsed[1], math.nan)))
            last = page[-1].get("submitted_at") if page and isinstance(page[-1], dict) else None
            if len(page) < self._page_size or not fresh or not last or last == after:
                return out
            after = str(last)

    def _record(self, order: Any, target: float) -> OrderRecord:
        """Alpaca's order JSON as an ``OrderRecord``."""
        if not isinstance(order, dict):
            raise BrokerError("alpaca-paper: Alpaca answered an order that is not an object")
        key = str(order.get("client_order_id") or "")
        parsed = _parse_key(key)
        if parsed is None:
            raise BrokerError(f"alpaca-paper: order {excerpt(key)!r} is not one of stockagents'")
        day, symbol = parsed
        raw_status = str(order.get("status") or "")
        status = _STATUS.get(raw_status, "submitted")
        side: Literal["buy", "sell"] = "sell" if order.get("side") == "sell" else "buy"
        return OrderRecord(
            day=day,
            symbol=symbol,  # as in the key, so the journal's records match
            broker=self.name,
            side=side,
            quantity=_optional_float(order.get("qty")) or 0.0,
            target_weight=round(target, 6) if math.isfinite(target) else math.nan,
            status=status,
            key=key,
            broker_order_id=str(order["id"]) if order.get("id") else None,
            filled_quantity=_optional_float(order.get("filled_qty")),
            filled_price=_optional_float(order.get("filled_avg_price")),
            reason=f"Alpaca: {excerpt(raw_status)}"
            if status in ("rejected", "canceled") or raw_status not in _STATUS
            else None,
        )

    # -- account -------------------------------------------------------------------------
    def _equity(self) -> Decimal:
        account = self._json(self._request("GET", "/v2/account"), "GET /v2/account")
        if not isinstance(account, dict):
            raise BrokerError("alpaca-paper: GET /v2/account did not answer an account")
        status = str(account.get("status") or "unknown")
        if status != "ACTIVE":
            raise BrokerError(
                f"alpaca-paper: the paper account is {excerpt(status)}, not ACTIVE; no order "
                "sent (check the account on Alpaca's dashboard)"
            )
        if account.get("trading_blocked") or account.get("account_blocked"):
            raise BrokerError(
                "alpaca-paper: trading is blocked on the paper account; no order sent (check "
                "the account on Alpaca's dashboard)"
            )
        equity = _decimal(account.get("equity"), "the account's equity")
        if equity <= 0:
            raise BrokerError(
                f"alpaca-paper: the paper account's equity is {equity}; no order sent "
                "(reset or fund the paper account)"
            )
        return equity

    def _positions(self) -> dict[str, Decimal]:
        """Signed shares held per symbol (shorts negative)."""
        positions = self._json(self._request("GET", "/v2/positions"), "GET /v2/positions")
        if not isinstance(positions, list):
            raise BrokerError("alpaca-paper: GET /v2/positions did not answer a list")
        held: dict[str, Decimal] = {}
        for position in positions:
            if not isinstance(position, dict) or not position.get("symbol"):
                continue
            qty = _decimal(position.get("qty"), f"the quantity of {position['symbol']}")
            if position.get("side") == "short" and qty > 0:
                qty = -qty
            held[str(position["symbol"])] = qty
        return held

    # -- HTTP ----------------------------------------------------------------------------
    def _request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
    ) -> httpx.Response:
        """The answer to one request, after retrying 429, 5xx and no answer; any other
        status is returned as is."""
        attempt = 0
        while True:
            try:
                response = self._client.request(
                    method, path, params=dict(params) if params else None, json=json
                )
            except httpx.TimeoutException:
                problem = f"no answer from {self.base_url} (timed out)"
            except httpx.TransportError as exc:
                problem = f"no answer from {self.base_url} ({type(exc).__name__})"
            else:
                status = response.status_code
                if status != 429 and status < 500:
                    return response
                message = _alpaca_message(response)
                problem = f"HTTP {status}" + (f" ({message})" if message else "")
            if attempt >= self.config.max_retries:
                tries = f"{attempt + 1} attempt{'s' if attempt else ''}"
                raise BrokerError(
                    f"alpaca-paper: {method} {path} failed after {tries}: {problem}; try again "
                    "later"
                )
            wait = self.retry_delay * 2**attempt
            logger.info("%s: %s %s: %s; retrying in %.1f s", self.name, method, path, problem, wait)
            if wait > 0:
                time.sleep(wait)
            attempt += 1

    def _json(self, response: httpx.Response, what: str) -> Any:
        if response.status_code >= 300:
            raise self._error(response, what)
        try:
            return response.json()
        except ValueError:
            raise BrokerError(
                f"alpaca-paper: {what} answered HTTP {response.status_code} that is not JSON; "
                "check monitor.alpaca.base_url"
            ) from None

    def _error(self, response: httpx.Response, what: str) -> BrokerError:
        """A 3xx/4xx answer as one line: status, Alpaca's message, the fix."""
        status = response.status_code
        message = _alpaca_message(response)
        said = f"HTTP {status}" + (f" ({message})" if message else "")
        if status in (401, 403):
            fix = "check APCA_API_KEY_ID and APCA_API_SECRET_KEY (the paper account's keys)"
        elif 300 <= status < 400:
            fix = "redirect not followed; check monitor.alpaca.base_url"
        else:
            fix = "check monitor.alpaca.base_url and the request"
        return BrokerError(f"alpaca-paper: {what} answered {said}; {fix}")

"""``POST /backtest`` runs at most ``max_concurrent_backtests`` at once: one more is a 503
with ``Retry-After`` at once, and the other routes answer while a backtest runs."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from stockagents.core.config import AppConfig
from stockagents.orchestration import SystemCoordinator
from stockagents.serving.app import RETRY_AFTER_SECONDS, create_app

WINDOW = {"start": "2023-05-01", "end": "2023-06-30"}


def _holding_first_backtest(
    entered: threading.Event, release: threading.Event
) -> Callable[[AppConfig], SystemCoordinator]:
    """Coordinators whose first backtest waits for ``release`` once it has started (the
    first thing a backtest asks the price source is each symbol's date range)."""

    def factory(config: AppConfig) -> SystemCoordinator:
        coordinator = SystemCoordinator(config, models="expert")
        prices = coordinator.sources.prices
        date_range = prices.date_range

        def held(symbol: str) -> Any:
            if not entered.is_set():
                entered.set()
                assert release.wait(timeout=60)
            return date_range(symbol)

        prices.date_range = held  # type: ignore[method-assign]
        return coordinator

    return factory


def _start_backtest(client: TestClient, answers: list[Any]) -> threading.Thread:
    thread = threading.Thread(
        target=lambda: answers.append(
            client.post("/backtest", json={"symbols": ["AAPL"], **WINDOW})
        )
    )
    thread.start()
    return thread


def test_a_backtest_over_the_limit_is_503_with_retry_after() -> None:
    entered, release = threading.Event(), threading.Event()
    app = create_app(api_key="", coordinator_factory=_holding_first_backtest(entered, release))
    answers: list[Any] = []
    with TestClient(app) as c:
        first = _start_backtest(c, answers)
        try:
            assert entered.wait(timeout=60)
            busy = c.post("/backtest", json={"symbols": ["NVDA"], **WINDOW})
            assert busy.status_code == 503
            assert busy.headers["retry-after"] == str(RETRY_AFTER_SECONDS)
            assert busy.json() == {
                "error": "service unavailable",
                "detail": "1 backtest already running, the most this server runs at once; "
                f"retry in {RETRY_AFTER_SECONDS} s",
            }
            # the other routes answer while the backtest runs
            assert c.get("/health").status_code == 200
            analysis = c.get("/analyze/AAPL", params={"as_of": "2023-06-30"})
            assert analysis.status_code == 200
            many = c.post("/analyze", json={"symbols": ["NVDA"], "as_of": "2023-06-30"})
            assert many.status_code == 200
        finally:
            release.set()
            first.join(timeout=120)
        assert [a.status_code for a in answers] == [200]
        assert c.post("/backtest", json={"symbols": ["NVDA"], **WINDOW}).status_code == 200


def test_a_failed_backtest_frees_its_slot() -> None:
    with TestClient(create_app(models="expert", api_key="")) as c:
        for _ in range(3):
            refused = c.post(
                "/backtest", json={"symbols": ["AAPL"], "start": "2023-06-01", "end": "2023-01-01"}
            )
            assert refused.status_code == 422
        assert c.app.state.service.backtest_slots.acquire(blocking=False)  # type: ignore[attr-defined]


@pytest.mark.parametrize("slots", [1, 2])
def test_the_number_of_backtest_slots_is_configurable(slots: int) -> None:
    with TestClient(create_app(models="expert", api_key="", max_concurrent_backtests=slots)) as c:
        service = c.app.state.service  # type: ignore[attr-defined]
        for _ in range(slots - 1):  # all slots but one taken: the backtest runs
            assert service.backtest_slots.acquire(blocking=False)
        assert c.post("/backtest", json={"symbols": ["AAPL"], **WINDOW}).status_code == 200
        assert service.backtest_slots.acquire(blocking=False)  # now every slot is taken
        busy = c.post("/backtest", json={"symbols": ["AAPL"], **WINDOW})
        assert busy.status_code == 503
        assert busy.headers["retry-after"] == str(RETRY_AFTER_SECONDS)
        for _ in range(slots):
            service.backtest_slots.release()

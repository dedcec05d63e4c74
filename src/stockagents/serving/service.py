"""What the routes share: the coordinator, the lock model-backed work takes, and the
backtest slots. It knows nothing about routes or the app that holds it."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from starlette.exceptions import HTTPException

from stockagents.orchestration import SystemCoordinator

__all__ = ["RETRY_AFTER_SECONDS", "Service"]

#: What a 503 for a busy backtest slot asks the client to wait (a backtest takes 2-7 s).
RETRY_AFTER_SECONDS = 5


class Service:
    """What the routes share: the coordinator, the lock model-backed work takes and the
    backtest slots."""

    def __init__(
        self,
        coordinator: SystemCoordinator,
        max_backtest_days: int,
        max_concurrent_backtests: int = 1,
    ) -> None:
        self.coordinator = coordinator
        self.max_backtest_days = max_backtest_days
        self.max_concurrent_backtests = max_concurrent_backtests
        self._lock = threading.Lock()
        self.backtest_slots = threading.BoundedSemaphore(max_concurrent_backtests)
        self.models_loaded = coordinator.team.uses_models

    @contextmanager
    def serialized(self) -> Iterator[None]:
        """One model-backed analysis at a time; the rules need no lock."""
        if not self.models_loaded:
            yield
            return
        with self._lock:
            yield

    @contextmanager
    def backtest_slot(self) -> Iterator[None]:
        """A backtest slot for the block, or at once a 503 with ``Retry-After``."""
        if not self.backtest_slots.acquire(blocking=False):
            n = self.max_concurrent_backtests
            raise HTTPException(
                503,
                f"{n} backtest{'s' if n > 1 else ''} already running, the most this server "
                f"runs at once; retry in {RETRY_AFTER_SECONDS} s",
                headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
            )
        try:
            yield
        finally:
            self.backtest_slots.release()

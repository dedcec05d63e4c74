"""Adapting the coordinator to the engine's policy interface."""

from __future__ import annotations

import datetime as dt

from stockagents.core.types import Decision, PortfolioContext
from stockagents.orchestration import SystemCoordinator

__all__ = ["CoordinatorPolicy"]


class CoordinatorPolicy:
    """``policy(symbol, day, portfolio)`` that asks the coordinator, recording decisions."""

    def __init__(self, coordinator: SystemCoordinator) -> None:
        self.coordinator = coordinator
        self.decisions: dict[tuple[str, dt.date], Decision] = {}

    def __call__(self, symbol: str, day: dt.date, portfolio: PortfolioContext) -> Decision:
        decision = self.coordinator.analyze_symbol(symbol, day, portfolio).decision
        self.decisions[(symbol, day)] = decision
        return decision

    def replay(self, symbol: str, day: dt.date, portfolio: PortfolioContext) -> Decision | None:
        """The decision recorded for ``(symbol, day)``, to rerun the same choices."""
        return self.decisions.get((symbol, day))

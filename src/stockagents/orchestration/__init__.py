"""Running the analysts and the strategist together for one symbol and date."""

from __future__ import annotations

from stockagents.orchestration.coordinator import SystemCoordinator

__all__ = ["SystemCoordinator"]

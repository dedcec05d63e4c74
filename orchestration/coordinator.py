"""The user's guide imports the coordinator as ``orchestration.coordinator`` (step 4.2,
run from the repository root); the code lives in ``stockagents.orchestration``."""

from stockagents.orchestration.coordinator import SystemCoordinator

__all__ = ["SystemCoordinator"]

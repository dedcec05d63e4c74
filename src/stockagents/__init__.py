"""stockagents: a team of language-model agents for stock analysis.

The top-level namespace re-exports the contracts and the coordinator; importing it has
no side effects (no data is read, no logging is configured).
"""

from __future__ import annotations

from stockagents.core.errors import StockAgentsError
from stockagents.core.types import Decision, Recommendation, Signal

__all__ = ["Decision", "Recommendation", "Signal", "StockAgentsError", "__version__"]

__version__ = "0.1.0"

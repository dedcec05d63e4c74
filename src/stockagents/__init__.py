"""stockagents: a team of language-model agents for stock analysis.

The top-level namespace is what the README and docs use: the coordinator, the four
agents, the configuration, the contracts (``Signal``, ``Decision``, ``Recommendation``)
and the errors. Importing it has no side effects (no data is read, no logging is
configured) and stays light: the coordinator and the agents load on first use.

    from stockagents import SystemCoordinator
    rec = SystemCoordinator().analyze_symbol("AAPL")
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from stockagents.core.errors import (
    AgentError,
    BackendError,
    ConfigError,
    DataError,
    DataFormatError,
    DateOutOfRangeError,
    DeploymentError,
    ExportError,
    ProviderUnavailableError,
    StockAgentsError,
    SymbolError,
    UnknownSymbolError,
    UpstreamError,
)
from stockagents.core.types import Decision, PortfolioContext, Recommendation, Signal

if TYPE_CHECKING:
    from stockagents.agents import FundamentalAgent, NewsAgent, StrategistAgent, TechnicalAgent
    from stockagents.core.config import AppConfig, load_config
    from stockagents.orchestration import SystemCoordinator

__all__ = [
    "AgentError",
    "AppConfig",
    "BackendError",
    "ConfigError",
    "DataError",
    "DataFormatError",
    "DateOutOfRangeError",
    "Decision",
    "DeploymentError",
    "ExportError",
    "FundamentalAgent",
    "NewsAgent",
    "PortfolioContext",
    "ProviderUnavailableError",
    "Recommendation",
    "Signal",
    "StockAgentsError",
    "StrategistAgent",
    "SymbolError",
    "SystemCoordinator",
    "TechnicalAgent",
    "UnknownSymbolError",
    "UpstreamError",
    "__version__",
    "load_config",
]

__version__ = "0.1.0"

#: Names loaded on first use, and the module each comes from.
_LAZY = {
    "SystemCoordinator": "stockagents.orchestration",
    "NewsAgent": "stockagents.agents",
    "TechnicalAgent": "stockagents.agents",
    "FundamentalAgent": "stockagents.agents",
    "StrategistAgent": "stockagents.agents",
    "AppConfig": "stockagents.core.config",
    "load_config": "stockagents.core.config",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'stockagents' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)

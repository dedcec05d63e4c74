"""The one exception tree of stockagents.

Every error the package raises on purpose is a ``StockAgentsError``; callers catch the
branch that matches how they react, and the CLI / API edge turns any of them into one
clear line and an exit code or HTTP status::

    StockAgentsError
    ├── ConfigError            a config file or setting is malformed; the message names
    │                          the file, the field and the fix
    ├── DataError              data could not be read or is not usable
    │   ├── SymbolError        a symbol is not a valid name (letters, digits, . - ^ =);
    │   │                      never read as a path
    │   ├── UnknownSymbolError the symbol has no data; the message lists what is there
    │   ├── DateOutOfRangeError the requested date is outside the data
    │   ├── DataFormatError    a data file is malformed (columns, NaNs, types)
    │   └── UpstreamError      an online provider failed (HTTP error, no answer, an
    │                          error answer); ``summary`` is safe to show anyone
    ├── ProviderUnavailableError an optional provider or extra is not installed/configured
    ├── BackendError           a model backend failed (HTTP error after retries, timeout,
    │                          a model that cannot be loaded)
    ├── AgentError             an agent could not produce a signal or decision
    ├── DeploymentError        a deployment or rollback was refused or failed; production
    │                          is as it was before (the message says so)
    ├── MonitorError           the production monitor cannot run: a journal it cannot
    │   │                      open or migrate, a day it cannot journal
    │   └── BrokerError        a paper broker refused the endpoint, the keys or an order
    └── ExportError            a model could not be exported, or the exported file does
                               not answer as the model does

Messages are written for the user: they say what is wrong and how to fix it.
"""

from __future__ import annotations

import difflib

__all__ = [
    "AgentError",
    "BackendError",
    "BrokerError",
    "ConfigError",
    "DataError",
    "DataFormatError",
    "DateOutOfRangeError",
    "DeploymentError",
    "ExportError",
    "MonitorError",
    "ProviderUnavailableError",
    "StockAgentsError",
    "SymbolError",
    "UnknownSymbolError",
    "UpstreamError",
    "http_status_reason",
]


class StockAgentsError(Exception):
    """Base class of every error stockagents raises on purpose."""


class ConfigError(StockAgentsError):
    """A config file or setting is malformed."""


class DataError(StockAgentsError):
    """Data could not be read or is not usable."""


class SymbolError(DataError):
    """A symbol that is not a valid name (see ``core.symbols``)."""


class UnknownSymbolError(DataError):
    """The symbol has no data in the configured price source."""

    def __init__(self, symbol: str, available: list[str], source: str, hint: str = "") -> None:
        self.symbol = symbol
        self.available = available
        self.source = source
        shown = ", ".join(available) if available else "none"
        message = f"unknown symbol {symbol!r} in the {source} price source (available: {shown})"
        close = difflib.get_close_matches(symbol.upper(), available, n=1, cutoff=0.75)
        if close:
            message += f"; did you mean {close[0]}?"
        if hint:
            message += f". {hint}"
        super().__init__(message)


class DateOutOfRangeError(DataError):
    """The requested date lies outside the data."""


class DataFormatError(DataError):
    """A data file is malformed."""


class UpstreamError(DataError):
    """An online provider failed: an HTTP error, no answer, or an error in its answer.

    The message is for whoever runs the command: provider, HTTP status, a short reason
    and the fix, never the upstream body, a request header or a key. ``summary`` is
    what may be shown to anyone, the clients of the HTTP API included:
    ``HTTP 401 from finnhub``.
    """

    def __init__(
        self, message: str, provider: str, summary: str, status: int | None = None
    ) -> None:
        super().__init__(message)
        self.provider = provider
        self.summary = summary
        self.status = status

    def __reduce__(self) -> tuple[type[UpstreamError], tuple[str, str, str, int | None]]:
        return type(self), (str(self), self.provider, self.summary, self.status)


class ProviderUnavailableError(StockAgentsError):
    """An optional provider is not installed or not configured."""


class BackendError(StockAgentsError):
    """A model backend could not answer."""


class AgentError(StockAgentsError):
    """An agent could not produce its output."""


class DeploymentError(StockAgentsError):
    """A deployment or rollback was refused or failed; production is unchanged."""


class ExportError(StockAgentsError):
    """A model could not be exported, or the exported file failed its check."""


def http_status_reason(status: int, server: str = "upstream error") -> str:
    """A short fixed reason for an HTTP error status, shown instead of the service's words.

    >>> [http_status_reason(s) for s in (401, 403, 429, 503, 400)]
    ['key rejected', 'access refused', 'rate limited', 'upstream error', 'request rejected']
    """
    if status == 401:
        return "key rejected"
    if status in (403, 407):
        return "access refused"
    if status == 404:
        return "not found"
    if status == 429:
        return "rate limited"
    if status >= 500:
        return server
    if 300 <= status < 400:
        return "a redirect without a target"
    return "request rejected"


class MonitorError(StockAgentsError):
    """The production monitor cannot run (its journal, a day, a rollback it asked for)."""


class BrokerError(MonitorError):
    """A paper broker refused the endpoint, the keys or the request."""

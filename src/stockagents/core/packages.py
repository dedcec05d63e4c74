"""Optional packages: whether one is installed, and the error that says how to install it.

Heavy or optional dependencies (torch, peft, fastapi, yfinance, ...) are imported where
they are used, not at import time. Before such an import, ``require_packages`` checks
that they are installed (without importing them) and otherwise raises one
``ProviderUnavailableError`` naming the missing package and the command that installs
it; ``missing_package`` gives the same message without raising, and ``is_installed``
answers for code that skips an optional feature instead.
"""

from __future__ import annotations

import importlib.util

from stockagents.core.errors import ProviderUnavailableError

__all__ = [
    "REQUIREMENTS_INSTALL",
    "TORCH_INSTALL",
    "YFINANCE_INSTALL",
    "is_installed",
    "missing_package",
    "require_packages",
]

#: The install command for the project's pinned requirements.
REQUIREMENTS_INSTALL = "pip install -r requirements.txt"
#: The install command for the training and model stack (torch is pinned apart).
TORCH_INSTALL = "pip install torch==2.13.0 -r requirements.txt"
#: The install command for the optional Yahoo Finance sources.
YFINANCE_INSTALL = "pip install 'stockagents[yfinance]'"


def is_installed(package: str) -> bool:
    """Whether ``package`` can be imported (found without importing it)."""
    return importlib.util.find_spec(package) is not None


def missing_package(*packages: str, needed_by: str, install: str) -> str | None:
    """The message for the first of ``packages`` that is not installed, or None.

    >>> missing_package("json", needed_by="reading JSON", install="pip install json") is None
    True
    """
    for package in packages:
        if not is_installed(package):
            return f"{needed_by} needs the {package} package: {install}"
    return None


def require_packages(*packages: str, needed_by: str, install: str) -> None:
    """Raise ``ProviderUnavailableError`` with ``missing_package``'s message, if any."""
    message = missing_package(*packages, needed_by=needed_by, install=install)
    if message is not None:
        raise ProviderUnavailableError(message)

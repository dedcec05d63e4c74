"""Files named after a symbol stay inside their directory.

Every provider that turns a symbol into a file name (the CSV price directory, the
yfinance cache) goes through ``file_in``: the name is joined and normalised (``..``,
separators, absolute names) and must lie directly in the directory, and the path is then
resolved (symlinks followed) and must still lie inside the directory. This holds even
when a symbol reached the provider without passing ``core.symbols.validate_symbol``; a
symlink in the directory that points outside it is refused like a ``../`` name.
"""

from __future__ import annotations

import os
from pathlib import Path

from stockagents.core.errors import DataError


def file_in(directory: Path, name: str) -> Path:
    """``directory / name``, or a ``DataError`` if it would leave ``directory``."""
    root = Path(os.path.normpath(directory.absolute()))
    if "\x00" in name or not name:
        raise DataError(f"{name!r} is not a file name inside {root}")
    path = Path(os.path.normpath(root / name))
    if path.parent != root:
        raise DataError(f"{name!r} names a file outside {root}; symbols are names, never paths")
    if not path.resolve().is_relative_to(root.resolve()):
        raise DataError(
            f"{path.name} in {root} links to a file outside it; copy the file into the "
            "directory instead of linking it"
        )
    return path

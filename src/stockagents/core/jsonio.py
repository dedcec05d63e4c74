"""Strict JSON for artifacts: NaN and infinities become ``null``, writes are atomic.

Every ``manifest.json``, metrics file and ``--json`` output goes through here, so what
the project writes parses with any strict JSON reader.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

__all__ = ["dumps", "jsonable", "write_json"]


def jsonable(value: Any) -> Any:
    """``value`` with non-finite floats replaced by None, recursively."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if hasattr(value, "item") and callable(value.item):  # numpy scalars
        return jsonable(value.item())
    return value


def dumps(value: Any, indent: int | None = 2) -> str:
    """Strict JSON text (``allow_nan=False``); dates and paths become strings."""
    return json.dumps(jsonable(value), indent=indent, default=str, allow_nan=False)


def write_json(path: Path, value: Any) -> Path:
    """Write ``value`` to ``path`` atomically (a temporary file, then a rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(dumps(value) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path

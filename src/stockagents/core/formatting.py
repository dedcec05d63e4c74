"""Numbers for people: one way to show a figure that may be missing.

Reports, CLI tables and log lines show a missing figure (``None``, or a float NaN such
as the Sharpe ratio of a flat equity curve) as ``n/a``; everything else goes through
Python's format spec. This module knows nothing about which figures exist.
"""

from __future__ import annotations

import math

__all__ = ["format_or_na"]

#: What a missing figure reads as.
NOT_AVAILABLE = "n/a"


def format_or_na(value: object, spec: str = ".2f") -> str:
    """``value`` formatted with ``spec``, or ``n/a`` when it is None or NaN.

    >>> format_or_na(0.1234, "+.1%"), format_or_na(None), format_or_na(float("nan"))
    ('+12.3%', 'n/a', 'n/a')
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return NOT_AVAILABLE
    return format(value, spec)

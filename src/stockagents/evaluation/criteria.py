"""The deployment criteria of the user's guide as pass/fail checks on a metrics dict.

Sharpe > ``min_sharpe``, |max drawdown| < ``max_drawdown``, win rate > ``min_win_rate``,
profit factor > ``min_profit_factor``; thresholds come from the config's ``deployment``
section. A metric that is undefined (no trades, no variation) fails: a gate cannot pass
on evidence that does not exist. The report and the deployer both call ``check_criteria``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

from stockagents.core.config import DeploymentConfig

__all__ = ["CRITERIA", "MIN_RELIABLE_DAYS", "check_criteria"]

#: The shortest test window (trading days) whose metrics the deployment gate accepts;
#: an evaluation over fewer days says so in its report.
MIN_RELIABLE_DAYS = 60

#: The config fields that are criteria (``deployment:`` also says where models live).
CRITERIA = {"min_sharpe", "max_drawdown", "min_win_rate", "min_profit_factor"}


def _value(metrics: Mapping[str, float | None], key: str) -> float:
    value = metrics.get(key)
    return math.nan if value is None else float(value)


def check_criteria(
    metrics: Mapping[str, float | None], criteria: DeploymentConfig | None = None
) -> dict[str, dict[str, Any]]:
    """``{criterion: {value, threshold, rule, passed}}`` for the four criteria."""
    c = criteria or DeploymentConfig()
    rules: dict[str, tuple[str, float, Callable[[float], bool]]] = {
        "sharpe": ("> ", c.min_sharpe, lambda v: v > c.min_sharpe),
        "max_drawdown": ("depth < ", c.max_drawdown, lambda v: abs(v) < c.max_drawdown),
        "win_rate": ("> ", c.min_win_rate, lambda v: v > c.min_win_rate),
        "profit_factor": ("> ", c.min_profit_factor, lambda v: v > c.min_profit_factor),
    }
    out: dict[str, dict[str, Any]] = {}
    for name, (rule, threshold, test) in rules.items():
        value = _value(metrics, name)
        out[name] = {
            "value": None if math.isnan(value) else value,
            "threshold": threshold,
            "rule": f"{rule}{threshold:g}",
            "passed": not math.isnan(value) and bool(test(value)),
        }
    return out

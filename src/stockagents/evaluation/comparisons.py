"""Paired comparisons of model sets: the evaluation's headline.

Two sets traded the same symbols on the same days, so their difference is measured on
those shared (symbol, day) decisions, resampled together (``metrics.paired_difference``:
days in moving blocks, every symbol of a drawn day along): Sharpe with costs and mean
daily return from the two equity curves; hit rate and IC of the strategist's decisions
(side x confidence) against the forward return; and how often the two took the same
action. Each difference carries its interval, p-value, half-width and the smallest
difference the window could detect, so a "no difference" reads with its power.

Which pairs: every set against the baseline, and each set against the one listed before
it when neither is the baseline (the guide's order, baseline, sft, rl, gives RL against
its SFT start).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from stockagents.core.jsonio import jsonable
from stockagents.evaluation.metrics import (
    agreement,
    bootstrap_sharpe_difference,
    hit_rate,
    information_coefficient,
    paired_difference,
    power,
)
from stockagents.evaluation.runner import SetRun, Step
from stockagents.evaluation.schema import Agreement, Comparison, PairedDifference
from stockagents.evaluation.summary import forward_returns

__all__ = ["compare", "comparison_pairs"]


def comparison_pairs(runs: Sequence[SetRun]) -> list[tuple[SetRun, SetRun]]:
    """(set, against) pairs: each set against the baseline, then each set against the one
    before it when neither is the baseline."""
    baseline = next((r for r in runs if r.models.is_baseline), None)
    pairs = [(r, baseline) for r in runs if baseline is not None and r is not baseline]
    others = [r for r in runs if r is not baseline]
    pairs += list(zip(others[1:], others[:-1], strict=True))
    return pairs


def _decisions(steps: Sequence[Step]) -> dict[tuple[str, Any], Step]:
    return {(s.symbol, s.day): s for s in steps}


def _side_score(step: Step) -> float:
    decision = step.recommendation.decision
    side = {"BUY": 1.0, "SELL": -1.0}.get(decision.action.value, 0.0)
    return side * decision.confidence


#: Statistics of rows of (score, forward return).
_SIGNAL_STATISTICS: dict[str, Callable[[np.ndarray], float]] = {
    "hit_rate": lambda rows: hit_rate(rows[:, 0], rows[:, 1]),
    "ic": lambda rows: information_coefficient(rows[:, 0], rows[:, 1]),
}


def _paired(values: Mapping[str, float]) -> PairedDifference:
    return PairedDifference(**jsonable(dict(values)))


def compare(
    run: SetRun,
    against: SetRun,
    *,
    prices: Mapping[str, pd.DataFrame],
    horizon: int,
    bootstrap: Mapping[str, Any],
) -> Comparison:
    """``run`` minus ``against`` on the decisions both made (see the module docstring)."""
    mine, theirs = _decisions(run.steps), _decisions(against.steps)
    shared = sorted(set(mine) & set(theirs), key=lambda key: (key[1], key[0]))
    a = [mine[k] for k in shared]
    b = [theirs[k] for k in shared]
    days = np.array([k[1].toordinal() for k in shared])
    forward = forward_returns(prices, a, horizon)
    rows_a = np.column_stack([[_side_score(s) for s in a], forward]) if a else np.empty((0, 2))
    rows_b = np.column_stack([[_side_score(s) for s in b], forward]) if b else np.empty((0, 2))
    known = ~np.isnan(forward)
    returns_a = run.with_costs.returns
    returns_b = against.with_costs.returns.reindex(returns_a.index)
    paired = {k: bootstrap[k] for k in ("resamples", "block", "confidence", "seed")}
    sharpe = bootstrap_sharpe_difference(
        returns_a.to_numpy(), returns_b.to_numpy(),
        risk_free=run.with_costs.config.risk_free_rate, **paired,
    )  # fmt: skip
    sharpe.update(power(sharpe["low"], sharpe["high"], paired["confidence"]))
    signal = {
        name: paired_difference(statistic, rows_a[known], rows_b[known], days=days[known], **paired)
        for name, statistic in _SIGNAL_STATISTICS.items()
    }
    return Comparison(
        set=run.models.name,
        against=against.models.name,
        symbol_days=len(shared),
        days=len(set(days.tolist())),
        sharpe=_paired(sharpe),
        mean_daily_return=_paired(
            paired_difference(
                np.mean, returns_a.to_numpy(), returns_b.fillna(0.0).to_numpy(), **paired
            )
        ),
        hit_rate=_paired(signal["hit_rate"]),
        ic=_paired(signal["ic"]),
        agreement=Agreement(
            **jsonable(
                agreement(
                    [s.recommendation.decision.action.value for s in a],
                    [s.recommendation.decision.action.value for s in b],
                    days=days,
                    **paired,
                )
            )
        ),
    )

"""Buy-and-hold: the benchmark in every report.

Equal weights across the symbols, each bought at the open after its first bar in the
window (the same next-open rule and costs as any strategy), then held to the end.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

import numpy as np
import pandas as pd

from stockagents.backtest.engine import BacktestResult, run_backtest
from stockagents.core.config import BacktestConfig

__all__ = ["buy_and_hold"]


def buy_and_hold(
    prices: Mapping[str, pd.DataFrame],
    config: BacktestConfig | None = None,
    start: dt.date | None = None,
    end: dt.date | None = None,
) -> BacktestResult:
    """Equal-weight buy-and-hold of ``prices``' symbols over ``[start, end]``."""
    config = (config or BacktestConfig()).model_copy(
        update={"use_stops": False, "max_position": 1.0, "max_gross_exposure": 1.0}
    )
    index = pd.DatetimeIndex(sorted(set().union(*(f.index for f in prices.values()))))
    if start is not None:
        index = index[index >= pd.Timestamp(start)]
    targets = pd.DataFrame(np.nan, index=index, columns=list(prices))
    for symbol, frame in prices.items():
        own = frame.index[frame.index.isin(index)]
        if len(own):
            targets.loc[own[0], symbol] = 1.0 / len(prices)
    return run_backtest(prices, targets=targets, config=config, start=start, end=end)

"""Turning backtest results into metrics tables and an equity-curve plot.

Metrics come from ``stockagents.evaluation.metrics``; this module only gathers the
inputs (returns, closed trades' P&L, exposure, turnover) and draws.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from stockagents.backtest.engine import BacktestResult
from stockagents.evaluation.metrics import compute_metrics, drawdown_series

__all__ = ["backtest_metrics", "plot_equity"]


def backtest_metrics(result: BacktestResult) -> dict[str, float]:
    """Every metric of one backtest, with its costs and decision count."""
    gross = result.weights.abs().sum(axis=1).to_numpy()
    metrics = compute_metrics(
        result.returns,
        trade_pnl=[t.pnl for t in result.closed_trades],
        exposure=gross,
        traded_notional=result.traded_notional,
        mean_equity=float(result.equity.mean()),
        risk_free=result.config.risk_free_rate,
    )
    metrics["final_equity"] = float(result.equity.iloc[-1])
    metrics["total_costs"] = float(result.total_costs)
    metrics["decisions"] = float(result.decisions)
    return metrics


def plot_equity(curves: dict[str, BacktestResult], path: Path, title: str) -> Path:
    """Equity (normalised to 1) and drawdown of each named result, saved as PNG."""
    fig = Figure(figsize=(11, 7))
    top, bottom = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    for name, result in curves.items():
        equity = result.equity / result.config.initial_cash
        top.plot(equity.index, equity.to_numpy(), label=name, linewidth=1.4)
        dd = pd.Series(drawdown_series(result.returns), index=result.equity.index)
        bottom.plot(dd.index, 100 * dd.to_numpy(), label=name, linewidth=1.0)
    top.set_title(title)
    top.set_ylabel("equity (start = 1)")
    top.axhline(1.0, color="grey", linewidth=0.6)
    top.legend(loc="upper left")
    top.grid(alpha=0.3)
    bottom.set_ylabel("drawdown %")
    bottom.grid(alpha=0.3)
    bottom.set_ylim(top=0.5, bottom=min(-1.0, float(np.nanmin(bottom.get_ylim()))))
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    return path

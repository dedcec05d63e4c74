"""Simulating decisions on daily bars: the engine, the benchmark, the experience library
and trajectory collection. Metrics are computed by ``stockagents.evaluation.metrics``."""

from __future__ import annotations

from stockagents.backtest.engine import BacktestResult, Trade, run_backtest

__all__ = ["BacktestResult", "Trade", "run_backtest"]

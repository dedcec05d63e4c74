"""Backtest the expert agents on two symbols for half a year, against buy-and-hold, with
and without costs."""

import datetime as dt

from stockagents.evaluation.agent_backtest import backtest_agents
from stockagents.orchestration.coordinator import SystemCoordinator

with SystemCoordinator(models="expert") as coordinator:
    run = backtest_agents(coordinator, ["AAPL", "NVDA"], dt.date(2023, 1, 3), dt.date(2023, 6, 30))

print(f"period {run.period}")
for name, metrics in run.metrics().items():
    print(
        f"  {name:<18} return {metrics['total_return']:+.2%}  Sharpe {metrics['sharpe']:.2f}  "
        f"max DD {metrics['max_drawdown']:.2%}  trades {metrics['trades']:.0f}"
    )

"""Production monitoring: the daily run, the decision journal, live metrics against the
evaluation, drift, alerts, automatic rollback and paper brokers (docs/MONITORING.md)."""

from stockagents.monitoring.journal import Journal
from stockagents.monitoring.monitor import DayResult, Monitor, Release

__all__ = ["DayResult", "Journal", "Monitor", "Release"]

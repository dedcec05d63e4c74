"""``stockagents analyze SYMBOL``: one recommendation, as a table or as JSON."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from stockagents.cli.options import ConfigOption, ModelsOption, SymbolArgument, model_set
from stockagents.core.jsonio import dumps
from stockagents.core.types import Recommendation
from stockagents.orchestration import SystemCoordinator

__all__ = ["analyze"]


def render_recommendation(rec: Recommendation, console: Console) -> None:
    """Print a readable summary of ``rec``."""
    d = rec.decision
    colour = {"BUY": "green", "SELL": "red", "HOLD": "yellow"}[d.action.value]
    console.print(
        f"[bold]{rec.symbol}[/bold] as of {rec.as_of} "
        f"(last bar {rec.data_date}, close {rec.price:.2f}, source: {rec.data_source})"
    )
    table = Table(show_header=True, header_style="bold")
    for column in ("agent", "signal", "score", "confidence", "reasoning"):
        table.add_column(column, overflow="fold")
    for name, s in rec.signals.items():
        table.add_row(name, s.signal.value, f"{s.score:+.2f}", f"{s.confidence:.2f}", s.reasoning)
    table.add_row(
        "strategist",
        f"[{colour}]{d.action.value}[/{colour}]",
        "",
        f"{d.confidence:.2f}",
        d.reasoning,
    )
    console.print(table)
    levels = []
    if d.stop_loss is not None:
        levels.append(f"stop {d.stop_loss:.2f}")
    if d.take_profit is not None:
        levels.append(f"target {d.take_profit:.2f}")
    console.print(
        f"Recommendation: [bold {colour}]{d.action.value}[/bold {colour}]  "
        f"confidence {d.confidence:.2f}  size {d.position_size:.1%} of equity  "
        f"horizon {d.horizon_days} days" + (f"  ({', '.join(levels)})" if levels else "")
    )
    for factor in d.key_factors:
        console.print(f"  - {factor}")
    for warning in rec.warnings:
        console.print(f"[dim]note: {warning}[/dim]")
    console.print(f"[dim]model set: {rec.model_set}; models: {rec.model_versions}[/dim]")


def analyze(
    symbol: SymbolArgument,
    as_of: Annotated[
        str | None,
        typer.Option("--as-of", help="Analyse with data up to this date's close (YYYY-MM-DD)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    config: ConfigOption = None,
    models: ModelsOption = None,
) -> None:
    """Analyse SYMBOL with the three analysts and the strategist."""
    with SystemCoordinator(config, models=model_set(models)) as coordinator:
        rec = coordinator.analyze_symbol(symbol, as_of=as_of)
    if as_json:
        typer.echo(dumps(rec.to_dict()))
    else:
        render_recommendation(rec, Console())

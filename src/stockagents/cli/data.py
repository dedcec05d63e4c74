"""``stockagents data ...``: what the configured data sources hold."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from stockagents.core.config import load_config
from stockagents.core.errors import DataError
from stockagents.core.jsonio import dumps
from stockagents.data import build_sources

__all__ = ["app"]

app = typer.Typer(help="Inspect the data sources.", no_args_is_help=True)


@app.command("symbols")
def symbols(
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="A YAML config file.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List the symbols the price source holds, with their date ranges."""
    sources = build_sources(load_config(config).data)
    rows: list[dict[str, str]] = []
    for symbol in sources.prices.symbols():
        try:
            first, last = sources.prices.date_range(symbol)
        except DataError as exc:  # one broken file does not hide the others
            rows.append({"symbol": symbol, "first": "", "last": "", "bars": "", "error": str(exc)})
            continue
        bars = len(sources.prices.prices(symbol, as_of=last))
        rows.append({"symbol": symbol, "first": str(first), "last": str(last), "bars": str(bars)})
    if as_json:
        typer.echo(dumps({"source": sources.prices.name, "symbols": rows}))
        return
    table = Table(title=f"price source: {sources.prices.name}")
    for column in ("symbol", "first", "last", "bars", "problem"):
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(row["symbol"], row["first"], row["last"], row["bars"], row.get("error", ""))
    Console().print(table)

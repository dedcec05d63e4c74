"""``stockagents collect``: trajectories into an experience library (resumable)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from stockagents.backtest.collect import collect_trajectories
from stockagents.cli.options import (
    ConfigOption,
    EndOption,
    ModelsOption,
    StartOption,
    SymbolsArgument,
    SymbolsOption,
    model_set,
    parse_date,
    split_symbols,
    timestamped,
)
from stockagents.core.config import load_config
from stockagents.core.errors import DataError

__all__ = ["collect"]


def collect(
    symbols_args: SymbolsArgument = None,
    symbols: SymbolsOption = None,
    start: StartOption = None,
    end: EndOption = None,
    every: Annotated[int, typer.Option("--every", help="Use every k-th trading day.")] = 1,
    max_days: Annotated[
        int | None, typer.Option("--max-days", help="At most this many dates per symbol.")
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Run directory; an existing one is resumed."),
    ] = None,
    backend: Annotated[
        str, typer.Option("--backend", help="process (default), serial or ray.")
    ] = "process",
    workers: Annotated[int | None, typer.Option("--workers", help="Parallel workers.")] = None,
    library: Annotated[
        str | None,
        typer.Option(
            "--library",
            help="A database URL (postgresql+psycopg://user@host/db) for the steps; "
            "default: experience_library.db in the run directory.",
        ),
    ] = None,
    models: ModelsOption = "expert",
    config: ConfigOption = None,
) -> None:
    """Run the agents over every trading date and store each decision step."""
    model_dir = None if models in (None, "expert") else model_set(models)
    wanted = split_symbols(symbols, symbols_args)
    if not wanted:
        raise DataError("no symbols given; pass --symbols AAPL NVDA ...")
    if backend not in ("process", "serial", "ray"):
        raise DataError(f"--backend {backend!r}: choose process, serial or ray")
    chosen: Literal["process", "serial", "ray"] = backend  # type: ignore[assignment]
    run_dir = output or timestamped("training_runs", "trajectories")
    console = Console(stderr=True)
    try:
        summary = collect_trajectories(
            wanted,
            parse_date(start, "--start"),
            parse_date(end, "--end"),
            run_dir,
            config=load_config(config),
            every=every,
            max_days=max_days,
            backend=chosen,
            workers=workers,
            models=model_dir,
            library=library,
        )
    except KeyboardInterrupt:
        console.print(
            f"interrupted: finished chunks are saved in {run_dir}; "
            f"run the same command with --output {run_dir} to resume"
        )
        raise typer.Exit(130) from None
    table = Table(title=f"collection {summary.run_id}")
    for column in ("symbols", "planned", "new", "already there", "actions", "seconds"):
        table.add_column(column)
    table.add_row(
        ", ".join(summary.symbols),
        str(summary.planned),
        str(summary.inserted),
        str(summary.already_present),
        ", ".join(f"{k} {v}" for k, v in sorted(summary.actions.items())),
        f"{summary.seconds:.1f}",
    )
    out = Console()
    out.print(table)
    for symbol, why in summary.skipped.items():
        out.print(f"[yellow]skipped {symbol}:[/yellow] {escape(why)}")
    out.print(f"experience library: {summary.db_path}")

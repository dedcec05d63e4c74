"""``stockagents backtest``: the agents against buy-and-hold, with and without costs."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import Progress
from rich.table import Table

from stockagents import __version__
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
from stockagents.core.errors import DataError
from stockagents.core.formatting import format_or_na
from stockagents.core.jsonio import dumps, write_json
from stockagents.core.manifests import BacktestRunManifest, write_manifest
from stockagents.evaluation.agent_backtest import backtest_agents
from stockagents.evaluation.backtest_report import plot_equity
from stockagents.orchestration import SystemCoordinator

__all__ = ["backtest"]

_SHOWN = [
    ("total_return", "+.2%"),
    ("cagr", "+.2%"),
    ("sharpe", ".2f"),
    ("sortino", ".2f"),
    ("max_drawdown", ".2%"),
    ("calmar", ".2f"),
    ("annual_volatility", ".2%"),
    ("win_rate", ".1%"),
    ("profit_factor", ".2f"),
    ("trades", ".0f"),
    ("exposure", ".1%"),
    ("turnover", ".2f"),
    ("total_costs", ",.2f"),
    ("final_equity", ",.2f"),
]


def backtest(
    symbols_args: SymbolsArgument = None,
    symbols: SymbolsOption = None,
    start: StartOption = None,
    end: EndOption = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Result directory.")] = None,
    models: ModelsOption = None,
    config: ConfigOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print metrics as JSON.")] = False,
) -> None:
    """Backtest the agents on SYMBOLS; print metrics and write an equity-curve PNG."""
    model_dir = model_set(models)
    wanted = split_symbols(symbols, symbols_args)
    if not wanted:
        raise DataError("no symbols given; pass --symbols AAPL NVDA ...")
    first_day, last_day = parse_date(start, "--start"), parse_date(end, "--end")
    if first_day and last_day and first_day > last_day:
        raise DataError(f"--start {first_day} is after --end {last_day}")
    err = Console(stderr=True)
    with (
        SystemCoordinator(config, models=model_dir) as coordinator,
        Progress(console=err, transient=True) as progress,
    ):

        def tick(total: int) -> Callable[[], None]:
            task = progress.add_task("backtesting", total=total)
            return lambda: progress.advance(task)

        run = backtest_agents(coordinator, wanted, first_day, last_day, tick=tick)
    for symbol, why in run.skipped.items():
        err.print(f"[yellow]skipping {symbol}:[/yellow] {escape(why)}")
    with_costs, without_costs, benchmark = run.with_costs, run.without_costs, run.benchmark
    prices = [str(c) for c in with_costs.positions.columns]
    provider = coordinator.sources.prices
    cfg = coordinator.config.backtest
    results = run.metrics()
    run_dir = output or timestamped("backtest_results", "bt")
    run_dir.mkdir(parents=True, exist_ok=True)
    span = f"{with_costs.equity.index[0].date()} to {with_costs.equity.index[-1].date()}"
    plot = plot_equity(
        {"agents": with_costs, "agents (no costs)": without_costs, "buy & hold": benchmark},
        run_dir / "equity_curve.png",
        f"{', '.join(prices)}: {span}",
    )
    with_costs.trades_frame().to_csv(run_dir / "trades.csv", index=False)
    manifest = BacktestRunManifest(
        stockagents_version=__version__,
        created_at=dt.datetime.now(dt.UTC).isoformat(),
        symbols=prices,
        period=span,
        models=coordinator.model_set,
        model_versions=coordinator.model_versions,
        config=coordinator.config.model_dump(mode="json"),
        data={"source": provider.name, "sha256": provider.fingerprint(prices)},
        metrics=results,
    )
    write_manifest(run_dir / "manifest.json", manifest)
    write_json(run_dir / "metrics.json", results)
    if as_json:
        typer.echo(dumps({"period": span, "output": str(run_dir), "metrics": results}))
        return
    table = Table(title=f"backtest {', '.join(prices)}, {span}")
    table.add_column("metric")
    for name in results:
        table.add_column(name, justify="right")
    for key, pattern in _SHOWN:
        table.add_row(key, *(format_or_na(results[name].get(key), pattern) for name in results))
    console = Console()
    console.print(table)
    console.print(
        f"costs: {cfg.commission_bps:g} bps commission + {cfg.slippage_bps:g} bps slippage "
        "per fill;"
        " fills at the next open"
    )
    console.print(f"equity curve: {plot}")

"""``stockagents data ...``: what the configured data sources hold, and what the news and
fundamental analysts would see on a given day."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from stockagents.cli.options import SymbolArgument
from stockagents.core.config import load_config
from stockagents.core.errors import DataError, ProviderUnavailableError
from stockagents.core.jsonio import dumps
from stockagents.data import build_sources
from stockagents.data.base import PriceProvider, to_date
from stockagents.data.calendar import MARKET_TZ, market_close_utc
from stockagents.data.online.build import close_clients

__all__ = ["app"]

logger = logging.getLogger(__name__)

app = typer.Typer(help="Inspect the data sources.", no_args_is_help=True)

ConfigOption = Annotated[Path | None, typer.Option("--config", "-c", help="A YAML config file.")]
AsOfOption = Annotated[
    str | None,
    typer.Option(
        "--as-of",
        help="What was public by this date's close (YYYY-MM-DD); default: the last price "
        "bar of SYMBOL, as for 'stockagents analyze' (today if the prices lack SYMBOL).",
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def _day(as_of: str | None, prices: PriceProvider, symbol: str) -> dt.date:
    """``as_of``, or the last price bar of ``symbol`` as the analysts default to."""
    if as_of:
        return to_date(as_of)
    try:
        return prices.date_range(symbol)[1]
    except DataError as exc:
        today = dt.datetime.now(MARKET_TZ).date()
        logger.info("no price bar to default --as-of to (%s); using today, %s", exc, today)
        return today


def _money(value: float | None) -> str:
    if value is None:
        return ""
    for size, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M")):
        if abs(value) >= size:
            return f"{value / size:,.2f}{suffix}"
    return f"{value:,.2f}"


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


@app.command("news")
def news(
    symbol: SymbolArgument,
    days: Annotated[
        int | None,
        typer.Option(
            "--days", min=1, max=365, help="Days to look back (agents.news.lookback_days)."
        ),
    ] = None,
    as_of: AsOfOption = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """The stories the news analyst would read: published in the DAYS before the close of
    AS_OF (the NYSE close: 16:00 New York, 13:00 on an early close; on a day the exchange
    is shut, the last session's close), de-duplicated, oldest first."""
    app_config = load_config(config)
    days = days or app_config.agents.news.lookback_days
    sources = build_sources(app_config.data)
    provider = sources.news
    if provider.unavailable_reason:
        raise ProviderUnavailableError(provider.unavailable_reason)
    day = _day(as_of, sources.prices, symbol)
    cutoff = market_close_utc(day)
    try:
        items = provider.news(symbol, as_of=cutoff, lookback_days=days)
    finally:
        close_clients()
    if as_json:
        typer.echo(
            dumps(
                {
                    "source": provider.name,
                    "symbol": symbol,
                    "as_of": day.isoformat(),
                    "cutoff": cutoff.isoformat(),
                    "days": days,
                    "items": [item.model_dump(mode="json") for item in items],
                }
            )
        )
        return
    table = Table(
        title=f"{symbol}: {len(items)} stories in the {days} days to the close of "
        f"{day} ({cutoff:%Y-%m-%d %H:%M} UTC), from {provider.name}"
    )
    for column in ("published (UTC)", "source", "headline", "url"):
        table.add_column(column, overflow="fold")
    for item in items:
        table.add_row(f"{item.published_at:%Y-%m-%d %H:%M}", item.source, item.headline, item.url)
    Console().print(table)


@app.command("fundamentals")
def fundamentals(
    symbol: SymbolArgument,
    as_of: AsOfOption = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """The filings the fundamental analyst would read: every statement filed before
    AS_OF, by period end."""
    sources = build_sources(load_config(config).data)
    provider = sources.fundamentals
    if provider.unavailable_reason:
        raise ProviderUnavailableError(provider.unavailable_reason)
    day = _day(as_of, sources.prices, symbol)
    try:
        snapshots = provider.filings(symbol, as_of=day)
    finally:
        close_clients()
    estimated = provider.estimated_filing_dates
    if as_json:
        typer.echo(
            dumps(
                {
                    "source": provider.name,
                    "symbol": symbol,
                    "as_of": day.isoformat(),
                    "estimated_filing_dates": estimated,
                    "caveat": provider.caveat,
                    "filings": [s.model_dump(mode="json") for s in snapshots],
                }
            )
        )
        return
    note = " (filing dates estimated)" if estimated else ""
    title = f"{symbol}: {len(snapshots)} filings before {day}, from {provider.name}"
    table = Table(title=title + note, caption=provider.caveat)
    columns = ("period end", "filed", "period", "revenue", "net income", "EPS")
    for column in (*columns, "shares", "equity", "debt", "FCF"):
        table.add_column(column, justify="right")
    for s in snapshots:
        table.add_row(
            str(s.period_end),
            str(s.filing_date),
            s.period,
            _money(s.revenue),
            _money(s.net_income),
            "" if s.eps is None else f"{s.eps:.2f}",
            _money(s.shares_outstanding),
            _money(s.total_equity),
            _money(s.total_debt),
            _money(s.free_cash_flow),
        )
    Console().print(table)

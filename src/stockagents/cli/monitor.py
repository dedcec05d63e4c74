"""``stockagents monitor run | update | replay | report | status``: the production monitor
(``stockagents.monitoring``; docs/MONITORING.md has the rules and a cron example).

Every subcommand takes ``--config`` (the ``monitor:`` section says the journal, the
watchlist, the broker and the rules), ``--journal`` (a path or an SQLAlchemy URL) and
``--models-dir``; a bad date, an unknown symbol or a journal it cannot open is one line
and exit code 1.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from stockagents.cli.options import ConfigOption, parse_date
from stockagents.core.config import AppConfig, load_config
from stockagents.core.errors import ConfigError
from stockagents.core.jsonio import dumps
from stockagents.monitoring import Monitor
from stockagents.monitoring.report import write_report

__all__ = ["monitor_app"]

monitor_app = typer.Typer(
    help="Watch production: the daily run, outcomes, verdicts, alerts and rollback.",
    no_args_is_help=True,
)

JournalOption = Annotated[
    str | None,
    typer.Option("--journal", help="The journal: an SQLite path or an SQLAlchemy URL."),
]
ModelsDirOption = Annotated[
    Path | None, typer.Option("--models-dir", help="Default: the config's (models).")
]
AsOfOption = Annotated[
    str | None,
    typer.Option("--as-of", help="The day (YYYY-MM-DD); default: the last close in the data."),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]


def _config(config: Path | None, journal: str | None, models_dir: Path | None) -> AppConfig:
    app = load_config(config)
    monitor = app.monitor.model_copy(update={"journal": journal} if journal else {})
    deployment = app.deployment.model_copy(update={"models_dir": models_dir} if models_dir else {})
    return app.model_copy(update={"monitor": monitor, "deployment": deployment})


@monitor_app.command("run")
def run(
    as_of: AsOfOption = None,
    config: ConfigOption = None,
    journal: JournalOption = None,
    models_dir: ModelsDirOption = None,
    as_json: JsonOption = False,
) -> None:
    """Analyse the watchlist with production after the close and journal the day (a day
    journaled already is left as it is). Cron-friendly: run it once a day."""
    with Monitor(_config(config, journal, models_dir)) as monitor:
        symbols = len(monitor.watchlist())
        with Console(stderr=True).status(f"analysing {symbols} symbols with production"):
            result = monitor.run(parse_date(as_of, "--as-of"))
    if as_json:
        typer.echo(dumps(result.__dict__))
        return
    if result.written:
        Console(soft_wrap=True).print(
            f"{result.day}: {result.decisions} decisions by {result.release} in "
            f"{result.seconds:.1f} s, {result.orders} orders"
        )
    else:
        Console(soft_wrap=True).print(f"{result.day}: journaled already; nothing added")


@monitor_app.command("update")
def update(
    as_of: AsOfOption = None,
    config: ConfigOption = None,
    journal: JournalOption = None,
    models_dir: ModelsDirOption = None,
    as_json: JsonOption = False,
) -> None:
    """Fill realised outcomes, rebuild the paper book, judge every release; alert on a
    verdict change and, with on_degraded: rollback, roll a degraded production back."""
    with Monitor(_config(config, journal, models_dir)) as monitor:
        healths = monitor.update(parse_date(as_of, "--as-of"))
    if as_json:
        typer.echo(dumps([h.__dict__ for h in healths]))
        return
    console = Console(soft_wrap=True)
    console.print(f"{len(healths)} releases judged")
    for health in healths:
        console.print(f"  {health.release}: {health.verdict} ({health.reasons[0]})")


@monitor_app.command("replay")
def replay(
    start: Annotated[str, typer.Option("--start", help="First day (YYYY-MM-DD).")],
    end: Annotated[str, typer.Option("--end", help="Last day (YYYY-MM-DD).")],
    config: ConfigOption = None,
    journal: JournalOption = None,
    models_dir: ModelsDirOption = None,
) -> None:
    """Run and update every trading day from --start to --end as if live (each day sees
    only its data): the whole loop, offline."""
    first, last = parse_date(start, "--start"), parse_date(end, "--end")
    assert first is not None
    assert last is not None
    console = Console(soft_wrap=True)
    with Monitor(_config(config, journal, models_dir)) as monitor:
        days = [d for d in monitor.calendar() if first <= d <= last]
        with Progress(
            TextColumn("replaying"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            TextColumn("{task.description}"), console=console,
        ) as progress:  # fmt: skip
            task = progress.add_task("", total=len(days))

            def step(day: dt.date) -> None:
                progress.update(task, advance=1, description=str(day))

            results = monitor.replay(first, last, progress=step)
        status = monitor.status()
    added = sum(r.decisions for r in results if r.written)
    console.print(
        f"{len(results)} days replayed, {added} decisions journaled in {status['journal']}"
    )
    for release in status["releases"]:
        console.print(f"  {release['release']}: {release['verdict']} ({release['reasons'][0]})")


@monitor_app.command("report")
def report(
    out: Annotated[
        Path | None, typer.Option("--out", help="Default: the config's monitor.report_dir.")
    ] = None,
    config: ConfigOption = None,
    journal: JournalOption = None,
    models_dir: ModelsDirOption = None,
) -> None:
    """Write monitor_report.md and monitor_report.png from the journal."""
    app = _config(config, journal, models_dir)
    with Monitor(app) as monitor:
        if not monitor.journal.days():
            raise ConfigError(
                f"the journal {monitor.journal.where} is empty; run 'stockagents monitor run' "
                "or 'monitor replay' first"
            )
        files = write_report(
            monitor.journal, monitor.status(), out or app.monitor.report_dir,
            app.monitor.rules.psi_watch,
        )  # fmt: skip
    Console(soft_wrap=True).print(f"wrote {files['markdown']} and {files['plot']}")


@monitor_app.command("status")
def status(
    config: ConfigOption = None,
    journal: JournalOption = None,
    models_dir: ModelsDirOption = None,
    as_json: JsonOption = False,
) -> None:
    """Production, the journal's last day and lag, each release's verdict."""
    with Monitor(_config(config, journal, models_dir)) as monitor:
        state = monitor.status()
    if as_json:
        typer.echo(dumps(state))
        return
    console = Console(soft_wrap=True)
    console.print(f"production: {state['production']} ({state['deployment'] or 'no deployment'})")
    console.print(
        f"journal: {state['journal']}, {state['days']} days, last {state['last_day']}, "
        f"lag {state['lag_days']} trading days"
    )
    for release in state["releases"]:
        console.print(f"  {release['release']}: {release['verdict']} ({release['reasons'][0]})")

"""``stockagents deploy`` (the guide's ``scripts/deploy_models.py``), ``stockagents deploy
rollback [BACKUP]`` and ``stockagents models list``.

``deploy``'s ``--models`` and ``--symbols`` take several values, as the guide writes them
(``--models news:DIR technical:DIR fundamental:DIR strategist:DIR``): see
``cli.multivalue``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from stockagents.cli.multivalue import MultiValueGroup
from stockagents.cli.options import ConfigOption, split_symbols
from stockagents.core.errors import ConfigError
from stockagents.core.formatting import format_or_na
from stockagents.core.jsonio import dumps
from stockagents.deployment import ModelDeployer

__all__ = ["deploy_app", "models_app"]

_GUIDE_SYMBOLS = ["AAPL", "MSFT", "GOOGL", "AMZN", "TSLA"]


def _parse_models(items: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        agent, sep, path = item.partition(":")
        if not sep or not path.strip():
            raise ConfigError(f"--models {item}: write AGENT:DIR, as in strategist:DIR")
        if agent in out:
            raise ConfigError(f"--models: {agent} is given twice")
        out[agent.strip()] = path.strip()
    return out


def _show(record: dict[str, Any], as_json: bool) -> None:
    if as_json:
        typer.echo(dumps(record))
        return
    console = Console(soft_wrap=True)
    console.print(f"{record['id']}: {record['outcome']}")
    for agent, entry in (record.get("agents") or {}).items():
        console.print(
            f"  {agent:<11} {entry['version']:<40} {entry['origin']:<10} {entry['source']}"
        )
    evaluation = record.get("evaluation")
    if evaluation:
        sharpe = evaluation["metrics"].get("sharpe")
        console.print(
            f"  evaluation {evaluation['path']} ({evaluation['set']}): Sharpe "
            f"{format_or_na(sharpe)}, criteria "
            f"{'passed' if evaluation['passed'] else 'failed'}"
        )
    if record.get("forced_because"):
        console.print(f"  forced: {record['forced_because']}")
    if record.get("backup"):
        console.print(f"  backup: {record['backup']}")
    verification = record.get("verification") or {}
    if verification:
        console.print(
            f"  verified: {verification['symbol']} {verification['recommendation']} "
            f"(confidence {verification['confidence']:.2f})"
        )


deploy_app = typer.Typer(
    cls=MultiValueGroup,
    invoke_without_command=True,
    subcommand_metavar="[rollback [BACKUP]]",
    add_completion=False,
)
ModelsDirOption = Annotated[
    Path | None, typer.Option("--models-dir", help="Default: the config's (models).")
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print the record as JSON.")]


@deploy_app.callback()
def deploy(
    ctx: typer.Context,
    models: Annotated[
        list[str] | None,
        typer.Option(
            "--models",
            metavar="AGENT:DIR",
            help="news:DIR technical:DIR fundamental:DIR strategist:DIR (a model's final/ "
            "directory, or 'expert'); agents left out keep their production model. Required.",
        ),
    ] = None,
    min_sharpe: Annotated[
        float | None, typer.Option("--min-sharpe", help="Override the config's min_sharpe.")
    ] = None,
    evaluations: Annotated[
        Path,
        typer.Option(
            "--evaluations",
            help="Where evaluate_models wrote (searched for an evaluation of this set).",
        ),
    ] = Path("evaluation_results"),
    evaluate: Annotated[
        bool,
        typer.Option(
            "--evaluate",
            help="Evaluate the set on the test segment first when no evaluation of it exists.",
        ),
    ] = False,
    force: Annotated[
        bool,
        typer.Option("--force", help="Deploy without a passing evaluation (the record says so)."),
    ] = False,
    symbols: Annotated[
        list[str] | None,
        typer.Option("--symbols", metavar="SYMBOL", help="Symbols for --evaluate."),
    ] = None,
    models_dir: ModelsDirOption = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Deploy models to production: validate (an evaluation that meets the criteria), back
    up, install atomically, verify, roll back on failure. 'stockagents deploy rollback
    [BACKUP]' restores a backup."""
    if ctx.invoked_subcommand is not None:
        return
    if not models:
        ctx.fail("Missing option '--models'.")
    deployer = ModelDeployer(models_dir, config=config, evaluations_dir=evaluations)
    record = deployer.deploy(
        _parse_models(models), min_sharpe=min_sharpe, force=force, evaluate=evaluate,
        symbols=split_symbols(symbols) or _GUIDE_SYMBOLS,
    )  # fmt: skip
    _show(record, as_json)


@deploy_app.command("rollback")
def rollback(
    backup: Annotated[
        str | None,
        typer.Argument(
            help="models/backups/backup_... (default: the production the current one replaced)",
        ),
    ] = None,
    models_dir: ModelsDirOption = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Restore a backup as production (verified; what it replaces is backed up)."""
    _show(ModelDeployer(models_dir, config=config).rollback(backup), as_json)


models_app = typer.Typer(
    help="Production models, backups and deployment records.", no_args_is_help=True
)


@models_app.command("list")
def list_models(
    models_dir: Annotated[
        Path | None, typer.Option("--models-dir", help="Default: models.")
    ] = None,
    config: ConfigOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """Show production, the backups and the deployment records."""
    status = ModelDeployer(models_dir, config=config).status()
    if as_json:
        typer.echo(dumps(status))
        return
    console = Console(soft_wrap=True)
    production = status["production"]
    if production is None:
        console.print(f"production: none in {status['models_dir']} (the expert agents answer)")
    else:
        console.print(f"production: {production['release']} ({production.get('deployment')})")
        for agent, version in (production.get("versions") or {}).items():
            console.print(f"  {agent:<11} {version}")
    console.print(f"backups: {len(status['backups'])}")
    for backup in status["backups"]:
        console.print(f"  {backup['path']} ({backup['deployment'] or 'no deployment'})")
    console.print(f"deploy rollback installs: {status['rollback_to'] or 'nothing (no other set)'}")
    table = Table(title="deployment records")
    table.add_column("id", no_wrap=True, min_width=26)
    table.add_column("outcome", no_wrap=True, min_width=20)
    table.add_column("detail", overflow="ellipsis", no_wrap=True)
    for record in status["records"]:
        outcome = record["outcome"] + (" (forced)" if record.get("forced") else "")
        if record["action"] == "rollback":
            outcome = f"rollback: {outcome}"
        detail = record.get("error") or record.get("release") or record.get("rollback_to") or ""
        table.add_row(record["id"], outcome, str(detail))
    console.print(table)

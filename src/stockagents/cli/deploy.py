"""``stockagents deploy`` (the guide's ``scripts/deploy_models.py``), ``stockagents deploy
rollback [BACKUP]`` and ``stockagents models list``.

argparse for ``deploy``: ``--models`` takes several values, as the guide writes it
(``--models news:DIR technical:DIR fundamental:DIR strategist:DIR``).
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from stockagents.cli.edge import guarded
from stockagents.cli.options import ConfigOption, split_symbols
from stockagents.core.errors import ConfigError
from stockagents.core.jsonio import dumps
from stockagents.deployment import ModelDeployer

__all__ = ["main", "models_app"]

_GUIDE_SYMBOLS = ["AAPL", "MSFT", "GOOGL", "AMZN", "TSLA"]


def _deploy_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="stockagents deploy",
        description="Deploy models to production: validate (an evaluation that meets the "
        "criteria), back up, install atomically, verify, roll back on failure. "
        "'stockagents deploy rollback [BACKUP]' restores a backup.",
    )
    parser.add_argument(
        "--models", nargs="+", required=True, metavar="AGENT:DIR",
        help="news:DIR technical:DIR fundamental:DIR strategist:DIR (a model's final/ "
        "directory, or 'expert'); agents left out keep their production model.",
    )  # fmt: skip
    parser.add_argument("--min-sharpe", type=float, help="Override the config's min_sharpe.")
    parser.add_argument(
        "--evaluations", type=Path, default=Path("evaluation_results"),
        help="Where evaluate_models wrote (searched for an evaluation of this set).",
    )  # fmt: skip
    parser.add_argument(
        "--evaluate", action="store_true",
        help="Evaluate the set on the test segment first when no evaluation of it exists.",
    )  # fmt: skip
    parser.add_argument(
        "--force", action="store_true",
        help="Deploy without a passing evaluation (the record says so).",
    )  # fmt: skip
    parser.add_argument("--symbols", nargs="+", help="Symbols for --evaluate.")
    parser.add_argument("--models-dir", type=Path, help="Default: the config's (models).")
    parser.add_argument("--config", "-c", type=Path, help="A YAML config file.")
    parser.add_argument("--json", action="store_true", help="Print the record as JSON.")
    return parser


def _rollback_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="stockagents deploy rollback",
        description="Restore a backup as production (verified; what it replaces is backed up).",
    )
    parser.add_argument(
        "backup", nargs="?",
        help="models/backups/backup_... (default: the production the current one replaced)",
    )  # fmt: skip
    parser.add_argument("--models-dir", type=Path, help="Default: the config's (models).")
    parser.add_argument("--config", "-c", type=Path, help="A YAML config file.")
    parser.add_argument("--json", action="store_true", help="Print the record as JSON.")
    return parser


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
            f"{'n/a' if sharpe is None else f'{sharpe:.2f}'}, criteria "
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


def main(argv: list[str] | None = None) -> int:
    """Run ``deploy`` or ``deploy rollback``; returns the exit code."""
    args_list = list(argv or [])

    def run() -> None:
        logging.basicConfig(level=logging.WARNING)
        if args_list[:1] == ["rollback"]:
            args = _rollback_parser().parse_args(args_list[1:])
            deployer = ModelDeployer(args.models_dir, config=args.config)
            _show(deployer.rollback(args.backup), args.json)
            return
        args = _deploy_parser().parse_args(args_list)
        deployer = ModelDeployer(
            args.models_dir, config=args.config, evaluations_dir=args.evaluations
        )
        record = deployer.deploy(
            _parse_models(args.models), min_sharpe=args.min_sharpe, force=args.force,
            evaluate=args.evaluate, symbols=split_symbols(args.symbols) or _GUIDE_SYMBOLS,
        )  # fmt: skip
        _show(record, args.json)

    return guarded(run)


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

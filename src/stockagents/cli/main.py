"""Entry point of the ``stockagents`` console script.

The only place (with the server) that configures logging and catches every exception:
a ``StockAgentsError`` becomes ``error: <message>`` and exit code 1, anything else a
one-line ``unexpected error`` and exit code 2 (set ``STOCKAGENTS_DEBUG=1`` for the
traceback). Nothing already written is lost: commands write their outputs atomically.
"""

from __future__ import annotations

import importlib
import logging
import warnings
from typing import Annotated

import typer
from rich.logging import RichHandler

from stockagents.cli import analyze as analyze_cmd
from stockagents.cli import backtest as backtest_cmd
from stockagents.cli import collect as collect_cmd
from stockagents.cli import complete as complete_cmd
from stockagents.cli import data as data_cmd
from stockagents.cli import datagen as datagen_cmd
from stockagents.cli import deploy as deploy_cmd
from stockagents.cli import rl as rl_cmd
from stockagents.cli import serve as serve_cmd
from stockagents.cli import sft_run as sft_run_cmd
from stockagents.cli.edge import guarded

__all__ = ["app", "main"]

app = typer.Typer(
    name="stockagents",
    help="A team of language-model agents for stock analysis.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.command("analyze")(analyze_cmd.analyze)
app.command("backtest")(backtest_cmd.backtest)
app.command("collect")(collect_cmd.collect)
app.command("datagen")(datagen_cmd.datagen)
app.command("run-sft")(sft_run_cmd.run_sft)
app.command("run-rl")(rl_cmd.run_rl)
app.command("run-complete")(complete_cmd.run_complete)
app.command("serve")(serve_cmd.serve)
app.add_typer(data_cmd.app, name="data")
app.add_typer(deploy_cmd.models_app, name="models")


def _argparse_command(name: str, module: str, summary: str, entry: str = "main") -> None:
    """Register ``name`` as a command whose arguments go, untouched, to the argparse
    ``entry`` of ``stockagents.cli.<module>`` (options that take several values)."""

    def command(ctx: typer.Context) -> None:
        code = getattr(importlib.import_module(f"stockagents.cli.{module}"), entry)(list(ctx.args))
        if code:
            raise typer.Exit(code)

    command.__doc__ = summary
    app.command(
        name,
        context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
        add_help_option=False,
    )(command)


_argparse_command(
    "train-sft", "sft",
    "SFT of one agent: --agent NAME --config config/sft/NAME_agent.yaml (--help for more).",
)  # fmt: skip
_argparse_command(
    "deploy", "deploy",
    "Deploy models to production (gated, backed up, verified): --models AGENT:DIR ...; "
    "'deploy rollback [BACKUP]' restores a backup.",
)  # fmt: skip
_argparse_command(
    "export-onnx", "export",
    "Export a model to ONNX, checked against it: --model-path DIR --output-path FILE.onnx.",
)  # fmt: skip
_argparse_command(
    "export-gguf", "export",
    "Export a model to GGUF (f16 or q8_0), checked by loading it back: --model-path DIR "
    "--output-path FILE.gguf.",
    entry="main_gguf",
)  # fmt: skip
_argparse_command(
    "evaluate", "evaluate",
    "Evaluate model sets on the test segment: --models NAME:DIR ... (--help for more).",
)  # fmt: skip


@app.callback()
def _root(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log debug details.")] = False,
) -> None:
    # transformers warns about its own renamed arguments when TRL uses them
    warnings.filterwarnings("ignore", category=FutureWarning, module="transformers")
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        format="%(message)s",
        handlers=[RichHandler(show_time=False, show_path=False, console=None)],
    )


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit code instead of raising (except under debug)."""
    return guarded(lambda: app(args=argv, prog_name="stockagents"))

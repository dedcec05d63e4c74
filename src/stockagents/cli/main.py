"""Entry point of the ``stockagents`` console script: every command, on Typer.

With the server and the training scripts' ``main``, the only place that configures
logging (``cli.output.configure_output``, in the app's callback) and catches every
exception (``cli.edge.guarded``): a ``StockAgentsError`` becomes ``error: <message>`` and
exit code 1, anything else a one-line ``unexpected error`` and exit code 2 (set
``STOCKAGENTS_DEBUG=1`` for the traceback). Nothing already written is lost: commands
write their outputs atomically.
"""

from __future__ import annotations

from typing import Annotated

import typer

from stockagents.cli import analyze as analyze_cmd
from stockagents.cli import backtest as backtest_cmd
from stockagents.cli import collect as collect_cmd
from stockagents.cli import complete as complete_cmd
from stockagents.cli import data as data_cmd
from stockagents.cli import datagen as datagen_cmd
from stockagents.cli import deploy as deploy_cmd
from stockagents.cli import evaluate as evaluate_cmd
from stockagents.cli import export as export_cmd
from stockagents.cli import monitor as monitor_cmd
from stockagents.cli import rl as rl_cmd
from stockagents.cli import serve as serve_cmd
from stockagents.cli import sft as sft_cmd
from stockagents.cli import sft_run as sft_run_cmd
from stockagents.cli.edge import guarded
from stockagents.cli.multivalue import MultiValueCommand
from stockagents.cli.output import configure_output

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
app.command("train-sft")(sft_cmd.train_sft)
app.command("export-onnx")(export_cmd.export_onnx)
app.command("export-gguf")(export_cmd.export_gguf)
app.command("evaluate", cls=MultiValueCommand)(evaluate_cmd.evaluate)
app.add_typer(deploy_cmd.deploy_app, name="deploy")
app.add_typer(data_cmd.app, name="data")
app.add_typer(deploy_cmd.models_app, name="models")
app.add_typer(monitor_cmd.monitor_app, name="monitor")


@app.callback()
def _root(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log debug details.")] = False,
) -> None:
    configure_output(verbose)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit code instead of raising (except under debug)."""
    return guarded(lambda: app(args=argv, prog_name="stockagents"))

"""``stockagents evaluate`` (the guide's ``scripts/evaluate_models.py``): model sets on the
test segment, against the baseline and buy-and-hold.

``--models`` and ``--test-symbols`` take several values each, as the guide writes them
(``--models baseline:models/baseline sft:DIR rl:DIR``): see ``cli.multivalue``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from stockagents.cli.options import ConfigOption, parse_date, split_symbols
from stockagents.cli.output import show_debug_details
from stockagents.evaluation.evaluate import Backend, evaluate_models
from stockagents.evaluation.judge import JUDGES

__all__ = ["evaluate"]

_GUIDE_SYMBOLS = ["AAPL", "MSFT", "GOOGL", "AMZN", "TSLA"]


def _judge(value: str) -> str:
    if value not in JUDGES:
        raise typer.BadParameter(f"{value!r} is not one of {', '.join(JUDGES)}")
    return value


def _backend(value: str) -> Backend:
    if value not in ("serial", "ray"):
        raise typer.BadParameter(f"--backend {value!r}: choose serial or ray")
    return "ray" if value == "ray" else "serial"


def _symbols(given: list[str] | None) -> list[str]:
    """The symbols asked for; ``all`` (lower case: ``ALL`` is a ticker) means every one."""
    if given and [g.strip() for g in given] == ["all"]:
        return ["all"]
    return split_symbols(given) or _GUIDE_SYMBOLS


def evaluate(
    models: Annotated[
        list[str],
        typer.Option(
            "--models",
            metavar="NAME:DIR",
            help="Model sets: name:directory (an SFT or RL run's models/, production), or "
            "'expert' / 'baseline' for the rule-based agents.",
        ),
    ],
    symbols: Annotated[
        list[str] | None,
        typer.Option(
            "--test-symbols",
            "--symbols",
            metavar="SYMBOL",
            help=f"Symbols (default: {' '.join(_GUIDE_SYMBOLS)}), or 'all' (lower case) for "
            "every symbol of the price source; those without data are skipped.",
        ),
    ] = None,
    test_days: Annotated[
        int | None,
        typer.Option(
            "--test-days",
            help="Trading days in the test window: the last ones, or from --test-start "
            "(default: 90, or all from --test-start to --test-end).",
        ),
    ] = None,
    test_start: Annotated[
        str | None,
        typer.Option("--test-start", metavar="YYYY-MM-DD", help="The test window's first day."),
    ] = None,
    test_end: Annotated[
        str | None,
        typer.Option("--test-end", metavar="YYYY-MM-DD", help="The test window's last day."),
    ] = None,
    judge: Annotated[
        str,
        typer.Option(
            "--judge",
            callback=_judge,
            help=f"Who grades the reasoning: {', '.join(JUDGES)}.",
        ),
    ] = "rules",
    judge_model: Annotated[
        str | None, typer.Option("--judge-model", help="The judge's model (API judges).")
    ] = None,
    judge_base_url: Annotated[
        str | None,
        typer.Option(
            "--judge-base-url", help="An OpenAI- or Anthropic-compatible server for the judge."
        ),
    ] = None,
    judge_samples: Annotated[
        int | None,
        typer.Option(
            "--judge-samples",
            min=1,
            help="Answers graded per agent and set (default: all for rules, 20 for API judges).",
        ),
    ] = None,
    output_root: Annotated[
        Path,
        typer.Option(
            "--output-root",
            help="Where eval_YYYYMMDD_HHMMSS/ goes (and the answer cache, .cache/).",
        ),
    ] = Path("evaluation_results"),
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Ask the models again.")] = False,
    backend: Annotated[
        str,
        typer.Option(
            "--backend",
            help="serial (default), or ray: the analysts answer on the Ray cluster "
            "RAY_ADDRESS names (else a local one of --workers CPUs); same results.",
        ),
    ] = "serial",
    workers: Annotated[
        int | None,
        typer.Option("--workers", min=1, help="CPUs of the local Ray cluster (--backend ray)."),
    ] = None,
    config: ConfigOption = None,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress bar.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log debug details.")] = False,
) -> None:
    """Evaluate model sets on the test segment (the last --test-days trading days, or
    --test-start to --test-end) against the baseline (the expert agents) and buy-and-hold,
    with costs; paired comparisons first."""
    if verbose:
        show_debug_details()
    out = evaluate_models(
        models, symbols=_symbols(symbols), test_days=test_days,
        test_start=parse_date(test_start, "--test-start"),
        test_end=parse_date(test_end, "--test-end"), config=config, output_root=output_root,
        judge=judge, judge_model=judge_model, judge_base_url=judge_base_url,
        judge_samples=judge_samples, cache=not no_cache, progress=not quiet,
        backend=_backend(backend), workers=workers,
    )  # fmt: skip
    console = Console(soft_wrap=True)
    report = (out / "evaluation_report.md").read_text(encoding="utf-8")
    console.print(escape(report.split("\n## Per symbol")[0]))
    console.print(f"report: {out / 'evaluation_report.md'}")
    console.print(f"plots:  {out / 'comparison_plots.png'}")
    console.print(f"json:   {out / 'evaluation_results.json'}")

"""``stockagents evaluate`` (the guide's ``scripts/evaluate_models.py``): model sets on the
test segment, against the baseline and buy-and-hold.

argparse rather than typer: ``--models`` and ``--test-symbols`` take several values each,
as the guide writes them (``--models baseline:models/baseline sft:DIR rl:DIR``).
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from stockagents.cli.edge import guarded
from stockagents.cli.options import split_symbols
from stockagents.evaluation.evaluate import evaluate_models
from stockagents.evaluation.judge import JUDGES

__all__ = ["main"]

_GUIDE_SYMBOLS = ["AAPL", "MSFT", "GOOGL", "AMZN", "TSLA"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="stockagents evaluate",
        description="Evaluate model sets on the test segment (the last --test-days trading "
        "days) against the baseline (the expert agents) and buy-and-hold, with costs.",
    )
    parser.add_argument(
        "--models", nargs="+", required=True, metavar="NAME:DIR",
        help="Model sets: name:directory (an SFT or RL run's models/, production), or "
        "'expert' / 'baseline' for the rule-based agents.",
    )  # fmt: skip
    parser.add_argument(
        "--test-symbols", "--symbols", nargs="+", dest="symbols", metavar="SYMBOL",
        help=f"Symbols (default: {' '.join(_GUIDE_SYMBOLS)}); those without data are skipped.",
    )  # fmt: skip
    parser.add_argument(
        "--test-days", type=int, default=90, help="Trading days in the test window."
    )
    parser.add_argument(
        "--judge", choices=JUDGES, default="rules", help="Who grades the reasoning."
    )
    parser.add_argument("--judge-model", help="The judge's model (API judges).")
    parser.add_argument(
        "--judge-base-url", help="An OpenAI- or Anthropic-compatible server for the judge."
    )
    parser.add_argument(
        "--judge-samples", type=int,
        help="Answers graded per agent and set (default: all for rules, 20 for API judges).",
    )  # fmt: skip
    parser.add_argument(
        "--output-root", type=Path, default=Path("evaluation_results"),
        help="Where eval_YYYYMMDD_HHMMSS/ goes (and the answer cache, .cache/).",
    )  # fmt: skip
    parser.add_argument("--no-cache", action="store_true", help="Ask the models again.")
    parser.add_argument("--config", "-c", type=Path, help="A YAML config file.")
    parser.add_argument("--quiet", action="store_true", help="No progress bar.")
    parser.add_argument("--verbose", "-v", action="store_true", help="Log debug details.")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command; returns the exit code."""

    def run() -> None:
        args = _parser().parse_args(argv)
        logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING)
        if args.judge_samples is not None and args.judge_samples < 1:
            raise SystemExit(_parser().error("--judge-samples must be at least 1"))
        out = evaluate_models(
            args.models, symbols=split_symbols(args.symbols) or _GUIDE_SYMBOLS,
            test_days=args.test_days, config=args.config, output_root=args.output_root,
            judge=args.judge, judge_model=args.judge_model, judge_base_url=args.judge_base_url,
            judge_samples=args.judge_samples, cache=not args.no_cache, progress=not args.quiet,
        )  # fmt: skip
        console = Console(soft_wrap=True)
        report = (out / "evaluation_report.md").read_text(encoding="utf-8")
        console.print(escape(report.split("\n## Per symbol")[0]))
        console.print(f"report: {out / 'evaluation_report.md'}")
        console.print(f"plots:  {out / 'comparison_plots.png'}")
        console.print(f"json:   {out / 'evaluation_results.json'}")

    return guarded(run)

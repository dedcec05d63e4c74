"""Command lines of RL: ``stockagents run-rl`` (the guide's ``scripts/run_rl_training.py``)
and ``training/rl/train_strategist_{grpo,ppo}.py --config FILE --iterations N``."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from stockagents.cli.edge import guarded
from stockagents.cli.options import (
    ConfigOption,
    OutputRootOption,
    ProfileOption,
    ResumeRunOption,
    SymbolsArgument,
    SymbolsOption,
    split_symbols,
)
from stockagents.core.config import load_config
from stockagents.pipelines.rl import run_rl_training, train_strategist
from stockagents.training.rl.config import load_rl_config

__all__ = ["main", "run_rl"]

_GUIDE_SYMBOLS = ["AAPL", "MSFT", "GOOGL", "AMZN", "TSLA"]


def run_rl(
    symbols_args: SymbolsArgument = None,
    symbols: SymbolsOption = None,
    num_trajectories: Annotated[
        int, typer.Option("--num-trajectories", help="Train-segment steps to collect.")
    ] = 500,
    num_iterations: Annotated[
        int, typer.Option("--num-iterations", help="RL iterations (optimizer updates).")
    ] = 100,
    algorithm: Annotated[str, typer.Option("--algorithm", help="grpo or ppo.")] = "grpo",
    sft_checkpoint: Annotated[
        Path | None,
        typer.Option(
            "--sft-checkpoint", help="The strategist's SFT adapter (default: newest run)."
        ),
    ] = None,
    analysts: Annotated[
        Path | None,
        typer.Option("--analysts", help="A model set whose analysts collect (default: experts)."),
    ] = None,
    profile: ProfileOption = "cpu",
    output_root: OutputRootOption = Path("training_runs"),
    resume: ResumeRunOption = None,
    no_backtest: Annotated[
        bool, typer.Option("--no-backtest", help="Skip the validation-segment backtest.")
    ] = False,
    config: ConfigOption = None,
) -> None:
    """Collect trajectories, train the strategist with GRPO or PPO, and validate it."""
    run = run_rl_training(
        algorithm=algorithm, num_trajectories=num_trajectories, num_iterations=num_iterations,
        symbols=split_symbols(symbols, symbols_args) or _GUIDE_SYMBOLS,
        sft_checkpoint=sft_checkpoint, analysts=analysts, profile=profile,
        config=load_config(config), output_root=output_root, resume=resume,
        backtest=not no_backtest,
    )  # fmt: skip
    console = Console()
    console.print((run / "report.md").read_text(encoding="utf-8"))
    console.print(f"run: {run}  (model set: {run / 'models'})")


def _parser(algorithm: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=f"Train the strategist with {algorithm.upper()} on realised, "
        "cost-aware rewards."
    )
    parser.add_argument(
        "--config", "-c", type=Path, required=True, help=f"config/rl/{algorithm}_config.yaml"
    )
    group = parser.add_argument_group("overrides of the config")
    group.add_argument("--iterations", type=int, help="training.num_iterations")
    group.add_argument("--output-dir", type=Path, help="training.output_dir")
    group.add_argument("--sft-checkpoint", type=Path, help="model.sft_checkpoint")
    group.add_argument("--experience-library", type=Path, help="data.experience_library")
    group.add_argument("--resume", metavar="auto|PATH|none", help="training.resume_from_checkpoint")
    parser.add_argument("--verbose", "-v", action="store_true", help="log debug details")
    return parser


def _train(argv: list[str] | None, algorithm: str) -> None:
    args = _parser(algorithm).parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    resume = args.resume
    if resume is not None and resume.lower() in ("none", "null", "no"):
        resume = None
    overrides = {
        "training.num_iterations": args.iterations,
        "training.output_dir": str(args.output_dir) if args.output_dir else None,
        "model.sft_checkpoint": str(args.sft_checkpoint) if args.sft_checkpoint else None,
        "data.experience_library": (
            str(args.experience_library) if args.experience_library else None
        ),
    }
    config = load_rl_config(args.config, algorithm=algorithm, overrides=overrides)
    if args.resume is not None:
        training = config.training.model_copy(update={"resume_from_checkpoint": resume})
        config = config.model_copy(update={"training": training})
    summary = train_strategist(config)
    log = logging.getLogger(__name__)
    for key in ("expert", "before", "after"):
        if key in summary:
            log.info("validation reward (%s): %+.4f", key, summary[key]["reward"])
    log.info(
        "done: %d iterations, %.1f s each; load it with model_path %s",
        summary["iterations"], summary["seconds_per_iteration"], summary["final"],
    )  # fmt: skip


def main(argv: list[str] | None = None, algorithm: str = "grpo") -> int:
    """Run the RL trainer for ``algorithm``; returns the exit code."""
    return guarded(
        lambda: _train(argv, algorithm),
        interrupted="interrupted; rerun the same command to resume from the last checkpoint",
    )

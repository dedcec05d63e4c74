"""Command lines of RL: ``stockagents run-rl`` (the guide's ``scripts/run_rl_training.py``)
and ``training/rl/train_strategist_{grpo,ppo}.py --config FILE --iterations N``
(``main(argv, algorithm=...)`` runs ``train_rl``)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from stockagents.cli.edge import script_main
from stockagents.cli.options import (
    OVERRIDES,
    ConfigOption,
    OutputDirOverride,
    OutputRootOption,
    ProfileOption,
    ResumeOverride,
    ResumeRunOption,
    SymbolsArgument,
    SymbolsOption,
    VerboseOption,
    split_symbols,
    with_resume,
)
from stockagents.cli.output import show_debug_details
from stockagents.core.config import load_config
from stockagents.pipelines.rl import capped_to_profile, run_rl_training, train_strategist
from stockagents.training.rl.config import load_rl_config

__all__ = ["main", "run_rl", "train_rl"]

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


def train_rl(
    ctx: typer.Context,
    config: Annotated[
        Path,
        typer.Option("--config", "-c", help="YAML config (config/rl/<algorithm>_config.yaml)."),
    ],
    iterations: Annotated[
        int | None,
        typer.Option("--iterations", help="training.num_iterations", rich_help_panel=OVERRIDES),
    ] = None,
    output_dir: OutputDirOverride = None,
    sft_checkpoint: Annotated[
        Path | None,
        typer.Option("--sft-checkpoint", help="model.sft_checkpoint", rich_help_panel=OVERRIDES),
    ] = None,
    experience_library: Annotated[
        str | None,
        typer.Option(
            "--experience-library",
            help="data.experience_library: a file or a database URL",
            rich_help_panel=OVERRIDES,
        ),
    ] = None,
    resume: ResumeOverride = None,
    profile: ProfileOption = "cpu",
    verbose: VerboseOption = False,
) -> None:
    """Train the strategist on realised, cost-aware rewards (``--profile tiny`` cuts the
    iterations and trajectories to its ceilings; the others leave the config as it is)."""
    if verbose:
        show_debug_details()
    algorithm: str = ctx.obj
    overrides = {
        "training.num_iterations": iterations,
        "training.output_dir": str(output_dir) if output_dir else None,
        "model.sft_checkpoint": str(sft_checkpoint) if sft_checkpoint else None,
        "data.experience_library": experience_library,
    }
    rl_config = with_resume(load_rl_config(config, algorithm, overrides=overrides), resume)
    summary = train_strategist(capped_to_profile(rl_config, profile))
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
    return script_main(
        train_rl,
        argv,
        obj=algorithm,
        help=f"Train the strategist with {algorithm.upper()} on realised, cost-aware rewards.",
        interrupted="interrupted; rerun the same command to resume from the last checkpoint",
    )

"""Command line of SFT training: ``training/sft/train_<agent>_agent.py --config FILE`` and
``stockagents train-sft --agent NAME --config FILE``.

``main(argv, agent=...)`` (the training scripts) runs ``train_sft`` without ``--agent``;
the command loads and validates the config once (flags override its keys) and runs
``train_agent``. Like the ``stockagents`` console script, a ``StockAgentsError`` becomes
one ``error:`` line and exit code 1, any other exception one line and exit code 2
(``STOCKAGENTS_DEBUG=1`` shows the traceback).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer

from stockagents.cli.edge import script_main
from stockagents.cli.options import (
    OVERRIDES,
    OutputDirOverride,
    ResumeOverride,
    VerboseOption,
    with_resume,
)
from stockagents.cli.output import show_debug_details
from stockagents.core.formatting import format_or_na
from stockagents.training.sft.config import Agent, load_sft_config
from stockagents.training.sft.trainer import train_agent

__all__ = ["main", "train_sft"]


def train_sft(
    ctx: typer.Context,
    config: Annotated[
        Path, typer.Option("--config", "-c", help="YAML config (config/sft/<agent>.yaml).")
    ],
    agent: Annotated[Agent | None, typer.Option("--agent", help="The agent to train.")] = None,
    max_steps: Annotated[
        int | None,
        typer.Option("--max-steps", help="training.max_steps", rich_help_panel=OVERRIDES),
    ] = None,
    output_dir: OutputDirOverride = None,
    dataset_path: Annotated[
        Path | None,
        typer.Option("--dataset-path", help="data.dataset_path", rich_help_panel=OVERRIDES),
    ] = None,
    base_model: Annotated[
        str | None,
        typer.Option(
            "--base-model",
            help="model.base_model (a preset, directory or hub id)",
            rich_help_panel=OVERRIDES,
        ),
    ] = None,
    resume: ResumeOverride = None,
    verbose: VerboseOption = False,
) -> None:
    """Train an agent's LoRA adapter by supervised fine-tuning (TRL SFTTrainer)."""
    if verbose:
        show_debug_details()
    overrides = {
        "training.max_steps": max_steps,
        "training.output_dir": str(output_dir) if output_dir else None,
        "data.dataset_path": str(dataset_path) if dataset_path else None,
        "model.base_model": base_model,
    }
    sft_config = load_sft_config(config, agent=agent or ctx.obj, overrides=overrides)
    result = train_agent(with_resume(sft_config, resume))
    logging.getLogger(__name__).info(
        "done: %d steps, eval_loss %s, perplexity %s, %.0f tokens/s; load it with model_path %s",
        result.global_step,
        format_or_na(result.eval_loss, ".4f"),
        format_or_na(result.perplexity, ".2f"),
        result.tokens_per_second,
        result.final_dir,
    )


def main(argv: list[str] | None = None, agent: str | None = None) -> int:
    """Run SFT for ``agent`` (its script has no ``--agent``) or ``--agent``; returns the
    exit code."""
    return script_main(
        train_sft,
        argv,
        obj=agent,
        help=f"Train {f'the {agent} agent' if agent else 'an agent'}'s LoRA adapter by "
        "supervised fine-tuning (TRL SFTTrainer).",
        interrupted="interrupted; rerun with --resume auto to continue",
        hide=("agent",) if agent is not None else (),
    )

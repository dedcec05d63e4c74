"""Command line of SFT training: ``training/sft/train_<agent>_agent.py --config FILE``.

``main(argv, agent=...)`` parses the flags, loads and validates the config once (flags
override its keys), configures logging and runs ``train_agent``. Like the ``stockagents``
console script, a ``StockAgentsError`` becomes one ``error:`` line and exit code 1, any
other exception one line and exit code 2 (``STOCKAGENTS_DEBUG=1`` shows the traceback).
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from stockagents.cli.edge import guarded
from stockagents.training.sft.config import AGENTS, load_sft_config
from stockagents.training.sft.trainer import train_agent

__all__ = ["build_parser", "main"]


def build_parser(agent: str | None = None) -> argparse.ArgumentParser:
    what = f"the {agent} agent" if agent else "an agent"
    parser = argparse.ArgumentParser(
        description=f"Train {what}'s LoRA adapter by supervised fine-tuning (TRL SFTTrainer)."
    )
    parser.add_argument(
        "--config", "-c", type=Path, required=True, help="YAML config (config/sft/<agent>.yaml)"
    )
    if agent is None:
        parser.add_argument("--agent", choices=AGENTS, help="the agent to train")
    group = parser.add_argument_group("overrides of the config")
    group.add_argument("--max-steps", type=int, help="training.max_steps")
    group.add_argument("--output-dir", type=Path, help="training.output_dir")
    group.add_argument("--dataset-path", type=Path, help="data.dataset_path")
    group.add_argument("--base-model", help="model.base_model (a preset, directory or hub id)")
    group.add_argument(
        "--resume",
        metavar="auto|PATH|none",
        help="training.resume_from_checkpoint: auto, a checkpoint directory, or none",
    )
    parser.add_argument("--verbose", "-v", action="store_true", help="log debug details")
    return parser


def _run(argv: list[str] | None, agent: str | None) -> None:
    args = build_parser(agent).parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    resume: str | None = args.resume
    overrides = {
        "training.max_steps": args.max_steps,
        "training.output_dir": str(args.output_dir) if args.output_dir else None,
        "data.dataset_path": str(args.dataset_path) if args.dataset_path else None,
        "model.base_model": args.base_model,
    }
    config = load_sft_config(args.config, agent=agent or args.agent, overrides=overrides)
    if resume is not None:
        value = None if resume.lower() in ("none", "null", "no") else resume
        training = config.training.model_copy(update={"resume_from_checkpoint": value})
        config = config.model_copy(update={"training": training})
    result = train_agent(config)
    logging.getLogger(__name__).info(
        "done: %d steps, eval_loss %s, perplexity %s, %.0f tokens/s; load it with model_path %s",
        result.global_step,
        "n/a" if result.eval_loss is None else f"{result.eval_loss:.4f}",
        "n/a" if result.perplexity is None else f"{result.perplexity:.2f}",
        result.tokens_per_second,
        result.final_dir,
    )


def main(argv: list[str] | None = None, agent: str | None = None) -> int:
    """Run SFT for ``agent`` (or ``--agent``); returns the exit code."""
    return guarded(
        lambda: _run(argv, agent), interrupted="interrupted; rerun with --resume auto to continue"
    )

"""``stockagents run-sft``: data, SFT and held-out evaluation of every agent."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from stockagents.cli.options import (
    ConfigOption,
    NoFallbackOption,
    OutputRootOption,
    ProfileOption,
    ResumeRunOption,
    TeacherBaseUrlOption,
    TeacherModelOption,
    TeacherOption,
)
from stockagents.core.config import load_config
from stockagents.pipelines.sft import AGENTS, run_sft_training
from stockagents.training.synthetic.teachers import make_teacher

__all__ = ["run_sft"]


def run_sft(
    num_examples: Annotated[
        int | None, typer.Option("--num-examples", "-n", help="Examples per agent.")
    ] = None,
    max_steps: Annotated[
        int | None, typer.Option("--max-steps", help="Optimizer steps per agent.")
    ] = None,
    provider: TeacherOption = "expert",
    model: TeacherModelOption = None,
    base_url: TeacherBaseUrlOption = None,
    profile: ProfileOption = "cpu",
    agents: Annotated[
        str, typer.Option("--agents", help="Comma-separated agents to train.")
    ] = ",".join(AGENTS),
    output_root: OutputRootOption = Path("training_runs"),
    resume: ResumeRunOption = None,
    seed: Annotated[int, typer.Option("--seed", help="Random seed.")] = 0,
    no_base: Annotated[
        bool, typer.Option("--no-base", help="Skip evaluating the untrained base model.")
    ] = False,
    no_fallback: NoFallbackOption = False,
    config: ConfigOption = None,
) -> None:
    """Generate data, train every agent with LoRA and evaluate it on held-out prompts."""
    app_config = load_config(config)
    teacher = make_teacher(provider, model, base_url, fallback=not no_fallback)
    try:
        run = run_sft_training(
            teacher, profile=profile, num_examples=num_examples, max_steps=max_steps,
            agents=[a.strip() for a in agents.split(",") if a.strip()],
            output_root=output_root, resume=resume, config=app_config, seed=seed,
            compare_base=not no_base,
        )  # fmt: skip
    finally:
        teacher.close()
    console = Console()
    console.print((run / "report.md").read_text(encoding="utf-8"))
    console.print(f"run: {run}  (model set: {run / 'models'})")

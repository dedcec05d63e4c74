"""``stockagents datagen``: synthetic training data for one agent from a teacher."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from stockagents.cli.options import ConfigOption, NoFallbackOption
from stockagents.core.config import load_config
from stockagents.training.synthetic.generate import generate_dataset, sibling
from stockagents.training.synthetic.teachers import make_teacher

__all__ = ["datagen"]


def datagen(
    agent_type: Annotated[
        str,
        typer.Option("--agent-type", "--agent", help="news, technical, fundamental or strategist."),
    ],
    num_examples: Annotated[int, typer.Option("--num-examples", "-n", help="Examples.")] = 100,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="JSONL to write (data/training/<agent>_train.jsonl)."),
    ] = None,
    provider: Annotated[
        str,
        typer.Option(
            "--provider", help="Teacher: expert (offline), openai, anthropic, or openai,anthropic."
        ),
    ] = "expert",
    model: Annotated[
        str | None, typer.Option("--model", help="The API teacher's model (e.g. gpt-4o).")
    ] = None,
    base_url: Annotated[
        str | None,
        typer.Option("--base-url", help="An OpenAI- or Anthropic-compatible server's URL."),
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Random seed of the draws.")] = 0,
    heldout: Annotated[
        int | None,
        typer.Option("--heldout", help="Held-out prompts (default max(20, n/5))."),
    ] = None,
    teacher_headlines: Annotated[
        float | None,
        typer.Option(
            "--teacher-headlines",
            help="News: share of days whose headlines the API teacher writes "
            "(default 0.5 with openai/anthropic, 0 with expert).",
        ),
    ] = None,
    no_fallback: NoFallbackOption = False,
    config: ConfigOption = None,
) -> None:
    """Draw inputs, ask the teacher, validate and write JSONL, a report and a manifest."""
    app_config = load_config(config)
    path = output or Path("data/training") / f"{agent_type}_train.jsonl"
    teacher = make_teacher(provider, model, base_url, fallback=not no_fallback)
    try:
        result = generate_dataset(
            agent_type, num_examples, path, teacher, config=app_config, seed=seed,
            heldout_examples=heldout, headline_share=teacher_headlines,
        )  # fmt: skip
    finally:
        teacher.close()
    console = Console()
    labels = ", ".join(f"{k} {v}" for k, v in sorted(result.labels.items()))
    console.print(
        f"{result.examples} {agent_type} examples ({labels}) -> {result.train_path}; "
        f"{result.heldout} held-out -> {result.heldout_path}"
    )
    if result.rejected:
        console.print("rejected: " + ", ".join(f"{k} {v}" for k, v in result.rejected.items()))
    console.print(f"report: {sibling(path, '.report.md')}")

"""``stockagents run-complete`` (the guide's ``scripts/run_complete_training.py``): data,
SFT, trajectories, RL, evaluation and deployment in one resumable run."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from stockagents.cli.options import (
    ConfigOption,
    NoFallbackOption,
    OutputRootOption,
    ProfileOption,
    ResumeRunOption,
    SymbolsArgument,
    SymbolsOption,
    TeacherBaseUrlOption,
    TeacherModelOption,
    TeacherOption,
    split_symbols,
)
from stockagents.core.config import load_config
from stockagents.core.errors import ConfigError
from stockagents.core.formatting import format_or_na
from stockagents.pipelines.complete import (
    GUIDE_SYMBOLS,
    STAGES,
    CompleteOptions,
    StageRecord,
    run_complete_training,
)
from stockagents.pipelines.complete_report import summarize

__all__ = ["run_complete"]


def run_complete(
    ctx: typer.Context,
    symbols_args: SymbolsArgument = None,
    sft_examples: Annotated[
        int | None, typer.Option("--sft-examples", help="Synthetic examples per agent.")
    ] = None,
    sft_steps: Annotated[
        int | None, typer.Option("--sft-steps", help="SFT optimizer steps per agent.")
    ] = None,
    rl_trajectories: Annotated[
        int | None, typer.Option("--rl-trajectories", help="Train-segment steps to collect.")
    ] = None,
    rl_iterations: Annotated[
        int | None, typer.Option("--rl-iterations", help="RL iterations of the strategist.")
    ] = None,
    algorithm: Annotated[str, typer.Option("--algorithm", help="grpo or ppo.")] = "grpo",
    symbols: SymbolsOption = None,
    test_days: Annotated[
        int | None, typer.Option("--test-days", help="Trading days of the test window.")
    ] = None,
    provider: TeacherOption = "expert",
    model: TeacherModelOption = None,
    base_url: TeacherBaseUrlOption = None,
    no_fallback: NoFallbackOption = False,
    profile: ProfileOption = "cpu",
    min_sharpe: Annotated[
        float | None, typer.Option("--min-sharpe", help="The deployment gate's Sharpe.")
    ] = None,
    no_deploy: Annotated[
        bool, typer.Option("--no-deploy", help="Evaluate, but do not deploy.")
    ] = False,
    models_dir: Annotated[
        Path | None, typer.Option("--models-dir", help="Where production lives (models).")
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Random seed.")] = 0,
    output_root: OutputRootOption = Path("training_runs"),
    resume: ResumeRunOption = None,
    config: ConfigOption = None,
) -> None:
    """Generate data, train every agent, collect trajectories, train the strategist with
    RL, evaluate baseline vs SFT vs RL, and deploy the best set that passes the gate."""
    options = None
    if resume is not None:
        _refuse_new_options(ctx)
    else:
        options = CompleteOptions(
            profile=profile, sft_examples=sft_examples, sft_steps=sft_steps,
            rl_trajectories=rl_trajectories, rl_iterations=rl_iterations, algorithm=algorithm,
            symbols=tuple(split_symbols(symbols, symbols_args) or GUIDE_SYMBOLS),
            test_days=test_days,
            provider=provider, model=model, base_url=base_url, fallback=not no_fallback,
            seed=seed, deploy=not no_deploy, min_sharpe=min_sharpe,
            models_dir=str(models_dir) if models_dir else None,
        )  # fmt: skip
    console = Console()
    progress = _Progress(console)
    try:
        run = run_complete_training(
            options, resume=resume, config=load_config(config) if config else None,
            output_root=output_root, on_stage=progress.on_stage, on_run=progress.on_run,
        )  # fmt: skip
    except BaseException:
        if progress.started:
            console.print(
                f"the run stopped; continue it with: python scripts/run_complete_training.py "
                f"--resume {progress.started[0]}"
            )
        raise
    _print_summary(console, run)


def _refuse_new_options(ctx: typer.Context) -> None:
    """``--resume`` keeps the options a run started with: refuse any other one given."""
    given = [
        f"--{name.replace('_', '-')}"
        for name in ctx.params
        if name not in ("resume", "config", "symbols_args")
        and getattr(ctx.get_parameter_source(name), "name", "DEFAULT") != "DEFAULT"
    ]
    if given:
        raise ConfigError(
            f"--resume continues a run with the options it was started with; drop "
            f"{', '.join(given)} (or start a new run)"
        )


@dataclass
class _Progress:
    """Prints each stage as it starts and ends, and keeps the run directory once known."""

    console: Console
    started: list[Path] = field(default_factory=list)

    def on_stage(self, name: str, index: int, record: StageRecord) -> None:
        """A stage started, finished or failed."""
        head = f"[bold]stage {index}/{len(STAGES)}: {name}[/bold]"
        if record.status == "running":
            self.console.rule(head)
        elif record.status == "done":
            self.console.print(f"{head} done in {record.seconds / 60:.1f} min")
        elif record.status == "failed":
            self.console.print(f"{head} [red]failed[/red] after {record.seconds / 60:.1f} min")

    def on_run(self, path: Path) -> None:
        """The run directory is chosen."""
        self.started.append(path)
        self.console.print(f"run: {path}")


def _print_summary(console: Console, run: Path) -> None:
    summary = summarize(run)
    stages = Table(title=f"complete run {run.name}")
    for column in ("stage", "status", "minutes"):
        stages.add_column(column, justify="right" if column == "minutes" else "left")
    for name, s in summary["stages"].items():
        stages.add_row(name, s["status"] or "pending", f"{(s['seconds'] or 0) / 60:.1f}")
    stages.add_row("all", "", f"{summary['seconds'] / 60:.1f}")
    console.print(stages)
    if summary["sets"]:
        window = summary["evaluation"]["window"]
        table = Table(title=f"test {window['start']} to {window['end']}, costs charged")
        columns = ("set", "Sharpe", "return", "max DD", "win rate", "PF", "trades", "criteria")
        for column in columns:
            table.add_column(column, justify="left" if column in ("set", "criteria") else "right")
        for name, m in summary["sets"].items():
            table.add_row(
                name,
                format_or_na(m["sharpe"], ".2f"),
                format_or_na(m["total_return"], "+.2%"),
                format_or_na(m["max_drawdown"], ".1%"),
                format_or_na(m.get("win_rate"), ".0%"),
                format_or_na(m.get("profit_factor"), ".2f"),
                format_or_na(m.get("trades"), ".0f"),
                {True: "[green]PASS[/green]", False: "[red]FAIL[/red]", None: ""}[m["passed"]],
            )
        console.print(table)
    deployment = summary["deployment"]
    if deployment.get("deployed"):
        console.print(
            f"deployed [bold]{deployment['deployed']}[/bold] to {deployment['production']}"
        )
    elif deployment:
        console.print(f"not deployed: {deployment.get('reason')}")
        for name, verdict in (deployment.get("verdicts") or {}).items():
            if verdict["failed"]:
                console.print(f"  {name} fails {'; '.join(verdict['failed'])}")
    console.print(f"run: {run}  (summary: {run / 'summary.md'})")

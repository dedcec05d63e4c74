"""Options and helpers shared by several commands."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from pydantic import BaseModel

from stockagents.core.errors import AgentError, ConfigError, DateOutOfRangeError
from stockagents.core.symbols import validate_symbol

__all__ = [
    "OVERRIDES",
    "ConfigOption",
    "EndOption",
    "ModelsOption",
    "NoFallbackOption",
    "OutputDirOverride",
    "OutputRootOption",
    "ProfileOption",
    "ResumeOverride",
    "ResumeRunOption",
    "StartOption",
    "SymbolArgument",
    "SymbolsArgument",
    "SymbolsOption",
    "TeacherBaseUrlOption",
    "TeacherModelOption",
    "TeacherOption",
    "VerboseOption",
    "model_set",
    "parse_date",
    "split_symbols",
    "timestamped",
    "with_resume",
]

ConfigT = TypeVar("ConfigT", bound=BaseModel)

ConfigOption = Annotated[Path | None, typer.Option("--config", "-c", help="A YAML config file.")]
SymbolArgument = Annotated[
    str,
    typer.Argument(
        help="Ticker, e.g. AAPL (letters, digits, . - ^ =).",
        callback=lambda value: validate_symbol(value),
    ),
]
SymbolsArgument = Annotated[
    list[str] | None,
    typer.Argument(help="Symbols (also accepted after --symbols).", metavar="SYMBOLS"),
]
SymbolsOption = Annotated[
    list[str] | None, typer.Option("--symbols", "-s", help="Symbols, space or comma separated.")
]
OutputRootOption = Annotated[Path, typer.Option("--output-root", help="Where run directories go.")]
ProfileOption = Annotated[
    str,
    typer.Option(
        "--profile",
        envvar="STOCKAGENTS_PROFILE",
        help="Run size: tiny (a smoke run; its sizes are ceilings), cpu or gpu.",
    ),
]
ResumeRunOption = Annotated[
    Path | None, typer.Option("--resume", help="Continue this run directory.")
]
TeacherOption = Annotated[
    str, typer.Option("--provider", help="Teacher: expert, openai, anthropic or a list.")
]
TeacherModelOption = Annotated[str | None, typer.Option("--model", help="The API teacher's model.")]
TeacherBaseUrlOption = Annotated[
    str | None, typer.Option("--base-url", help="A compatible server's URL.")
]
NoFallbackOption = Annotated[
    bool,
    typer.Option(
        "--no-fallback",
        help="Stop when an API teacher's key is missing, instead of using the expert teacher.",
    ),
]
StartOption = Annotated[
    str | None, typer.Option("--start", "--start-date", help="First date (YYYY-MM-DD).")
]
EndOption = Annotated[
    str | None, typer.Option("--end", "--end-date", help="Last date (YYYY-MM-DD).")
]
ModelsOption = Annotated[
    str | None,
    typer.Option(
        "--models",
        help="The model set: a directory, or 'expert' for the rule-based agents "
        "(default: the deployed production set, else expert).",
    ),
]


#: The help panel of a YAML script's flags that override its config.
OVERRIDES = "Overrides of the config"
OutputDirOverride = Annotated[
    Path | None,
    typer.Option("--output-dir", help="training.output_dir", rich_help_panel=OVERRIDES),
]
ResumeOverride = Annotated[
    str | None,
    typer.Option(
        "--resume",
        metavar="auto|PATH|none",
        rich_help_panel=OVERRIDES,
        help="training.resume_from_checkpoint: auto, a checkpoint directory, or none",
    ),
]
VerboseOption = Annotated[bool, typer.Option("--verbose", "-v", help="Log debug details.")]


def with_resume(config: ConfigT, resume: str | None) -> ConfigT:
    """``config`` (an SFT or RL recipe) with ``--resume`` applied: ``none`` starts over,
    ``auto`` or a checkpoint directory continues; no flag keeps the config's choice."""
    if resume is None:
        return config
    value = None if resume.lower() in ("none", "null", "no") else resume
    training: Any = getattr(config, "training")  # noqa: B009  (SFT and RL recipes)
    training = training.model_copy(update={"resume_from_checkpoint": value})
    return config.model_copy(update={"training": training})


def split_symbols(*groups: list[str] | None) -> list[str]:
    """Symbols from repeated or comma-separated options and positional arguments, in order."""
    seen: dict[str, None] = {}
    for group in groups:
        for item in group or []:
            for part in item.split(","):
                if part.strip().startswith("-"):  # a bare --symbols swallowed the next option
                    raise ConfigError(f"--symbols: {part.strip()!r} is an option, not a symbol")
                if part.strip():
                    seen[validate_symbol(part, "--symbols: symbol")] = None
    return list(seen)


def parse_date(value: str | None, name: str) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise DateOutOfRangeError(f"{name}: invalid date {value!r}; use YYYY-MM-DD") from None


def model_set(models: str | None) -> str | None:
    """The coordinator's ``models``: None (production when deployed, else the rules),
    ``expert`` (the rules), or a model-set directory, which must exist."""
    if models is None or models == "expert":
        return models
    if not Path(models).is_dir():
        what = (
            "is a file, not a model-set directory" if Path(models).exists() else "no such model set"
        )
        raise AgentError(
            f"--models {models}: {what}; pass a directory with news, technical, "
            "fundamental and strategist entries, or expert"
        )
    return models


def timestamped(root: str, prefix: str) -> Path:
    return Path(root) / f"{prefix}_{dt.datetime.now():%Y%m%d_%H%M%S}"

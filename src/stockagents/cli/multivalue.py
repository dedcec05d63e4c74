"""Options that take several values after one flag, as the user's guide writes them:
``--models baseline:DIR sft:DIR rl:DIR --test-symbols AAPL MSFT``.

Click gives a list option one value per flag (``--models A --models B``). A command
built with ``cls=MultiValueCommand`` (or a group with ``cls=MultiValueGroup``) also reads
the values that follow such a flag, up to the next option or ``--``; both spellings
work. A flag with no value after it is a usage error (exit code 2).
"""

from __future__ import annotations

from collections.abc import Iterable

import typer
from typer.core import TyperCommand, TyperGroup

__all__ = ["MultiValueCommand", "MultiValueGroup"]


def spread_values(args: Iterable[str], flags: set[str], ctx: typer.Context) -> list[str]:
    """``args`` with each run of values after a flag of ``flags`` given one flag each."""
    out: list[str] = []
    flag: str | None = None  # the multi-value flag being read, until its values end
    given = 0
    rest = iter(args)

    def close() -> None:
        if flag is not None and not given:
            ctx.fail(f"Option '{flag}' requires at least one value.")

    for arg in rest:
        if flag is not None and arg != "--" and not arg.startswith("-"):
            out += [flag, arg]
            given += 1
            continue
        close()
        flag = None
        if arg == "--":
            out += [arg, *rest]
            break
        name, equals, _ = arg.partition("=")
        if name in flags:
            flag, given = name, 0
            if equals:
                out.append(arg)
                given = 1
            continue
        out.append(arg)
    close()
    return out


def _flags(command: TyperCommand | TyperGroup) -> set[str]:
    return {
        name
        for param in command.params
        if getattr(param, "multiple", False)
        for name in getattr(param, "opts", ())
    }


class MultiValueCommand(TyperCommand):
    """A command whose list options read every value after their flag."""

    def parse_args(self, ctx: typer.Context, args: list[str]) -> list[str]:  # type: ignore[override]
        return super().parse_args(ctx, spread_values(args, _flags(self), ctx))


class MultiValueGroup(TyperGroup):
    """A group (a command with subcommands) whose own list options read every value after
    their flag; what follows a subcommand's name is left to the subcommand."""

    def parse_args(self, ctx: typer.Context, args: list[str]) -> list[str]:  # type: ignore[override]
        if args and args[0] in self.commands:
            return super().parse_args(ctx, args)
        return super().parse_args(ctx, spread_values(args, _flags(self), ctx))

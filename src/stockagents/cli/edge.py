"""The CLI's error edge, shared by the ``stockagents`` command and the guide's scripts.

A ``StockAgentsError`` becomes ``error: <message>`` and exit code 1, as does a
file-system ``OSError`` (the path and the fix, ``describe_os_error``); an interrupt exit
code 130, anything else a one-line ``unexpected error`` and exit code 2 (set
``STOCKAGENTS_DEBUG=1`` for the traceback). Usage errors and ``--help`` keep their code.
Every message printed goes through ``core.redact.redact``, and ``guarded`` installs
the same redaction on every log record and warning (``install_log_redaction``): no
configured key, in any form, reaches the terminal.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable

import typer

from stockagents.cli.output import configure_output
from stockagents.core.errors import StockAgentsError
from stockagents.core.redact import install_log_redaction, redact

__all__ = ["guarded", "script_main"]

_OS_PROBLEMS: dict[type[OSError], str] = {
    FileExistsError: "exists and is not a directory; pass a directory path, or move the file",
    NotADirectoryError: "a file stands where a directory is needed; pass a directory path",
    IsADirectoryError: "is a directory where a file is needed; pass a file path",
    PermissionError: "permission denied; choose a path you can write, or fix its mode",
    FileNotFoundError: "no such file or directory; check the path",
}


def describe_os_error(exc: OSError) -> str:
    """One line for a file-system error: the path, what is wrong and the fix."""
    where = exc.filename if exc.filename is not None else ""
    if exc.filename2 is not None:
        where = f"{exc.filename} -> {exc.filename2}"
    for kind, problem in _OS_PROBLEMS.items():
        if isinstance(exc, kind):
            return f"{where}: {problem}" if where else problem
    reason = exc.strerror or (str(exc).splitlines() or [type(exc).__name__])[0]
    return f"{where}: {reason}" if where else f"{type(exc).__name__}: {reason}"


def guarded(run: Callable[[], None], interrupted: str = "interrupted") -> int:
    """Call ``run``; returns the exit code instead of raising (except under debug)."""
    debug = os.environ.get("STOCKAGENTS_DEBUG") == "1"
    install_log_redaction()  # before ``run`` configures logging: every record is covered
    try:
        run()
    except SystemExit as exc:  # typer: usage errors, --help, Exit
        code = exc.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    except StockAgentsError as exc:
        if debug:
            raise
        first, *rest = redact(str(exc)).splitlines() or [type(exc).__name__]
        print(f"error: {first}", file=sys.stderr)  # noqa: T201
        for line in rest:
            print(f"       {line}", file=sys.stderr)  # noqa: T201
        return 1
    except OSError as exc:  # a path the user gave is in the way, missing or not ours
        if debug:
            raise
        print(f"error: {redact(describe_os_error(exc))}", file=sys.stderr)  # noqa: T201
        return 1
    except KeyboardInterrupt:
        print(interrupted, file=sys.stderr)  # noqa: T201
        return 130
    except Exception as exc:  # the CLI edge: one line, never a traceback
        if debug:
            raise
        detail = redact(str(exc)).splitlines()[0] if str(exc) else ""
        print(  # noqa: T201
            f"error: unexpected {type(exc).__name__}: {detail} "
            "(set STOCKAGENTS_DEBUG=1 to see the traceback)",
            file=sys.stderr,
        )
        return 2
    return 0


def script_main(
    command: Callable[..., None],
    argv: list[str] | None,
    *,
    obj: object,
    help: str,
    interrupted: str,
    hide: tuple[str, ...] = (),
) -> int:
    """Run the Typer function ``command`` as a guide script: output configured once,
    ``help`` as its description, the parameters ``hide`` removed, the error edge around
    it (``guarded``); returns the exit code."""
    configure_output(level=logging.INFO)
    app = typer.Typer(add_completion=False)
    app.command()(command)
    click_command = typer.main.get_command(app)
    click_command.params = [p for p in click_command.params if p.name not in hide]
    click_command.help = help
    return guarded(lambda: click_command.main(args=argv, obj=obj), interrupted=interrupted)

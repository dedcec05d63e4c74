"""The CLI's error edge, shared by the ``stockagents`` command and the guide's scripts.

A ``StockAgentsError`` becomes ``error: <message>`` and exit code 1, an interrupt exit
code 130, anything else a one-line ``unexpected error`` and exit code 2 (set
``STOCKAGENTS_DEBUG=1`` for the traceback). Usage errors and ``--help`` keep their code.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

from stockagents.core.errors import StockAgentsError

__all__ = ["guarded"]


def guarded(run: Callable[[], None], interrupted: str = "interrupted") -> int:
    """Call ``run``; returns the exit code instead of raising (except under debug)."""
    debug = os.environ.get("STOCKAGENTS_DEBUG") == "1"
    try:
        run()
    except SystemExit as exc:  # typer / argparse: usage errors, --help, Exit
        code = exc.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    except StockAgentsError as exc:
        if debug:
            raise
        first, *rest = str(exc).splitlines() or [type(exc).__name__]
        print(f"error: {first}", file=sys.stderr)  # noqa: T201
        for line in rest:
            print(f"       {line}", file=sys.stderr)  # noqa: T201
        return 1
    except KeyboardInterrupt:
        print(interrupted, file=sys.stderr)  # noqa: T201
        return 130
    except Exception as exc:  # the CLI edge: one line, never a traceback
        if debug:
            raise
        detail = str(exc).splitlines()[0] if str(exc) else ""
        print(  # noqa: T201
            f"error: unexpected {type(exc).__name__}: {detail} "
            "(set STOCKAGENTS_DEBUG=1 to see the traceback)",
            file=sys.stderr,
        )
        return 2
    return 0

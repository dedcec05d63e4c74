"""How a deployment is stopped short of SIGKILL: Ctrl-C and SIGTERM become exceptions, so
the run's own cleanup runs (``ModelDeployer._run``), and the record names which it was.

Nothing here touches files; it knows nothing of releases or backups.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def sigterm_raises() -> Iterator[None]:
    """While a run goes on, SIGTERM raises ``SystemExit(143)`` instead of ending the
    process at once, so the run's cleanup happens as for Ctrl-C and the process still
    ends (with the status a shell gives SIGTERM). Only in the main thread, and only over
    the default action: a handler the application installed is left alone."""
    if (
        threading.current_thread() is not threading.main_thread()
        or signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL
    ):
        yield
        return

    def terminate(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


def stopped_by(exc: BaseException) -> str:
    """What stopped a run that did not fail: Ctrl-C, SIGTERM or another exit."""
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted (Ctrl-C)"
    if isinstance(exc, SystemExit) and exc.code == 128 + signal.SIGTERM:
        return "terminated (SIGTERM)"
    return f"stopped ({type(exc).__name__})"

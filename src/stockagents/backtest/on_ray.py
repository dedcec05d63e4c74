"""Tasks on a Ray cluster: the one ``RAY_ADDRESS`` names, or a local one started here.

``ray_session(workers)`` connects this process for the length of a ``with`` block: to the
connection a caller already made (``ray.init`` of its own; left open), else to the cluster
``RAY_ADDRESS`` names (a cluster started with ``ray start --head``, whose CPUs decide how many
tasks run at once), else to a new local cluster of ``workers`` CPUs, which it stops at the
end. ``run_on_ray(fn, calls, workers)`` runs ``fn(*args)`` as one Ray task for each ``args``
of ``calls`` and yields the results as the tasks finish.

A task whose worker process dies (killed, out of memory, a lost node) is run again, up to
``max_retries`` times; an exception ``fn`` raises is not retried (the same inputs would
raise it again) and is raised by the iteration. Results come back to this process only:
callers write them (the experience library, the evaluation's shared answers) where a
second delivery of the same result changes nothing, so a retried task never duplicates.
Tasks not yet finished are cancelled when the iteration stops early.

Ray is imported here, inside these functions, so the package works without it.

Ray 2.59+ starts local clusters with token authentication. ``ray start --head`` enables
it when a token exists (``~/.ray/auth_token``), and a driver that connects through an explicit
address does not: connect with ``RAY_AUTH_MODE=token`` set (and ``RAY_AUTH_TOKEN_PATH`` when
the token is elsewhere), as the cluster was started.
"""

from __future__ import annotations

import importlib
import logging
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

from stockagents.core.packages import require_packages

__all__ = ["RAY_INSTALL", "ray_session", "require_ray", "run_on_ray"]

logger = logging.getLogger(__name__)

#: The install command for the optional Ray backend (the extra, or Ray itself).
RAY_INSTALL = "pip install 'stockagents[ray]' or pip install 'ray[default]'"

T = TypeVar("T")


def require_ray(needed_by: str = "--backend ray") -> None:
    """One clear error when Ray is not installed."""
    require_packages("ray", needed_by=needed_by, install=RAY_INSTALL)


@contextmanager
def ray_session(workers: int) -> Iterator[Any]:
    """The ``ray`` module, connected (see the module docstring)."""
    require_ray()
    ray: Any = importlib.import_module("ray")
    if ray.is_initialized():
        yield ray
        return
    address = os.environ.get("RAY_ADDRESS")
    if address:
        ray.init(address=address, logging_level=logging.WARNING)
    else:
        ray.init(
            address="local",
            num_cpus=workers,
            include_dashboard=False,
            logging_level=logging.WARNING,
        )
    try:
        logger.info(
            "on Ray at %s: %s CPUs",
            address or "a local cluster",
            ray.cluster_resources().get("CPU"),
        )
        yield ray
    finally:
        ray.shutdown()


def run_on_ray(
    fn: Callable[..., T],
    calls: Sequence[tuple[Any, ...]],
    workers: int,
    *,
    max_retries: int = 3,
) -> Iterator[T]:
    """``fn(*args)`` for each of ``calls``, one Ray task each, as they finish."""
    with ray_session(workers) as ray:
        remote = ray.remote(num_cpus=1, max_retries=max_retries, retry_exceptions=False)(fn)
        pending = [remote.remote(*args) for args in calls]
        try:
            while pending:
                ready, pending = ray.wait(pending, num_returns=1)
                yield ray.get(ready[0])
        finally:
            for ref in pending:
                ray.cancel(ref, force=True)

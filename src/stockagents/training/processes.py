"""Training in several processes at once (``accelerate launch``, ``torchrun``): how many
there are and which one this is, from the ``WORLD_SIZE`` and ``RANK`` the launcher sets,
and the CPU threads each gets when they share one machine's cores without a GPU.

Alone, a run is a world of one whose only process is the main one, so callers need no
special case. Only the main process writes what the run leaves behind (``final/``, the
summary); the others wait for it (the trainers' ``accelerator.wait_for_everyone``).
"""

from __future__ import annotations

import logging
import os

from stockagents.core.threads import use_all_cpus

__all__ = ["is_main_process", "rank", "share_cpus", "world_size"]

logger = logging.getLogger(__name__)


def _env_int(name: str, default: int) -> int:
    try:
        return int(os.environ.get(name, str(default)))
    except ValueError:
        return default


def world_size() -> int:
    """How many processes train together; 1 when run alone."""
    return max(1, _env_int("WORLD_SIZE", 1))


def rank() -> int:
    """This process's place among them (0 is the main process)."""
    return max(0, _env_int("RANK", 0))


def is_main_process() -> bool:
    return rank() == 0


def share_cpus() -> None:
    """Size torch's threads for training on CPU: every CPU alone, an equal share of them
    when ``world_size()`` processes train on this machine (more threads than cores makes
    each step several times slower)."""
    use_all_cpus()
    processes = world_size()
    if processes > 1:
        import torch

        torch.set_num_threads(max(1, torch.get_num_threads() // processes))
        logger.info(
            "data parallel on CPU: %d processes (gloo), %d threads each",
            processes, torch.get_num_threads(),
        )  # fmt: skip

"""CPU threads for torch: one setting shared by the trainers and the local model backend.

``use_all_cpus`` sizes torch's intra-op thread pool to the CPUs this process may run on
(``os.sched_getaffinity``, which honours ``taskset`` and container CPU sets), unless
``OMP_NUM_THREADS`` says how many (a positive integer): then that number holds, as
torch itself reads it (the test suite runs one thread per pytest-xdist worker this way).
Callers decide when (on CPU only); torch is imported only when it is called.
"""

from __future__ import annotations

import os

__all__ = ["cpu_threads", "use_all_cpus"]


def cpu_threads() -> int:
    """The threads torch should use here: ``OMP_NUM_THREADS`` when it is a positive
    integer, else every CPU this process may run on."""
    asked = os.environ.get("OMP_NUM_THREADS", "").strip()
    if asked.isdigit() and int(asked) > 0:
        return int(asked)
    return max(1, len(os.sched_getaffinity(0)))


def use_all_cpus() -> None:
    """Size torch's intra-op thread pool to ``cpu_threads()``."""
    import torch

    torch.set_num_threads(cpu_threads())

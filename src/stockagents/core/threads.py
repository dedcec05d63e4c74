"""CPU threads for torch: one setting shared by the trainers and the local model backend.

``use_all_cpus`` sizes torch's intra-op thread pool to the CPUs this process may run on
(``os.sched_getaffinity``, which honours ``taskset`` and container CPU sets). Callers
decide when (on CPU only); torch is imported only when it is called.
"""

from __future__ import annotations

import os

__all__ = ["use_all_cpus"]


def use_all_cpus() -> None:
    """Let torch's intra-op thread pool use every CPU this process may run on."""
    import torch

    torch.set_num_threads(max(1, len(os.sched_getaffinity(0))))

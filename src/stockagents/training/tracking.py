"""Experiment tracking shared by the trainers: which reporters exist, and W&B offline.

TensorBoard and W&B are optional packages; a reporter whose package is missing is skipped
with a warning. W&B runs offline under the run's directory unless ``WANDB_API_KEY`` is
set, so training never reaches the network on its own.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from stockagents.core.packages import is_installed

__all__ = ["available_reporters", "wandb_env"]

logger = logging.getLogger(__name__)


def available_reporters(wanted: Iterable[str]) -> list[str]:
    """The reporters of ``wanted`` whose package is installed."""
    out: list[str] = []
    for name in wanted:
        if not is_installed(name):
            logger.warning("report_to %s: the %s package is not installed; skipped", name, name)
            continue
        out.append(name)
    return out


@contextlib.contextmanager
def wandb_env(output_dir: Path, enabled: bool, project: str) -> Iterator[None]:
    """W&B offline under ``output_dir/wandb`` unless an API key is set; the environment is
    restored after."""
    if not enabled:
        yield
        return
    wanted = {"WANDB_DIR": str(output_dir), "WANDB_PROJECT": project}
    if not os.environ.get("WANDB_API_KEY"):
        wanted["WANDB_MODE"] = "offline"
    saved = {key: os.environ.get(key) for key in wanted}
    for key, value in wanted.items():
        if key == "WANDB_MODE" or key not in os.environ:
            os.environ[key] = value
    output_dir.mkdir(parents=True, exist_ok=True)
    if os.environ.get("WANDB_MODE") == "offline":
        logger.info("W&B logs offline to %s (wandb sync uploads them later)", output_dir)
    try:
        yield
    finally:
        # wandb keeps its settings (directory, mode) in a process-wide singleton: close
        # the run and drop the singleton so the next run reads the environment again.
        wandb: Any = sys.modules.get("wandb")
        if wandb is not None:
            wandb.finish()
            wandb.teardown()
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old

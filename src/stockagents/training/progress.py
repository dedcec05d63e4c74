"""The step progress of the Hugging Face trainers (SFT, GRPO): one Rich bar.

The ``Trainer`` shows a tqdm bar and writes every log dict (``{'loss': ..., 'epoch':
...}``) to stdout, or prints the dicts when its tqdm is disabled. ``step_progress``
replaces both by one bar like the PPO loop's: ``LABEL ━━━━ 12/30 0:00:09 loss 6.63``. The
figures still reach the trainer's state, its checkpoints and the reporters (TensorBoard,
W&B). transformers is imported only when a trainer exists.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

__all__ = ["step_progress"]

#: What the bar shows of a log entry, in this order.
_SHOWN = (("loss", "loss"), ("reward", "reward"), ("eval_loss", "eval_loss"))


@contextlib.contextmanager
def step_progress(trainer: Any, label: str) -> Iterator[None]:
    """Show ``trainer``'s optimizer steps as one bar while the block runs (its
    ``train()``); the bar is closed however the block ends."""
    from transformers import PrinterCallback, ProgressCallback, TrainerCallback

    for printer in (PrinterCallback, ProgressCallback):
        trainer.remove_callback(printer)
    bar = Progress(
        TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
        TextColumn("{task.fields[info]}"),
    )  # fmt: skip

    class StepBar(TrainerCallback):
        task: Any = None

        def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            self.task = bar.add_task(label, total=state.max_steps, info="")
            bar.update(self.task, completed=state.global_step)

        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            if self.task is not None:
                bar.update(self.task, completed=state.global_step)

        def on_log(
            self, args: Any, state: Any, control: Any, logs: Any = None, **kwargs: Any
        ) -> None:
            shown = [f"{name} {_figure(logs[key])}" for key, name in _SHOWN if key in (logs or {})]
            if self.task is not None and shown:
                bar.update(self.task, info="  ".join(shown))

    callback = StepBar()
    trainer.add_callback(callback)
    try:
        with bar:
            yield
    finally:
        trainer.remove_callback(callback)


def _figure(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, int | float) else str(value)

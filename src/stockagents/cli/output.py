"""What the command line shows besides a command's own output: log records, warnings and
the chatter of third-party libraries, configured once per process by ``configure_output``.

Its callers are the entry points only: the ``stockagents`` app's callback and the
training scripts' ``main`` (``cli.sft``, ``cli.rl``). Library code logs with
``logging.getLogger(__name__)`` and knows nothing of this module.

- Log records go to one Rich handler on the console the progress bars use (so a record
  printed during a bar lands above it); ``--verbose`` / ``-v`` turns on debug details.
- Every record and warning is redacted (``core.redact.install_log_redaction``).
- Python warnings become log records (``py.warnings``); those of the machine-learning
  libraries (deprecations, notes to their own developers) are hidden unless ``--verbose``.
- Hugging Face libraries are quiet: no ``datasets`` "Map" / "Tokenizing" bars, no
  ``transformers`` "Loading weights", hub download or GGUF conversion bars (no tqdm bar
  at all: ours are Rich), no wandb banner, only their errors logged. This
  is set through their environment variables, so nothing heavy is imported here (and the
  collection workers inherit it); a variable the user set is left alone
  (``TRANSFORMERS_VERBOSITY=info`` shows that library's messages again). A library
  already imported is told directly. The trainers' own step output is replaced by
  ``training.progress``.
"""

from __future__ import annotations

import logging
import os
import sys
import warnings

from rich.logging import RichHandler

from stockagents.core.redact import install_log_redaction

__all__ = ["configure_output", "show_debug_details"]

_HANDLER_NAME = "stockagents"
_QUIET_ENVIRONMENT = {
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",  # transformers' "Loading weights", downloads
    "HF_DATASETS_DISABLE_PROGRESS_BARS": "1",  # datasets' "Map", "Tokenizing ..."
    "TRANSFORMERS_VERBOSITY": "error",
    "DATASETS_VERBOSITY": "error",
    "TRANSFORMERS_NO_ADVISORY_WARNINGS": "1",
    "TQDM_DISABLE": "1",  # bare tqdm bars (GGUF conversion; ours are Rich); "" shows them
    "WANDB_SILENT": "true",  # wandb's banner; the run says where W&B logs go
}
_NOISY_LIBRARIES = r"(transformers|trl|peft|accelerate|datasets|torch)(\.|$)"


def configure_output(verbose: bool = False, level: int = logging.WARNING) -> None:
    """Configure logging, warnings and third-party output for this process.

    ``level`` is the threshold of log records (``DEBUG`` with ``verbose``). When logging
    is already configured (a test runner, a program embedding the CLI) its handlers and
    level are kept; redaction and the quiet libraries still apply."""
    install_log_redaction()
    root = logging.getLogger()
    if not root.handlers:
        handler = RichHandler(show_time=False, show_path=False)
        handler.set_name(_HANDLER_NAME)
        handler.setFormatter(logging.Formatter("%(message)s"))
        root.addHandler(handler)
        root.setLevel(level)
    logging.captureWarnings(True)
    if not verbose:
        for category in (FutureWarning, DeprecationWarning, UserWarning):
            warnings.filterwarnings("ignore", category=category, module=_NOISY_LIBRARIES)
    _quiet_libraries()
    if verbose:
        show_debug_details()


def show_debug_details() -> None:
    """Lower the threshold to ``DEBUG`` (a command's own ``--verbose``), when logging is
    ours (see ``configure_output``)."""
    root = logging.getLogger()
    if any(handler.name == _HANDLER_NAME for handler in root.handlers):
        root.setLevel(logging.DEBUG)


def _quiet_libraries() -> None:
    for name, value in _QUIET_ENVIRONMENT.items():
        os.environ.setdefault(name, value)
    # the variables are read at import: a library imported already is told directly
    if "transformers" in sys.modules:
        from transformers.utils import logging as transformers_logging

        transformers_logging.set_verbosity(_level("TRANSFORMERS_VERBOSITY"))
        if _on("HF_HUB_DISABLE_PROGRESS_BARS"):
            transformers_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    if "datasets" in sys.modules:
        import datasets  # type: ignore[import-untyped]

        datasets.utils.logging.set_verbosity(_level("DATASETS_VERBOSITY"))
        if _on("HF_DATASETS_DISABLE_PROGRESS_BARS"):
            datasets.disable_progress_bars()


def _level(variable: str) -> int:
    """The ``logging`` level an ``error`` / ``warning`` / ``info`` / ``debug`` variable names."""
    value = logging.getLevelName(os.environ[variable].upper())
    return value if isinstance(value, int) else logging.ERROR


def _on(variable: str) -> bool:
    return os.environ.get(variable, "").strip().lower() in ("1", "true", "yes", "on")

"""What a command shows besides its own output: third-party bars and banners are off,
unless the user asked for them."""

from __future__ import annotations

import os
import subprocess
import sys

SNIPPET = (
    "from stockagents.cli.output import configure_output; configure_output(); "
    "from tqdm.auto import tqdm; list(tqdm(range(3), desc='THIRD-PARTY-BAR')); "
    "import os; print(os.environ['WANDB_SILENT'], os.environ['HF_HUB_DISABLE_PROGRESS_BARS'])"
)


def _run(**env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("TQDM_", "WANDB_", "HF_"))}
    return subprocess.run(
        [sys.executable, "-c", SNIPPET], capture_output=True, text=True, check=True,
        env={**base, **env},
    )  # fmt: skip


def test_third_party_bars_and_banners_are_off() -> None:
    done = _run()
    assert "THIRD-PARTY-BAR" not in done.stderr + done.stdout
    assert done.stdout.split() == ["true", "1"]


def test_a_variable_the_user_set_is_kept() -> None:
    done = _run(TQDM_DISABLE="", WANDB_SILENT="false")  # empty: tqdm bars on
    assert "THIRD-PARTY-BAR" in done.stderr
    assert done.stdout.split() == ["false", "1"]

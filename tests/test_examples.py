"""Every script in examples/ runs and prints what it promises."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).parents[1] / "examples"


@pytest.mark.parametrize(
    ("script", "expected"),
    [
        ("analyze_symbol.py", "AAPL on 2023-06-30 (expert):"),
        ("backtest_agents.py", "buy & hold"),
        ("http_api.py", "'error': 'unknown symbol'"),
    ],
)
def test_example_runs(script: str, expected: str, tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / script)], cwd=tmp_path, capture_output=True, text=True,
        timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-800:]
    assert expected in proc.stdout

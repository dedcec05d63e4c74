"""What every bad-input case shares: the scratch layout, the case records and the checks.

A CLI case runs ``stockagents.cli.main.main`` in process, with the working directory set
to ``<tmp>/work`` (the scratch directory) and a sibling ``<tmp>/outside`` holding a
valid price file (``SECRET.csv``, closes near 31337) and a secret text. Every case then
checks the same contract:

- the exit code (1 for a refused input; 2 only for click/typer usage errors, which
  print a usage box);
- no ``Traceback`` and no ``error: unexpected`` anywhere in stdout or stderr;
- for exit code 1: stdout is empty and stderr is exactly one line, ``error: ...``,
  naming what the case says it must name (the file, ``file:line``, the field...).
  Warnings go through ``logging``, which pytest captures in process (the CLI's
  ``cli.output.configure_output`` keeps the handlers pytest has installed), so a
  warning line never reaches the captured stderr and is not allowed there. The one
  exception is a progress bar a library redraws with carriage returns (transformers'
  "Loading weights" while a model set loads, before its adapter is found corrupt): a
  line that starts with ``\r`` is progress, not an error line, and is ignored;
- neither the secret text nor the secret file's prices appear in any output;
- nothing under ``<tmp>`` outside the scratch directory changed (contents, sizes,
  modification times, entries).

Placeholders in argv, file contents and needles: ``@WORK@`` (the scratch directory),
``@PRICES@`` (its price directory), ``@OUTSIDE@`` and ``@OUTSIDE_UPPER@`` (the outside
directory, and its path in upper case).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from tests.helpers import make_bars

__all__ = [
    "CSV_CONFIG",
    "SECRET_PRICE",
    "SECRET_TEXT",
    "CliCase",
    "CliResult",
    "RunCase",
    "Scratch",
    "assert_clean",
    "assert_no_leak",
    "bars_csv",
    "run_cli",
]

#: Text in ``outside/secret.txt``: never shown by any error.
SECRET_TEXT = "TOP-SECRET-d41d8cd98f"
#: Every close in ``outside/SECRET.csv`` starts with these digits.
SECRET_PRICE = "31337"
#: A config whose prices are the scratch directory's ``prices/`` (written as ``csv.yaml``).
CSV_CONFIG = "data:\n  prices:\n    provider: csv\n    csv_dir: @PRICES@\n"
#: The longest error line a case accepts when it sets no ``max_len`` of its own.
DEFAULT_MAX_LEN = 20_000


def bars_csv(closes: list[float] | np.ndarray, start: str = "2022-01-03") -> str:
    """Valid OHLCV CSV text (the csv provider's layout) around a close path."""
    frame = make_bars(closes, start=start).reset_index()
    frame["date"] = frame["date"].dt.strftime("%Y-%m-%d")
    return str(frame.to_csv(index=False))


@dataclass(frozen=True)
class CliCase:
    """One command line that must be refused, and what its error must say."""

    argv: tuple[str, ...]
    #: Substrings the error line must contain (placeholders allowed).
    needles: tuple[str, ...] = ()
    #: Files to write under the scratch directory first: relative path -> text or bytes.
    files: Mapping[str, str | bytes] = field(default_factory=dict)
    #: The exit code: 1 for a refused input, 2 for a click/typer usage error.
    code: int = 1
    #: The longest acceptable error line (a 1 MB symbol must be shown truncated).
    max_len: int = DEFAULT_MAX_LEN


@dataclass(frozen=True)
class CliResult:
    code: int
    out: str
    err: str


@dataclass
class Scratch:
    """``root/work`` is the scratch directory (and the working directory); ``root/outside``
    must not change and must not leak."""

    root: Path
    snapshot: dict[str, tuple[object, ...]] = field(default_factory=dict)

    @property
    def work(self) -> Path:
        return self.root / "work"

    @property
    def prices(self) -> Path:
        return self.work / "prices"

    @property
    def outside(self) -> Path:
        return self.root / "outside"

    def build(self) -> Scratch:
        self.prices.mkdir(parents=True)
        self.outside.mkdir()
        (self.prices / "AAPL.csv").write_text(bars_csv(np.linspace(100.0, 130.0, 300)))
        (self.outside / "SECRET.csv").write_text(bars_csv(np.linspace(31337.1, 31337.9, 300)))
        (self.outside / "secret.txt").write_text(SECRET_TEXT + "\n")
        self.write({"csv.yaml": CSV_CONFIG})
        self.snapshot = self.take_snapshot()
        return self

    def fill(self, text: str) -> str:
        return (
            text.replace("@WORK@", str(self.work))
            .replace("@PRICES@", str(self.prices))
            .replace("@OUTSIDE_UPPER@", str(self.outside).upper())
            .replace("@OUTSIDE@", str(self.outside))
        )

    def write(self, files: Mapping[str, str | bytes]) -> None:
        for name, content in files.items():
            path = self.work / name
            path.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, bytes):
                path.write_bytes(content)
            else:
                path.write_text(self.fill(content), encoding="utf-8")

    def take_snapshot(self) -> dict[str, tuple[object, ...]]:
        """Every entry under ``root`` but the scratch directory: kind, size, mtime, hash."""
        state: dict[str, tuple[object, ...]] = {}
        for path in sorted(self.root.rglob("*")):
            if path == self.work or self.work in path.parents:
                continue
            stat = path.lstat()
            digest = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else ""
            state[str(path.relative_to(self.root))] = (
                path.is_dir(),
                stat.st_size,
                stat.st_mtime_ns,
                digest,
            )
        return state

    def assert_outside_unchanged(self) -> None:
        assert self.take_snapshot() == self.snapshot, "something outside the scratch dir changed"


def run_cli(capsys: pytest.CaptureFixture[str], argv: tuple[str, ...]) -> CliResult:
    from stockagents.cli.main import main

    capsys.readouterr()  # drop what setting the case up printed
    code = main(list(argv))
    out, err = capsys.readouterr()
    return CliResult(code, out, err)


def assert_no_leak(text: str) -> None:
    assert "Traceback" not in text, text[-2000:]
    assert "error: unexpected" not in text, text[:2000]
    assert SECRET_TEXT not in text, "the secret text leaked"
    assert SECRET_PRICE not in text, "the outside price file was read and shown"


def assert_clean(result: CliResult, case: CliCase, scratch: Scratch) -> None:
    """The contract in the module docstring."""
    everything = result.out + result.err
    assert_no_leak(everything)
    assert result.code == case.code, (
        f"exit code {result.code}, expected {case.code}; stderr: {result.err[:500]!r}; "
        f"stdout: {result.out[:300]!r}"
    )
    if case.code == 1:
        assert result.out == "", f"stdout should be empty: {result.out[:500]!r}"
        lines = [line for line in result.err.strip("\n").split("\n") if not line.startswith("\r")]
        assert len(lines) == 1, f"expected one stderr line, got {len(lines)}: {result.err[:800]!r}"
        line = lines[0]
        assert line.startswith("error: "), line[:500]
        assert len(line) <= case.max_len, f"error line of {len(line)} chars: {line[:300]!r}..."
        for needle in case.needles:
            assert scratch.fill(needle) in line, f"{needle!r} not in {line[:600]!r}"
    else:  # a usage error: click's box, in one piece
        assert "Usage:" in result.err or "usage:" in result.err, result.err[:500]
    scratch.assert_outside_unchanged()


#: A test body for a table of CLI cases.
RunCase = Callable[[CliCase], None]

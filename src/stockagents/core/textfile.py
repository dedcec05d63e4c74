"""Reading a user's text file (config, news, fundamentals) with one clear line per problem.

``read_text(path, kind, fix, error=...)`` returns the file's text or raises ``error``
naming the file and saying which problem it has: missing, a directory where a file was
expected, unreadable, or not UTF-8 (with the line of the first bad byte).
``skipped_summary`` turns per-reason counts of skipped rows into the one warning a reader
logs after loading a file.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from stockagents.core.errors import StockAgentsError

__all__ = ["decode_utf8", "read_text", "skipped_summary"]


def decode_utf8(raw: bytes, path: Path | str, error: type[StockAgentsError]) -> str:
    """``raw`` decoded as UTF-8 (a BOM is dropped), or ``error`` naming the line."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise error(
            f"{path}:{line}: not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset "
            f"{exc.start}); save the file as UTF-8"
        ) from None


def read_text(
    path: Path | str,
    kind: str,
    fix: str,
    error: type[StockAgentsError],
) -> str:
    """The UTF-8 text of the ``kind`` file at ``path``; ``fix`` ends the not-found line."""
    file = Path(path)
    if file.is_dir():
        raise error(f"{file}: is a directory, not a {kind} file; {fix}")
    try:
        raw = file.read_bytes()
    except FileNotFoundError:
        raise error(f"{file}: {kind} file not found; {fix}") from None
    except OSError as exc:
        raise error(f"{file}: cannot read the {kind} file ({exc.strerror or exc})") from None
    return decode_utf8(raw, file, error)


def skipped_summary(counts: Counter[str], noun: str) -> str:
    """``"skipped 3 stories: 2 without a publish time, 1 without a headline"``."""
    total = sum(counts.values())
    reasons = ", ".join(f"{n} {why}" for why, n in counts.most_common())
    return f"skipped {total} {noun}: {reasons}"

"""Reading a user's text file (config, news, fundamentals) with one clear line per problem.

``read_text(path, kind, fix, error=...)`` returns the file's text or raises ``error``
naming the file and saying which problem it has: missing, a directory where a file was
expected, unreadable, or not UTF-8 (with the line of the first bad byte).
``parse_json`` parses JSON with the same promise (a number too long to convert, nesting
too deep to parse and invalid syntax are each one line); ``skipped_summary`` turns
per-reason counts of skipped rows into the one warning a reader
logs after loading a file.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from stockagents.core.errors import StockAgentsError

__all__ = ["parse_json", "read_text", "skipped_summary", "value_problem"]


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


def value_problem(exc: ValueError | RecursionError) -> str:
    """What a parser's ``ValueError`` or ``RecursionError`` means, in a few words."""
    if isinstance(exc, RecursionError):
        return "nested too deeply to read"
    text = str(exc)
    if "digits" in text and "integer" in text:
        return "a number with thousands of digits"
    return text.splitlines()[0] if text else type(exc).__name__


def parse_json(text: str, origin: str, error: type[StockAgentsError]) -> Any:
    """``json.loads(text)``, or ``error`` naming ``origin`` (``file`` or ``file:line``)."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise error(f"{origin}: not valid JSON ({exc.msg}, line {exc.lineno})") from None
    except (ValueError, RecursionError) as exc:
        raise error(f"{origin}: not valid JSON ({value_problem(exc)})") from None

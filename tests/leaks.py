"""What a key looks like when it leaks, for the tests that prove none does.

``leaks(text, key)`` names every form of ``key`` found in ``text``: as is, URL-quoted,
base64 (alone, and the middle of its encoding at each of the three alignments it can
have inside a longer base64 string); ``encodings(key)`` are whole strings such forms
come in. Both are computed here, independently of ``core.redact``. ``unredacted_logging`` undoes ``install_log_redaction`` for a block, so
that a test sees what the library itself logs, not what the second line of defence
cleaned up after it.
"""

from __future__ import annotations

import base64
import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import quote, quote_plus

__all__ = ["BAD_KEY", "encodings", "forms", "leaks", "unredacted_logging"]

#: A key whose URL-quoted and base64 forms differ from it (``/``, ``+``, ``=``).
BAD_KEY = "sk/BAD+key=0042-zz"


def forms(key: str) -> dict[str, str]:
    """Each form of ``key`` by name."""
    found = {
        "plain": key,
        "url-quoted": quote(key, safe=""),
        "url-quoted-plus": quote_plus(key),
        "base64": base64.b64encode(key.encode()).decode().rstrip("="),
    }
    for prefix in ("a", "ab", "abc"):
        encoded = base64.b64encode((prefix + key).encode()).decode()
        found[f"base64-after-{len(prefix)}"] = encoded[4:-4]
    return found


def encodings(key: str) -> dict[str, str]:
    """Whole strings holding ``key``, by name: as is, URL-quoted, base64 after 0-2 bytes."""
    found = {"plain": key, "url-quoted": quote(key, safe=""), "url-quoted-plus": quote_plus(key)}
    for prefix in ("", "a", "ab"):
        found[f"base64-after-{len(prefix)}"] = base64.b64encode((prefix + key).encode()).decode()
    return found


def leaks(text: str, key: str) -> list[str]:
    """The names of the forms of ``key`` that ``text`` holds ([] when none)."""
    return [name for name, form in forms(key).items() if form in text]


@contextmanager
def unredacted_logging() -> Iterator[None]:
    """Log records and warnings as the library makes them, for the block."""
    factory = logging.getLogRecordFactory()
    formatter = warnings.formatwarning
    logging.setLogRecordFactory(logging.LogRecord)
    warnings.formatwarning = getattr(warnings, "_formatwarning_orig", formatter)
    try:
        yield
    finally:
        logging.setLogRecordFactory(factory)
        warnings.formatwarning = formatter

"""Keeping secrets out of what leaves the process: messages, log lines, warnings, answers.

``redact(text)`` replaces with ``***``:

- every configured secret (the ``SecretStr`` keys of ``Settings``, read from the
  environment and ``.env``, and any value given to ``register_secret``) in its plain,
  URL-quoted, JSON-escaped and base64 forms, base64 also *inside* a longer encoded
  string such as the ``user:key`` of an ``Authorization: Basic`` header;
- whatever follows a credential's name, even for a key it does not know: the value of
  a key-like query parameter (``?token=``, ``&apiKey=``, ``key``, ``api_key``,
  ``access_token``, ``secret``, ``password``, ``sig``...) and of an echoed credential
  header (``Authorization: Bearer ...``, ``X-Api-Key: ...``, ``X-Finnhub-Token: ...``).

``redact_url(url)`` is the form for a URL shown in a message: no user info, key-like
query values masked.

``install_log_redaction()`` makes every log record (from any logger, to any handler,
including handlers added later) and every formatted warning go through ``redact``; the
CLI and the server call it once where they configure logging. Errors are built without
upstream bodies in the first place (``data.online``, ``llm._api_backend``); this module
is the second line of defence. It knows nothing about providers or HTTP.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import re
import threading
import traceback
import urllib.parse
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = [
    "REDACTED",
    "RedactingFilter",
    "excerpt",
    "install_log_redaction",
    "redact",
    "redact_url",
    "register_secret",
]

REDACTED = "***"
#: The longest piece of an upstream's own words a message may quote.
EXCERPT_LENGTH = 120
_MIN_LENGTH = 6  # shorter values would redact ordinary words
_MIN_FRAGMENT = 8  # a base64 fragment shorter than this could occur by chance

#: Query parameters whose value is a credential.
_KEY_PARAM_NAMES = (
    r"api[_-]?key|apikey|key|token|access[_-]?token|auth|secret|client[_-]?secret|"
    r"password|passwd|sig|signature"
)
_KEY_PARAM = re.compile(rf"(?i)([?&](?:{_KEY_PARAM_NAMES})=)[^&#\s\"'<>]+")
#: An echoed credential header: its name, a separator, an optional scheme, then the value.
_CREDENTIAL_HEADER = re.compile(
    r"(?i)(\b(?:proxy-)?authorization|\b[a-z0-9-]*(?:api[-_]?key|token|secret))"
    r"([\"']?\s*[:=]\s*[\"']?(?:(?:bearer|basic|token)\s+)?)"
    r"(?!\*\*\*)[^\s\"',;}\]]+"
)

_registered: set[str] = set()
_lock = threading.Lock()
_cache: dict[str, Any] = {"key": None, "pattern": None}


def register_secret(value: str | None) -> None:
    """Also redact ``value`` (a key passed in code rather than read from the settings)."""
    if value and len(value) >= _MIN_LENGTH:
        with _lock:
            _registered.add(value)


def _base64_fragments(raw: bytes) -> set[str]:
    """The part of ``raw``'s base64 that does not depend on what surrounds it, for each
    of the three alignments ``raw`` can have inside a longer encoded string."""
    fragments = set()
    for offset in range(3):
        padded = b"\0" * offset + raw
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            text = encode(padded).decode()
            start = -(-8 * offset // 6)  # characters that hold bits of the padding
            end = 8 * len(padded) // 6  # characters wholly made of known bits
            fragments.add(text[start:end])
    return fragments


def secret_forms(value: str) -> set[str]:
    """The forms in which ``value`` may appear in text: as is, URL-quoted, JSON-escaped,
    base64 (alone, after ``user:``, or anywhere inside a longer encoded string).

    >>> forms = secret_forms("s3cret/key")
    >>> "s3cret%2Fkey" in forms, "czNjcmV0L2tleQ" in forms, "OnMzY3JldC9rZXk" in forms
    (True, True, True)
    """
    forms = {
        value,
        urllib.parse.quote(value, safe=""),
        urllib.parse.quote_plus(value),
        json.dumps(value)[1:-1],
    }
    for encoded in (value, f":{value}", f"{value}:"):
        text = base64.b64encode(encoded.encode()).decode()
        forms.update((text, text.rstrip("=")))
    fragments = {f for f in _base64_fragments(value.encode()) if len(f) >= _MIN_FRAGMENT}
    return {form for form in forms if len(form) >= _MIN_LENGTH} | fragments


def _variable_names() -> frozenset[str]:
    """The environment variables ``Settings`` reads (lower case: they are matched so)."""
    if _cache.get("names") is None:
        from stockagents.core.settings import Settings

        _cache["names"] = frozenset(
            (field.alias or name).lower() for name, field in Settings.model_fields.items()
        )
    return _cache["names"]  # type: ignore[no-any-return]


def _settings_fingerprint() -> tuple[object, ...]:
    """What the settings' secrets depend on: the key variables, the working directory
    and the ``.env`` file there (cheap to compute, unlike loading the settings)."""
    names = _variable_names()
    environment = tuple(sorted((k, v) for k, v in os.environ.items() if k.lower() in names))
    try:
        stat = Path(".env").stat()
        dotenv: tuple[object, ...] = (stat.st_mtime_ns, stat.st_size)
    except OSError:
        dotenv = ()
    try:
        cwd = os.getcwd()
    except OSError:
        cwd = ""
    return environment, cwd, dotenv


def _settings_secrets() -> set[str]:
    from stockagents.core.settings import load_settings

    try:
        settings = load_settings()
    except Exception:  # a broken .env must not stop an error from being shown
        return set()
    return {
        secret.get_secret_value()
        for name in type(settings).model_fields
        if (secret := getattr(settings, name)) is not None and hasattr(secret, "get_secret_value")
    }


def _pattern() -> re.Pattern[str] | None:
    """One alternation of every form of every secret, longest first (cached)."""
    with _lock:
        registered = frozenset(_registered)
    key = (_settings_fingerprint(), registered)
    with _lock:
        if _cache["key"] == key:
            return _cache["pattern"]  # type: ignore[no-any-return]
    values = {v for v in _settings_secrets() | registered if len(v) >= _MIN_LENGTH}
    forms = sorted({f for v in values for f in secret_forms(v)}, key=len, reverse=True)
    pattern = re.compile("|".join(map(re.escape, forms))) if forms else None
    with _lock:
        _cache["key"], _cache["pattern"] = key, pattern
    return pattern


def redact(text: str) -> str:
    """``text`` with every secret it holds replaced by ``***`` (see the module doc).

    >>> redact("GET https://example.com/v2/everything?q=AAPL&apiKey=abc123def&page=2")
    'GET https://example.com/v2/everything?q=AAPL&apiKey=***&page=2'
    >>> redact('echo: {"authorization": "Bearer sk-abc123", "x-api-key": "k-98765"}')
    'echo: {"authorization": "Bearer ***", "x-api-key": "***"}'
    >>> register_secret("doctest-key-4711")
    >>> redact("key doctest-key-4711, quoted doctest%2Dkey-4711? no: doctest-key-4711 again")
    'key ***, quoted doctest%2Dkey-4711? no: *** again'
    >>> import base64
    >>> redact("Basic " + base64.b64encode(b"me:doctest-key-4711").decode())
    'Basic bWU6***'
    """
    if not text:
        return text
    pattern = _pattern()
    if pattern is not None:
        text = pattern.sub(REDACTED, text)
    text = _KEY_PARAM.sub(rf"\1{REDACTED}", text)
    return _CREDENTIAL_HEADER.sub(rf"\1\2{REDACTED}", text)


def excerpt(text: object, limit: int = EXCERPT_LENGTH) -> str:
    """``text`` on one line, redacted, then cut to ``limit`` characters: the most of an
    upstream's own words (a JSON error field) a message may quote.

    >>> excerpt("Invalid   symbol:\\n token=abc123def, try again " + "x" * 200, limit=40)
    'Invalid symbol: token=***, try again...'
    """
    flat = redact(" ".join(str(text).split()))
    return flat if len(flat) <= limit else flat[: limit - 3].rstrip() + "..."


def redact_url(url: object) -> str:
    """``url`` fit for a message: no user info, key-like query values as ``***``.

    >>> redact_url("https://user:pw@example.com/api/news?symbol=AAPL&token=abcdef")
    'https://example.com/api/news?symbol=AAPL&token=***'
    """
    text = str(url)
    try:
        parts = urllib.parse.urlsplit(text)
    except ValueError:
        return redact(text)
    if parts.username is not None or parts.password is not None:
        host = parts.hostname or ""
        netloc = f"{host}:{parts.port}" if parts.port else host
        text = urllib.parse.urlunsplit(parts._replace(netloc=netloc))
    return redact(text)


def _clean_record(record: logging.LogRecord) -> None:
    """Redact ``record`` in place; its ``args`` are kept when the secret is in one of
    them (handlers such as uvicorn's access log read them), else merged into ``msg``."""
    try:
        message = record.getMessage()
    except Exception:  # a malformed record: leave it to logging's own error handling
        return
    cleaned = redact(message)
    if cleaned != message:
        args = record.args
        if isinstance(args, tuple) and isinstance(record.msg, str):
            record.msg = redact(record.msg)
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in args)
            try:
                kept = record.getMessage() == cleaned
            except Exception:
                kept = False
            if not kept:
                record.msg, record.args = cleaned, None
        else:
            record.msg, record.args = cleaned, None
    if record.exc_info and record.exc_info[1] is not None:
        text = "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
        if redact(text) != text:  # kept as text, without the secret; the object dropped
            record.exc_info, record.exc_text = None, redact(text)
    elif record.exc_text:
        record.exc_text = redact(record.exc_text)
    if record.stack_info:
        record.stack_info = redact(record.stack_info)


class RedactingFilter(logging.Filter):
    """Redacts a record's message, arguments and traceback before it is formatted (for a
    handler of one's own; ``install_log_redaction`` covers every record already)."""

    def filter(self, record: logging.LogRecord) -> bool:
        _clean_record(record)
        return True


def install_log_redaction() -> None:
    """Redact every log record when it is made, and every warning when it is formatted.

    Idempotent. A record factory rather than a handler filter, so that handlers added
    later (a library's, a test's) never see a secret either; the previous factory and
    ``formatwarning`` stay reachable as ``__wrapped__``."""
    with _lock:
        factory = logging.getLogRecordFactory()
        if not getattr(factory, "_stockagents_redacting", False):
            make: Callable[..., logging.LogRecord] = factory

            def redacting_factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
                record = make(*args, **kwargs)
                _clean_record(record)
                return record

            redacting_factory._stockagents_redacting = True  # type: ignore[attr-defined]
            redacting_factory.__wrapped__ = make  # type: ignore[attr-defined]
            logging.setLogRecordFactory(redacting_factory)
        formatter = warnings.formatwarning
        if not getattr(formatter, "_stockagents_redacting", False):
            show: Callable[..., str] = formatter

            def redacting_formatwarning(*args: Any, **kwargs: Any) -> str:
                return redact(show(*args, **kwargs))

            redacting_formatwarning._stockagents_redacting = True  # type: ignore[attr-defined]
            redacting_formatwarning.__wrapped__ = show  # type: ignore[attr-defined]
            warnings.formatwarning = redacting_formatwarning

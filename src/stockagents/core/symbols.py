"""What a ticker symbol may be: the one validator every boundary calls.

A symbol is a name, never a path: 1-15 characters from letters, digits, ``.``, ``-``,
``^`` and ``=`` (``AAPL``, ``BRK.B``, ``BF-B``, ``^GSPC``, ``EURUSD=X``), normalised to
upper case after trimming spaces. The CLI, the Python API, the HTTP API and config files
(watchlists, RL collection symbols) call ``validate_symbol``; anything else is a
``SymbolError`` naming the symbol and this rule. Providers that turn a symbol into a file
additionally check that the path stays inside their directory (``data._paths``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Annotated, Any

from pydantic import BeforeValidator

from stockagents.core.errors import SymbolError

__all__ = ["Symbol", "SymbolList", "validate_symbol", "validate_symbols"]

MAX_SYMBOL_LENGTH = 15
SYMBOL_RULE = (
    f"a symbol is 1-{MAX_SYMBOL_LENGTH} letters, digits, '.', '-', '^' or '=' "
    "(e.g. AAPL, BRK.B, ^GSPC)"
)
_PATTERN = re.compile(rf"[A-Za-z0-9.\-^=]{{1,{MAX_SYMBOL_LENGTH}}}")
_ALNUM = re.compile(r"[A-Za-z0-9]")  # at least one: "..", "-" or "^" alone is no name


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def validate_symbol(value: Any, where: str = "symbol") -> str:
    """``value`` trimmed and in upper case if it is a valid symbol, else a ``SymbolError``.

    >>> validate_symbol(" brk.b ")
    'BRK.B'
    >>> validate_symbol("../etc/passwd")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    stockagents.core.errors.SymbolError: symbol '../etc/passwd' is not a valid symbol: ...
    """
    if not isinstance(value, str):
        raise SymbolError(
            f"{where} {_shown(value)} is a {type(value).__name__}, not a symbol: {SYMBOL_RULE}"
        )
    symbol = value.strip()
    # Checked before upper-casing: "ß".upper() is "SS", "ﬁ".upper() is "FI".
    if not _PATTERN.fullmatch(symbol) or not _ALNUM.search(symbol):
        raise SymbolError(f"{where} {_shown(value)} is not a valid symbol: {SYMBOL_RULE}")
    return symbol.upper()


def validate_symbols(values: Any, where: str = "symbols") -> list[str]:
    """A list of valid symbols, de-duplicated in order. A bare string is refused rather
    than read as its letters (``"AAPL"`` is not the symbols A, A, P, L)."""
    if isinstance(values, str) or not isinstance(values, Iterable):
        raise SymbolError(
            f"{where} must be a list of symbols (e.g. [AAPL, MSFT]), "
            f"not a {type(values).__name__} {_shown(values)}"
        )
    seen: dict[str, None] = {}
    for value in values:
        seen[validate_symbol(value, f"{where}: symbol")] = None
    return list(seen)


def _field_symbol(value: Any) -> str:
    try:
        return validate_symbol(value)
    except SymbolError as exc:  # pydantic reports ValueErrors with the field's location
        raise ValueError(str(exc)) from None


def _field_symbols(values: Any) -> list[str]:
    try:
        return validate_symbols(values)
    except SymbolError as exc:
        raise ValueError(str(exc)) from None


#: A config or request field holding one symbol / a list of symbols, validated as above.
Symbol = Annotated[str, BeforeValidator(_field_symbol)]
SymbolList = Annotated[list[str], BeforeValidator(_field_symbols)]

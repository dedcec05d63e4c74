from __future__ import annotations

import pytest

from stockagents.core.config import load_config
from stockagents.core.errors import ConfigError, DataError, SymbolError
from stockagents.core.symbols import validate_symbol, validate_symbols


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("AAPL", "AAPL"),
        (" aapl ", "AAPL"),
        ("brk.b", "BRK.B"),
        ("BF-B", "BF-B"),
        ("^GSPC", "^GSPC"),
        ("EURUSD=X", "EURUSD=X"),
        ("7203.T", "7203.T"),
        ("A" * 15, "A" * 15),
    ],
)
def test_valid_symbols_are_normalised(given: str, expected: str) -> None:
    assert validate_symbol(given) == expected


@pytest.mark.parametrize(
    "given",
    [
        "",
        "   ",
        "../OUTSIDE/SECRET",
        "/etc/passwd",
        "C:\\secret",
        "a b",
        "AAPL;rm",
        "..",
        ".",
        "-",
        "^",
        "A" * 16,
        "ÄPPLE",
        "AAPL\x00",
        "x" * 1_000_000,
    ],
)
def test_invalid_symbols_are_one_line_naming_the_rule(given: str) -> None:
    with pytest.raises(SymbolError) as info:
        validate_symbol(given)
    message = str(info.value)
    assert "\n" not in message
    assert "is not a valid symbol" in message
    assert "1-15 letters, digits" in message
    assert len(message) < 200  # a 1 MB symbol is shown truncated
    assert isinstance(info.value, DataError)


@pytest.mark.parametrize("given", [None, 5, 1.5, {"s": "AAPL"}, ["AAPL"], b"AAPL"])
def test_non_strings_are_not_symbols(given: object) -> None:
    with pytest.raises(SymbolError, match="not a symbol"):
        validate_symbol(given)


def test_a_string_is_not_a_list_of_symbols() -> None:
    with pytest.raises(SymbolError, match="must be a list of symbols"):
        validate_symbols("AAPL")
    with pytest.raises(SymbolError, match="must be a list"):
        validate_symbols(5)
    assert validate_symbols(["aapl", "AAPL", "msft"]) == ["AAPL", "MSFT"]


def test_config_symbol_fields_are_validated() -> None:
    assert load_config({"deployment": {"verify_symbol": "nvda"}}).deployment.verify_symbol == (
        "NVDA"
    )
    with pytest.raises(ConfigError, match=r"deployment\.verify_symbol: symbol '\.\./x'"):
        load_config({"deployment": {"verify_symbol": "../x"}})


def test_rl_config_symbols_must_be_a_list_of_symbols() -> None:
    from stockagents.training.rl.config import load_rl_config

    with pytest.raises(ConfigError, match=r"data\.symbols: symbols must be a list"):
        load_rl_config({"data": {"symbols": "AAPL"}})
    with pytest.raises(ConfigError, match=r"data\.symbols: .*'a/b' is not a valid symbol"):
        load_rl_config({"data": {"symbols": ["AAPL", "a/b"]}})

"""Bad symbols and bad options on the command line, and bad symbols through the Python
API: each is refused in one line that names it, and nothing outside the scratch
directory is read into the output or changed (``tests.hardening.support``)."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest

from stockagents.core.errors import DataError, SymbolError
from stockagents.data.csv_dir import CsvPriceProvider
from stockagents.orchestration import SystemCoordinator
from tests.hardening.support import (
    SECRET_PRICE,
    CliCase,
    RunCase,
    Scratch,
)

RULE = "is not a valid symbol"
MEGABYTE = "X" * 1_000_000


def _symbol_case(*argv: str, needles: tuple[str, ...] = (RULE,)) -> CliCase:
    return CliCase(argv, needles=needles, max_len=400)


# --- one symbol argument: analyze, data news, data fundamentals ---------------------------

#: (id, symbol, what the error must show of it)
BAD_SYMBOLS = [
    ("traversal", "../outside/SECRET", "'../outside/SECRET'"),
    ("traversal-two-up", "../../outside/SECRET", "'../../outside/SECRET'"),
    ("absolute", "@OUTSIDE@/SECRET", "'/"),
    ("absolute-upper", "@OUTSIDE_UPPER@/SECRET", "'/"),
    ("space", "a b", "'a b'"),
    ("semicolon", "AAPL;rm", "'AAPL;rm'"),
    ("shell", "$(id)", "'$(id)'"),
    ("empty", "", "''"),
    ("blank", "   ", "'   '"),
    ("sixteen-chars", "A" * 16, "'" + "A" * 16 + "'"),
    ("dotdot", "..", "'..'"),
    ("dot", ".", "'.'"),
    ("unicode-letter", "ÄPPLE", "'ÄPPLE'"),
    ("sharp-s-uppercases-to-ascii", "ßAPL", "'ßAPL'"),
    ("ligature-uppercases-to-ascii", "ﬁ", "'ﬁ'"),
    ("fullwidth", "ＡＡＰＬ", "'ＡＡＰＬ'"),
    ("nul", "AAPL\x00", "'AAPL\\x00'"),
    ("newline-inside", "AA\nPL", "'AA\\nPL'"),
    ("backslash", "..\\outside\\SECRET", "outside"),
    ("megabyte", MEGABYTE, "'XXXXXXXX"),
]


@pytest.mark.parametrize(
    ("symbol", "shown"),
    [pytest.param(s, shown, id=i) for i, s, shown in BAD_SYMBOLS],
)
def test_analyze_refuses_a_bad_symbol(check: RunCase, symbol: str, shown: str) -> None:
    check(_symbol_case("analyze", symbol, "-c", "csv.yaml", needles=(shown, RULE)))


SOME_BAD = ["traversal", "absolute-upper", "semicolon", "unicode-letter", "nul", "megabyte"]
NEWS_CONFIG = (
    "data:\n  prices:\n    provider: csv\n    csv_dir: @PRICES@\n"
    "  news:\n    provider: jsonl\n    path: @WORK@/news.jsonl\n"
    "  fundamentals:\n    provider: file\n    path: @WORK@/fundamentals.json\n"
)
DATA_FILES = {
    "data.yaml": NEWS_CONFIG,
    "news.jsonl": '{"symbol": "AAPL", "published_at": "2022-06-01T13:00:00Z", "headline": "hi"}\n',
    "fundamentals.json": '[{"symbol": "AAPL", "period_end": "2022-03-31", '
    '"filing_date": "2022-05-01", "revenue": 1.0}]',
}


@pytest.mark.parametrize(
    ("verb", "symbol", "shown"),
    [
        pytest.param(verb, s, shown, id=f"{verb}-{i}")
        for verb in ("news", "fundamentals")
        for i, s, shown in BAD_SYMBOLS
        if i in SOME_BAD
    ],
)
def test_data_commands_refuse_a_bad_symbol(
    check: RunCase, verb: str, symbol: str, shown: str
) -> None:
    case = CliCase(
        ("data", verb, symbol, "-c", "data.yaml"),
        needles=(shown, RULE),
        files=DATA_FILES,
        max_len=400,
    )
    check(case)


# --- lists of symbols: backtest and collect -----------------------------------------------


@pytest.mark.parametrize(
    ("verb", "symbols", "needles"),
    [
        pytest.param(verb, symbols, needles, id=f"{verb}-{name}")
        for verb in ("backtest", "collect")
        for name, symbols, needles in [
            ("traversal", ["../outside/SECRET"], ("--symbols", "'../outside/SECRET'", RULE)),
            ("absolute-upper", ["@OUTSIDE_UPPER@/SECRET"], ("--symbols", RULE)),
            ("second-of-two", ["AAPL", "a b"], ("'a b'", RULE)),
            ("comma-list", ["AAPL,AAPL;rm"], ("'AAPL;rm'", RULE)),
            ("nul", ["AAPL\x00"], ("'AAPL\\x00'", RULE)),
            ("megabyte", [MEGABYTE], ("'XXXXXXXX", RULE)),
            ("empty", [""], ("symbol",)),
        ]
    ],
)
def test_symbol_lists_refuse_a_bad_symbol(
    check: RunCase, verb: str, symbols: list[str], needles: tuple[str, ...]
) -> None:
    argv: list[str] = [verb]
    for symbol in symbols:
        argv += ["--symbols", symbol]
    check(CliCase((*argv, "-c", "csv.yaml"), needles=needles, max_len=400))


# --- options --------------------------------------------------------------------------------

USAGE = 2  # click/typer usage errors: a usage box, exit code 2

OPTION_CASES = [
    # serve: the limits and the port, refused before uvicorn starts
    ("serve-max-backtest-days-negative", ("serve", "--max-backtest-days", "-5"), ("--max-backtest-days", "-5"), 1),
    ("serve-max-backtest-days-zero", ("serve", "--max-backtest-days", "0"), ("--max-backtest-days",), 1),
    ("serve-max-concurrent-zero", ("serve", "--max-concurrent-backtests", "0"), ("--max-concurrent-backtests",), 1),
    ("serve-port-zero", ("serve", "--port", "0"), (), USAGE),
    ("serve-port-70000", ("serve", "--port", "70000"), (), USAGE),
    ("serve-port-text", ("serve", "--port", "http"), (), USAGE),
    ("serve-open-host-without-key", ("serve", "--host", "0.0.0.0"), ("0.0.0.0", "STOCKAGENTS_API_KEY"), 1),
    ("serve-missing-models", ("serve", "--models", "nowhere"), ("nowhere",), 1),
    ("serve-missing-config", ("serve", "-c", "missing.yaml"), ("missing.yaml",), 1),
    # dates
    ("backtest-start-month-13", ("backtest", "AAPL", "--start", "2023-13-01"), ("--start", "2023-13-01"), 1),
    ("backtest-end-feb-30", ("backtest", "AAPL", "--end", "2023-02-30"), ("--end", "2023-02-30"), 1),
    ("backtest-start-after-end", ("backtest", "AAPL", "--start", "2023-06-01", "--end", "2023-01-01"), ("--start", "--end"), 1),
    ("backtest-no-symbols", ("backtest",), ("symbols",), 1),
    ("backtest-symbols-swallows-option", ("backtest", "--symbols", "--json"), ("--symbols", "--json"), 1),
    ("backtest-missing-models", ("backtest", "AAPL", "--models", "nowhere"), ("nowhere",), 1),
    ("collect-every-zero", ("collect", "--symbols", "AAPL", "--every", "0"), ("every",), 1),
    ("collect-every-negative", ("collect", "--symbols", "AAPL", "--every", "-3"), ("every",), 1),
    ("collect-max-days-zero", ("collect", "--symbols", "AAPL", "--max-days", "0"), ("max_days",), 1),
    ("collect-workers-zero", ("collect", "--symbols", "AAPL", "--workers", "0"), ("workers",), 1),
    ("collect-unknown-backend", ("collect", "--symbols", "AAPL", "--backend", "gpu"), ("--backend", "gpu"), 1),
    ("collect-start-month-13", ("collect", "--symbols", "AAPL", "--start", "2023-13-01"), ("--start",), 1),
    ("collect-no-symbols", ("collect",), ("symbols",), 1),
    ("analyze-as-of-day-first", ("analyze", "AAPL", "--as-of", "31-12-2023"), ("31-12-2023", "YYYY-MM-DD"), 1),
    ("analyze-as-of-future", ("analyze", "AAPL", "--as-of", "2031-01-01"), ("2031-01-01", "2023-09-21"), 1),
    ("analyze-as-of-before-data", ("analyze", "AAPL", "--as-of", "1990-01-02"), ("1990-01-02",), 1),
    ("analyze-as-of-empty", ("analyze", "AAPL", "--as-of", ""), ("YYYY-MM-DD",), 1),
    ("analyze-as-of-feb-29", ("analyze", "AAPL", "--as-of", "2023-02-29"), ("2023-02-29",), 1),
    ("analyze-as-of-word", ("analyze", "AAPL", "--as-of", "tomorrow"), ("tomorrow",), 1),
    ("data-news-days-zero", ("data", "news", "AAPL", "--days", "0"), (), USAGE),
    ("data-news-days-too-many", ("data", "news", "AAPL", "--days", "1000"), (), USAGE),
    ("data-news-as-of-bad", ("data", "news", "AAPL", "-c", "data.yaml", "--as-of", "2023-99-01"), ("2023-99-01",), 1),
    ("data-fundamentals-as-of-bad", ("data", "fundamentals", "AAPL", "-c", "data.yaml", "--as-of", "June"), ("June",), 1),
    ("analyze-missing-symbol", ("analyze",), (), USAGE),
    ("analyze-unknown-option", ("analyze", "AAPL", "--bogus"), (), USAGE),
    ("unknown-command", ("frobnicate",), (), USAGE),
]  # fmt: skip


@pytest.mark.parametrize(
    ("argv", "needles", "code"),
    [pytest.param(argv, needles, code, id=i) for i, argv, needles, code in OPTION_CASES],
)
def test_bad_options_are_refused(
    check: RunCase, argv: tuple[str, ...], needles: tuple[str, ...], code: int
) -> None:
    check(CliCase(argv, needles=needles, code=code, files=DATA_FILES))


# --- the Python API -------------------------------------------------------------------------

API_SYMBOLS = [
    pytest.param("../outside/SECRET", id="traversal"),
    pytest.param("../../outside/SECRET", id="traversal-two-up"),
    pytest.param("@OUTSIDE@/SECRET", id="absolute"),
    pytest.param("@OUTSIDE_UPPER@/SECRET", id="absolute-upper"),
    pytest.param("prices/../../outside/SECRET", id="down-then-up"),
    pytest.param("..", id="dotdot"),
    pytest.param("", id="empty"),
    pytest.param("\x00", id="nul"),
    pytest.param(MEGABYTE, id="megabyte"),
]


@pytest.mark.parametrize("symbol", API_SYMBOLS)
def test_coordinator_raises_symbol_error(scratch: Scratch, symbol: str) -> None:
    config = {"data": {"prices": {"provider": "csv", "csv_dir": str(scratch.prices)}}}
    with (
        SystemCoordinator(config, models="expert") as coordinator,
        pytest.raises(SymbolError) as info,
    ):
        coordinator.analyze_symbol(scratch.fill(symbol))
    assert isinstance(info.value, DataError)
    assert "\n" not in str(info.value)
    assert SECRET_PRICE not in str(info.value)
    assert len(str(info.value)) < 400
    scratch.assert_outside_unchanged()


@pytest.mark.parametrize("symbol", [*API_SYMBOLS, pytest.param("sub/../AAPL", id="down-then-back")])
def test_csv_provider_refuses_paths(scratch: Scratch, symbol: str) -> None:
    provider = CsvPriceProvider(scratch.prices)
    with pytest.raises(DataError) as info:
        provider.prices(scratch.fill(symbol), as_of=dt.date(2023, 1, 31))
    assert SECRET_PRICE not in str(info.value)
    scratch.assert_outside_unchanged()


def test_csv_provider_refuses_a_symlink_out_of_its_directory(scratch: Scratch) -> None:
    """``data._paths`` says names are resolved, symlinks included, before the check."""
    os.symlink(scratch.outside / "SECRET.csv", scratch.prices / "EVIL.csv")
    provider = CsvPriceProvider(scratch.prices)
    with pytest.raises(DataError):
        provider.prices("EVIL", as_of=dt.date(2023, 1, 31))


def test_the_layout_itself_is_fine(scratch: Scratch) -> None:
    """Control: the scratch layout's own symbol is served, so refusals above are real."""
    provider = CsvPriceProvider(scratch.prices)
    assert len(provider.prices("aapl", as_of=dt.date(2023, 1, 31))) > 200
    assert Path("csv.yaml").is_file()

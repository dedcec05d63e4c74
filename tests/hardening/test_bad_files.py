"""Bad files: config, price, news, fundamentals and model files, each refused in one line
naming the file (and the line, record or field), with nothing outside the scratch
directory read into the output or changed (``tests.hardening.support``). Incomplete
news stories and filings are skipped and counted in one warning."""

from __future__ import annotations

import json
import logging
import shutil
import struct
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from stockagents.data.fundamentals import FileFundamentalsProvider
from stockagents.data.news import JsonlNewsProvider
from tests.hardening.support import CSV_CONFIG, CliCase, RunCase, Scratch, bars_csv

RULE = "is not a valid symbol"


def _config(argv_tail: tuple[str, ...] = ()) -> Callable[..., CliCase]:
    """Cases that run ``analyze AAPL -c bad.yaml`` with ``bad.yaml`` holding ``text``."""

    def case(text: str | bytes, *needles: str, config: str = "bad.yaml") -> CliCase:
        return CliCase(
            ("analyze", "AAPL", "-c", config, *argv_tail),
            needles=(config.rsplit("/", 1)[-1], *needles),
            files={"bad.yaml": text},
        )

    return case


config_case = _config()
BOMB = (
    "junk:\n"
    "  - &a [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
    "  - &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
    "  - &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
    "  - [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
)

CONFIG_CASES = [
    ("not-utf8", config_case(b"agents:\n  news:\n    lookback_days: 3  # caf\xe9\n", "bad.yaml:3", "UTF-8")),
    ("utf16", config_case("agents: {}\n".encode("utf-16"), "UTF-8")),
    ("directory", CliCase(("analyze", "AAPL", "-c", "confdir"), ("confdir", "directory"), {"confdir/x": "x"})),
    ("missing", CliCase(("analyze", "AAPL", "-c", "missing.yaml"), ("missing.yaml", "not found"))),
    ("invalid-yaml", config_case("agents: [1, 2\n", "invalid YAML")),
    ("tab-indent", config_case("agents:\n\tnews: {}\n", "invalid YAML", "line 2")),
    ("python-tag", config_case("agents: !!python/object/apply:os.system ['touch @OUTSIDE@/pwned']\n", "invalid YAML")),
    ("top-level-list", config_case("- agents\n- data\n", "mapping")),
    ("top-level-text", config_case("just some words\n", "mapping")),
    ("secret-text-as-config", CliCase(("analyze", "AAPL", "-c", "@OUTSIDE@/secret.txt"), ("secret.txt", "mapping"))),
    ("unknown-section", config_case("agentz: {}\n", "agentz")),
    ("unknown-field", config_case("agents:\n  news:\n    lookback_dayz: 3\n", "agents.news.lookback_dayz")),
    ("wrong-type", config_case("agents:\n  news:\n    lookback_days: x\n", "agents.news.lookback_days")),
    ("out-of-range", config_case("agents:\n  news:\n    lookback_days: 0\n", "agents.news.lookback_days")),
    ("huge-integer", config_case("agents:\n  news:\n    lookback_days: " + "9" * 5000 + "\n", "line 3, column 20: a number with thousands of digits")),
    ("section-is-list", config_case("agents:\n  news: [1, 2]\n", "agents.news")),
    ("section-is-number", config_case("agents: 5\n", "agents")),
    ("section-is-bool", config_case("coordinator: true\n", "coordinator")),
    ("negative-stale-days", config_case("coordinator:\n  max_stale_days: -1\n", "coordinator.max_stale_days")),
    ("verify-symbol-path", config_case("deployment:\n  verify_symbol: ../x\n", "deployment.verify_symbol", RULE)),
    ("verify-symbol-mapping", config_case("deployment:\n  verify_symbol: {a: 1}\n", "deployment.verify_symbol")),
    ("csv-without-dir", config_case("data:\n  prices:\n    provider: csv\n", "data.prices", "csv_dir")),
    ("csv-dir-is-file", CliCase(("analyze", "AAPL", "-c", "bad.yaml"), ("csv.yaml", "data.prices.csv_dir"), {"bad.yaml": "data:\n  prices:\n    provider: csv\n    csv_dir: @WORK@/csv.yaml\n"})),
    ("csv-dir-missing", CliCase(("analyze", "AAPL", "-c", "bad.yaml"), ("nowhere", "data.prices.csv_dir"), {"bad.yaml": "data:\n  prices:\n    provider: csv\n    csv_dir: @WORK@/nowhere\n"})),
    ("unknown-provider", config_case("data:\n  prices:\n    provider: parquet\n", "data.prices.provider")),
    ("jsonl-without-path", config_case("data:\n  news:\n    provider: jsonl\n", "data.news", "path")),
    ("weights-negative", config_case("agents:\n  strategist:\n    weights: {technical: -1}\n", "agents.strategist", "weights")),
    ("weights-nan", config_case("agents:\n  strategist:\n    weights: {technical: .nan}\n", "agents.strategist", "weights")),
    ("embargo-too-short", config_case("splits:\n  embargo_days: 1\n", "splits.embargo_days")),
    ("alias-bomb", CliCase(("analyze", "AAPL", "-c", "bad.yaml"), ("bad.yaml", "junk"), {"bad.yaml": BOMB}, max_len=2000)),
    ("backtest-bad-config", CliCase(("backtest", "AAPL", "-c", "bad.yaml"), ("bad.yaml", "agents.news.lookback_days"), {"bad.yaml": "agents:\n  news:\n    lookback_days: x\n"})),
    ("data-symbols-bad-config", CliCase(("data", "symbols", "-c", "bad.yaml"), ("bad.yaml", "invalid YAML"), {"bad.yaml": "a: [\n"})),
    ("serve-bad-config", CliCase(("serve", "-c", "bad.yaml"), ("bad.yaml", "agentz"), {"bad.yaml": "agentz: 1\n"})),
]  # fmt: skip


@pytest.mark.parametrize("case", [pytest.param(c, id=i) for i, c in CONFIG_CASES])
def test_bad_config_files(check: RunCase, case: CliCase) -> None:
    check(case)


# --- price files in data.prices.csv_dir ------------------------------------------------------

GOOD_PRICES = bars_csv(np.linspace(100.0, 110.0, 80))
HEADER, *ROWS = GOOD_PRICES.splitlines()


def _rows(change: Callable[[list[list[str]]], None]) -> str:
    """The good price file with ``change`` applied to its split rows."""
    rows = [row.split(",") for row in ROWS]
    change(rows)
    return "\n".join([HEADER, *(",".join(row) for row in rows)]) + "\n"


def _set(row: int, column: int, value: str) -> Callable[[list[list[str]]], None]:
    def change(rows: list[list[str]]) -> None:
        rows[row][column] = value

    return change


def _parquet(frame: pd.DataFrame) -> bytes:
    import io

    buffer = io.BytesIO()
    frame.to_parquet(buffer)
    return buffer.getvalue()


def price_case(content: str | bytes, *needles: str, name: str = "BAD.csv") -> CliCase:
    return CliCase(
        ("analyze", "BAD", "-c", "csv.yaml"),
        needles=(name, *needles),
        files={f"prices/{name}": content},
    )


DATE, OPEN, HIGH, LOW, CLOSE, VOLUME = range(6)  # column positions in a row

PRICE_CASES = [
    ("not-utf8", price_case(GOOD_PRICES.replace("date", "d\xe4te").encode("latin-1"))),
    ("utf16", price_case(GOOD_PRICES.encode("utf-16"))),
    ("binary", price_case(bytes(range(256)) * 8)),
    ("nul-bytes", price_case(GOOD_PRICES.replace("\n", "\x00\n", 5))),
    ("missing-volume", price_case(GOOD_PRICES.replace(",volume", ",vol"), "volume")),
    ("no-header", price_case("\n".join(ROWS) + "\n", "missing column")),
    ("nan-close", price_case(_rows(_set(10, CLOSE, "nan")), "dropna")),
    ("empty-cell", price_case(_rows(_set(10, OPEN, "")), "dropna")),
    ("text-price", price_case(_rows(_set(10, HIGH, "abc")), "non-numeric")),
    ("inf-close", price_case(_rows(_set(10, CLOSE, "inf")))),
    ("inf-volume", price_case(_rows(_set(10, VOLUME, "inf")))),
    ("negative-price", price_case(_rows(_set(10, LOW, "-1")), "non-positive")),
    ("zero-price", price_case(_rows(lambda r: r[10].__setitem__(slice(1, 5), ["0"] * 4)), "non-positive")),
    ("negative-volume", price_case(_rows(_set(10, VOLUME, "-5")), "negative volume")),
    ("high-below-low", price_case(_rows(_set(10, HIGH, "1")), "high/low")),
    ("duplicate-date", price_case(_rows(lambda r: r.__setitem__(11, r[10][:])), "duplicate date")),
    ("bad-date", price_case(_rows(_set(10, DATE, "2023-13-45")), "unreadable date")),
    ("empty-file", price_case("")),
    ("header-only", price_case(HEADER + "\n", "no rows")),
    ("whitespace-only", price_case("   \n\n  \n")),
    ("ragged-row", price_case(_rows(lambda r: r[10].append("7")))),
    ("parquet-is-text", price_case("not parquet at all", name="BAD.parquet")),
    ("parquet-empty", price_case(b"", name="BAD.parquet")),
    ("parquet-missing-columns", price_case(_parquet(pd.DataFrame({"date": ["2023-01-03"], "close": [1.0]})), "missing column", name="BAD.parquet")),
]  # fmt: skip


@pytest.mark.parametrize("case", [pytest.param(c, id=i) for i, c in PRICE_CASES])
def test_bad_price_files(check: RunCase, case: CliCase) -> None:
    check(case)


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(_rows(lambda r: r.reverse()), id="unsorted-dates-are-sorted"),
        pytest.param("\ufeff" + GOOD_PRICES, id="utf8-bom"),
        pytest.param(GOOD_PRICES.replace("date,open", "Date,Open"), id="capitalised-header"),
    ],
)
def test_odd_but_valid_price_files_are_read(
    scratch: Scratch, capsys: pytest.CaptureFixture[str], content: str
) -> None:
    """Controls: what the price table refuses is refused for its fault, not the layout's."""
    from tests.hardening.support import run_cli

    scratch.write({"prices/ODD.csv": content})
    result = run_cli(capsys, ("analyze", "ODD", "-c", "csv.yaml", "--json"))
    assert result.code == 0, result.err
    assert json.loads(result.out)["symbol"] == "ODD"


# --- news JSONL ------------------------------------------------------------------------------

NEWS_CONFIG = CSV_CONFIG + "  news:\n    provider: jsonl\n    path: @WORK@/{path}\n"
GOOD_STORY = '{"symbol": "AAPL", "published_at": "2022-06-29T13:05:00Z", "headline": "Apple ships"}'


def story(published: str = '"2022-06-29T13:05:00Z"', symbol: str = '"AAPL"', **raw: str) -> str:
    """One JSONL line; values are raw JSON text, so NaN and 1e300 stay as written."""
    fields = {"published_at": published, "symbol": symbol, "headline": '"Apple ships"', **raw}
    return "{" + ", ".join(f'"{k}": {v}' for k, v in fields.items()) + "}"


def news_case(
    second: str | bytes,
    *needles: str,
    line: int = 2,
    argv: tuple[str, ...] = ("data", "news", "AAPL", "-c", "news.yaml", "--as-of", "2022-06-30"),
) -> CliCase:
    """A news file whose first line is good and whose second is ``second``."""
    content: str | bytes = (
        GOOD_STORY.encode() + b"\n" + second + b"\n"
        if isinstance(second, bytes)
        else f"{GOOD_STORY}\n{second}\n"
    )
    return CliCase(
        argv,
        needles=(f"news.jsonl:{line}", *needles),
        files={"news.yaml": NEWS_CONFIG.replace("{path}", "news.jsonl"), "news.jsonl": content},
    )


def news_path_case(path: str, *needles: str, files: dict[str, str] | None = None) -> CliCase:
    return CliCase(
        ("data", "news", "AAPL", "-c", "news.yaml", "--as-of", "2022-06-30"),
        needles=needles,
        files={"news.yaml": NEWS_CONFIG.replace("@WORK@/{path}", path), **(files or {})},
    )


NEWS_CASES = [
    ("not-utf8", news_case(story().encode().replace(b"ships", b"caf\xe9"), "UTF-8")),
    ("utf16-file", CliCase(("data", "news", "AAPL", "-c", "news.yaml"), ("news.jsonl:1", "UTF-8"),
                           {"news.yaml": NEWS_CONFIG.replace("{path}", "news.jsonl"), "news.jsonl": GOOD_STORY.encode("utf-16")})),
    ("invalid-json", news_case('{"symbol": "AAPL",', "JSON")),
    ("line-is-list", news_case("[1, 2]", "object")),
    ("line-is-string", news_case('"AAPL"', "object")),
    ("line-is-number", news_case("42", "object")),
    ("line-is-null", news_case("null", "object")),
    ("published-milliseconds", news_case(story("1688140800000"), "published_at", "milliseconds")),
    ("published-nan", news_case(story("NaN"))),
    ("published-infinity", news_case(story("Infinity"))),
    ("published-1e300", news_case(story("1e300"), "published_at")),
    ("published-400-digit-int", news_case(story("9" * 400), "published_at")),
    ("published-far-past", news_case(story("-9e10"), "published_at")),
    ("published-list", news_case(story("[2022, 6, 29]"), "published_at")),
    ("published-dict", news_case(story('{"year": 2022}'), "published_at")),
    ("published-bool", news_case(story("true"), "published_at")),
    ("published-text", news_case(story('"yesterday"'), "published_at")),
    ("published-bad-date", news_case(story('"2023-02-30"'), "published_at")),
    ("published-bad-hour", news_case(story('"2023-06-30T25:00:00Z"'), "published_at")),
    ("published-year-9999-offset", news_case(story('"9999-12-31T23:59:59-05:00"'), "published_at")),
    ("datetime-alias-bad", news_case('{"symbol": "AAPL", "datetime": "soon", "headline": "x"}', "datetime")),
    ("5000-digit-number", news_case(story(extra="9" * 5000))),
    ("deep-nesting", news_case("[" * 100_000 + "]" * 100_000)),
    ("symbols-is-string", news_case(story(symbols='"AAPL"'), "symbols")),
    ("symbol-is-object", news_case(story(symbol='{"ticker": "AAPL"}'), "symbol")),
    ("symbol-is-path", news_case(story(symbol='"../outside/SECRET"'), "symbol", RULE)),
    ("symbols-holds-path", news_case(story(symbols='["AAPL", "/etc/passwd"]'), "symbols", RULE)),
    ("symbols-holds-number", news_case(story(symbols="[1]"), "symbols")),
    ("headline-is-number", news_case(story(headline="42"), "headline")),
    ("summary-is-list", news_case(story(summary='["a"]'), "summary")),
    ("url-is-object", news_case(story(url='{"href": "x"}'), "url")),
    ("empty-directory", news_path_case("@WORK@/newsdir", "newsdir", "*.jsonl", files={"newsdir/readme.txt": "x"})),
    ("missing-path", news_path_case("@WORK@/nowhere.jsonl", "nowhere.jsonl")),
    ("secret-text-as-news", news_path_case("@OUTSIDE@/secret.txt", "secret.txt:1", "JSON")),
    ("via-analyze", news_case(story("1688140800000"), "published_at", argv=("analyze", "AAPL", "-c", "news.yaml"))),
    ("via-backtest", news_case("[1]", "object", argv=("backtest", "AAPL", "-c", "news.yaml"))),
]  # fmt: skip


@pytest.mark.parametrize("case", [pytest.param(c, id=i) for i, c in NEWS_CASES])
def test_bad_news_files(check: RunCase, case: CliCase) -> None:
    check(case)


def test_incomplete_stories_are_skipped_in_one_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    lines = [
        GOOD_STORY,
        story('""'),
        '{"symbol": "AAPL", "headline": "no time"}',
        '{"symbol": "AAPL", "published_at": null, "headline": "null time"}',
        '{"published_at": "2022-06-29T13:05:00Z", "headline": "no symbol"}',
        story(headline='""'),
        "",
    ]
    (tmp_path / "news.jsonl").write_text("\n".join(lines))
    with caplog.at_level(logging.WARNING, logger="stockagents.data.news"):
        provider = JsonlNewsProvider(tmp_path / "news.jsonl")
    warnings = [r for r in caplog.records if r.name == "stockagents.data.news"]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]
    message = warnings[0].getMessage()
    assert "skipped 5 stories" in message
    assert "3 without a publish time" in message
    assert "1 without a symbol" in message
    assert "1 without a headline" in message
    assert "news.jsonl" in message
    assert provider.skipped_undated == 3


def test_a_directory_of_news_files_warns_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    for name in ("a.jsonl", "b.jsonl"):
        (tmp_path / name).write_text(f"{GOOD_STORY}\n{story('null')}\n")
    with caplog.at_level(logging.WARNING, logger="stockagents.data.news"):
        JsonlNewsProvider(tmp_path)
    warnings = [r.getMessage() for r in caplog.records if r.name == "stockagents.data.news"]
    assert len(warnings) == 1, warnings
    assert "skipped 2 stories: 2 without a publish time" in warnings[0]


# --- fundamentals files ----------------------------------------------------------------------

FUND_CONFIG = CSV_CONFIG + "  fundamentals:\n    provider: file\n    path: {path}\n"
RECORD = (
    '{"symbol": "AAPL", "period_end": "2022-03-31", "filing_date": "2022-05-01", "revenue": 1.0}'
)


FUND_ARGV = ("data", "fundamentals", "AAPL", "-c", "fund.yaml", "--as-of", "2022-06-30")


def fund_case(
    content: str | bytes, *needles: str, name: str = "f.json", argv: tuple[str, ...] = FUND_ARGV
) -> CliCase:
    return CliCase(
        argv,
        needles=(name, *needles),
        files={"fund.yaml": FUND_CONFIG.replace("{path}", f"@WORK@/{name}"), name: content},
    )


def fund_path_case(path: str, *needles: str, files: dict[str, str] | None = None) -> CliCase:
    return CliCase(
        ("data", "fundamentals", "AAPL", "-c", "fund.yaml"),
        needles=needles,
        files={"fund.yaml": FUND_CONFIG.replace("{path}", path), **(files or {})},
    )


FUND_CASES = [
    ("json-not-utf8", fund_case(RECORD.replace("AAPL", "AAP\xc4").encode("latin-1"), "UTF-8")),
    ("csv-binary", fund_case(b"\xff\xfe\x00\x01\x89PNG\r\n\x1a\n" + bytes(range(256)), name="f.csv")),
    ("csv-nul-bytes", fund_case("symbol,period_end,filing_date\x00\nAAPL,2022-03-31,2022-05-01\n", name="f.csv")),
    ("csv-missing-columns", fund_case("ticker,date,revenue\nAAPL,2022-03-31,1\n", "filing_date", name="f.csv")),
    ("csv-bad-date", fund_case("symbol,period_end,filing_date\nAAPL,2022-03-31,someday\n", "filing_date", name="f.csv")),
    ("csv-empty", fund_case("", name="f.csv")),
    ("csv-bad-revenue", fund_case("symbol,period_end,filing_date,revenue\nAAPL,2022-03-31,2022-05-01,lots\n", "revenue", name="f.csv")),
    ("json-symbol-to-number", fund_case('{"AAPL": 5}', "AAPL", "list")),
    ("json-symbol-to-string", fund_case('{"AAPL": "x"}', "AAPL", "list")),
    ("json-list-holds-string", fund_case('["x"]', "record 1")),
    ("json-list-holds-number", fund_case(f"[{RECORD}, 7]", "record 2")),
    ("json-top-level-number", fund_case("42", "number")),
    ("json-top-level-string", fund_case('"AAPL"', "string")),
    ("json-top-level-null", fund_case("null")),
    ("json-bad-filing-date", fund_case("[" + RECORD.replace("2022-05-01", "2022-02-30") + "]", "record 1", "filing_date")),
    ("json-bad-period-end", fund_case("[" + RECORD.replace('"2022-03-31"', '"soon"') + "]", "record 1", "period_end")),
    ("json-bad-revenue", fund_case("[" + RECORD.replace("1.0", '"lots"') + "]", "record 1", "revenue")),
    ("json-bad-period", fund_case("[" + RECORD.replace('"revenue"', '"period": "monthly", "revenue"') + "]", "period")),
    ("json-symbol-is-path", fund_case("[" + RECORD.replace('"AAPL"', '"../outside/SECRET"') + "]", "record 1", RULE)),
    ("json-key-is-path", fund_case('{"/etc/passwd": [{"period_end": "2022-03-31", "filing_date": "2022-05-01"}]}', RULE)),
    ("json-invalid", fund_case("[{", "JSON")),
    ("json-empty", fund_case("")),
    ("json-deep-nesting", fund_case("[" * 100_000 + "]" * 100_000)),
    ("json-5000-digit-number", fund_case("[" + RECORD.replace("1.0", "9" * 5000) + "]")),
    ("path-is-directory", fund_path_case("@WORK@/fdir", "fdir", "directory", files={"fdir/x.json": "[]"})),
    ("path-missing", fund_path_case("@WORK@/nowhere.json", "nowhere.json")),
    ("secret-text-as-fundamentals", fund_path_case("@OUTSIDE@/secret.txt", "secret.txt", "JSON")),
    ("via-analyze", fund_case('{"AAPL": 5}', "AAPL", argv=("analyze", "AAPL", "-c", "fund.yaml"))),
]  # fmt: skip


@pytest.mark.parametrize("case", [pytest.param(c, id=i) for i, c in FUND_CASES])
def test_bad_fundamentals_files(check: RunCase, case: CliCase) -> None:
    check(case)


@pytest.mark.parametrize(
    ("name", "content"),
    [
        pytest.param(
            "f.json",
            json.dumps(
                [
                    json.loads(RECORD),
                    {"symbol": "AAPL", "period_end": "2021-12-31"},
                    {"symbol": "AAPL", "period_end": "2021-09-30", "filing_date": None},
                    {"symbol": "AAPL", "period_end": "2021-06-30", "filing_date": ""},
                ]
            ),
            id="json",
        ),
        pytest.param(
            "f.csv",
            "symbol,period_end,filing_date,revenue\nAAPL,2022-03-31,2022-05-01,1\n"
            "AAPL,2021-12-31,,1\nAAPL,2021-09-30,,2\nAAPL,2021-06-30,,3\n",
            id="csv",
        ),
    ],
)
def test_undated_filings_are_skipped_in_one_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, name: str, content: str
) -> None:
    (tmp_path / name).write_text(content)
    with caplog.at_level(logging.WARNING, logger="stockagents.data.fundamentals"):
        provider = FileFundamentalsProvider(tmp_path / name)
    warnings = [r.getMessage() for r in caplog.records if r.name == "stockagents.data.fundamentals"]
    assert len(warnings) == 1, warnings
    assert "skipped 3 records: 3 without a filing_date" in warnings[0]
    assert name in warnings[0]
    assert provider.skipped_undated == 3
    assert len(provider.filings("AAPL", pd.Timestamp("2022-06-30").date())) == 1


# --- model files -----------------------------------------------------------------------------


def model_case(models: str, *needles: str, files: dict[str, str | bytes] | None = None) -> CliCase:
    return CliCase(
        ("analyze", "AAPL", "--as-of", "2023-06-30", "--models", models),
        needles=needles,
        files=files or {},
    )


MODEL_CASES = [
    ("missing", model_case("nowhere", "nowhere")),
    ("is-a-file", model_case("csv.yaml", "csv.yaml", "is a file")),
    ("empty-dir", model_case("set", "set", "no news")),
    ("set-manifest-invalid-json", model_case("set", "manifest.json", "JSON", files={"set/manifest.json": "{oops"})),
    ("set-manifest-not-utf8", model_case("set", "manifest.json", files={"set/manifest.json": b'{"agents": {"news": "caf\xe9"}}'})),
    ("set-manifest-is-list", model_case("set", "manifest.json", files={"set/manifest.json": "[1, 2]"})),
    ("set-agents-is-list", model_case("set", "manifest.json", "agents", files={"set/manifest.json": '{"agents": ["news"]}'})),
    ("set-unknown-agent", model_case("set", "manifest.json", "newz", files={"set/manifest.json": '{"agents": {"newz": "tiny"}}'})),
    ("set-entry-nowhere", model_case("set", "manifest.json", "news-v2", files={"set/manifest.json": '{"agents": {"news": "news-v2"}}'})),
    ("agent-dir-junk", model_case("set", "news", "not a model directory", files={"set/news/notes.txt": "x"})),
    ("agent-manifest-invalid-json", model_case("set", "news/manifest.json", "JSON", files={"set/news/manifest.json": "{oops"})),
    ("agent-manifest-unknown-kind", model_case("set", "news/manifest.json", "gguf", files={"set/news/manifest.json": '{"kind": "gguf"}'})),
    ("agent-lora-without-adapter", model_case("set", "news", "adapter_config.json", files={"set/news/manifest.json": '{"kind": "lora", "base_model": "tiny"}'})),
    ("agent-openai-without-model", model_case("set", "news/manifest.json", "model", files={"set/news/manifest.json": '{"kind": "openai"}'})),
]  # fmt: skip


@pytest.mark.parametrize("case", [pytest.param(c, id=i) for i, c in MODEL_CASES])
def test_bad_model_sets(check: RunCase, scratch: Scratch, case: CliCase) -> None:
    (scratch.work / "set").mkdir()
    check(case)


@pytest.fixture(scope="session")
def tiny_set(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A valid model set: a tiny-preset LoRA adapter for the news analyst (built once)."""
    from tests.helpers import make_tiny_adapter

    root = tmp_path_factory.mktemp("tiny-set")
    make_tiny_adapter(root / "news", seed=7, agent="news")
    return root


def _weights(set_dir: Path) -> Path:
    return set_dir / "news" / "adapter_model.safetensors"


def _header_claims_too_much(path: Path) -> None:
    header = b'{"w": {"dtype": "F32", "shape": [1000000000], "data_offsets": [0, 4000000000]}}'
    path.write_bytes(struct.pack("<Q", len(header)) + header)


CORRUPTIONS: list[tuple[str, Callable[[Path], None], tuple[str, ...]]] = [
    ("weights-junk", lambda s: _weights(s).write_bytes(b"junk" * 64), ("@WORK@/set/news",)),
    ("weights-truncated", lambda s: _weights(s).write_bytes(_weights(s).read_bytes()[:300]), ("@WORK@/set/news",)),
    ("weights-empty", lambda s: _weights(s).write_bytes(b""), ("@WORK@/set/news",)),
    ("weights-missing", lambda s: _weights(s).unlink(), ("@WORK@/set/news",)),
    ("weights-header-lies", lambda s: _header_claims_too_much(_weights(s)), ("@WORK@/set/news",)),
    ("adapter-config-invalid-json", lambda s: (s / "news" / "adapter_config.json").write_text("{oops"), ("@WORK@/set/news",)),
    ("adapter-config-is-list", lambda s: (s / "news" / "adapter_config.json").write_text("[]"), ("@WORK@/set/news",)),
    ("adapter-manifest-invalid-json", lambda s: (s / "news" / "manifest.json").write_text("{oops"), ("news/manifest.json", "JSON")),
    ("set-manifest-invalid-json", lambda s: (s / "manifest.json").write_text("{oops"), ("set/manifest.json", "JSON")),
]  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize(
    ("corrupt", "needles"), [pytest.param(c, n, id=i) for i, c, n in CORRUPTIONS]
)
def test_corrupt_model_files(
    check: RunCase,
    scratch: Scratch,
    tiny_set: Path,
    corrupt: Callable[[Path], None],
    needles: tuple[str, ...],
) -> None:
    set_dir = scratch.work / "set"
    shutil.copytree(tiny_set, set_dir)
    corrupt(set_dir)
    check(model_case("@WORK@/set", *needles))


@pytest.mark.slow
def test_the_valid_model_set_answers(
    scratch: Scratch, tiny_set: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Control: the set the corruptions start from loads and answers."""
    from tests.hardening.support import run_cli

    shutil.copytree(tiny_set, scratch.work / "set")
    argv = ("analyze", "AAPL", "--as-of", "2023-06-30", "--models", str(scratch.work / "set"))
    result = run_cli(capsys, (*argv, "--json"))
    assert result.code == 0, result.err
    assert json.loads(result.out)["model_versions"]["news"].startswith("test-7")

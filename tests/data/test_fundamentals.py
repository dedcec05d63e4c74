from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from stockagents.core.errors import DataFormatError
from stockagents.data.fundamentals import FileFundamentalsProvider


def test_filings_visible_only_from_filing_date(fixtures_dir: Path) -> None:
    provider = FileFundamentalsProvider(fixtures_dir / "fundamentals.json")
    assert provider.skipped_undated == 1
    # The FY2022 report (period end 2022-09-24) was filed 2022-10-28: not known at that
    # day's close (it may have come after it), known the next day.
    on = provider.filings("AAPL", as_of=dt.date(2022, 10, 28))
    assert [s.period_end for s in on] == [dt.date(2021, 9, 25)]
    # 2022-10-28 is a Friday: the weekend sees what Friday's close saw; Monday sees it.
    weekend = provider.filings("aapl", as_of=dt.date(2022, 10, 29))
    assert [s.period_end for s in weekend] == [dt.date(2021, 9, 25)]
    after = provider.filings("aapl", as_of=dt.date(2022, 10, 31))
    assert [s.period_end for s in after] == [dt.date(2021, 9, 25), dt.date(2022, 9, 24)]
    assert provider.filings("MSFT", as_of=dt.date(2023, 1, 1)) == []


def test_csv_form(tmp_path: Path) -> None:
    path = tmp_path / "f.csv"
    path.write_text(
        "symbol,period_end,filing_date,period,revenue,net_income,extra_column\n"
        "ABC,2022-12-31,2023-02-15,annual,100,10,ignored\n"
        "ABC,2021-12-31,,annual,90,9,ignored\n"
    )
    provider = FileFundamentalsProvider(path)
    filings = provider.filings("ABC", as_of=dt.date(2023, 3, 1))
    assert provider.filings("ABC", as_of=dt.date(2023, 2, 15)) == []
    assert len(filings) == 1
    assert filings[0].revenue == 100
    assert provider.skipped_undated == 1


def test_bad_value_names_record_and_field(tmp_path: Path) -> None:
    path = tmp_path / "f.json"
    path.write_text('[{"symbol": "A", "period_end": "2022-12-31", "filing_date": "soon"}]')
    with pytest.raises(DataFormatError, match=r"record 1: filing_date"):
        FileFundamentalsProvider(path)


def test_invalid_json(tmp_path: Path) -> None:
    path = tmp_path / "f.json"
    path.write_text("{not json")
    with pytest.raises(DataFormatError, match="not valid JSON"):
        FileFundamentalsProvider(path)


@pytest.mark.parametrize(
    ("name", "content", "needle"),
    [
        ("f.json", b'{"AAPL": 5}', "AAPL: expected a list of records, got a number"),
        ("f.json", b'{"AAPL": {"eps": 1}}', "AAPL: expected a list of records, got a dict"),
        ("f.json", b'["AAPL"]', "record 1: expected an object of fields, got a string"),
        ("f.json", b'{"AAPL": [1]}', "AAPL: record 1: expected an object of fields, got a number"),
        ("f.json", b"42", "expected a list of records or a mapping by symbol, got a number"),
        (
            "f.json",
            b'[{"symbol": "../x", "period_end": "2022-12-31", "filing_date": "2023-01-02"}]',
            "record 1: symbol '../x' is not a valid symbol",
        ),
        (
            "f.json",
            b'[{"symbol": {"a": 1}, "period_end": "2022-12-31", "filing_date": "2023-01-02"}]',
            "record 1: symbol {'a': 1} is a dict",
        ),
        (
            "f.json",
            b'[{"symbol": "A", "period_end": "2022-12-31", "filing_date": "2023-01-02", '
            b'"revenue": "lots"}]',
            "record 1: revenue",
        ),
        ("f.json", b'{"AAPL": [{"period_end": "caf\xe9"}]}', "f.json:1: not UTF-8 text"),
        ("f.csv", bytes(range(256)) * 4, "not UTF-8 text"),
        ("f.csv", b"\x00\x01\x02 binary", "holds NUL bytes"),
        ("f.csv", b"a,b,c\n1,2,3\n", "missing column(s) symbol, period_end, filing_date"),
        ("f.csv", b"symbol,period_end\nA,2022-12-31\n", "missing column(s) filing_date"),
        ("f.csv", b"", "cannot be parsed as CSV"),
    ],
)
def test_malformed_file_is_one_line_naming_file_and_record(
    tmp_path: Path, name: str, content: bytes, needle: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(DataFormatError) as info:
        FileFundamentalsProvider(path)
    message = str(info.value)
    assert message.startswith(str(path))
    assert needle in message
    assert "\n" not in message


def test_a_directory_is_not_a_fundamentals_file(tmp_path: Path) -> None:
    with pytest.raises(DataFormatError, match="is a directory, not a fundamentals file"):
        FileFundamentalsProvider(tmp_path)


def test_skipped_records_are_counted_in_one_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "f.json"
    path.write_text(
        '{"A": [{"period_end": "2022-12-31"}, {"period_end": "2021-12-31", "filing_date": ""}, '
        '{"period_end": "2020-12-31", "filing_date": "2021-02-01"}]}'
    )
    with caplog.at_level("WARNING", logger="stockagents.data.fundamentals"):
        provider = FileFundamentalsProvider(path)
    assert [r.getMessage() for r in caplog.records] == [
        f"{path}: skipped 2 records: 2 without a filing_date"
    ]
    assert len(provider.filings("A", as_of=dt.date(2023, 1, 1))) == 1

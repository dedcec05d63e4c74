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
    after = provider.filings("aapl", as_of=dt.date(2022, 10, 29))
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

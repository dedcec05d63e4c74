from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest

from stockagents.core.errors import DataError, DataFormatError, UnknownSymbolError
from stockagents.data.csv_dir import CsvPriceProvider

HEADER = "Date,Open,High,Low,Close,Adj Close,Volume\n"
ROWS = [
    "2023-01-03,10,11,9,10,5,100",
    "2023-01-04,10,12,10,11,5.5,120",
    "2023-01-05,11,11.5,10.5,11,5.5,90",
]


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_reads_csv_with_adjusted_close(tmp_path: Path) -> None:
    _write(tmp_path / "XYZ.csv", HEADER + "\n".join(ROWS) + "\n")
    provider = CsvPriceProvider(tmp_path)
    assert provider.symbols() == ["XYZ"]
    bars = provider.prices("xyz", as_of=dt.date(2023, 1, 4))
    assert list(bars.columns) == ["open", "high", "low", "close", "volume"]
    assert len(bars) == 2
    # Adj Close / Close = 0.5 scales every price, not the volume.
    assert bars.iloc[0].tolist() == [5.0, 5.5, 4.5, 5.0, 100.0]


def test_reads_parquet(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "date": pd.to_datetime(["2023-01-03", "2023-01-04"]),
            "open": [1.0, 2.0],
            "high": [2.0, 3.0],
            "low": [0.5, 1.5],
            "close": [1.5, 2.5],
            "volume": [10, 20],
        }
    )
    frame.to_parquet(tmp_path / "ABC.parquet")
    bars = CsvPriceProvider(tmp_path).prices("ABC", as_of=dt.date(2024, 1, 1))
    assert bars["close"].tolist() == [1.5, 2.5]


@pytest.mark.parametrize(
    ("text", "pattern"),
    [
        ("Date,Open,High,Close\n2023-01-03,1,2,1\n", r"missing column\(s\) low, volume"),
        (
            HEADER + "2023-01-03,10,11,9,,5,100\n",
            r"missing, non-numeric or infinite .*first on 2023-01-03.*dropna",
        ),
        (HEADER + "not-a-date,10,11,9,10,5,100\n", r"unreadable date.*'not-a-date'"),
        (HEADER + ROWS[0] + "\n" + ROWS[0] + "\n", r"duplicate date 2023-01-03"),
        (HEADER + "2023-01-03,10,9,11,10,5,100\n", r"high/low do not bound"),
        (HEADER + "2023-01-03,-1,11,-2,10,5,100\n", r"non-positive price"),
    ],
)
def test_malformed_files_name_the_file_and_fix(tmp_path: Path, text: str, pattern: str) -> None:
    path = _write(tmp_path / "BAD.csv", text)
    with pytest.raises(DataFormatError, match=pattern) as info:
        CsvPriceProvider(tmp_path).prices("BAD", as_of=dt.date(2024, 1, 1))
    assert str(path) in str(info.value)


def test_unparseable_file(tmp_path: Path) -> None:
    (tmp_path / "BIN.parquet").write_bytes(b"not parquet at all")
    with pytest.raises(DataFormatError, match="cannot be parsed"):
        CsvPriceProvider(tmp_path).prices("BIN", as_of=dt.date(2024, 1, 1))


def test_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist"):
        CsvPriceProvider(tmp_path / "nope")


def test_unknown_symbol_lists_files(tmp_path: Path) -> None:
    _write(tmp_path / "XYZ.csv", HEADER + ROWS[0] + "\n")
    with pytest.raises(UnknownSymbolError, match=r"available: XYZ"):
        CsvPriceProvider(tmp_path).prices("MSFT", as_of=dt.date(2024, 1, 1))


def test_dates_in_other_forms(tmp_path: Path) -> None:
    _write(
        tmp_path / "TZ.csv",
        "date,open,high,low,close,volume\n"
        "2023-01-03T00:00:00-05:00,1,2,0.5,1,10\n"
        "2023-06-02T00:00:00-04:00,1,2,0.5,1,10\n"
        "20230605,1,2,0.5,1,10\n",
    )
    bars = CsvPriceProvider(tmp_path).prices("TZ", as_of=dt.date(2024, 1, 1))
    assert [d.date() for d in bars.index] == [
        dt.date(2023, 1, 3),
        dt.date(2023, 6, 2),
        dt.date(2023, 6, 5),
    ]

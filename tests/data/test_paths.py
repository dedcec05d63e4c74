"""Symbols never reach a file outside their provider's directory, validated or not."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest

from stockagents.core.config import load_config
from stockagents.core.errors import DataError
from stockagents.data._paths import file_in
from stockagents.data.csv_dir import CsvPriceProvider
from stockagents.data.yfinance_prices import YFinancePriceProvider
from stockagents.orchestration import SystemCoordinator

ROWS = "date,open,high,low,close,volume\n" + "".join(
    f"{day.date()},10,11,9,10,100\n" for day in pd.bdate_range("2023-01-02", periods=80)
)


@pytest.fixture
def layout(tmp_path: Path) -> tuple[Path, Path]:
    prices = tmp_path / "prices"
    outside = tmp_path / "outside"
    prices.mkdir()
    outside.mkdir()
    (prices / "GOOD.csv").write_text(ROWS)
    (outside / "SECRET.csv").write_text(ROWS.replace(",10,11,9,10,", ",77,78,76,77,"))
    return prices, outside


@pytest.mark.parametrize(
    "name",
    ["../outside/SECRET.csv", "../../etc/passwd", "/etc/passwd", "sub/../../x.csv", "", "a\x00b"],
)
def test_file_in_refuses_names_that_leave_the_directory(tmp_path: Path, name: str) -> None:
    with pytest.raises(DataError):
        file_in(tmp_path, name)


def test_file_in_keeps_plain_names(tmp_path: Path) -> None:
    assert file_in(tmp_path, "AAPL.csv") == tmp_path.absolute() / "AAPL.csv"
    assert file_in(tmp_path / "x" / "..", "BRK.B.csv") == tmp_path.absolute() / "BRK.B.csv"


@pytest.mark.parametrize(
    "symbol",
    ["../outside/SECRET", "../OUTSIDE/SECRET", "..\\outside\\SECRET", "x/../../outside/SECRET"],
)
def test_csv_provider_refuses_traversal(layout: tuple[Path, Path], symbol: str) -> None:
    prices, _ = layout
    provider = CsvPriceProvider(prices)
    with pytest.raises(DataError) as info:
        provider.prices(symbol, as_of=dt.date(2023, 3, 1))
    assert "77" not in str(info.value)


def test_csv_provider_refuses_absolute_paths_in_any_case(layout: tuple[Path, Path]) -> None:
    prices, outside = layout
    provider = CsvPriceProvider(prices)
    for symbol in (str(outside / "SECRET"), str(outside / "SECRET").upper()):
        with pytest.raises(DataError):
            provider.prices(symbol, as_of=dt.date(2023, 3, 1))
    # Bypassing the validator (a subclass calling the file lookup) still cannot leave.
    with pytest.raises(DataError, match="outside"):
        provider._file("../outside/SECRET")
    assert provider.prices("good", as_of=dt.date(2023, 3, 1))["close"].iloc[-1] == 10


def test_coordinator_refuses_traversal_through_the_python_api(layout: tuple[Path, Path]) -> None:
    prices, _ = layout
    config = load_config({"data": {"prices": {"provider": "csv", "csv_dir": str(prices)}}})
    with SystemCoordinator(config) as coordinator:
        with pytest.raises(DataError, match="is not a valid symbol"):
            coordinator.analyze_symbol("../outside/SECRET")
        assert coordinator.analyze_symbol("GOOD").data_source.startswith("csv:")


def test_yfinance_cache_stays_in_its_directory(tmp_path: Path) -> None:
    calls: list[str] = []

    def download(symbol: str) -> pd.DataFrame:
        calls.append(symbol)
        return pd.DataFrame()

    provider = YFinancePriceProvider(tmp_path / "cache", download=download)
    with pytest.raises(DataError):
        provider.prices("../../outside/SECRET", as_of=dt.date(2023, 3, 1))
    with pytest.raises(DataError, match="outside"):
        provider._load("../../outside/SECRET")
    assert calls == []  # refused before any download or cache write
    assert not (tmp_path / "outside").exists()


def test_csv_dir_that_is_a_file_says_so(tmp_path: Path) -> None:
    file = tmp_path / "prices.csv"
    file.write_text(ROWS)
    with pytest.raises(DataError, match="is a file, not a directory"):
        CsvPriceProvider(file)

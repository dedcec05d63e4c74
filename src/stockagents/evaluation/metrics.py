"""The one metrics module: every Sharpe, drawdown, win rate and profit factor in the
project is computed here.

Conventions (pinned by tests against empyrical-reloaded on the same returns):

- **Returns** are simple per-period (daily) returns of equity, ``r_t = E_t / E_{t-1} - 1``.
- **Periods per year**: 252. A year of returns is 252 observations.
- **Risk-free rate** is an annual rate; its per-period equivalent is
  ``(1 + rf) ** (1 / 252) - 1``, subtracted from each return for Sharpe and Sortino.
- **Total return** compounds: ``prod(1 + r) - 1``.
- **CAGR**: ``(1 + total) ** (252 / n) - 1`` for ``n`` returns.
- **Volatility**: sample standard deviation (``ddof=1``) times ``sqrt(252)``.
- **Sharpe**: ``mean(r - rf) / std(r - rf, ddof=1) * sqrt(252)``; NaN when the deviation is 0.
- **Sortino**: ``mean(r - rf) * 252 / (sqrt(mean(min(r - rf, 0) ** 2)) * sqrt(252))``.
- **Max drawdown**: the most negative ``E_t / max_{s <= t} E_s - 1`` on the equity curve
  that starts at 1 before the first return (so a first-day loss counts); its duration is
  the longest run of periods spent below a previous peak.
- **Calmar**: ``CAGR / |max drawdown|``; NaN without a drawdown.
- **Trade statistics** use closed trades' P&L net of costs: win rate = wins / trades;
  profit factor = gross wins / |gross losses| (inf with no losses, NaN with no trades);
  expectancy = mean P&L per trade.
- **Exposure**: the share of periods with a non-zero position. **Turnover**: traded
  notional divided by mean equity, per year.
- **Signal quality**: hit rate is the share of non-zero scores whose sign matches the
  forward return's sign (zero returns count as misses); IC is the Pearson and rank IC the
  Spearman correlation of scores with forward returns; the Brier score compares the
  stated confidence with whether the direction was right.
- **Agreement with a teacher** (a student's labels against the teacher's): agreement is
  accuracy; per-class precision, recall and F1 (F1 = 0 when a class is never predicted
  and absent, NaN-free), macro F1 their unweighted mean over the classes the teacher
  uses; expected calibration error (ECE) bins stated confidence into 10 equal-width bins
  and averages ``|mean confidence - agreement rate|`` weighted by the bin's share.
- **Drift**: the population stability index of a current sample against a reference,
  ``PSI = sum_b (c_b - r_b) * ln(c_b / r_b)`` over the bins' shares, each bin's count
  smoothed by half an observation (so an empty bin is finite, and a small sample is not
  scored on the bins it is too small to fill). Scores in [-1, 1] use ``SCORE_EDGES`` (ten equal
  bins); any other variable uses the reference's deciles (``quantile_edges``), with the
  outer bins open. Customary reading: under 0.1 stable, 0.1-0.25 a shift, over 0.25 a
  large one.
- **Latency percentiles** (``percentile``) interpolate linearly between order statistics.
- **Bootstrap intervals** of the Sharpe ratio resample days in circular blocks of
  ``block`` consecutive returns (a moving-block bootstrap, so volatility clusters stay
  together), ``resamples`` times from a seeded generator, and report the percentile
  interval. The difference of two strategies resamples the same days for both (paired,
  so the market they share cancels); ``p_value`` is the two-sided share of resampled
  differences on the other side of zero. Resamples whose Sharpe is undefined (no
  variation) are dropped; with fewer than half left the interval is NaN.
- **Paired comparisons** of any statistic (mean daily return, hit rate, IC) resample
  the same way: rows are (symbol, day) pairs, the days are drawn in circular blocks of
  ``block`` consecutive days and every row of a drawn day comes along, for both sets at
  once. Each difference reports its **power**: ``half_width`` of the interval, and
  ``detectable``, the smallest true difference this window would find significant at
  the interval's level with 80% probability, ``(z_level + z_0.8) * half_width / z_level``
  (about 1.43 half-widths at 95%). **Decision agreement** is the share of rows where two
  sets took the same action, with its interval from the same resampling.

Nothing here knows about backtests, agents or models: inputs are arrays and series.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from statistics import NormalDist
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "PERIODS_PER_YEAR",
    "SCORE_EDGES",
    "agreement",
    "annual_volatility",
    "bootstrap_sharpe",
    "bootstrap_sharpe_difference",
    "brier_score",
    "cagr",
    "calmar_ratio",
    "classification_metrics",
    "compute_metrics",
    "drawdown_series",
    "expected_calibration_error",
    "hit_rate",
    "information_coefficient",
    "max_drawdown",
    "max_drawdown_duration",
    "paired_difference",
    "percentile",
    "population_stability",
    "power",
    "profit_factor",
    "quantile_edges",
    "rank_information_coefficient",
    "score_histogram",
    "sharpe_ratio",
    "signal_metrics",
    "sortino_ratio",
    "total_return",
    "trade_statistics",
]

PERIODS_PER_YEAR = 252

ArrayLike = Sequence[float] | np.ndarray | pd.Series

#: Edges of the ten equal bins that scores in [-1, 1] are counted in for drift.
SCORE_EDGES: tuple[float, ...] = tuple(round(-1.0 + 0.2 * i, 1) for i in range(11))


def _arr(values: ArrayLike) -> np.ndarray:
    array = np.asarray(values, dtype=float)
    clean: np.ndarray = array[~np.isnan(array)]
    return clean


def _per_period_rf(risk_free: float, periods: int) -> float:
    return float((1.0 + risk_free) ** (1.0 / periods) - 1.0)


def total_return(returns: ArrayLike) -> float:
    """Compounded return over the whole series."""
    r = _arr(returns)
    return float(np.prod(1.0 + r) - 1.0) if r.size else math.nan


def cagr(returns: ArrayLike, periods: int = PERIODS_PER_YEAR) -> float:
    """Compound annual growth rate."""
    r = _arr(returns)
    if not r.size:
        return math.nan
    ending = float(np.prod(1.0 + r))
    return float(ending ** (periods / r.size) - 1.0) if ending > 0 else -1.0


def annual_volatility(returns: ArrayLike, periods: int = PERIODS_PER_YEAR) -> float:
    """Annualised sample standard deviation of returns."""
    r = _arr(returns)
    return float(np.std(r, ddof=1) * math.sqrt(periods)) if r.size > 1 else math.nan


def sharpe_ratio(
    returns: ArrayLike, risk_free: float = 0.0, periods: int = PERIODS_PER_YEAR
) -> float:
    """Annualised Sharpe ratio; ``risk_free`` is an annual rate."""
    r = _arr(returns) - _per_period_rf(risk_free, periods)
    if r.size < 2:
        return math.nan
    std = float(np.std(r, ddof=1))
    return float(np.mean(r) / std * math.sqrt(periods)) if std > 0 else math.nan


def sortino_ratio(
    returns: ArrayLike, risk_free: float = 0.0, periods: int = PERIODS_PER_YEAR
) -> float:
    """Annualised Sortino ratio; downside deviation from the risk-free target."""
    r = _arr(returns) - _per_period_rf(risk_free, periods)
    if r.size < 2:
        return math.nan
    downside = math.sqrt(float(np.mean(np.minimum(r, 0.0) ** 2))) * math.sqrt(periods)
    if downside == 0:
        return math.inf if np.mean(r) > 0 else math.nan
    return float(np.mean(r) * periods / downside)


def drawdown_series(returns: ArrayLike) -> np.ndarray:
    """Drawdown after each period, from an equity curve starting at 1."""
    r = _arr(returns)
    equity = np.concatenate([[1.0], np.cumprod(1.0 + r)])
    peaks = np.maximum.accumulate(equity)
    return np.asarray((equity / peaks - 1.0)[1:])


def max_drawdown(returns: ArrayLike) -> float:
    """Most negative drawdown (a number <= 0)."""
    dd = drawdown_series(returns)
    return float(min(0.0, dd.min())) if dd.size else math.nan


def max_drawdown_duration(returns: ArrayLike) -> int:
    """Longest run of periods spent below a previous equity peak."""
    longest = current = 0
    for value in drawdown_series(returns):
        current = current + 1 if value < 0 else 0
        longest = max(longest, current)
    return longest


def calmar_ratio(returns: ArrayLike, periods: int = PERIODS_PER_YEAR) -> float:
    """CAGR over the absolute max drawdown."""
    dd = max_drawdown(returns)
    return cagr(returns, periods) / abs(dd) if dd < 0 else math.nan


def profit_factor(pnl: ArrayLike) -> float:
    """Gross profit over gross loss of closed trades."""
    p = _arr(pnl)
    if not p.size:
        return math.nan
    losses = -p[p < 0].sum()
    gains = p[p > 0].sum()
    return float(gains / losses) if losses > 0 else (math.inf if gains > 0 else math.nan)


def trade_statistics(pnl: ArrayLike) -> dict[str, float]:
    """Win rate, profit factor, average win and loss, expectancy, number of trades."""
    p = _arr(pnl)
    wins, losses = p[p > 0], p[p < 0]
    return {
        "trades": float(p.size),
        "win_rate": float(wins.size / p.size) if p.size else math.nan,
        "profit_factor": profit_factor(p),
        "avg_win": float(wins.mean()) if wins.size else math.nan,
        "avg_loss": float(losses.mean()) if losses.size else math.nan,
        "expectancy": float(p.mean()) if p.size else math.nan,
    }


def compute_metrics(
    returns: ArrayLike,
    trade_pnl: ArrayLike = (),
    exposure: ArrayLike | None = None,
    traded_notional: float = 0.0,
    mean_equity: float | None = None,
    risk_free: float = 0.0,
    periods: int = PERIODS_PER_YEAR,
) -> dict[str, float]:
    """Every performance metric of one return series (and its trades), by name.

    ``exposure`` is the gross exposure per period (any non-zero counts as exposed);
    ``traded_notional`` the total value traded, for turnover.
    """
    r = _arr(returns)
    metrics: dict[str, float] = {
        "total_return": total_return(r),
        "cagr": cagr(r, periods),
        "annual_volatility": annual_volatility(r, periods),
        "sharpe": sharpe_ratio(r, risk_free, periods),
        "sortino": sortino_ratio(r, risk_free, periods),
        "max_drawdown": max_drawdown(r),
        "max_drawdown_duration": float(max_drawdown_duration(r)),
        "calmar": calmar_ratio(r, periods),
        "periods": float(r.size),
    }
    metrics.update(trade_statistics(trade_pnl))
    if exposure is not None:
        e = np.asarray(exposure, dtype=float)
        metrics["exposure"] = float(np.mean(np.abs(e) > 1e-12)) if e.size else math.nan
    if mean_equity and r.size:
        metrics["turnover"] = traded_notional / mean_equity / (r.size / periods)
    return metrics


def _block_indices(n: int, block: int, resamples: int, seed: int) -> np.ndarray:
    """``resamples x n`` day indices made of circular blocks of ``block`` days."""
    rng = np.random.default_rng(seed)
    block = max(1, min(block, n))
    blocks = -(-n // block)
    starts = rng.integers(0, n, size=(resamples, blocks))
    index = (starts[:, :, None] + np.arange(block)[None, None, :]) % n
    out: np.ndarray = index.reshape(resamples, -1)[:, :n]
    return out


def _sharpe_rows(samples: np.ndarray, risk_free: float, periods: int) -> np.ndarray:
    excess = samples - _per_period_rf(risk_free, periods)
    std = excess.std(axis=1, ddof=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        out: np.ndarray = np.where(std > 0, excess.mean(axis=1) / std * math.sqrt(periods), np.nan)
    return out


def _interval(values: np.ndarray, confidence: float) -> tuple[float, float]:
    finite = values[np.isfinite(values)]
    if finite.size < values.size / 2 or not finite.size:
        return math.nan, math.nan
    tail = (1.0 - confidence) / 2 * 100
    low, high = np.percentile(finite, [tail, 100 - tail])
    return float(low), float(high)


def bootstrap_sharpe(
    returns: ArrayLike,
    *,
    resamples: int = 2000,
    block: int = 5,
    confidence: float = 0.95,
    seed: int = 0,
    risk_free: float = 0.0,
    periods: int = PERIODS_PER_YEAR,
) -> dict[str, float]:
    """The Sharpe ratio and its block-bootstrap interval (see the module docstring)."""
    r = _arr(returns)
    point = sharpe_ratio(r, risk_free, periods)
    if r.size < 2:
        return {"sharpe": point, "low": math.nan, "high": math.nan}
    samples = r[_block_indices(r.size, block, resamples, seed)]
    low, high = _interval(_sharpe_rows(samples, risk_free, periods), confidence)
    return {"sharpe": point, "low": low, "high": high}


def bootstrap_sharpe_difference(
    returns: ArrayLike,
    baseline: ArrayLike,
    *,
    resamples: int = 2000,
    block: int = 5,
    confidence: float = 0.95,
    seed: int = 0,
    risk_free: float = 0.0,
    periods: int = PERIODS_PER_YEAR,
) -> dict[str, float]:
    """Sharpe of ``returns`` minus Sharpe of ``baseline`` (same days), with a paired
    block-bootstrap interval and two-sided p-value."""
    a = np.asarray(returns, dtype=float)
    b = np.asarray(baseline, dtype=float)
    if a.shape != b.shape:
        raise ValueError("returns and baseline must cover the same days")
    keep = ~np.isnan(a) & ~np.isnan(b)
    a, b = a[keep], b[keep]
    point = sharpe_ratio(a, risk_free, periods) - sharpe_ratio(b, risk_free, periods)
    nan = {"difference": point, "low": math.nan, "high": math.nan, "p_value": math.nan}
    if a.size < 2:
        return nan
    index = _block_indices(a.size, block, resamples, seed)
    diff = _sharpe_rows(a[index], risk_free, periods) - _sharpe_rows(b[index], risk_free, periods)
    low, high = _interval(diff, confidence)
    finite = diff[np.isfinite(diff)]
    if math.isnan(low):
        return nan
    p_value = min(1.0, 2 * min(float(np.mean(finite <= 0)), float(np.mean(finite >= 0))))
    return {"difference": point, "low": low, "high": high, "p_value": p_value}


def power(
    low: float, high: float, confidence: float = 0.95, target: float = 0.8
) -> dict[str, float]:
    """The interval's half-width and the smallest difference it would detect: a true
    difference of ``detectable`` is significant at ``confidence`` with probability
    ``target`` (normal approximation, the interval's half-width as its error)."""
    half = (high - low) / 2
    z_level = NormalDist().inv_cdf((1 + confidence) / 2)
    z_power = NormalDist().inv_cdf(target)
    return {"half_width": half, "detectable": (z_level + z_power) * half / z_level}


def _day_rows(days: np.ndarray, block: int, resamples: int, seed: int) -> list[np.ndarray]:
    """Row indices of each resample: circular blocks of ``block`` days, every row of a
    drawn day included."""
    labels, inverse = np.unique(days, return_inverse=True)
    rows_of = [np.flatnonzero(inverse == i) for i in range(labels.size)]
    drawn = _block_indices(labels.size, block, resamples, seed)
    return [np.concatenate([rows_of[d] for d in sample]) for sample in drawn]


def _bootstrapped(
    statistic: Callable[[np.ndarray], float], data: np.ndarray, resamples: list[np.ndarray]
) -> np.ndarray:
    return np.array([statistic(data[rows]) for rows in resamples], dtype=float)


def paired_difference(
    statistic: Callable[[np.ndarray], float],
    a: ArrayLike | np.ndarray,
    b: ArrayLike | np.ndarray,
    *,
    days: ArrayLike | np.ndarray | None = None,
    resamples: int = 2000,
    block: int = 5,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict[str, float]:
    """``statistic(a) - statistic(b)`` over paired rows (``a[i]`` and ``b[i]`` are the
    same symbol and day; a row may hold several columns, such as score and forward
    return), with the paired moving-block bootstrap over ``days`` (one label per row;
    None: each row is a day), its two-sided p-value and its power (module docstring)."""
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if x.shape != y.shape:
        raise ValueError("a and b must hold the same rows")
    labels = np.arange(len(x)) if days is None else np.asarray(days)
    if labels.shape[0] != len(x):
        raise ValueError("days must label every row")
    point = statistic(x) - statistic(y)
    out = {"difference": point, "low": math.nan, "high": math.nan, "p_value": math.nan}
    out.update(half_width=math.nan, detectable=math.nan)
    if len(np.unique(labels)) < 2:
        return out
    drawn = _day_rows(labels, block, resamples, seed)  # the same days for both
    diff = _bootstrapped(statistic, x, drawn) - _bootstrapped(statistic, y, drawn)
    low, high = _interval(diff, confidence)
    if math.isnan(low):
        return out
    finite = diff[np.isfinite(diff)]
    p_value = min(1.0, 2 * min(float(np.mean(finite <= 0)), float(np.mean(finite >= 0))))
    out.update(low=low, high=high, p_value=p_value, **power(low, high, confidence))
    return out


def agreement(
    a: Sequence[str] | np.ndarray,
    b: Sequence[str] | np.ndarray,
    *,
    days: ArrayLike | np.ndarray | None = None,
    resamples: int = 2000,
    block: int = 5,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict[str, float]:
    """The share of rows where ``a`` and ``b`` agree (the same action on the same symbol
    and day), with its moving-block bootstrap interval over ``days``."""
    same = (np.asarray(a, dtype=object) == np.asarray(b, dtype=object)).astype(float)
    if same.size == 0:
        return {"agreement": math.nan, "low": math.nan, "high": math.nan}
    labels = np.arange(same.size) if days is None else np.asarray(days)
    drawn = _day_rows(labels, block, resamples, seed)
    low, high = _interval(_bootstrapped(np.mean, same, drawn), confidence)
    return {"agreement": float(same.mean()), "low": low, "high": high}


def hit_rate(scores: ArrayLike, forward_returns: ArrayLike) -> float:
    """Share of non-zero scores whose sign matches the forward return's."""
    s = np.asarray(scores, dtype=float)
    f = np.asarray(forward_returns, dtype=float)
    mask = (s != 0) & ~np.isnan(s) & ~np.isnan(f)
    if not mask.any():
        return math.nan
    return float(np.mean(np.sign(s[mask]) == np.sign(f[mask])))


def _paired(scores: ArrayLike, forward_returns: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    s = np.asarray(scores, dtype=float)
    f = np.asarray(forward_returns, dtype=float)
    mask = ~np.isnan(s) & ~np.isnan(f)
    return s[mask], f[mask]


def information_coefficient(scores: ArrayLike, forward_returns: ArrayLike) -> float:
    """Pearson correlation of scores with forward returns."""
    s, f = _paired(scores, forward_returns)
    if s.size < 3 or np.std(s) == 0 or np.std(f) == 0:
        return math.nan
    return float(np.corrcoef(s, f)[0, 1])


def rank_information_coefficient(scores: ArrayLike, forward_returns: ArrayLike) -> float:
    """Spearman correlation (average ranks for ties) of scores with forward returns."""
    s, f = _paired(scores, forward_returns)
    if s.size < 3:
        return math.nan
    return information_coefficient(pd.Series(s).rank().to_numpy(), pd.Series(f).rank().to_numpy())


def brier_score(confidence: ArrayLike, correct: ArrayLike) -> float:
    """Mean squared gap between stated confidence and the 0/1 outcome."""
    c = np.asarray(confidence, dtype=float)
    y = np.asarray(correct, dtype=float)
    mask = ~np.isnan(c) & ~np.isnan(y)
    return float(np.mean((c[mask] - y[mask]) ** 2)) if mask.any() else math.nan


def signal_metrics(
    scores: ArrayLike, confidence: ArrayLike, forward_returns: ArrayLike
) -> dict[str, Any]:
    """Hit rate, IC, rank IC and Brier score of one agent's signals."""
    s = np.asarray(scores, dtype=float)
    f = np.asarray(forward_returns, dtype=float)
    directional = (s != 0) & ~np.isnan(f)
    correct = np.where(directional, (np.sign(s) == np.sign(f)).astype(float), np.nan)
    return {
        "n": int(np.sum(~np.isnan(s) & ~np.isnan(f))),
        "hit_rate": hit_rate(s, f),
        "ic": information_coefficient(s, f),
        "rank_ic": rank_information_coefficient(s, f),
        "brier": brier_score(confidence, correct),
    }


def expected_calibration_error(confidence: ArrayLike, correct: ArrayLike, bins: int = 10) -> float:
    """ECE over ``bins`` equal-width confidence bins (see the module docstring)."""
    c = np.asarray(confidence, dtype=float)
    y = np.asarray(correct, dtype=float)
    mask = ~np.isnan(c) & ~np.isnan(y)
    c, y = c[mask], y[mask]
    if not len(c):
        return math.nan
    index = np.minimum((np.clip(c, 0.0, 1.0) * bins).astype(int), bins - 1)
    total = 0.0
    for b in range(bins):
        members = index == b
        if members.any():
            total += members.mean() * abs(c[members].mean() - y[members].mean())
    return float(total)


def classification_metrics(truth: Sequence[str], predicted: Sequence[str | None]) -> dict[str, Any]:
    """Agreement, per-class precision/recall/F1 and macro F1 of ``predicted`` against
    ``truth`` (a ``None`` prediction, an invalid answer, counts as wrong)."""
    if len(truth) != len(predicted):
        raise ValueError("truth and predicted differ in length")
    n = len(truth)
    classes = sorted(set(truth))
    per_class: dict[str, dict[str, float]] = {}
    for label in classes:
        tp = sum(1 for t, p in zip(truth, predicted, strict=True) if t == label and p == label)
        fp = sum(1 for t, p in zip(truth, predicted, strict=True) if t != label and p == label)
        fn = sum(1 for t, p in zip(truth, predicted, strict=True) if t == label and p != label)
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class[label] = {
            "precision": precision, "recall": recall, "f1": f1, "support": float(tp + fn),
        }  # fmt: skip
    agree = sum(1 for t, p in zip(truth, predicted, strict=True) if t == p)
    return {
        "n": n,
        "agreement": agree / n if n else math.nan,
        "macro_f1": float(np.mean([v["f1"] for v in per_class.values()])) if classes else 0.0,
        "per_class": per_class,
    }


def _counts(values: ArrayLike, edges: Sequence[float]) -> np.ndarray:
    """Counts of ``values`` in the bins of ``edges``, the outer bins open-ended."""
    v = np.asarray(values, dtype=float)
    v = v[~np.isnan(v)]
    inner = np.asarray(edges, dtype=float)[1:-1]
    return np.bincount(np.searchsorted(inner, v, side="right"), minlength=len(edges) - 1)


def score_histogram(scores: ArrayLike) -> list[int]:
    """Counts of ``scores`` in the bins of ``SCORE_EDGES``."""
    return [int(c) for c in _counts(scores, SCORE_EDGES)]


def quantile_edges(reference: ArrayLike, bins: int = 10) -> list[float]:
    """Bin edges at the reference's quantiles (repeated edges merged)."""
    r = np.asarray(reference, dtype=float)
    r = r[~np.isnan(r)]
    if not r.size:
        return []
    edges = np.unique(np.quantile(r, np.linspace(0.0, 1.0, bins + 1)))
    return [float(e) for e in edges] if len(edges) > 2 else []


def population_stability(
    reference: ArrayLike,
    current: ArrayLike,
    edges: Sequence[float] | None = None,
    smoothing: float = 0.5,
) -> float:
    """PSI of ``current`` against ``reference`` (see the module docstring). With ``edges``
    both are raw values binned on them; without, both are counts over the same bins.
    NaN when either side is empty or the edges are degenerate."""
    if edges is not None:
        if len(edges) < 3:
            return math.nan
        ref, cur = _counts(reference, edges), _counts(current, edges)
    else:
        ref, cur = np.asarray(reference, dtype=float), np.asarray(current, dtype=float)
        if ref.shape != cur.shape:
            raise ValueError("reference and current counts cover different bins")
    if ref.sum() <= 0 or cur.sum() <= 0:
        return math.nan
    r = (ref + smoothing) / (ref.sum() + smoothing * len(ref))
    c = (cur + smoothing) / (cur.sum() + smoothing * len(cur))
    return float(np.sum((c - r) * np.log(c / r)))


def percentile(values: ArrayLike, q: float) -> float:
    """The ``q``-th percentile (0-100) of ``values``, NaN when there are none."""
    v = np.asarray(values, dtype=float)
    v = v[~np.isnan(v)]
    return float(np.percentile(v, q)) if v.size else math.nan

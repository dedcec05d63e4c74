"""The metrics module against empyrical-reloaded on the same returns (1e-9 relative)."""

from __future__ import annotations

import math

import empyrical
import numpy as np
import pandas as pd
import pytest
from scipy import stats as scipy_stats

from stockagents.data.sample import SAMPLE_SYMBOLS, SamplePriceProvider
from stockagents.evaluation import metrics as m

REL = 1e-9


def _sample_returns(symbol: str) -> pd.Series:
    provider = SamplePriceProvider()
    close = provider.prices(symbol, as_of=provider.date_range(symbol)[1])["close"]
    return close.pct_change().dropna()


SERIES = {
    **{s: _sample_returns(s) for s in SAMPLE_SYMBOLS},
    "noise": pd.Series(np.random.default_rng(0).normal(0.0004, 0.015, 600)),
    "short": pd.Series([0.01, -0.02, 0.005, 0.03, -0.01]),
}


@pytest.mark.parametrize("name", list(SERIES))
@pytest.mark.parametrize("rf", [0.0, 0.03])
def test_ratios_match_empyrical(name: str, rf: float) -> None:
    r = SERIES[name]
    rf_daily = (1 + rf) ** (1 / 252) - 1
    assert m.sharpe_ratio(r, risk_free=rf) == pytest.approx(
        empyrical.sharpe_ratio(r, risk_free=rf_daily), rel=REL
    )
    assert m.sortino_ratio(r, risk_free=rf) == pytest.approx(
        empyrical.sortino_ratio(r, required_return=rf_daily), rel=REL
    )


@pytest.mark.parametrize("name", list(SERIES))
def test_levels_match_empyrical(name: str) -> None:
    r = SERIES[name]
    assert m.total_return(r) == pytest.approx(empyrical.cum_returns_final(r), rel=REL)
    assert m.cagr(r) == pytest.approx(empyrical.annual_return(r), rel=REL)
    assert m.annual_volatility(r) == pytest.approx(empyrical.annual_volatility(r), rel=REL)
    assert m.max_drawdown(r) == pytest.approx(empyrical.max_drawdown(r), rel=REL)
    assert m.calmar_ratio(r) == pytest.approx(empyrical.calmar_ratio(r), rel=REL)


def test_first_day_loss_is_a_drawdown() -> None:
    assert m.max_drawdown([-0.1, 0.05]) == pytest.approx(-0.1)
    assert m.max_drawdown_duration([-0.1, 0.05, 0.06, -0.01]) == 2


def test_drawdown_duration_by_hand() -> None:
    r = [0.1, -0.05, -0.05, 0.02, 0.2, -0.01, 0.02]
    # Below the 1.1 peak for 3 periods, then a new high, then 1 period below.
    assert m.max_drawdown_duration(r) == 3


def test_trade_statistics_by_hand() -> None:
    stats = m.trade_statistics([100.0, -50.0, 25.0, -25.0])
    assert stats["trades"] == 4
    assert stats["win_rate"] == 0.5
    assert stats["profit_factor"] == pytest.approx(125 / 75)
    assert stats["avg_win"] == pytest.approx(62.5)
    assert stats["avg_loss"] == pytest.approx(-37.5)
    assert stats["expectancy"] == pytest.approx(12.5)
    assert m.profit_factor([10.0]) == math.inf
    assert math.isnan(m.trade_statistics([])["win_rate"])


def test_degenerate_inputs_are_nan_not_errors() -> None:
    assert math.isnan(m.sharpe_ratio([0.01, 0.01, 0.01]))
    assert math.isnan(m.sharpe_ratio([]))
    assert math.isnan(m.calmar_ratio([0.01, 0.02]))


def test_compute_metrics_keys_and_turnover() -> None:
    r = SERIES["noise"]
    out = m.compute_metrics(
        r,
        trade_pnl=[1.0, -0.5],
        exposure=[0, 1, 1, 0],
        traded_notional=252_000.0,
        mean_equity=100_000.0,
    )
    assert out["sharpe"] == m.sharpe_ratio(r)
    assert out["exposure"] == 0.5
    assert out["turnover"] == pytest.approx(252_000 / 100_000 / (600 / 252))
    assert out["trades"] == 2


def test_signal_metrics_against_scipy() -> None:
    rng = np.random.default_rng(3)
    scores = rng.uniform(-1, 1, 300)
    forward = 0.02 * scores + rng.normal(0, 0.02, 300)
    conf = rng.uniform(0, 1, 300)
    out = m.signal_metrics(scores, conf, forward)
    assert out["ic"] == pytest.approx(scipy_stats.pearsonr(scores, forward)[0], rel=REL)
    assert out["rank_ic"] == pytest.approx(scipy_stats.spearmanr(scores, forward)[0], rel=REL)
    expected_hit = np.mean(np.sign(scores) == np.sign(forward))
    assert out["hit_rate"] == pytest.approx(expected_hit)
    correct = (np.sign(scores) == np.sign(forward)).astype(float)
    assert out["brier"] == pytest.approx(np.mean((conf - correct) ** 2))
    assert out["n"] == 300


def test_classification_metrics_match_scikit_learn() -> None:
    from sklearn.metrics import accuracy_score, f1_score, precision_recall_fscore_support

    from stockagents.evaluation.metrics import classification_metrics

    rng = np.random.default_rng(3)
    labels = ["bearish", "bullish", "neutral"]
    truth = [labels[i] for i in rng.integers(0, 3, 300)]
    predicted: list[str | None] = [
        t if rng.random() < 0.7 else labels[int(rng.integers(0, 3))] for t in truth
    ]
    predicted[:10] = [None] * 10  # invalid answers count as wrong
    ours = classification_metrics(truth, predicted)
    theirs_pred = [p if p is not None else "invalid" for p in predicted]
    assert ours["agreement"] == pytest.approx(accuracy_score(truth, theirs_pred))
    assert ours["macro_f1"] == pytest.approx(
        f1_score(truth, theirs_pred, labels=labels, average="macro", zero_division=0)
    )
    p, r, f, s = precision_recall_fscore_support(truth, theirs_pred, labels=labels, zero_division=0)
    for i, label in enumerate(labels):
        assert ours["per_class"][label]["precision"] == pytest.approx(p[i])
        assert ours["per_class"][label]["recall"] == pytest.approx(r[i])
        assert ours["per_class"][label]["f1"] == pytest.approx(f[i])
        assert ours["per_class"][label]["support"] == s[i]


def test_expected_calibration_error() -> None:
    from stockagents.evaluation.metrics import expected_calibration_error

    # Perfectly calibrated bins give 0; always 90% sure but right half the time gives 0.4.
    assert expected_calibration_error([0.5, 0.5, 1.0, 1.0], [1, 0, 1, 1]) == pytest.approx(0.0)
    assert expected_calibration_error([0.9] * 4, [1, 0, 1, 0]) == pytest.approx(0.4)
    assert np.isnan(expected_calibration_error([], []))


def _annual_sharpe(sample: np.ndarray, axis: int = -1) -> np.ndarray:
    result: np.ndarray = sample.mean(axis=axis) / sample.std(axis=axis, ddof=1) * math.sqrt(252)
    return result


def test_bootstrap_interval_matches_scipy_with_one_day_blocks() -> None:
    returns = np.random.default_rng(7).normal(0.0008, 0.012, 250)
    ours = m.bootstrap_sharpe(returns, resamples=20000, block=1, seed=1)
    theirs = scipy_stats.bootstrap(
        (returns,), _annual_sharpe, n_resamples=20000, method="percentile",
        confidence_level=0.95, random_state=2,
    ).confidence_interval  # fmt: skip
    assert ours["sharpe"] == pytest.approx(m.sharpe_ratio(returns))
    assert ours["low"] == pytest.approx(theirs.low, abs=0.1)
    assert ours["high"] == pytest.approx(theirs.high, abs=0.1)
    assert ours["low"] < ours["sharpe"] < ours["high"]


def test_bootstrap_is_seeded_and_blocks_widen_it_for_clustered_returns() -> None:
    rng = np.random.default_rng(3)
    trend = np.repeat(rng.normal(0.001, 0.01, 50), 5)  # five-day runs: strongly clustered
    a = m.bootstrap_sharpe(trend, block=1, seed=0)
    assert a == m.bootstrap_sharpe(trend, block=1, seed=0)
    b = m.bootstrap_sharpe(trend, block=10, seed=0)
    assert (b["high"] - b["low"]) > (a["high"] - a["low"])
    assert math.isnan(m.bootstrap_sharpe(np.zeros(60))["low"])  # no variation: no interval


def test_bootstrap_difference_is_paired() -> None:
    rng = np.random.default_rng(5)
    market = rng.normal(0.0005, 0.015, 120)
    better = market + 0.002  # the same days, a steady edge
    same = m.bootstrap_sharpe_difference(market, market)
    assert (same["difference"], same["low"], same["high"]) == (0.0, 0.0, 0.0)
    edge = m.bootstrap_sharpe_difference(better, market)
    assert edge["difference"] > 0
    assert edge["low"] > 0
    assert edge["p_value"] < 0.05
    unpaired = m.bootstrap_sharpe(better)["low"] - m.bootstrap_sharpe(market)["high"]
    assert unpaired < 0  # unpaired intervals overlap: the pairing is what resolves it
    with pytest.raises(ValueError, match="same days"):
        m.bootstrap_sharpe_difference(market, market[:-1])


def test_paired_difference_by_hand() -> None:
    days = np.repeat(np.arange(50), 2)  # two symbols a day
    base = np.random.default_rng(1).normal(0.0, 0.01, 100)
    # a constant edge: every resample shows it exactly, so the interval is the point
    edge = m.paired_difference(np.mean, base + 0.001, base, days=days)
    assert edge["difference"] == pytest.approx(0.001)
    assert (edge["low"], edge["high"]) == (pytest.approx(0.001), pytest.approx(0.001))
    assert edge["p_value"] == 0.0
    assert edge["half_width"] == pytest.approx(0.0, abs=1e-15)
    same = m.paired_difference(np.mean, base, base, days=days)
    assert (same["difference"], same["low"], same["high"], same["p_value"]) == (0, 0, 0, 1)
    with pytest.raises(ValueError, match="same rows"):
        m.paired_difference(np.mean, base, base[:-1])
    with pytest.raises(ValueError, match="label every row"):
        m.paired_difference(np.mean, base, base, days=days[:-1])
    assert math.isnan(m.paired_difference(np.mean, base[:1], base[:1])["low"])


def test_paired_difference_moves_whole_days() -> None:
    # rows of a day share a value; a resample that split days would break the pairs
    days = np.repeat(np.arange(40), 3)
    values = np.repeat(np.arange(40, dtype=float), 3)

    def rows_per_day_are_whole(rows: np.ndarray) -> float:
        counts = np.unique(rows, return_counts=True)[1]
        return float(np.all(counts % 3 == 0))

    distinct = np.arange(120, dtype=float)  # each value once: never whole, always 0
    whole = m.paired_difference(rows_per_day_are_whole, values, distinct, days=days)
    assert (whole["difference"], whole["low"], whole["high"]) == (1.0, 1.0, 1.0)


def test_paired_difference_interval_matches_the_normal_theory() -> None:
    # independent days, one-day blocks: the half-width of a mean difference is about
    # 1.96 * sd(a - b) / sqrt(n)
    rng = np.random.default_rng(11)
    a, b = rng.normal(0.001, 0.02, 2000), rng.normal(0.0, 0.02, 2000)
    out = m.paired_difference(np.mean, a, b, block=1, resamples=4000, seed=3)
    expected = 1.96 * np.std(a - b, ddof=1) / math.sqrt(2000)
    assert out["half_width"] == pytest.approx(expected, rel=0.08)
    # 80% power at 5%: (1.96 + 0.84) / 1.96 half-widths
    assert out["detectable"] == pytest.approx(out["half_width"] * (1.959964 + 0.841621) / 1.959964)


def test_power_by_hand() -> None:
    assert m.power(-1.0, 1.0) == pytest.approx({"half_width": 1.0, "detectable": 1.4294}, rel=1e-4)
    assert m.power(0.0, 2.0, confidence=0.9)["detectable"] == pytest.approx(
        (1.644854 + 0.841621) / 1.644854
    )


def test_agreement_by_hand() -> None:
    days = np.repeat(np.arange(30), 2)
    buy = ["BUY"] * 60
    assert m.agreement(buy, buy, days=days) == {"agreement": 1.0, "low": 1.0, "high": 1.0}
    half = ["BUY", "HOLD"] * 30  # the same share every day: every resample gives 0.5
    assert m.agreement(buy, half, days=days) == {"agreement": 0.5, "low": 0.5, "high": 0.5}
    mixed = m.agreement(buy, ["BUY"] * 30 + ["SELL"] * 30, days=days)
    assert mixed["agreement"] == 0.5
    assert mixed["low"] < 0.5 < mixed["high"]
    assert math.isnan(m.agreement([], [])["agreement"])

"""Verdict rules, live metrics and drift, on numbers built by hand."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import numpy as np
import pytest

from stockagents.core.config import AppConfig, MonitorRulesConfig
from stockagents.evaluation.metrics import population_stability, quantile_edges, score_histogram
from stockagents.monitoring.health import drift, drift_reference, judge, live_metrics

DAY = dt.date(2023, 9, 1)
RULES = MonitorRulesConfig(min_decisions=20, min_directional=10)


def _metrics(**changes: Any) -> dict[str, Any]:
    base = {
        "decisions": 60, "realised": 50, "directional": 20, "days": 30, "book_days": 30,
        "sharpe": 1.0, "sharpe_low": -0.5, "sharpe_high": 2.5, "total_return": 0.01,
        "max_drawdown": -0.02, "hit_rate": 0.55, "ic": 0.05, "brier": 0.24, "ece": 0.05,
        "valid_share": 1.0, "latency_p50_ms": 100.0, "latency_p95_ms": 300.0,
        "actions": {"BUY": 20, "SELL": 0, "HOLD": 40},
    }  # fmt: skip
    base.update(changes)
    return base


EVALUATION = {
    "set": {
        "metrics": {"with_costs": {"sharpe": 1.5, "max_drawdown": -0.04}},
        "sharpe_interval": {"sharpe": 1.5, "low": 0.2, "high": 2.8},
        "agents_quality": {"strategist": {"brier": 0.22, "hit_rate": 0.56, "valid_rate": 1.0}},
        "actions": {"BUY": 30, "SELL": 0, "HOLD": 60},
        "drift_blocks": {
            "strategist": [[0, 0, 0, 0, 0, 20, 5, 5, 5, 0]] * 2 + [[0, 0, 0, 0, 0, 5, 5, 5, 5, 0]],
            "actions": [[10, 0, 20], [10, 0, 20], [15, 0, 15]],
        },
    }
}


def _verdict(metrics: dict[str, Any], psi: dict[str, float | None] | None = None,
             evaluation: dict[str, Any] | None = EVALUATION, **kw: Any) -> tuple[str, list[str]]:  # fmt: skip
    health = judge("r1", DAY, metrics, psi or {}, evaluation, RULES, 0.20, **kw)
    return health.verdict, health.reasons


@pytest.mark.parametrize(
    ("changes", "expected", "reason"),
    [
        ({}, "healthy", "every rule within bounds"),
        ({"realised": 19}, "pending", "19 of 20 decisions realised"),
        ({"valid_share": 0.95}, "watch", "valid output 95% < 98%"),
        ({"valid_share": 0.5}, "degraded", "valid output 50% < 90%"),
        ({"brier": 0.30}, "watch", "Brier 0.300 > the evaluation's 0.220 + 0.05"),
        ({"brier": 0.40}, "degraded", "Brier 0.400 > the evaluation's 0.220 + 0.15"),
        ({"brier": 0.40, "directional": 9}, "healthy", "every rule"),  # too few BUY/SELL yet
        ({"sharpe": 0.1}, "watch", "Sharpe 0.10 below the evaluation's interval"),
        ({"sharpe": -2.0, "sharpe_high": 0.1}, "degraded", "Sharpe interval up to 0.10"),
        ({"max_drawdown": -0.07}, "watch", "drawdown -7.0% deeper than 1.5x"),
        ({"max_drawdown": -0.045}, "healthy", "every rule"),  # beyond 1.5x but under 5%
        ({"max_drawdown": -0.25}, "degraded", "drawdown -25.0% deeper than the criterion"),
    ],
)
def test_each_rule(changes: dict[str, Any], expected: str, reason: str) -> None:
    verdict, reasons = _verdict(_metrics(**changes))
    assert verdict == expected
    assert reasons[0].startswith(reason)


def test_without_an_evaluation_the_fallbacks_apply() -> None:
    assert _verdict(_metrics(brier=0.45), evaluation=None)[1][0].startswith(
        "Brier 0.450 > a coin's 0.250 + 0.15"
    )
    assert _verdict(_metrics(sharpe=-3.0, sharpe_high=-1.0), evaluation=None)[0] == "healthy"


def test_the_worst_finding_decides_and_every_reason_is_kept() -> None:
    verdict, reasons = _verdict(_metrics(valid_share=0.5, brier=0.30))
    assert verdict == "degraded"
    assert reasons[0].startswith("valid output")
    assert reasons[1].startswith("Brier")


def test_drift_rules_use_the_calibrated_limits() -> None:
    psi = {"feature:rsi_14": 0.8, "scores:strategist": 0.1}
    assert _verdict(_metrics(), psi)[0] == "watch"
    assert _verdict(_metrics(), psi, limits={"feature:rsi_14": 1.0})[0] == "healthy"
    assert _verdict(_metrics(), {"actions": 0.3}, limits={"feature:rsi_14": 1.0})[1][0] == (
        "drift: PSI of actions 0.30 > 0.25"
    )
    strict = RULES.model_copy(update={"psi_degraded": 0.5})
    health = judge("r1", DAY, _metrics(), {"actions": 0.6}, EVALUATION, strict, 0.2)
    assert health.verdict == "degraded"


def test_live_metrics_from_rows() -> None:
    rng = np.random.default_rng(0)
    rows = []
    for i in range(40):
        forward = 0.01 if i % 4 else -0.01
        rows.append({"day": DAY + dt.timedelta(days=i), "action": "BUY" if i % 2 else "HOLD",
                     "confidence": 0.75, "forward_return": forward, "valid": i != 3,
                     "latency_ms": float(i)})  # fmt: skip
    book = [{"daily_return": float(r)} for r in rng.normal(0.001, 0.01, 30)]
    m = live_metrics(rows, book)
    assert m["decisions"] == 40
    assert m["realised"] == 40
    assert m["directional"] == 20
    assert m["hit_rate"] == pytest.approx(1.0)  # every BUY (odd i) saw a rise
    assert m["brier"] == pytest.approx(0.0625)
    assert m["valid_share"] == pytest.approx(39 / 40)
    assert m["latency_p50_ms"] == pytest.approx(19.5)
    assert m["actions"]["BUY"] == 20
    assert m["sharpe_low"] < m["sharpe"] < m["sharpe_high"]
    assert live_metrics(rows, book[:5])["sharpe"] is None  # too few days for a Sharpe


def test_population_stability_against_a_hand_computation() -> None:
    assert population_stability([10, 10], [10, 10]) == 0.0
    r, c = (5.5 / 11, 5.5 / 11), (3.5 / 5, 1.5 / 5)  # counts + 0.5 each
    expected = sum((ci - ri) * math.log(ci / ri) for ri, ci in zip(r, c, strict=True))
    assert population_stability([5, 5], [3, 1]) == pytest.approx(expected)
    edges = quantile_edges(np.arange(100.0))
    assert len(edges) == 11
    same = population_stability(np.arange(100.0), np.arange(100.0), edges)
    assert same == pytest.approx(0.0, abs=1e-9)
    shifted = population_stability(np.arange(100.0), np.arange(100.0) + 50, edges)
    assert shifted > 1.0
    assert score_histogram([-1.0, -0.05, 0.0, 0.95, 1.0]) == [1, 0, 0, 0, 1, 1, 0, 0, 0, 2]


def test_drift_against_the_training_segment_and_the_evaluation(sample_sources: Any) -> None:
    prices = {s: sample_sources.prices.prices(s, as_of=dt.date(2023, 9, 21)) for s in ("AAPL",)}
    reference = drift_reference(prices, AppConfig())
    assert reference["threshold"] > 0
    assert set(reference["edges"]) >= {"rsi_14", "atr_pct"}
    rows = [{"action": "BUY", "confidence": 0.6, "features": {"rsi_14": 95.0},
             "signals": {"technical": {"score": 0.1}}}] * 30  # fmt: skip
    psi, limits = drift(rows, reference, EVALUATION, window_days=20)
    assert psi["feature:rsi_14"] > 3  # every day overbought: far outside the reference
    assert psi["feature:atr_pct"] is None  # no live values
    assert limits["feature:rsi_14"] == reference["threshold"]
    assert psi["actions"] > 1  # only BUY against a third BUY
    # one-block windows of the evaluation against all of it: the third block moved most
    third = population_stability([35, 0, 55], [15, 0, 15])
    assert limits["actions"] == pytest.approx(np.quantile(
        [population_stability([35, 0, 55], [10, 0, 20])] * 2 + [third], 0.95))  # fmt: skip
    assert "scores:strategist" in limits

"""A release's live metrics, its drift, and its verdict: ``healthy``, ``watch`` or
``degraded`` (``pending`` until it has ``rules.min_decisions`` realised decisions).

Live metrics cover the release's last ``rules.window_days`` journaled days: the paper
book's Sharpe (with a block-bootstrap interval), return and drawdown on the days its
decisions were held; hit rate, IC, Brier and ECE of its decisions (BUY/SELL as
+/- confidence against the realised forward return, as the evaluation scores them); the
valid-output share; latency p50/p95. Every number comes from ``evaluation.metrics``.

Drift compares inputs with a reference: the indicators the agents read against the same
indicators over the training segment (``drift_reference``), and the agents' scores and
the action mix against the release's deployment evaluation. The rules (each
configurable in ``monitor.rules``; docs/MONITORING.md has the table):

- valid share under ``degraded_valid_share``: degraded; under ``watch_valid_share``: watch;
- Brier above the evaluation's (0.25, a coin's, without one) by ``brier_degraded_margin``:
  degraded; by ``brier_watch_margin``: watch;
- the live Sharpe's interval entirely below the evaluation's: degraded; the live Sharpe
  below the evaluation's interval: watch;
- a drawdown deeper than the deployment criterion (``deployment.max_drawdown``): degraded;
  deeper than ``drawdown_watch_multiple`` times the evaluation's and than
  ``drawdown_watch_floor``: watch;
- the largest PSI over ``psi_degraded`` (off by default): degraded; over ``psi_watch``:
  watch;
- latency p95 over ``max_latency_p95_ms`` (off by default): watch.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from stockagents.core.config import AppConfig, MonitorRulesConfig
from stockagents.core.errors import StockAgentsError
from stockagents.data.splits import compute_splits
from stockagents.evaluation.metrics import (
    bootstrap_sharpe,
    brier_score,
    expected_calibration_error,
    hit_rate,
    information_coefficient,
    max_drawdown,
    percentile,
    population_stability,
    quantile_edges,
    score_histogram,
    sharpe_ratio,
    total_return,
)
from stockagents.evaluation.summary import DRIFT_BLOCK_DAYS
from stockagents.features.indicators import compute_indicators

__all__ = [
    "DRIFT_FEATURES",
    "Health",
    "drift_reference",
    "judge",
    "live_metrics",
]

Verdict = Literal["pending", "healthy", "watch", "degraded"]
VERDICTS: tuple[Verdict, ...] = ("pending", "healthy", "watch", "degraded")
_RANK = {v: i for i, v in enumerate(VERDICTS)}

#: The indicators drift watches: scale-free, so a price level is not a shift.
DRIFT_FEATURES = (
    "rsi_14", "bb_pct_b", "bb_width", "atr_pct", "stoch_k", "adx_14", "volume_ratio",
    "dist_52w_high",
)  # fmt: skip
_AGENTS = ("news", "technical", "fundamental", "strategist")
_ACTIONS = ("BUY", "SELL", "HOLD")
#: A coin's Brier score: the reference when a release has no evaluation.
_COIN_BRIER = 0.25


@dataclass
class Health:
    """A release's verdict on a day, why, and the numbers behind it."""

    release: str
    day: dt.date
    verdict: Verdict
    reasons: list[str]
    metrics: dict[str, Any]
    reference: dict[str, Any] = field(default_factory=dict)


def _side_scores(rows: Sequence[Mapping[str, Any]]) -> np.ndarray:
    side = {"BUY": 1.0, "SELL": -1.0}
    return np.array([side.get(r["action"], 0.0) * r["confidence"] for r in rows], float)


def _finite(value: float) -> float | None:
    return None if value is None or not math.isfinite(value) else round(float(value), 6)


def live_metrics(
    decisions: Sequence[Mapping[str, Any]],
    book: Sequence[Mapping[str, Any]],
    risk_free: float = 0.0,
) -> dict[str, Any]:
    """The release's rolling metrics from its decisions and its book days."""
    realised = [r for r in decisions if r.get("forward_return") is not None]
    scores = _side_scores(realised)
    forward = np.array([r["forward_return"] for r in realised], float)
    directional = scores != 0
    correct = (np.sign(scores[directional]) == np.sign(forward[directional])).astype(float)
    confidence = np.array([r["confidence"] for r in realised], float)[directional]
    returns = np.array([b["daily_return"] for b in book], float)
    interval = (
        bootstrap_sharpe(returns, risk_free=risk_free, block=5, resamples=500, seed=0)
        if len(returns) >= 10
        else {"sharpe": math.nan, "low": math.nan, "high": math.nan}
    )
    actions = Counter(r["action"] for r in decisions)
    latency = [r["latency_ms"] for r in decisions]
    return {
        "decisions": len(decisions),
        "realised": len(realised),
        "directional": int(directional.sum()),
        "days": len({r["day"] for r in decisions}),
        "book_days": len(returns),
        "sharpe": _finite(sharpe_ratio(returns, risk_free)) if len(returns) >= 10 else None,
        "sharpe_low": _finite(interval["low"]),
        "sharpe_high": _finite(interval["high"]),
        "total_return": _finite(total_return(returns)) if len(returns) else None,
        "max_drawdown": _finite(max_drawdown(returns)) if len(returns) else None,
        "hit_rate": _finite(hit_rate(scores, forward)) if len(realised) else None,
        "ic": _finite(information_coefficient(scores, forward)) if len(realised) else None,
        "brier": _finite(brier_score(confidence, correct)) if len(correct) else None,
        "ece": _finite(expected_calibration_error(confidence, correct)) if len(correct) else None,
        "valid_share": (
            _finite(float(np.mean([bool(r["valid"]) for r in decisions]))) if decisions else None
        ),
        "latency_p50_ms": _finite(percentile(latency, 50)) if latency else None,
        "latency_p95_ms": _finite(percentile(latency, 95)) if latency else None,
        "actions": {a: actions.get(a, 0) for a in _ACTIONS},
    }


def drift_reference(
    prices: Mapping[str, pd.DataFrame],
    config: AppConfig,
    windows: int = 50,
    level: float = 0.95,
) -> dict[str, Any]:
    """The drift features over the training segment of ``prices`` (bars up to the
    monitor's date): their decile edges, and the calibrated threshold: the ``level``
    quantile of the largest feature PSI of ``windows`` random stretches of
    ``rules.window_days`` days inside the segment against the whole segment (the drift a
    window that long shows when nothing has changed but the market's mood)."""
    calendar = sorted({d.date() for frame in prices.values() for d in frame.index})
    try:
        train = compute_splits(calendar, config.splits).train
    except StockAgentsError:  # too little data for a split: no reference, no drift verdict
        return {}
    frames = []
    for frame in prices.values():
        indicators = compute_indicators(frame)
        frames.append(indicators.loc[pd.Timestamp(train.start) : pd.Timestamp(train.end)])
    inside = pd.concat(frames)[list(DRIFT_FEATURES)].sort_index()
    values = {name: inside[name].dropna().to_numpy() for name in DRIFT_FEATURES}
    edges = {name: quantile_edges(v) for name, v in values.items()}
    days = sorted(set(inside.index))
    length = config.monitor.rules.window_days
    worst = []
    if len(days) > 2 * length:
        starts = np.random.default_rng(0).integers(0, len(days) - length, size=windows)
        for start in starts:
            chunk = inside.loc[days[start] : days[start + length - 1]]
            psi = [
                population_stability(values[n], chunk[n].dropna().to_numpy(), edges[n])
                for n in DRIFT_FEATURES
            ]
            finite = [x for x in psi if math.isfinite(x)]
            if finite:
                worst.append(max(finite))
    return {
        "window": {"start": train.start.isoformat(), "end": train.end.isoformat()},
        "edges": edges,
        "values": values,
        "threshold": float(np.quantile(worst, level)) if worst else None,
    }


def _live_counts(decisions: Sequence[Mapping[str, Any]], key: str) -> list[int]:
    """The live counterpart of one ``drift_blocks`` key."""
    if key == "actions":
        counts = Counter(r["action"] for r in decisions)
        return [counts.get(a, 0) for a in _ACTIONS]
    if key == "strategist":
        return score_histogram(_side_scores(decisions))
    scores = [r["signals"].get(key, {}).get("score", math.nan) for r in decisions]
    return score_histogram(np.array(scores, float))


def _block_limit(blocks: np.ndarray, window_blocks: int, level: float) -> float | None:
    """The ``level`` quantile of the PSI of every run of ``window_blocks`` consecutive
    blocks against all of them: the drift the evaluation itself shows at that length."""
    if len(blocks) <= window_blocks:
        return None
    total = blocks.sum(axis=0)
    values = [
        population_stability(total, blocks[i : i + window_blocks].sum(axis=0))
        for i in range(len(blocks) - window_blocks + 1)
    ]
    finite = [v for v in values if math.isfinite(v)]
    return float(np.quantile(finite, level)) if finite else None


def drift(
    decisions: Sequence[Mapping[str, Any]],
    reference: Mapping[str, Any],
    evaluation: Mapping[str, Any] | None,
    window_days: int = 60,
    level: float = 0.95,
) -> tuple[dict[str, float | None], dict[str, float]]:
    """PSI of each drift feature, each agent's scores and the action mix; and each one's
    calibrated limit (features: the training windows'; scores and actions: what windows
    of ``window_days`` inside the evaluation show against the whole evaluation)."""
    psi: dict[str, float | None] = {}
    limits: dict[str, float] = {}
    for name, edges in (reference.get("edges") or {}).items():
        live = [r["features"].get(name) for r in decisions]
        live_values = [v for v in live if v is not None]
        value = population_stability(reference["values"][name], live_values, edges)
        psi[f"feature:{name}"] = _finite(value) if live_values else None
        if reference.get("threshold") is not None:
            limits[f"feature:{name}"] = float(reference["threshold"])
    entry = (evaluation or {}).get("set") or {}
    window_blocks = max(1, round(window_days / DRIFT_BLOCK_DAYS))
    for key, counts in (entry.get("drift_blocks") or {}).items():
        blocks = np.array(counts, dtype=float)
        if not blocks.size:
            continue
        name = key if key == "actions" else f"scores:{key}"
        psi[name] = _finite(population_stability(blocks.sum(axis=0), _live_counts(decisions, key)))
        limit = _block_limit(blocks, window_blocks, level)
        if limit is not None:
            limits[name] = limit
    return psi, limits


def _evaluation_numbers(evaluation: Mapping[str, Any] | None) -> dict[str, float | None]:
    entry = (evaluation or {}).get("set") or {}
    metrics = (entry.get("metrics") or {}).get("with_costs") or {}
    interval = entry.get("sharpe_interval") or {}
    strategist = (entry.get("agents_quality") or {}).get("strategist") or {}
    return {
        "sharpe": metrics.get("sharpe"),
        "sharpe_low": interval.get("low"),
        "sharpe_high": interval.get("high"),
        "max_drawdown": metrics.get("max_drawdown"),
        "hit_rate": strategist.get("hit_rate"),
        "brier": strategist.get("brier"),
        "valid_share": strategist.get("valid_rate"),
    }


def judge(
    release: str,
    day: dt.date,
    metrics: Mapping[str, Any],
    psi: Mapping[str, float | None],
    evaluation: Mapping[str, Any] | None,
    rules: MonitorRulesConfig,
    max_drawdown_allowed: float,
    limits: Mapping[str, float] | None = None,
) -> Health:
    """The verdict on ``release`` by the module docstring's rules."""
    promised = _evaluation_numbers(evaluation)
    shown = {**metrics, "psi": dict(psi)}
    if metrics["realised"] < rules.min_decisions:
        return Health(
            release, day, "pending",
            [f"{metrics['realised']} of {rules.min_decisions} decisions realised"],
            shown, promised,
        )  # fmt: skip
    findings: list[tuple[Verdict, str]] = []
    valid = metrics["valid_share"]
    if valid is not None and valid < rules.degraded_valid_share:
        findings.append(
            ("degraded", f"valid output {valid:.0%} < {rules.degraded_valid_share:.0%}")
        )
    elif valid is not None and valid < rules.watch_valid_share:
        findings.append(("watch", f"valid output {valid:.0%} < {rules.watch_valid_share:.0%}"))
    brier, expected = metrics["brier"], promised["brier"]
    base = expected if expected is not None else _COIN_BRIER
    if brier is not None and metrics["directional"] >= rules.min_directional:
        source = "the evaluation's" if expected is not None else "a coin's"
        if brier > base + rules.brier_degraded_margin:
            findings.append(("degraded", f"Brier {brier:.3f} > {source} {base:.3f} + "
                             f"{rules.brier_degraded_margin:g}"))  # fmt: skip
        elif brier > base + rules.brier_watch_margin:
            findings.append(("watch", f"Brier {brier:.3f} > {source} {base:.3f} + "
                             f"{rules.brier_watch_margin:g}"))  # fmt: skip
    low = promised["sharpe_low"]
    if low is not None and metrics["sharpe"] is not None:
        if metrics["sharpe_high"] is not None and metrics["sharpe_high"] < low:
            findings.append(("degraded", f"Sharpe interval up to {metrics['sharpe_high']:.2f} "
                             f"lies below the evaluation's, from {low:.2f}"))  # fmt: skip
        elif metrics["sharpe"] < low:
            findings.append(("watch", f"Sharpe {metrics['sharpe']:.2f} below the evaluation's "
                             f"interval (from {low:.2f})"))  # fmt: skip
    dd = metrics["max_drawdown"]
    if dd is not None:
        if dd < -max_drawdown_allowed:
            findings.append(("degraded", f"drawdown {dd:.1%} deeper than the criterion "
                             f"-{max_drawdown_allowed:.0%}"))  # fmt: skip
        elif (
            promised["max_drawdown"] is not None
            and dd < rules.drawdown_watch_multiple * promised["max_drawdown"]
            and dd < -rules.drawdown_watch_floor
        ):
            findings.append(("watch", f"drawdown {dd:.1%} deeper than "
                             f"{rules.drawdown_watch_multiple:g}x the evaluation's "
                             f"{promised['max_drawdown']:.1%}"))  # fmt: skip
    for name, value in sorted(psi.items(), key=lambda kv: -(kv[1] or 0.0)):
        if value is None:
            continue
        # beyond what windows of the reference itself reach, too (``drift``'s limits)
        limit = max(rules.psi_watch, (limits or {}).get(name, 0.0))
        if rules.psi_degraded is not None and value > max(rules.psi_degraded, limit):
            high = max(rules.psi_degraded, limit)
            findings.append(("degraded", f"drift: PSI of {name} {value:.2f} > {high:.2f}"))
            break
        if value > limit:
            findings.append(("watch", f"drift: PSI of {name} {value:.2f} > {limit:.2f}"))
            break
    p95 = metrics["latency_p95_ms"]
    if rules.max_latency_p95_ms is not None and p95 is not None and p95 > rules.max_latency_p95_ms:
        findings.append(("watch", f"latency p95 {p95:.0f} ms > {rules.max_latency_p95_ms:g} ms"))
    verdict: Verdict = max((f[0] for f in findings), key=_RANK.__getitem__, default="healthy")
    reasons = [text for level, text in findings if level == verdict] + [
        text for level, text in findings if level != verdict
    ]
    return Health(release, day, verdict, reasons or ["every rule within bounds"], shown, promised)

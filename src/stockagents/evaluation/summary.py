"""Turning runs into the numbers of the evaluation report (``schema.SetResult``).

Every figure comes from ``stockagents.evaluation.metrics``: backtest metrics through
``backtest_metrics``, the analysts' hit rate, IC and Brier score through
``signal_metrics``, calibration error through ``expected_calibration_error``, Sharpe
intervals through the block bootstrap. Forward returns for signal quality are close to
close over ``horizon`` trading days after the decision date; a date without ``horizon``
later bars has none and is left out.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from stockagents.backtest.engine import BacktestResult
from stockagents.core.config import DeploymentConfig
from stockagents.core.jsonio import jsonable
from stockagents.evaluation.backtest_report import backtest_metrics
from stockagents.evaluation.cache import model_fingerprint
from stockagents.evaluation.criteria import check_criteria
from stockagents.evaluation.metrics import (
    bootstrap_sharpe,
    bootstrap_sharpe_difference,
    expected_calibration_error,
    power,
    score_histogram,
    signal_metrics,
)
from stockagents.evaluation.runner import SetRun, Step
from stockagents.evaluation.schema import (
    AgentQuality,
    BenchmarkResult,
    CalibrationBin,
    Criterion,
    JudgeSummary,
    SetResult,
    SharpeDifference,
    SharpeInterval,
)

__all__ = ["benchmark_result", "forward_returns", "set_result"]

AGENTS = ("news", "technical", "fundamental", "strategist")


def _clean(metrics: Mapping[str, Any]) -> dict[str, float | None]:
    cleaned: dict[str, float | None] = jsonable(dict(metrics))
    return cleaned


def forward_returns(
    prices: Mapping[str, pd.DataFrame], steps: Sequence[Step], horizon: int
) -> np.ndarray:
    """Close-to-close return over ``horizon`` bars after each step's date (NaN if cut)."""
    out = np.full(len(steps), np.nan)
    closes = {s: f["close"].to_numpy(dtype=float) for s, f in prices.items()}
    for i, step in enumerate(steps):
        index = prices[step.symbol].index
        pos = int(index.searchsorted(pd.Timestamp(step.day), side="right")) - 1
        series = closes[step.symbol]
        if pos >= 0 and pos + horizon < len(series) and series[pos] > 0:
            out[i] = series[pos + horizon] / series[pos] - 1.0
    return out


def _scores(steps: Sequence[Step], agent: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Score, confidence and validity of ``agent`` at each step."""
    scores, confidence, valid = [], [], []
    for step in steps:
        rec = step.recommendation
        if agent == "strategist":
            d = rec.decision
            side = {"BUY": 1.0, "SELL": -1.0}.get(d.action.value, 0.0)
            scores.append(side * d.confidence)
            confidence.append(d.confidence)
            valid.append(d.valid)
        else:
            s = rec.signals[agent]
            scores.append(s.score)
            confidence.append(s.confidence)
            valid.append(s.valid)
    return np.array(scores, float), np.array(confidence, float), np.array(valid, bool)


#: Trading days per block of ``drift_blocks`` (the monitor calibrates drift on them).
DRIFT_BLOCK_DAYS = 20


def drift_blocks(steps: Sequence[Step]) -> dict[str, list[list[int]]]:
    """Per agent, its scores in the bins of ``SCORE_EDGES``, and the action counts, for
    each block of ``DRIFT_BLOCK_DAYS`` trading days of the run in date order."""
    days = sorted({step.day for step in steps})
    block = {day: i // DRIFT_BLOCK_DAYS for i, day in enumerate(days)}
    grouped: dict[int, list[Step]] = {}
    for step in steps:
        grouped.setdefault(block[step.day], []).append(step)
    out: dict[str, list[list[int]]] = {agent: [] for agent in (*AGENTS, "actions")}
    for _, members in sorted(grouped.items()):
        for agent in AGENTS:
            out[agent].append(score_histogram(_scores(members, agent)[0]))
        actions = Counter(step.recommendation.decision.action.value for step in members)
        out["actions"].append([actions.get(a, 0) for a in ("BUY", "SELL", "HOLD")])
    return out


def _calibration(
    confidence: np.ndarray, correct: np.ndarray, bins: int = 5
) -> list[CalibrationBin]:
    out = []
    edges = np.linspace(0.0, 1.0, bins + 1)
    mask = ~np.isnan(correct)
    for low, high in itertools.pairwise(edges):
        inside = mask & (confidence >= low) & ((confidence < high) | (high == 1.0))
        n = int(inside.sum())
        out.append(
            CalibrationBin(
                low=float(low),
                high=float(high),
                n=n,
                confidence=float(confidence[inside].mean()) if n else None,
                hit_rate=float(correct[inside].mean()) if n else None,
            )
        )
    return out


def agent_quality(
    steps: Sequence[Step], agent: str, forward: np.ndarray, source: str
) -> AgentQuality:
    """Hit rate, IC, calibration and valid-output rate of one agent over ``steps``."""
    scores, confidence, valid = _scores(steps, agent)
    metrics = signal_metrics(scores, confidence, forward)
    directional = (scores != 0) & ~np.isnan(forward)
    correct = np.where(directional, (np.sign(scores) == np.sign(forward)).astype(float), np.nan)
    return AgentQuality(
        source=source,
        n=len(steps),
        valid_rate=float(valid.mean()) if len(valid) else None,
        directional=int(directional.sum()),
        ece=jsonable(expected_calibration_error(confidence, correct)),
        calibration=_calibration(confidence, correct),
        **jsonable({k: metrics[k] for k in ("hit_rate", "ic", "rank_ic", "brier")}),
    )


def _judge(run: SetRun) -> dict[str, JudgeSummary]:
    out = {}
    for agent, graded in run.grades.items():
        verdicts = [v for _, v in graded]
        ok = [v for v in verdicts if v.valid]
        worst = sorted(
            graded, key=lambda sv: (sv[1].evidence + sv[1].consistency) if sv[1].valid else -1.0
        )
        out[agent] = JudgeSummary(
            n=len(verdicts),
            evidence=float(np.mean([v.evidence for v in ok])) if ok else None,
            consistency=float(np.mean([v.consistency for v in ok])) if ok else None,
            invalid=len(verdicts) - len(ok),
            examples=[
                {
                    "symbol": s.symbol,
                    "date": s.day.isoformat(),
                    "evidence": v.evidence,
                    "consistency": v.consistency,
                    "comment": v.comment,
                }
                for s, v in worst[:3]
                if not v.valid or v.evidence + v.consistency < 2.0
            ],
        )
    return out


def _interval(result: BacktestResult, bootstrap: Mapping[str, Any]) -> SharpeInterval:
    values = bootstrap_sharpe(result.returns, risk_free=result.config.risk_free_rate, **bootstrap)
    return SharpeInterval(**jsonable(values))


def _difference(
    result: BacktestResult, other: BacktestResult, against: str, bootstrap: Mapping[str, Any]
) -> SharpeDifference:
    values = bootstrap_sharpe_difference(
        result.returns.to_numpy(), other.returns.reindex(result.returns.index).to_numpy(),
        risk_free=result.config.risk_free_rate, **bootstrap,
    )  # fmt: skip
    values.update(power(values["low"], values["high"], bootstrap.get("confidence", 0.95)))
    return SharpeDifference(against=against, **jsonable(values))


def _equity(result: BacktestResult) -> list[float | None]:
    normalised: list[float | None] = jsonable((result.equity / result.config.initial_cash).tolist())
    return normalised


def set_result(
    run: SetRun,
    *,
    prices: Mapping[str, pd.DataFrame],
    horizon: int,
    criteria: DeploymentConfig,
    baseline: SetRun | None,
    benchmark: BacktestResult,
    bootstrap: Mapping[str, Any],
) -> SetResult:
    """Every number the report shows for one model set."""
    with_costs = backtest_metrics(run.with_costs)
    checks = check_criteria(with_costs, criteria)
    forward = forward_returns(prices, run.steps, horizon)
    actions = Counter(step.recommendation.decision.action.value for step in run.steps)
    return SetResult(
        name=run.models.name,
        spec=run.models.spec,
        path=str(run.models.path) if run.models.path else None,
        baseline=run.models.is_baseline,
        agents=run.models.agents,
        model_hashes=model_fingerprint(run.models.agents),
        as_expert=run.models.as_expert,
        trained_on=run.models.describe()["trained_on"],
        model_versions=run.versions,
        metrics={
            "with_costs": _clean(with_costs),
            "without_costs": _clean(backtest_metrics(run.without_costs)),
        },
        per_symbol={
            symbol: {
                "with_costs": _clean(backtest_metrics(costs)),
                "without_costs": _clean(backtest_metrics(free)),
            }
            for symbol, (costs, free) in run.per_symbol.items()
        },
        criteria={name: Criterion(**jsonable(c)) for name, c in checks.items()},
        passed_criteria=all(c["passed"] for c in checks.values()),
        sharpe_interval=_interval(run.with_costs, bootstrap),
        sharpe_vs_baseline=(
            _difference(run.with_costs, baseline.with_costs, baseline.models.name, bootstrap)
            if baseline is not None and baseline is not run
            else None
        ),
        sharpe_vs_buy_and_hold=_difference(run.with_costs, benchmark, "buy & hold", bootstrap),
        agents_quality={
            agent: agent_quality(run.steps, agent, forward, run.models.agents[agent])
            for agent in AGENTS
        },
        judge=_judge(run),
        actions={a: actions.get(a, 0) for a in ("BUY", "SELL", "HOLD")},
        drift_blocks=drift_blocks(run.steps),
        equity=_equity(run.with_costs),
        seconds=round(run.seconds, 2),
    )


def benchmark_result(
    with_costs: BacktestResult,
    without_costs: BacktestResult,
    per_symbol: Mapping[str, tuple[BacktestResult, BacktestResult]],
    bootstrap: Mapping[str, Any],
) -> BenchmarkResult:
    """Buy-and-hold's numbers, as a set's."""
    return BenchmarkResult(
        name="buy & hold",
        metrics={
            "with_costs": _clean(backtest_metrics(with_costs)),
            "without_costs": _clean(backtest_metrics(without_costs)),
        },
        per_symbol={
            s: {
                "with_costs": _clean(backtest_metrics(a)),
                "without_costs": _clean(backtest_metrics(b)),
            }
            for s, (a, b) in per_symbol.items()
        },
        sharpe_interval=_interval(with_costs, bootstrap),
        equity=_equity(with_costs),
    )

"""The contract of ``evaluation_results.json``: pydantic models, and the JSON schema.

``docs/evaluation_results.schema.json`` is ``EvaluationResults.model_json_schema()``
written out (a test keeps it current); any JSON Schema validator checks a results file
against it. Metric dicts use the metrics module's names (``sharpe``, ``max_drawdown``,
...); an undefined number (no trades, no variation, an infinite profit factor) is null.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from stockagents.core.manifests import EvaluationManifest

__all__ = [
    "AgentQuality",
    "Agreement",
    "BenchmarkResult",
    "Comparison",
    "Criterion",
    "EvaluationResults",
    "JudgeSummary",
    "PairedDifference",
    "SetResult",
    "SharpeDifference",
    "SharpeInterval",
]

Metrics = dict[str, float | None]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Criterion(_Model):
    value: float | None
    threshold: float
    rule: str
    passed: bool


class SharpeInterval(_Model):
    sharpe: float | None
    low: float | None
    high: float | None


class SharpeDifference(_Model):
    against: str
    difference: float | None
    low: float | None
    high: float | None
    p_value: float | None
    half_width: float | None = None
    detectable: float | None = Field(
        default=None, description="the smallest difference this window detects (80% power)"
    )


class PairedDifference(_Model):
    difference: float | None
    low: float | None
    high: float | None
    p_value: float | None
    half_width: float | None
    detectable: float | None = Field(
        description="the smallest difference this window detects (80% power)"
    )


class Agreement(_Model):
    agreement: float | None = Field(description="share of symbol-days with the same action")
    low: float | None
    high: float | None


class Comparison(_Model):
    set: str
    against: str
    symbol_days: int = Field(description="the (symbol, day) decisions both sets made")
    days: int
    sharpe: PairedDifference = Field(description="Sharpe with costs, set minus against")
    mean_daily_return: PairedDifference = Field(description="with costs, set minus against")
    hit_rate: PairedDifference = Field(
        description="share of BUY/SELL decisions whose direction the forward return confirms"
    )
    ic: PairedDifference = Field(
        description="correlation of side x confidence with the forward return"
    )
    agreement: Agreement


class CalibrationBin(_Model):
    low: float
    high: float
    n: int
    confidence: float | None
    hit_rate: float | None


class AgentQuality(_Model):
    """One agent's signals (the strategist's: its BUY/SELL as +/- confidence)."""

    source: str = Field(description="expert, or the model path")
    n: int
    valid_rate: float | None
    hit_rate: float | None
    ic: float | None
    rank_ic: float | None
    brier: float | None
    ece: float | None
    directional: int = Field(description="answers with a direction (non-zero score)")
    calibration: list[CalibrationBin]


class JudgeSummary(_Model):
    n: int
    evidence: float | None
    consistency: float | None
    invalid: int = Field(description="grades the judge could not give")
    examples: list[dict[str, Any]]


class SetResult(_Model):
    name: str
    spec: str
    path: str | None
    baseline: bool
    agents: dict[str, str]
    model_hashes: dict[str, str] = Field(
        description="per agent, the content hash of its model files (or 'expert')"
    )
    as_expert: list[str] = Field(description="agents the set lacks, run as the expert rules")
    trained_on: dict[str, dict[str, Any] | None] = Field(
        description="per model agent, the training window the guard checked (null: unknown)"
    )
    model_versions: dict[str, str]
    metrics: dict[str, Metrics] = Field(description="with_costs and without_costs")
    per_symbol: dict[str, dict[str, Metrics]]
    criteria: dict[str, Criterion]
    passed_criteria: bool
    sharpe_interval: SharpeInterval
    sharpe_vs_baseline: SharpeDifference | None
    sharpe_vs_buy_and_hold: SharpeDifference
    agents_quality: dict[str, AgentQuality]
    judge: dict[str, JudgeSummary]
    actions: dict[str, int]
    drift_blocks: dict[str, list[list[int]]] = Field(
        default_factory=dict,
        description="the monitor's drift reference: per agent, its scores counted in ten "
        "equal bins of [-1, 1] (the strategist's: BUY/SELL as +/- confidence), and under "
        "'actions' the BUY/SELL/HOLD counts; one count list per block of 20 trading days",
    )
    equity: list[float | None]
    seconds: float


class BenchmarkResult(_Model):
    name: str
    metrics: dict[str, Metrics]
    per_symbol: dict[str, dict[str, Metrics]]
    sharpe_interval: SharpeInterval
    equity: list[float | None]


class EvaluationResults(_Model):
    kind: str = "evaluation"
    created: str
    stockagents_version: str
    window: dict[str, Any] = Field(description="start, end, trading days")
    symbols: list[str]
    skipped_symbols: dict[str, str]
    dates: list[str]
    costs: dict[str, float]
    forward_horizon_days: int
    criteria: dict[str, float]
    bootstrap: dict[str, Any]
    judge: dict[str, Any]
    sets: list[SetResult]
    comparisons: list[Comparison] = Field(
        default_factory=list,
        description="paired: every set against the baseline, and each set against the one "
        "listed before it (the RL set against its SFT start)",
    )
    benchmark: BenchmarkResult
    warnings: list[str]
    cache: dict[str, Any]
    manifest: EvaluationManifest = Field(description="code, config, data and the models' manifests")

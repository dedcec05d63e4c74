"""Scoring strategist completions: the glue between the trainers and ``rewards``.

``RewardModel`` scores completions against example rows (the dicts ``RLExample.record``
makes) with the desk's rules taken from the app config. ``validation_reward`` answers
validation prompts with the agents' own runtime (greedy, schema-constrained decoding:
what the deployed strategist does) and averages the rewards.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stockagents.agents.answering import Prompt, answer_prompts
from stockagents.agents.runtime import load_runtime
from stockagents.core.config import AppConfig
from stockagents.core.errors import AgentError
from stockagents.training.rl.dataset import RLExample
from stockagents.training.rl.rewards import Desk, RewardBreakdown, RewardWeights, score_completion

__all__ = ["RewardModel", "desk_from", "summarise", "validation_reward"]


def desk_from(config: AppConfig) -> Desk:
    """The desk's rules the reward follows: the strategist's and the backtest's settings."""
    s, bt = config.agents.strategist, config.backtest
    return Desk(
        horizon_cap=min(s.horizon_days, 20),
        allow_short=s.allow_short and bt.allow_short,
        max_position=s.max_position,
        target_daily_vol=s.target_daily_vol,
        cost=2 * (bt.commission_bps + bt.slippage_bps) / 1e4,
    )


@dataclass(frozen=True)
class RewardModel:
    """Scores completions for example rows."""

    desk: Desk
    weights: RewardWeights

    def score(self, text: str, row: Mapping[str, Any]) -> RewardBreakdown:
        return score_completion(
            text,
            close=float(row["close"]),
            opens=row["opens"],
            highs=row["highs"],
            lows=row["lows"],
            closes=row["closes"],
            atr_pct=row.get("atr_pct"),
            desk=self.desk,
            weights=self.weights,
        )

    def totals(self, texts: Sequence[str], rows: Sequence[Mapping[str, Any]]) -> list[float]:
        return [self.score(t, r).total for t, r in zip(texts, rows, strict=True)]


def summarise(scores: Sequence[RewardBreakdown]) -> dict[str, Any]:
    """Means of each term, the valid rate and the action counts."""
    n = len(scores)
    if not n:
        return {"n": 0, "reward": math.nan}
    valid = [s for s in scores if s.valid]

    def mean(values: Sequence[float]) -> float:
        return sum(values) / len(values) if values else math.nan

    return {
        "n": n,
        "reward": mean([s.total for s in scores]),
        #: each prompt's total, in order: what paired comparisons of two models read
        "totals": [s.total for s in scores],
        "valid_rate": len(valid) / n,
        "return_term": mean([s.ret for s in valid]),
        "oversize_term": mean([s.oversize for s in valid]),
        "calibration_term": mean([s.calibration for s in valid]),
        "mean_net_return": mean([s.realised for s in valid]),
        "actions": dict(Counter(s.action or "invalid" for s in scores)),
    }


def validation_reward(
    model_path: str | Path | None,
    examples: Sequence[RLExample],
    reward: RewardModel,
    config: AppConfig,
) -> dict[str, Any]:
    """The mean reward (and its terms) of the strategist at ``model_path`` on ``examples``.

    ``None`` scores the answers the collection recorded (the expert strategist's when
    the trajectories were collected with it) instead of generating.
    """
    rows = [e.record() for e in examples]
    if model_path is None:
        collected = [
            reward.score(e.collected_output, r) for e, r in zip(examples, rows, strict=True)
        ]
        return {"model": "collected", **summarise(collected)}
    runtime = load_runtime("strategist", model_path, config.agents.strategist)
    if runtime is None:
        raise AgentError(f"{model_path}: the expert rules are not a model to score")
    prompts = [Prompt(messages=e.prompt, close=e.close) for e in examples]
    scores: list[RewardBreakdown] = []
    size = 32
    for i in range(0, len(prompts), size):
        answers = answer_prompts(
            "strategist", runtime.backend, prompts[i : i + size], runtime.sampling,
            adapter=runtime.adapter,
        )  # fmt: skip
        for answer, row in zip(answers, rows[i : i + size], strict=True):
            scores.append(reward.score(answer.raw if answer.parsed else "", row))
    return {"model": str(model_path), **summarise(scores)}

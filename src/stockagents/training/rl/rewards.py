"""The strategist's RL rewards: pure functions of one completion and what happened after.

A completion is scored against the bars that followed its decision (labels the model never
saw). The total is a weighted sum (weights from the RL config's ``rewards`` section):

1. **Validity** (``validity``): ``-1`` when the completion is not exactly one JSON object
   that validates as the strategist's answer (text around the object counts as invalid,
   so prose cannot be padded around a lucky answer); an invalid completion scores only
   this term.
2. **Return** (``return``): the decided position's realised return over its horizon, net
   of costs, divided by the symbol's recent volatility over that horizon
   (``daily_vol * sqrt(horizon)``) and clipped to ``±return_clip``. The position is the
   backtester's target weight for a flat book: BUY ``+size``, SELL ``-size`` when shorts
   are allowed and ``0`` (exit to flat) in a long-only book, HOLD ``0``. It enters at the
   next open, and exits at the stop or target (stop first when a bar touches both; at
   the open when the open gaps through) or at the close ``horizon`` bars later. The
   horizon is the answer's ``horizon_days`` capped as the agent caps it.
3. **Oversizing** (``oversize``, subtracted): the position's daily risk ``|w| * vol``
   beyond the desk's budget ``max_position * target_daily_vol``, in units of that budget:
   a size that is fine in a calm name is penalised in a volatile one.
4. **Calibration** (``calibration``): minus the Brier score of the stated confidence
   against whether the decision was right: a position was right when its net return was
   positive; staying out was right when the long trade would not have paid its costs.

Volatility is the ATR over the close the strategist was shown (``atr_pct``), so the
reward uses nothing the prompt did not state except the bars after the decision.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from pydantic import ValidationError

from stockagents.agents.prompting import DecisionAnswer
from stockagents.evaluation.metrics import brier_score

__all__ = [
    "Desk",
    "RewardBreakdown",
    "RewardWeights",
    "calibration_reward",
    "oversize_penalty",
    "parse_strict",
    "position_return",
    "position_weight",
    "return_reward",
    "score_completion",
    "tied_share",
]


@dataclass(frozen=True)
class RewardWeights:
    """How much each term counts in the total."""

    validity: float = 1.0
    ret: float = 1.0
    oversize: float = 0.5
    calibration: float = 0.25
    return_clip: float = 3.0


@dataclass(frozen=True)
class Desk:
    """The desk's rules the reward follows (from the app config)."""

    horizon_cap: int = 5
    allow_short: bool = False
    max_position: float = 0.25
    target_daily_vol: float = 0.02
    cost: float = 0.002  # round trip, a fraction of the traded value


@dataclass(frozen=True)
class RewardBreakdown:
    """Each term of one completion's reward, and the weighted total."""

    total: float
    valid: bool
    validity: float = 0.0
    ret: float = 0.0
    oversize: float = 0.0
    calibration: float = 0.0
    action: str | None = None
    weight: float = 0.0
    realised: float = 0.0

    def as_dict(self) -> dict[str, float | bool | str | None]:
        return asdict(self)


def parse_strict(text: str) -> DecisionAnswer | None:
    """The answer when ``text`` is exactly one valid JSON answer (whitespace allowed).

    >>> parse_strict('{"reasoning": "x", "action": "HOLD", "position_size": 0, '
    ...     '"confidence": 0.5, "stop_loss_pct": null, "take_profit_pct": null, '
    ...     '"horizon_days": 5}').action
    'HOLD'
    >>> parse_strict('Sure! {"action": "BUY"}') is None
    True
    """
    body = text.strip()
    if not (body.startswith("{") and body.endswith("}")):
        return None
    try:
        data = json.loads(body)
        return DecisionAnswer.model_validate(data)
    except (json.JSONDecodeError, ValidationError):
        return None


def position_weight(action: str, size: float, allow_short: bool) -> float:
    """The backtester's target weight for a flat book.

    >>> position_weight("BUY", 0.2, False), position_weight("SELL", 0.2, False)
    (0.2, 0.0)
    >>> position_weight("SELL", 0.2, True), position_weight("HOLD", 0.9, True)
    (-0.2, 0.0)
    """
    if action == "BUY":
        return size
    if action == "SELL" and allow_short:
        return -size
    return 0.0


def position_return(
    side: float,
    close: float,
    opens: Sequence[float],
    highs: Sequence[float],
    lows: Sequence[float],
    closes: Sequence[float],
    horizon: int,
    stop_pct: float | None = None,
    take_pct: float | None = None,
) -> float:
    """Gross return of one unit held on ``side`` (+1 long, -1 short) from the next open.

    Stop and target are distances from ``close`` (the decision's close). Each bar: an
    open beyond a level exits there; else a touched stop exits at the stop (checked
    first), a touched target at the target; else the close of bar ``horizon`` exits.

    >>> position_return(1, 100, [101, 102], [103, 104], [100, 101], [102, 103], 2)
    0.0198...
    >>> position_return(1, 100, [101, 99], [102, 99], [98.5, 90], [100, 91], 2, stop_pct=0.02)
    -0.0297...
    >>> position_return(-1, 100, [99, 95], [100, 96], [97, 94], [98, 95], 2, take_pct=0.04)  # gap
    0.0404...
    >>> position_return(0, 100, [101], [101], [101], [101], 1)
    0.0
    """
    if side == 0 or not opens:
        return 0.0
    entry = float(opens[0])
    stop = close * (1 - side * stop_pct) if stop_pct is not None else None
    take = close * (1 + side * take_pct) if take_pct is not None else None
    last = min(horizon, len(opens)) - 1
    exit_price = float(closes[last])
    for i in range(last + 1):
        o, h, lo = float(opens[i]), float(highs[i]), float(lows[i])
        worst, best = (lo, h) if side > 0 else (h, lo)
        if stop is not None and side * (o - stop) <= 0 and i > 0:
            exit_price = o
            break
        if take is not None and side * (o - take) >= 0 and i > 0:
            exit_price = o
            break
        if stop is not None and side * (worst - stop) <= 0:
            exit_price = stop if i > 0 or side * (entry - stop) > 0 else entry
            break
        if take is not None and side * (best - take) >= 0:
            exit_price = take if i > 0 or side * (take - entry) > 0 else entry
            break
    return side * (exit_price / entry - 1.0)


def return_reward(
    weight: float, gross: float, cost: float, daily_vol: float, horizon: int, clip: float
) -> tuple[float, float]:
    """(reward, net return): the position's net return over the volatility of the horizon.

    >>> reward, net = return_reward(0.5, 0.04, 0.002, 0.02, 4, 3.0)
    >>> round(net, 4), round(reward, 3)
    (0.019, 0.475)
    >>> return_reward(0.0, 0.04, 0.002, 0.02, 4, 3.0)
    (0.0, 0.0)
    >>> return_reward(1.0, 0.5, 0.0, 0.01, 1, 3.0)[0]
    3.0
    """
    net = abs(weight) * (gross - cost)
    scale = max(daily_vol, 1e-4) * math.sqrt(max(horizon, 1))
    return max(-clip, min(clip, net / scale)), net


def oversize_penalty(
    weight: float, daily_vol: float, max_position: float, target_daily_vol: float
) -> float:
    """Daily risk beyond the desk's budget, in units of the budget (0 within it).

    >>> oversize_penalty(0.25, 0.02, 0.25, 0.02)
    0.0
    >>> oversize_penalty(0.25, 0.04, 0.25, 0.02)
    1.0
    >>> oversize_penalty(1.0, 0.01, 0.25, 0.02)
    1.0
    """
    budget = max_position * target_daily_vol
    return max(0.0, abs(weight) * daily_vol / budget - 1.0)


def calibration_reward(confidence: float, right: bool) -> float:
    """Minus the Brier score of ``confidence`` for one decision.

    >>> round(calibration_reward(0.9, True), 4), round(calibration_reward(0.9, False), 4)
    (-0.01, -0.81)
    """
    return -brier_score([confidence], [float(right)])


def score_completion(
    text: str,
    close: float,
    opens: Sequence[float],
    highs: Sequence[float],
    lows: Sequence[float],
    closes: Sequence[float],
    atr_pct: float | None,
    desk: Desk,
    weights: RewardWeights,
) -> RewardBreakdown:
    """The weighted reward of one strategist completion (see the module docstring).

    >>> bars = dict(close=100.0, opens=[100.0] * 5, highs=[101.0] * 5, lows=[99.5] * 5,
    ...             closes=[100.0, 100.5, 101.0, 101.5, 102.0], atr_pct=0.02)
    >>> buy = ('{"reasoning": "r", "action": "BUY", "position_size": 0.25, "confidence": 0.8,'
    ...        ' "stop_loss_pct": null, "take_profit_pct": null, "horizon_days": 5}')
    >>> r = score_completion(buy, **bars, desk=Desk(), weights=RewardWeights())
    >>> r.valid, r.action, round(r.ret, 3), r.oversize, round(r.total, 3)
    (True, 'BUY', 0.101, 0.0, 0.091)
    >>> score_completion("not json", **bars, desk=Desk(), weights=RewardWeights()).total
    -1.0
    """
    answer = parse_strict(text)
    if answer is None:
        return RewardBreakdown(total=-weights.validity, valid=False, validity=-1.0)
    vol = atr_pct if atr_pct is not None and math.isfinite(atr_pct) and atr_pct > 0 else 0.02
    horizon = max(1, min(answer.horizon_days, desk.horizon_cap))
    weight = position_weight(answer.action, answer.position_size, desk.allow_short)
    side = math.copysign(1.0, weight) if weight else 0.0
    stop, take = answer.stop_loss_pct, answer.take_profit_pct
    gross = position_return(side, close, opens, highs, lows, closes, horizon, stop, take)
    ret, net = return_reward(weight, gross, desk.cost, vol, horizon, weights.return_clip)
    over = oversize_penalty(weight, vol, desk.max_position, desk.target_daily_vol)
    if weight:
        right = net > 0
    else:  # staying out was right when the long trade would not have paid its costs
        long_gross = position_return(1.0, close, opens, highs, lows, closes, horizon)
        right = long_gross <= desk.cost
    cal = calibration_reward(answer.confidence, right)
    total = weights.ret * ret - weights.oversize * over + weights.calibration * cal
    return RewardBreakdown(
        total=total,
        valid=True,
        ret=ret,
        oversize=over,
        calibration=cal,
        action=answer.action,
        weight=weight,
        realised=net,
    )


def tied_share(rewards: Sequence[float], group_size: int, tol: float = 1e-6) -> float:
    """The share of consecutive groups of ``group_size`` rewards that all tie (a group
    whose rewards are equal has zero advantage everywhere: no learning signal).

    >>> tied_share([1, 1, 0, 2, 3, 3], 2)
    0.666...
    """
    groups = [rewards[i : i + group_size] for i in range(0, len(rewards), group_size)]
    if not groups:
        return 0.0
    tied = sum(1 for g in groups if max(g) - min(g) <= tol)
    return tied / len(groups)

"""Prompts and answers of the model-backed agents.

Prompts live in ``agents/prompts/<agent>.md`` (a system part and a user part); they are
rendered from the agent's point-in-time input payload into compact ``key=value`` facts,
because every prompt token costs time on a CPU. ``prompt_version`` is a hash of the file,
recorded in every manifest. The answer schemas are deliberately smaller than ``Signal``
and ``Decision`` (the symbol, date and agent are known; key factors are not asked for):
they bound what the model must write, and constrained decoding follows them exactly.
Reasoning comes first in every answer: a model writes the readings its decision follows
from before the decision (measured: a SmolLM2 adapter learned the news label from its
own reasoning within 100 steps, and did not learn it in 120 steps when the label came
first). The strategist gives its stop and target as distances from the close (fractions), which
a schema can bound and a model gets right far more often than absolute prices; the
agent turns them into price levels on the side of the position.
``parse_answer`` validates a raw text and says what is wrong, for one repair attempt.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Mapping
from functools import cache
from importlib import resources
from string import Template
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from stockagents.core.config import StrategistConfig, TechnicalAgentConfig
from stockagents.llm.base import ChatMessage

__all__ = [
    "REASONING_MAX",
    "DecisionAnswer",
    "SignalAnswer",
    "format_answer",
    "parse_answer",
    "prompt_version",
    "render_prompt",
    "repair_messages",
    "shown_position",
    "terms_text",
]

#: Characters of reasoning the answer schema asks for (decoding stops there). The experts'
#: first sentences, which models learn, are at most 62 (news, "... (capped): bearish");
#: an untrained model fills the whole allowance, one slow step per token.
REASONING_MAX = 64
#: Characters validation accepts: byte-level decoding can turn one character the grammar
#: counted into several replacement characters, so the check is looser than the ask.
REASONING_LIMIT = 200
_AGENTS = ("news", "technical", "fundamental", "strategist")
#: The thresholds a prompt states (``$signal``, ``$buy``, ``$sell`` in its file) when the
#: payload's ``thresholds`` do not say: the agents' config defaults.
_THRESHOLDS = {
    "signal": TechnicalAgentConfig().signal_threshold,
    "buy": StrategistConfig().buy_threshold,
    "sell": StrategistConfig().sell_threshold,
}


class SignalAnswer(BaseModel):
    """What an analyst model writes."""

    model_config = ConfigDict(extra="forbid")
    reasoning: str = Field(min_length=1, max_length=REASONING_LIMIT)
    signal: Literal["bullish", "neutral", "bearish"]
    score: float = Field(ge=-1.0, le=1.0)
    confidence: float = Field(ge=0.0, le=1.0)


class DecisionAnswer(BaseModel):
    """What the strategist model writes."""

    model_config = ConfigDict(extra="forbid")
    reasoning: str = Field(min_length=1, max_length=REASONING_LIMIT)
    action: Literal["BUY", "SELL", "HOLD"]
    position_size: float = Field(ge=0.0, le=1.0)
    confidence: float = Field(ge=0.0, le=1.0)
    stop_loss_pct: float | None = Field(
        default=..., ge=0.001, le=0.5, description="Stop distance from the close, a fraction."
    )
    take_profit_pct: float | None = Field(
        default=..., ge=0.001, le=0.5, description="Target distance from the close, a fraction."
    )
    horizon_days: int = Field(ge=1, le=20)


def answer_model(agent: str) -> type[SignalAnswer] | type[DecisionAnswer]:
    return DecisionAnswer if agent == "strategist" else SignalAnswer


@cache
def answer_schema(agent: str) -> dict[str, Any]:
    """The JSON schema of ``agent``'s answer, for constrained decoding and API tools."""
    schema = answer_model(agent).model_json_schema()
    schema["properties"]["reasoning"]["maxLength"] = REASONING_MAX
    return schema


@cache
def _template(agent: str) -> tuple[str, str, str]:
    if agent not in _AGENTS:
        raise ValueError(f"unknown agent {agent!r}")
    text = (resources.files("stockagents") / "agents" / "prompts" / f"{agent}.md").read_text(
        encoding="utf-8"
    )
    _, _, rest = text.partition("<!-- system -->")
    system, _, user = rest.partition("<!-- user -->")
    return system.strip(), user.strip(), hashlib.sha256(text.encode()).hexdigest()[:12]


def prompt_version(agent: str) -> str:
    """A short hash of the agent's prompt file."""
    return _template(agent)[2]


def _num(value: Any) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "na"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 10000 else f"{value:.0f}"
    return str(value)


def _ratio(a: Any, b: Any) -> float | None:
    if a is None or b is None or not b:
        return None
    return float(a) / float(b)


def _fixed(value: Any, places: int) -> str:
    """``value`` with ``places`` decimals: oscillators need no more for the rules' cut-offs,
    and every digit is a token."""
    if value is None or not math.isfinite(float(value)):
        return "na"
    return f"{float(value):.{places}f}"


def _pct(value: float | None, plus_one: bool = False) -> str:
    if value is None or not math.isfinite(value):
        return "na"
    return f"{100 * (value - 1 if plus_one else value):+.1f}%"


def _technical_facts(payload: dict[str, Any]) -> str:
    """Scale-free readings: where the close sits against its averages and range, momentum
    in ATRs, oscillators rounded. A small model compares "+3.2%" far more reliably than two
    prices. The close and the ATR are not read by the rules, so they are left out."""
    ind = payload.get("indicators", {})
    close = payload.get("close")
    above = ind.get("sma50_above_sma200")
    parts = [
        f"vs_sma50={_pct(_ratio(close, ind.get('sma_50')), plus_one=True)}",
        f"sma50_vs_sma200={_pct(_ratio(ind.get('sma_50'), ind.get('sma_200')), plus_one=True)}",
        f"trend={'na' if above is None else 'up' if above > 0.5 else 'down'}",
        f"rsi_14={_fixed(ind.get('rsi_14'), 0)}",
        f"macd_hist_atr={_fixed(_ratio(ind.get('macd_hist'), ind.get('atr_14')), 2)}",
        f"bb_pct_b={_fixed(ind.get('bb_pct_b'), 2)}",
        f"adx_14={_fixed(ind.get('adx_14'), 0)}",
        f"stoch_k={_fixed(ind.get('stoch_k'), 0)}",
        f"stoch_d={_fixed(ind.get('stoch_d'), 0)}",
        f"from_52w_high={_pct(ind.get('dist_52w_high'))}",
        f"from_52w_low={_pct(ind.get('dist_52w_low'))}",
        f"cross={_num(ind.get('recent_cross'))}",
        f"bars={_num(payload.get('bars'))}",
    ]
    return " ".join(parts)


def terms_text(parts: Mapping[str, float]) -> str:
    """The rules' weighted terms and their sum, zeros left out, as the prompts show them:
    ``{"trend": 0.35, "mom": 0.06, "rsi": -0.01}`` is ``"trend +0.35 mom +0.06 rsi -0.01 =
    +0.40"``. The sum is taken over the exact terms, so it is the score the label reads."""
    shown = [f"{k} {v:+.2f}" for k, v in parts.items() if round(v, 2)]
    total = round(sum(parts.values()), 2) + 0.0
    return f"{' '.join(shown) or 'none'} = {total:+.2f}"


def _terms(payload: dict[str, Any]) -> str:
    """The rules' weighted readings (``terms`` in the payload), zeros left out, and their
    sum: the score the expert's reasoning opens with and compares to its threshold."""
    return "; terms: " + terms_text(payload.get("terms") or {})


def _facts(agent: str, payload: dict[str, Any]) -> str:
    if agent == "technical":
        return _technical_facts(payload) + _terms(payload)
    if agent == "news":
        news = payload.get("news")
        if not news or not news.get("count"):
            return f"no news ({payload.get('unavailable') or 'none in the window'})"
        heads = [str(i["headline"])[:90] for i in news.get("items", [])[:4]]
        return (
            f"stories={news['count']} positive={news['positive']} negative={news['negative']} "
            f"sentiment={news['weighted_sentiment']:+.2f}; latest: " + " | ".join(heads)
        )
    if agent == "fundamental":
        ratios = payload.get("ratios")
        if not ratios:
            return f"no data ({payload.get('unavailable') or 'none'})"
        keys = ("pe", "ps", "roe", "net_margin", "debt_to_equity", "revenue_growth",
                "earnings_growth")  # fmt: skip
        facts = " ".join(f"{k}={_num(ratios.get(k))}" for k in keys)
        return f"filed={ratios['filing_date']} {facts}{_terms(payload)}"
    signals = payload.get("signals", {})
    parts = [
        f"{name}=invalid"
        if not s.get("valid", True)
        else f"{name}={s['signal']}/{s['score']:+.2f}/conf {s['confidence']:.2f}"
        for name, s in signals.items()
    ]
    market = payload.get("market", {})
    parts += [  # in percent: stops, targets and sizes scale with the ATR's share of the close
        f"atr={_pct(market.get('atr_pct')).lstrip('+')}",
        f"adx_14={_fixed(market.get('adx_14'), 0)}",
        f"from_52w_high={_pct(market.get('dist_52w_high'))}",
    ]
    portfolio = payload.get("portfolio", {})
    parts.append(f"position={_num(shown_position(portfolio.get('position')))}")
    return " ".join(parts) + _terms(payload) + _trade(payload)


def shown_position(position: float | None) -> float:
    """The book's position as the strategist's prompt writes it: two decimals, as the
    training books are drawn (a backtest's book drifts with prices every day)."""
    return round(float(position or 0.0), 2) + 0.0


def _trade(payload: dict[str, Any]) -> str:
    """The rules' position for a trade in the composite's direction, written as the answer
    writes it (two decimals; three for the stop and target distances)."""
    trade = payload.get("trade")
    if not trade:
        return ""

    def distance(value: Any) -> str:
        return "null" if value is None else str(_grid(value, 3, 0.001, 0.5))

    return (
        f"; a trade: confidence {_grid(trade['confidence'], 2, 0.0, 1.0)} "
        f"size {_grid(trade['size'], 2, 0.0, 1.0)} stop {distance(trade['stop_pct'])} "
        f"target {distance(trade['take_pct'])}"
    )


def render_prompt(agent: str, payload: dict[str, Any]) -> list[ChatMessage]:
    """The chat messages for ``agent`` given its input ``payload``."""
    system, user, _ = _template(agent)
    system = Template(system).safe_substitute(
        {k: f"{v:.2f}" for k, v in {**_THRESHOLDS, **(payload.get("thresholds") or {})}.items()}
    )
    content = user.format(
        symbol=payload.get("symbol", "?"), as_of=payload.get("as_of", "?"),
        facts=_facts(agent, payload),
    )  # fmt: skip
    return [{"role": "system", "content": system}, {"role": "user", "content": content}]


def _grid(value: float, places: int, low: float, high: float) -> float:
    return min(high, max(low, round(value, places))) + 0.0  # + 0.0: never "-0.0"


def format_answer(answer: SignalAnswer | DecisionAnswer) -> str:
    """``answer`` written exactly as constrained decoding writes it: ``", "`` and ``": "``
    separators, numbers on the grammar's grid (two decimals; three for stop and target
    distances), reasoning without quotes or backslashes and at most ``REASONING_MAX``
    characters. Training completions use this, so a model learns the form it decodes in."""
    data = answer.model_dump()
    for key, value in data.items():
        if key == "reasoning":
            text = re.sub(r"[\x00-\x1f\\]", "", str(value).replace('"', "'")).strip()
            data[key] = text[:REASONING_MAX] or "no comment"
        elif key in ("stop_loss_pct", "take_profit_pct"):
            data[key] = None if value is None else _grid(value, 3, 0.001, 0.5)
        elif key == "score":
            data[key] = _grid(value, 2, -1.0, 1.0)
        elif key in ("confidence", "position_size"):
            data[key] = _grid(value, 2, 0.0, 1.0)
    return json.dumps(data, ensure_ascii=False)


_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL)


def parse_answer(agent: str, text: str) -> tuple[SignalAnswer | DecisionAnswer | None, str | None]:
    """The validated answer in ``text``, or None and what is wrong with it."""
    body = text.strip()
    fenced = _FENCE.search(body)
    if fenced:
        body = fenced.group(1).strip()
    start, end = body.find("{"), body.rfind("}")
    if start < 0 or end <= start:
        return None, "no JSON object found"
    try:
        data = json.loads(body[start : end + 1], strict=False)  # control chars in strings
    except json.JSONDecodeError as exc:
        return None, f"invalid JSON ({exc.msg} at character {exc.pos})"
    try:
        return answer_model(agent).model_validate(data), None
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "answer"
        return None, f"{where}: {first['msg']}"


def repair_messages(messages: list[ChatMessage], raw: str, error: str) -> list[ChatMessage]:
    """The conversation for one repair attempt (an empty answer is not echoed back)."""
    echo: list[ChatMessage] = [{"role": "assistant", "content": raw[:2000]}] if raw.strip() else []
    return [
        *messages,
        *echo,
        {
            "role": "user",
            "content": f"That answer is invalid: {error}. Reply again with only the JSON object.",
        },
    ]

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import numpy as np
import pytest

from stockagents.agents import FundamentalAgent, NewsAgent, StrategistAgent, TechnicalAgent
from stockagents.core.errors import AgentError, ConfigError
from stockagents.core.types import Action, FundamentalsSnapshot, Signal, SignalLabel
from stockagents.data.csv_dir import CsvPriceProvider
from stockagents.data.factory import DataSources
from stockagents.data.fundamentals import NoFundamentalsProvider
from stockagents.data.news import NoNewsProvider
from stockagents.features.fundamentals import compute_ratios
from stockagents.features.observation import Observation, ObservationBuilder
from tests.helpers import make_bars, write_price_dir

DAY = dt.date(2023, 6, 30)


def _sources_for(tmp_path: Path, closes: np.ndarray) -> DataSources:
    prices = CsvPriceProvider(write_price_dir(tmp_path, {"SYN": make_bars(closes)}))
    return DataSources(prices, NoNewsProvider(), NoFundamentalsProvider())


def test_guide_constructor_and_analyze() -> None:
    agent = NewsAgent(model_path=None, config={"fp16": True})
    signal = agent.analyze("AAPL", lookback_days=7)
    assert signal.agent == "news"
    assert signal.signal is SignalLabel.NEUTRAL
    assert signal.confidence == 0.0
    assert "no news source is configured" in signal.reasoning


def test_missing_model_path_is_clear() -> None:
    with pytest.raises(AgentError, match=r"models/production/technical does not exist"):
        TechnicalAgent(model_path="models/production/technical")


def test_bad_agent_config_is_config_error() -> None:
    with pytest.raises(ConfigError, match="lookback_days"):
        NewsAgent(config={"lookback_days": 0})


def test_technical_uptrend_is_bullish(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    closes = 50 * np.exp(np.cumsum(0.003 + 0.01 * rng.standard_normal(400)))
    signal = TechnicalAgent(sources=_sources_for(tmp_path, closes)).analyze("SYN")
    assert signal.signal is SignalLabel.BULLISH
    assert signal.score > 0.15
    assert signal.confidence > 0.4
    assert any("SMA50 above SMA200" in f for f in signal.key_factors)


def test_technical_downtrend_is_bearish(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    closes = 50 * np.exp(np.cumsum(-0.003 + 0.01 * rng.standard_normal(400)))
    signal = TechnicalAgent(sources=_sources_for(tmp_path, closes)).analyze("SYN")
    assert signal.signal is SignalLabel.BEARISH
    assert signal.score < -0.15


def test_technical_short_history_lowers_confidence(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    closes = 50 * np.exp(np.cumsum(0.003 + 0.01 * rng.standard_normal(400)))
    full = TechnicalAgent(sources=_sources_for(tmp_path / "a", closes)).analyze("SYN")
    short = TechnicalAgent(sources=_sources_for(tmp_path / "b", closes[-120:])).analyze("SYN")
    assert short.confidence < full.confidence
    assert "bars of history" in short.reasoning


def test_news_agent_reads_the_tape(full_sources: DataSources) -> None:
    signal = NewsAgent(sources=full_sources).analyze("AAPL", as_of=DAY)
    assert signal.signal is SignalLabel.BULLISH
    assert signal.confidence > 0.3
    assert signal.key_factors[0].startswith("4 stories")
    # The same agent a week later sees the negative story of 2023-07-05.
    later = NewsAgent(sources=full_sources).analyze("AAPL", lookback_days=2, as_of="2023-07-05")
    assert later.score < 0


def test_fundamental_agent(full_sources: DataSources) -> None:
    signal = FundamentalAgent(sources=full_sources).analyze("AAPL", as_of=DAY)
    assert signal.confidence > 0
    assert "filed 2022-10-28" in signal.reasoning
    assert any(f.startswith("P/E") for f in signal.key_factors)


def test_fundamental_agent_ignores_stale_filings(full_sources: DataSources) -> None:
    agent = FundamentalAgent(config={"max_filing_age_days": 60}, sources=full_sources)
    signal = agent.analyze("AAPL", as_of=DAY)
    assert signal.confidence == 0
    assert "days old" in signal.reasoning


def test_fundamental_rules_direction() -> None:
    strong = FundamentalsSnapshot(
        symbol="A",
        period_end=dt.date(2022, 12, 31),
        filing_date=dt.date(2023, 2, 1),
        revenue=1300,
        net_income=260,
        eps=2.6,
        shares_outstanding=100,
        total_equity=1000,
        total_debt=100,
    )
    prior = strong.model_copy(
        update={"period_end": dt.date(2021, 12, 31), "revenue": 1000, "net_income": 180}
    )
    weak = strong.model_copy(
        update={"net_income": -50, "eps": -0.5, "total_debt": 3000, "revenue": 900}
    )
    from stockagents.agents.fundamental import fundamental_components

    good_ratios = compute_ratios([prior, strong], price=26.0)
    bad_ratios = compute_ratios([prior, weak], price=26.0)
    assert good_ratios is not None
    assert bad_ratios is not None
    good, _ = fundamental_components(good_ratios)
    bad, _ = fundamental_components(bad_ratios)
    assert sum(good.values()) > 1.5
    assert sum(bad.values()) < -1.5


def _observation(price: float = 100.0, atr: float = 2.0) -> Observation:
    return Observation(
        symbol="SYN",
        as_of=DAY,
        data_date=DAY,
        source="test",
        price=price,
        bars=500,
        technical={"atr_14": atr},
    )


def _sig(agent: str, score: float, confidence: float) -> Signal:
    label = "bullish" if score > 0.1 else "bearish" if score < -0.1 else "neutral"
    return Signal.model_validate(
        {
            "agent": agent,
            "symbol": "SYN",
            "as_of": DAY,
            "signal": label,
            "score": score,
            "confidence": confidence,
            "reasoning": "test",
        }
    )


def _all(score: float, confidence: float = 0.8) -> dict[str, Signal]:
    return {a: _sig(a, score, confidence) for a in ("technical", "news", "fundamental")}


def test_strategist_buy_with_levels() -> None:
    decision = StrategistAgent().decide(_observation(), _all(0.6))
    assert decision.action is Action.BUY
    assert decision.stop_loss == pytest.approx(100 - 2 * 2.0)
    assert decision.take_profit == pytest.approx(100 + 3 * 2.0)
    assert 0 < decision.position_size <= 0.25
    assert decision.horizon_days == 5


def test_strategist_sizes_down_in_volatile_names() -> None:
    calm = StrategistAgent().decide(_observation(atr=1.0), _all(0.6))
    wild = StrategistAgent().decide(_observation(atr=8.0), _all(0.6))
    assert calm.action is wild.action is Action.BUY
    assert wild.position_size == pytest.approx(calm.position_size * 0.02 / 0.08, rel=1e-3)


def test_strategist_sell_long_only_exits_flat() -> None:
    decision = StrategistAgent().decide(_observation(), _all(-0.6))
    assert decision.action is Action.SELL
    assert decision.position_size == 0
    assert decision.stop_loss is None
    assert "Exit to flat" in decision.reasoning


def test_strategist_sell_with_shorting() -> None:
    decision = StrategistAgent(config={"allow_short": True}).decide(_observation(), _all(-0.6))
    assert decision.action is Action.SELL
    assert decision.position_size > 0
    assert decision.stop_loss is not None
    assert decision.stop_loss > 100
    assert decision.take_profit is not None
    assert decision.take_profit < 100


def test_strategist_hold_inside_thresholds() -> None:
    decision = StrategistAgent().decide(_observation(), _all(0.05))
    assert decision.action is Action.HOLD
    assert decision.position_size == 0
    assert decision.confidence > 0.5


def test_missing_inputs_weaken_the_decision() -> None:
    strategist = StrategistAgent()
    full = strategist.decide(_observation(), _all(0.5))
    partial = _all(0.5)
    partial["news"] = _sig("news", 0.0, 0.0)
    partial["fundamental"] = _sig("fundamental", 0.0, 0.0)
    only_technical = strategist.decide(_observation(), partial)
    assert only_technical.confidence < full.confidence
    assert "news" in only_technical.reasoning
    assert "Missing" in only_technical.reasoning


def test_conflict_reduces_confidence() -> None:
    strategist = StrategistAgent()
    agree = strategist.decide(_observation(), _all(0.7))
    mixed = _all(0.7)
    mixed["news"] = _sig("news", -0.5, 0.6)
    conflict = strategist.decide(_observation(), mixed)
    assert conflict.confidence < agree.confidence
    assert any("disagree" in f for f in conflict.key_factors)


def test_agents_are_deterministic(full_sources: DataSources) -> None:
    builder = ObservationBuilder(full_sources)
    obs = builder.build("AAPL", DAY)
    agent = TechnicalAgent()
    assert agent.analyze_observation(obs) == agent.analyze_observation(obs)


def test_verdict_compares_the_rounded_score_with_the_threshold() -> None:
    from stockagents.agents.base import verdict

    assert verdict(0.4012, 0.15) == "+0.40 > 0.15: bullish"
    assert verdict(-0.2, 0.15) == "-0.20 < -0.15: bearish"
    assert verdict(0.1512, 0.15) == "+0.15 inside +/-0.15: neutral"  # as written, not as held
    assert verdict(-0.0001, 0.1) == "+0.00 inside +/-0.10: neutral"  # no "-0.00"


def test_terms_text_lists_the_terms_and_their_exact_sum() -> None:
    from stockagents.agents.prompting import terms_text

    parts = {"trend": -0.35, "mom": 0.0643, "rsi": 0.001}
    # rsi rounds to zero and is left out; the total is the sum of the exact terms
    assert terms_text(parts) == "trend -0.35 mom +0.06 = -0.28"
    assert terms_text({"a": -0.35, "b": 0.0649}) == "a -0.35 b +0.06 = -0.29"
    assert terms_text({}) == "none = +0.00"


def test_expert_answers_open_with_the_score_their_label_follows_from(tmp_path: Path) -> None:
    """The model-facing reasoning (the first sentence) is the total of the terms the prompt
    shows, against the threshold, ending with the label or action."""
    from stockagents.agents._model_answers import expert_completion
    from stockagents.agents.prompting import render_prompt

    rng = np.random.default_rng(1)
    closes = 50 * np.exp(np.cumsum(0.003 + 0.01 * rng.standard_normal(400)))
    agent = TechnicalAgent(sources=_sources_for(tmp_path, closes))
    technical = agent.analyze("SYN")
    obs = _observation()
    strategist = StrategistAgent()
    signals = _all(0.6)
    cases = [
        (technical, render_prompt("technical", agent.input_payload(agent._observations().build("SYN", technical.as_of)))),
        (strategist.decide(obs, signals), render_prompt("strategist", strategist.input_payload(obs, signals))),
    ]  # fmt: skip
    for result, messages in cases:
        answer = json.loads(expert_completion(result, obs.price))
        head = answer["reasoning"]
        shown = re.search(r"; terms: [^;]* = ([+-]\d\.\d\d)", messages[1]["content"])
        assert shown is not None
        total = shown.group(1)  # the sum the prompt shows
        assert head.startswith(total + " ")
        label = answer.get("signal") or answer.get("action")
        assert head.endswith(": " + label)


def test_prompts_state_the_configured_thresholds() -> None:
    from stockagents.agents.prompting import render_prompt

    obs = _observation()
    signals = _all(0.6)
    default = render_prompt("strategist", StrategistAgent().input_payload(obs, signals))
    assert "BUY at\n+0.12 or more, SELL at -0.12 or less" in default[0]["content"]
    strict = StrategistAgent(config={"buy_threshold": 0.2, "sell_threshold": 0.3})
    system = render_prompt("strategist", strict.input_payload(obs, signals))[0]["content"]
    assert "BUY at\n+0.20 or more, SELL at -0.30 or less" in system
    assert "$" not in system
    technical = render_prompt("technical", {"thresholds": {"signal": 0.25}})[0]["content"]
    assert "bullish above 0.25, bearish below -0.25" in technical


def test_the_strategist_reads_its_book_to_two_decimals_as_training_draws_it() -> None:
    from stockagents.agents.prompting import render_prompt
    from stockagents.core.types import PortfolioContext

    obs, signals, agent = _observation(), _all(0.6), StrategistAgent()

    def position(value: float) -> str:
        book = PortfolioContext(position=value, entry_price=100.0 if value else None)
        user = render_prompt("strategist", agent.input_payload(obs, signals, book))[1]
        return str(user["content"]).split("position=")[1].split(";")[0].split()[0]

    assert position(0.1723) == "0.17"  # a backtest's book drifts with prices
    assert position(-0.2051) == "-0.21"
    assert position(-0.001) == "0"  # no "-0"
    assert position(0.0) == "0"

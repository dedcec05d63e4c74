"""The reasoning judges: the offline rule judge, and a model judge over a real loopback
server speaking the OpenAI and Anthropic wire formats."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from stockagents.core.errors import ConfigError
from stockagents.evaluation.judge import JudgeItem, ModelJudge, RuleJudge, build_judge
from tests.fake_api import FakeServer, anthropic_message, openai_completion

TECH_PAYLOAD: dict[str, Any] = {
    "symbol": "AAPL",
    "as_of": "2023-06-01",
    "close": 179.847137,
    "indicators": {"rsi_14": 71.70329, "sma_50": 167.50191778, "macd_hist": 0.24616},
    "thresholds": {"signal": 0.15},
}


def _tech(reasoning: str, signal: str = "bullish", score: float = 0.27) -> JudgeItem:
    answer = {"signal": signal, "score": score, "confidence": 0.65, "reasoning": reasoning}
    return JudgeItem("technical", TECH_PAYLOAD, answer)


def _strategist(action: str, terms: dict[str, float], size: float = 0.0, **extra: Any) -> JudgeItem:
    payload = {
        "symbol": "AAPL", "as_of": "2023-06-01", "signals": {},
        "market": {"close": 100.0, "atr_14": 2.0},
        "terms": terms, "thresholds": {"buy": 0.12, "sell": 0.12},
        "portfolio": {"position": 0.0, "entry_price": None, "days_held": 0},
        "trade": {"confidence": 0.5, "size": 0.3, "stop_pct": 0.04, "take_pct": 0.06},
    }  # fmt: skip
    composite = sum(terms.values())
    answer = {
        "action": action, "position_size": size, "confidence": 0.5,
        "reasoning": f"{composite:+.2f} vs 0.12: {action}", **extra,
    }  # fmt: skip
    return JudgeItem("strategist", payload, answer)


def test_rule_judge_counts_numbers_found_in_the_input_as_evidence() -> None:
    judge = RuleJudge()
    (grounded,) = judge.grade([_tech("RSI 71.7 and close 179.85 above SMA50 167.50: bullish")])
    assert grounded.evidence == 1.0
    assert grounded.consistency == 1.0
    (invented,) = judge.grade([_tech("RSI 35.2 and close 179.85: bullish")])
    assert invented.evidence == pytest.approx(0.5)
    assert "35.2" in invented.comment
    (bare,) = judge.grade([_tech("looks good, 2 of 5 signals: bullish")])
    assert bare.evidence == 0.0  # small counts are not evidence
    assert "cites no number" in bare.comment


def test_rule_judge_checks_that_the_answer_follows_from_its_evidence() -> None:
    judge = RuleJudge()
    (contradicts,) = judge.grade([_tech("+0.27 > 0.15: bearish", signal="bullish")])
    assert contradicts.consistency == 0.5  # the label fits the score; the words do not
    (wrong_label,) = judge.grade([_tech("+0.05 inside 0.15: bullish", score=0.05)])
    assert wrong_label.consistency == 0.5  # 0.05 inside the threshold means neutral
    assert "means neutral" in wrong_label.comment


def test_rule_judge_grades_the_strategist_against_the_composite() -> None:
    judge = RuleJudge()
    buy = _strategist(
        "BUY", {"tech": 0.1, "news": 0.05}, size=0.3, stop_loss=96.0, take_profit=106.0
    )
    hold_against = _strategist("HOLD", {"tech": 0.1, "news": 0.05})
    bad_levels = _strategist("BUY", {"tech": 0.2}, size=0.3, stop_loss=104.0, take_profit=106.0)
    sized_hold = _strategist("HOLD", {"tech": 0.01}, size=0.2)
    a, b, c, d = judge.grade([buy, hold_against, bad_levels, sized_hold])
    assert (a.evidence, a.consistency) == (1.0, 1.0)  # +0.15 is the sum of its terms
    assert b.consistency < 1.0
    assert "says BUY" in b.comment
    assert c.consistency < 1.0
    assert "stop 104.0" in c.comment
    assert d.consistency < 1.0
    assert "HOLD with size 0.20" in d.comment


def test_rule_judge_rewards_abstaining_without_data() -> None:
    payload = {"symbol": "AAPL", "as_of": "2023-06-01", "news": None,
               "unavailable": "no news source", "thresholds": {"signal": 0.1}}  # fmt: skip
    abstain = {"signal": "neutral", "score": 0.0, "confidence": 0.0, "reasoning": "no news"}
    guess = {"signal": "bullish", "score": 0.4, "confidence": 0.6, "reasoning": "strong"}
    a, b = RuleJudge().grade(
        [JudgeItem("news", payload, abstain), JudgeItem("news", payload, guess)]
    )
    assert (a.evidence, a.consistency) == (1.0, 1.0)
    assert (b.evidence, b.consistency) == (0.0, 0.0)
    assert b.comment == "took a view without data"


def _grades_responder(grades: dict[str, Any]) -> Any:
    def respond(path: str, body: dict[str, Any]) -> dict[str, Any]:
        if path == "/v1/chat/completions":
            reply = openai_completion(body)
            reply["choices"][0]["message"]["content"] = json.dumps(grades)
            return reply
        reply = anthropic_message(body)
        if body.get("tools"):
            reply["content"][1]["input"] = grades
        return reply

    return respond


@pytest.mark.parametrize("kind", ["openai", "anthropic"])
def test_model_judge_grades_over_the_wire(server: FakeServer, kind: str) -> None:
    server.respond = _grades_responder({"evidence": 5, "consistency": 2, "comment": "ok"})
    url = server.openai_url if kind == "openai" else server.anthropic_url
    judge = build_judge(kind, "judge-model", base_url=url)
    assert isinstance(judge, ModelJudge)
    server.keep(judge.backend)
    verdicts = judge.grade([_tech("RSI 71.7: bullish"), _tech("RSI 71.7: bullish")])
    assert [(v.evidence, v.consistency, v.valid) for v in verdicts] == [(1.0, 0.25, True)] * 2
    body = server.requests[0].body
    text = json.dumps(body)
    assert "Agent: technical" in text
    assert "RSI 71.7: bullish" in text
    assert "the signal matches the indicators it cites" in text  # the technical rubric
    assert body["model"] == "judge-model"


def test_model_judge_counts_answers_it_cannot_read(server: FakeServer) -> None:
    server.respond = lambda path, body: {
        **openai_completion(body),
        "choices": [{"index": 0, "finish_reason": "stop", "logprobs": None,
                     "message": {"role": "assistant", "content": "I think it is fine"}}],
    }  # fmt: skip
    judge = build_judge("openai", "m", base_url=server.openai_url)
    assert isinstance(judge, ModelJudge)
    server.keep(judge.backend)
    (verdict,) = judge.grade([_tech("RSI 71.7: bullish")])
    assert not verdict.valid
    assert math.isnan(verdict.evidence)
    assert "not valid JSON" in verdict.comment


def test_api_judges_need_their_key(no_keys: None) -> None:
    with pytest.raises(ConfigError, match="--judge anthropic needs ANTHROPIC_API_KEY"):
        build_judge("anthropic")
    with pytest.raises(ConfigError, match="--judge openai needs OPENAI_API_KEY"):
        build_judge("openai")
    with pytest.raises(ConfigError, match="use one of rules, anthropic, openai"):
        build_judge("gemini")


def test_an_api_judge_grades_samples_in_an_evaluation_and_is_cached(
    server: FakeServer, tmp_path: Path
) -> None:
    from stockagents.evaluation.evaluate import evaluate_models

    server.respond = _grades_responder({"evidence": 4, "consistency": 5, "comment": "fine"})

    def run() -> dict[str, Any]:
        out = evaluate_models(
            ["expert"], symbols=["AAPL"], test_days=20, output_root=tmp_path, judge="openai",
            judge_model="judge-model", judge_base_url=server.openai_url, judge_samples=3,
            progress=False,
        )  # fmt: skip
        return json.loads((out / "evaluation_results.json").read_text(encoding="utf-8"))

    first = run()
    assert first["judge"] == {"kind": "openai:judge-model", "samples": 3}
    graded = first["sets"][0]["judge"]
    assert set(graded) == {"news", "technical", "fundamental", "strategist"}
    assert all(
        g["n"] == 3 and g["evidence"] == 0.75 and g["consistency"] == 1.0 for g in graded.values()
    )
    calls = server.attempts
    assert calls == 12  # one request per graded answer: 4 agents x 3 samples
    second = run()
    assert server.attempts == calls  # every verdict came from the cache
    assert second["sets"][0]["judge"] == graded

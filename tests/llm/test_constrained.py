"""The answer grammar: flat schemas written as EBNF, numbers on a two-decimal grid."""

from __future__ import annotations

import xgrammar as xgr

from stockagents.agents.prompting import answer_schema
from stockagents.llm._constrained import answer_grammar


def _accepts(grammar: str, text: str) -> bool:
    info = xgr.TokenizerInfo([f"<{i}>" for i in range(4)])  # a toy vocabulary: strings only
    matcher = xgr.GrammarMatcher(xgr.GrammarCompiler(info).compile_grammar(grammar))
    return bool(matcher.accept_string(text)) and matcher.is_completed()


def test_answers_on_the_grid_are_accepted() -> None:
    grammar = answer_grammar(answer_schema("technical"))
    assert grammar is not None
    ok = '{"reasoning": "RSI 28", "signal": "bullish", "score": -0.35, "confidence": 0.8}'
    assert _accepts(grammar, ok)
    assert _accepts(grammar, ok.replace("0.8}", "0.80}"))  # trailing zeros are allowed
    assert not _accepts(grammar, ok.replace("-0.35", "-0.351"))  # off the grid
    assert not _accepts(grammar, ok.replace("-0.35", "-1.5"))  # out of range
    assert not _accepts(grammar, ok.replace("bullish", "bull"))
    assert not _accepts(grammar, ok.replace('"RSI 28"', '"' + "x" * 81 + '"'))  # too long


def test_strategist_bounds_keep_their_precision() -> None:
    grammar = answer_grammar(answer_schema("strategist"))
    assert grammar is not None
    answer = (
        '{"reasoning": "trend up", "action": "BUY", "position_size": 0.25, "confidence": 0.7, '
        '"stop_loss_pct": 0.001, "take_profit_pct": null, "horizon_days": 5}'
    )
    assert _accepts(grammar, answer)
    assert not _accepts(grammar, answer.replace('"stop_loss_pct": 0.001', '"stop_loss_pct": 0'))
    assert not _accepts(grammar, answer.replace('"horizon_days": 5', '"horizon_days": 21'))


def test_other_schemas_fall_back_to_the_json_schema_compiler() -> None:
    nested = {"type": "object", "properties": {"a": {"type": "object"}}, "required": ["a"]}
    assert answer_grammar(nested) is None
    optional = {"type": "object", "properties": {"a": {"type": "null"}}, "required": []}
    assert answer_grammar(optional) is None
    unbounded = {"type": "object", "properties": {"a": {"type": "number"}}, "required": ["a"]}
    assert answer_grammar(unbounded) is None

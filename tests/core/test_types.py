from __future__ import annotations

import datetime as dt

import pytest
from pydantic import ValidationError

from stockagents.core.types import (
    Action,
    Decision,
    NewsItem,
    Recommendation,
    Signal,
    SignalLabel,
    json_schemas,
)

DAY = dt.date(2023, 6, 30)


def _signal(**overrides: object) -> Signal:
    fields: dict[str, object] = {
        "agent": "technical",
        "symbol": "AAPL",
        "as_of": DAY,
        "signal": "bullish",
        "score": 0.5,
        "confidence": 0.7,
        "reasoning": "r",
    }
    fields.update(overrides)
    return Signal.model_validate(fields)


@pytest.mark.parametrize(
    ("field", "value"), [("score", 1.5), ("confidence", -0.1), ("signal", "up"), ("agent", "x")]
)
def test_signal_rejects_out_of_range(field: str, value: object) -> None:
    with pytest.raises(ValidationError):
        _signal(**{field: value})


def test_decision_bounds() -> None:
    with pytest.raises(ValidationError):
        Decision(
            symbol="AAPL", as_of=DAY, action="BUY", position_size=1.2, confidence=0.5, reasoning=""
        )


def test_news_item_requires_aware_time() -> None:
    with pytest.raises(ValidationError, match="timezone-aware"):
        NewsItem(symbol="AAPL", published_at=dt.datetime(2023, 1, 1), headline="x")


def test_recommendation_guide_access() -> None:
    decision = Decision(
        symbol="AAPL", as_of=DAY, action=Action.BUY, position_size=0.1, confidence=0.8, reasoning=""
    )
    rec = Recommendation(
        symbol="AAPL",
        as_of=DAY,
        data_date=DAY,
        data_source="sample",
        price=190.0,
        decision=decision,
        signals={"technical": _signal()},
        model_versions={"technical": "expert-1"},
        timings_ms={},
    )
    assert rec["recommendation"] == "BUY"
    assert rec["confidence"] == pytest.approx(0.8)
    assert rec["signals"]["technical"].signal is SignalLabel.BULLISH
    with pytest.raises(KeyError):
        rec["nope"]
    data = rec.to_dict()
    assert data["recommendation"] == "BUY"
    assert data["decision"]["as_of"] == "2023-06-30"


def test_json_schemas_exported() -> None:
    schemas = json_schemas()
    assert set(schemas) == {"Signal", "Decision"}
    signal = schemas["Signal"]
    assert {"agent", "symbol", "signal", "score", "confidence", "reasoning"} <= set(
        signal["required"]
    )
    assert signal["properties"]["score"]["minimum"] == -1.0
    decision = schemas["Decision"]
    assert decision["$defs"]["Action"]["enum"] == ["BUY", "SELL", "HOLD"]

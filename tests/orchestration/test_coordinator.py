from __future__ import annotations

import datetime as dt
import threading
from pathlib import Path
from typing import Any

import pytest

from stockagents.agents.runtime import ModelRuntime
from stockagents.core.errors import DateOutOfRangeError, UnknownSymbolError
from stockagents.core.types import Recommendation
from stockagents.data.factory import DataSources
from stockagents.llm.base import Sampling
from stockagents.orchestration import SystemCoordinator
from stockagents.orchestration.coordinator import SystemCoordinator as GuidePath
from tests.scripted import ScriptedBackend


def test_guide_snippet_works() -> None:
    # The guide's "Verify Deployment" snippet, with the package's import path.
    assert GuidePath is SystemCoordinator
    coordinator = SystemCoordinator()
    result = coordinator.analyze_symbol("AAPL")
    assert result["recommendation"] in {"BUY", "SELL", "HOLD"}
    assert 0.0 <= result["confidence"] <= 1.0
    assert f"{result['confidence']:.2f}"
    coordinator.close()


def test_default_date_is_last_bar_and_result_says_so(coordinator: SystemCoordinator) -> None:
    rec = coordinator.analyze_symbol("AAPL")
    assert rec.as_of == rec.data_date == dt.date(2023, 9, 21)
    assert rec.data_source == "sample"
    assert any("not today's market" in w for w in rec.warnings)
    assert rec.model_versions == {
        "news": "expert-3",
        "technical": "expert-3",
        "fundamental": "expert-3",
        "strategist": "expert-3",
    }
    assert set(rec.signals) == {"news", "technical", "fundamental"}
    assert rec.timings_ms["total_ms"] > 0


def test_explicit_date_has_no_staleness_warning(coordinator: SystemCoordinator) -> None:
    rec = coordinator.analyze_symbol("NVDA", as_of="2021-11-01")
    assert rec.as_of == dt.date(2021, 11, 1)
    assert not any("today's market" in w for w in rec.warnings)


def test_analysts_on_different_backends_run_concurrently(full_sources: DataSources) -> None:
    answer = '{"signal": "bullish", "score": 0.4, "confidence": 0.6, "reasoning": "up"}'
    barrier = threading.Barrier(2, timeout=3)
    threads: set[str] = set()

    class Blocking(ScriptedBackend):
        def generate(self, requests: Any, sampling: Sampling) -> list[str]:
            threads.add(threading.current_thread().name)
            barrier.wait()  # deadlocks (and times out) unless both backends run at once
            return super().generate(requests, sampling)

    def run(parallel: bool) -> Recommendation:
        coordinator = SystemCoordinator(
            {"coordinator": {"parallel": parallel}}, sources=full_sources
        )
        for name in ("news", "technical"):
            runtime = ModelRuntime(Blocking([answer]), None, Sampling(), name, "scripted")
            coordinator.analysts[name].runtime = runtime
        return coordinator.analyze_symbol("AAPL", as_of="2023-06-30")

    rec = run(parallel=True)
    assert len(threads) == 2
    assert rec.signals["technical"].score == 0.4
    barrier.reset()
    threads.clear()
    with pytest.raises(threading.BrokenBarrierError):  # one after the other: never both
        run(parallel=False)


def test_bad_input_raises_clear_errors(coordinator: SystemCoordinator) -> None:
    with pytest.raises(UnknownSymbolError, match="available: AAPL"):
        coordinator.analyze_symbol("TSLA")
    with pytest.raises(DateOutOfRangeError):
        coordinator.analyze_symbol("AAPL", as_of="1999-01-01")
    with pytest.raises(DateOutOfRangeError, match="YYYY-MM-DD"):
        coordinator.analyze_symbol("AAPL", as_of="30/06/2023")


def test_config_from_yaml_path(tmp_path: Path) -> None:
    file = tmp_path / "c.yaml"
    file.write_text("agents:\n  strategist:\n    buy_threshold: 0.01\n    max_position: 0.05\n")
    with SystemCoordinator(file) as coordinator:
        assert coordinator.config.agents.strategist.max_position == 0.05
        rec = coordinator.analyze_symbol("AAPL", as_of="2023-06-30")
    assert rec.decision.position_size <= 0.05


def _stable(rec: Recommendation) -> dict[str, Any]:
    """Everything but timings and the source's name."""
    return rec.model_dump(exclude={"timings_ms", "data_source"})

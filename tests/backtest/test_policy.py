"""The coordinator as a backtest policy: with the backtest's plan, the analysts answer
ahead in batches of ``coordinator.batch_steps`` steps and a day's strategists in one
batch, and the decisions are the ones a step-by-step policy makes."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest

from stockagents.backtest.engine import BacktestResult, run_backtest
from stockagents.backtest.policy import CoordinatorPolicy, backtest_plan
from stockagents.orchestration import SystemCoordinator

START, END = dt.date(2023, 3, 1), dt.date(2023, 3, 31)
SYMBOLS = ("AAPL", "AMZN")


STRATEGISTS: list[int] = []


def _run(
    batch: int | None, speculate: bool = False
) -> tuple[list[int], BacktestResult, list[tuple[str, dt.date]]]:
    config = {"coordinator": {"batch_steps": batch or 1}}
    STRATEGISTS.clear()
    with SystemCoordinator(config) as coordinator:
        prices = {s: coordinator.sources.prices.prices(s, as_of=END) for s in SYMBOLS}
        plan = backtest_plan(prices, START, END)
        sizes: list[int] = []
        answer, decide = coordinator.answer_analysts, coordinator.team.decide

        def counted(observations, shared=None):  # type: ignore[no-untyped-def]
            sizes.append(len(observations))
            return answer(observations, shared)

        def decided(items):  # type: ignore[no-untyped-def]
            STRATEGISTS.append(len(items))
            return decide(items)

        coordinator.answer_analysts = counted  # type: ignore[method-assign]
        coordinator.team.decide = decided  # type: ignore[method-assign]
        policy = CoordinatorPolicy(coordinator, plan if batch else ())
        assert not policy.speculate  # the rules answer at once: nothing to gain
        policy.speculate = speculate
        result = run_backtest(prices, policy, coordinator.config.backtest, START, END)
        SPECULATION.update(policy.speculation)
    return sizes, result, plan


SPECULATION: dict[str, int] = {}


def test_books_answered_ahead_decide_as_one_day_at_a_time() -> None:
    # The rules stand in for a model strategist (deterministic, so any difference would
    # be the speculation's): a day's batch is filled with its symbols' next steps, asked
    # with the books they hold if nothing trades, and taken only on a day whose book
    # reads the same.
    _, ahead, plan = _run(12, speculate=True)
    assert max(STRATEGISTS) == 12  # a day's symbols and the steps ahead
    assert sum(STRATEGISTS) > len(plan)  # some were asked ahead for nothing
    assert 0 < SPECULATION["used"] < SPECULATION["asked"]
    assert SPECULATION["used_held"] > 0  # books that hold a position too
    assert len(STRATEGISTS) < 10  # far fewer strategist batches than days (23)
    _, alone, _ = _run(None)
    assert ahead.trades  # books were not flat on every day
    assert ahead.trades == alone.trades
    assert ahead.equity.equals(alone.equity)


def test_the_plan_is_the_engines_order() -> None:
    _, _, plan = _run(1)
    assert plan[:2] == [("AAPL", dt.date(2023, 3, 1)), ("AMZN", dt.date(2023, 3, 1))]
    assert len(plan) == 2 * 23  # March 2023: 23 sessions
    assert all(a[1] <= b[1] for a, b in itertools.pairwise(plan))


@pytest.mark.parametrize("batch", [1, 8, 32])
def test_analysts_answer_ahead_and_decide_the_same(batch: int) -> None:
    sizes, ahead, plan = _run(batch)
    assert sum(sizes) == len(plan)  # every step's analysts answered once
    assert sizes[0] == min(batch, len(plan))
    assert len(sizes) == -(-len(plan) // batch)
    # the strategists of a day in one batch (each step alone with batch_steps: 1)
    expected = [len(SYMBOLS)] * 23 if batch > 1 else [1] * len(plan)
    assert expected == STRATEGISTS
    step_by_step_sizes, alone, _ = _run(None)
    assert set(step_by_step_sizes) == {1}  # without a plan each step answers alone
    assert ahead.equity.equals(alone.equity)
    assert ahead.trades == alone.trades
    assert ahead.trades  # the window trades, so the comparison means something


def test_a_batch_below_one_is_refused() -> None:
    from stockagents.core.errors import ConfigError

    with pytest.raises(ConfigError, match=r"coordinator\.batch_steps"):
        SystemCoordinator({"coordinator": {"batch_steps": 0}})


def test_eligible_days_and_the_tick_without_hiding_the_day_batch() -> None:
    ticks: list[int] = []
    with SystemCoordinator() as coordinator:
        prices = {s: coordinator.sources.prices.prices(s, as_of=END) for s in SYMBOLS}
        # no symbol on the first two days (a day with nothing to ask), AMZN from mid-March
        late = {"AAPL": dt.date(2023, 3, 3), "AMZN": dt.date(2023, 3, 15)}
        plan = backtest_plan(prices, START, END, late)
        policy = CoordinatorPolicy(coordinator, plan, eligible=late, tick=lambda: ticks.append(1))
        assert hasattr(policy, "decide_day")  # the engine batches a day's strategists
        run_backtest(prices, policy, coordinator.config.backtest, START, END)
    assert len(ticks) == 2 * 23  # every step asked is counted, decided or not
    decided = {symbol for symbol, _ in policy.decisions}
    assert decided == {"AAPL", "AMZN"}
    for symbol, first in late.items():
        assert min(day for s, day in policy.decisions if s == symbol) == first

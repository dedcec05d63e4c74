"""Adapting the coordinator to the engine's policy interface.

The analysts do not read the portfolio, so a backtest that knows which (symbol, day)
steps it will ask about (``backtest_plan``) lets them answer ahead: at a step whose
analysts have not answered yet, those of the next ``coordinator.batch_steps``
steps answer in one batch (``AnalystsAhead``); the strategist then decides each step as
it comes, with the portfolio of that moment: the strategists of a day's symbols in one
batch too (``CoordinatorPolicy.decide_day``, which the engine calls once a day).
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable, Mapping, Sequence

import pandas as pd

from stockagents.agents.team import SharedAnswers
from stockagents.core.types import Decision, PortfolioContext
from stockagents.features.observation import Observation
from stockagents.orchestration import SystemCoordinator
from stockagents.orchestration.coordinator import AnalystAnswers

__all__ = ["AnalystsAhead", "CoordinatorPolicy", "backtest_plan"]

Step = tuple[str, dt.date]


def backtest_plan(
    prices: Mapping[str, pd.DataFrame],
    start: dt.date,
    end: dt.date,
    eligible: Mapping[str, dt.date] | None = None,
) -> list[Step]:
    """Every (symbol, day) the engine will ask about, in its order (day, then symbol as
    ``prices`` lists them): each close in ``start``..``end``, from the symbol's
    ``eligible`` day on (when given)."""
    pairs = []
    for symbol, frame in prices.items():
        first = eligible[symbol] if eligible is not None else start
        for stamp in frame.index[frame["close"].notna().to_numpy()]:
            day = stamp.date()
            if start <= day <= end and day >= first:
                pairs.append((day, symbol))
    order = {symbol: i for i, symbol in enumerate(prices)}
    return [(symbol, day) for day, symbol in sorted(pairs, key=lambda p: (p[0], order[p[1]]))]


class AnalystsAhead:
    """The analysts' answers and the observations of a backtest's steps, answered
    ``coordinator.config.coordinator.batch_steps`` steps at a time, in ``plan``'s
    order. A step's entries are dropped once it is ``done``. With ``shared``, answers
    another model set's identical analysts gave to the same observations are reused."""

    def __init__(
        self,
        coordinator: SystemCoordinator,
        plan: Sequence[Step],
        shared: SharedAnswers | None = None,
    ) -> None:
        self.coordinator = coordinator
        self.shared = shared
        self.batch = coordinator.config.coordinator.batch_steps
        self.plan = list(plan)
        self.position = {pair: i for i, pair in enumerate(self.plan)}
        self.observed: dict[Step, Observation] = {}
        self.answered: dict[Step, AnalystAnswers] = {}
        self.finished: set[Step] = set()

    def observe(self, symbol: str, day: dt.date) -> Observation:
        """What the agents read at ``(symbol, day)`` (built once)."""
        observation = self.observed.get((symbol, day))
        if observation is None:
            observation = self.observed[(symbol, day)] = self.coordinator.observe(symbol, day)
        return observation

    def analysts(self, symbol: str, day: dt.date) -> AnalystAnswers:
        """This step's analysts, answering those of the next steps in the same batch."""
        if (symbol, day) not in self.answered:
            start = self.position.get((symbol, day))
            ahead = [(symbol, day)]  # a step the plan did not foresee answers alone
            if start is not None:
                todo = (
                    p
                    for p in self.plan[start:]
                    if p not in self.finished and p not in self.answered
                )
                ahead = list(itertools.islice(todo, self.batch))
            observations = [self.observe(*pair) for pair in ahead]
            answers = self.coordinator.answer_analysts(observations, self.shared)
            self.answered.update(zip(ahead, answers, strict=True))
        return self.answered[(symbol, day)]

    def done(self, symbol: str, day: dt.date) -> None:
        """Forget the step: it is decided."""
        self.finished.add((symbol, day))
        self.observed.pop((symbol, day), None)
        self.answered.pop((symbol, day), None)


class CoordinatorPolicy:
    """``policy(symbol, day, portfolio)`` that asks the coordinator, recording decisions.
    Given the backtest's ``plan``, the analysts answer ahead in batches and a day's
    strategists together (``decide_day``). Steps before a symbol's ``eligible`` day get
    no decision; ``tick`` is called once per step asked (a progress bar)."""

    def __init__(
        self,
        coordinator: SystemCoordinator,
        plan: Sequence[Step] = (),
        *,
        eligible: Mapping[str, dt.date] | None = None,
        tick: Callable[[], None] | None = None,
    ) -> None:
        self.coordinator = coordinator
        self.ahead = AnalystsAhead(coordinator, plan) if plan else None
        self.eligible = eligible
        self.tick = tick
        self.decisions: dict[Step, Decision] = {}

    def __call__(self, symbol: str, day: dt.date, portfolio: PortfolioContext) -> Decision | None:
        return self.decide_day(day, [(symbol, portfolio)])[0]

    def decide_day(
        self, day: dt.date, asks: Sequence[tuple[str, PortfolioContext]]
    ) -> list[Decision | None]:
        """Every symbol of ``day`` (``engine.DayPolicy``): with batches, the strategists
        answer together; with ``batch_steps: 1`` or no plan, one step at a time."""
        decided: dict[int, Decision | None] = {}
        todo: list[tuple[int, str, PortfolioContext]] = []
        for k, (symbol, portfolio) in enumerate(asks):
            if self.tick is not None:
                self.tick()
            if self.eligible is not None and day < self.eligible[symbol]:
                decided[k] = None
            else:
                todo.append((k, symbol, portfolio))
        ahead = self.ahead
        if ahead is None or ahead.batch == 1:
            for k, symbol, portfolio in todo:
                decided[k] = self._one(symbol, day, portfolio)
        else:
            items = [
                (ahead.observe(symbol, day), ahead.analysts(symbol, day), portfolio, day)
                for _, symbol, portfolio in todo
            ]
            recommendations = self.coordinator.recommend_many(items)
            for (k, symbol, _), recommendation in zip(todo, recommendations, strict=True):
                ahead.done(symbol, day)
                decided[k] = self.decisions[(symbol, day)] = recommendation.decision
        return [decided[k] for k in range(len(asks))]

    def _one(self, symbol: str, day: dt.date, portfolio: PortfolioContext) -> Decision:
        if self.ahead is None:
            decision = self.coordinator.analyze_symbol(symbol, day, portfolio).decision
        else:
            observation = self.ahead.observe(symbol, day)
            analysts = self.ahead.analysts(symbol, day)
            decision = self.coordinator.recommend(observation, analysts, portfolio, day).decision
            self.ahead.done(symbol, day)
        self.decisions[(symbol, day)] = decision
        return decision

    def replay(self, symbol: str, day: dt.date, portfolio: PortfolioContext) -> Decision | None:
        """The decision recorded for ``(symbol, day)``, to rerun the same choices."""
        return self.decisions.get((symbol, day))

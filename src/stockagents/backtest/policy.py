"""Adapting the coordinator to the engine's policy interface.

The analysts do not read the portfolio, so a backtest that knows which (symbol, day)
steps it will ask about (``backtest_plan``) lets them answer ahead: at a step whose
analysts have not answered yet, those of the next ``coordinator.batch_steps``
steps answer in one batch (``AnalystsAhead``); the strategist then decides each step as
it comes, with the portfolio of that moment: the strategists of a day's symbols in one
batch too (``CoordinatorPolicy.decide_day``, which the engine calls once a day).

A model strategist also answers ahead, speculatively. A long-only book trades a few times
a month, so on most days a symbol's book only drifts with prices, and the strategist reads
it to two decimals (``StrategistAgent.reads``). So the batch of a day's strategists is
filled, up to ``batch_steps`` rows, with the next steps of the day's symbols, each asked
with the book it will hold if nothing trades: today's positions carried at the later
closes (``_held``). A later day takes such an answer only when its real book reads the
same; otherwise the answer is dropped, with the symbol's other answers given ahead, and
the day asks again. Every decision is therefore the model's answer to exactly that day's
prompt (what it would have answered one day at a time, up to the rounding of a wider
batch); a day's prompt reads only data up to that day, so nothing is seen ahead of time.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

import pandas as pd

from stockagents.agents.team import SharedAnswers
from stockagents.core.types import Decision, PortfolioContext, Recommendation
from stockagents.features.observation import Observation
from stockagents.orchestration import SystemCoordinator
from stockagents.orchestration.coordinator import AnalystAnswers

__all__ = ["AnalystsAhead", "CoordinatorPolicy", "RecommendationStore", "backtest_plan"]

Step = tuple[str, dt.date]
FLAT = PortfolioContext()


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


class RecommendationStore(Protocol):
    """Where a policy keeps recommendations across runs (the evaluation's answer cache):
    ``get`` one for what the agents read at a step, or None; ``put`` a new one."""

    def get(
        self, symbol: str, day: dt.date, portfolio: PortfolioContext, observation: Observation
    ) -> Recommendation | None: ...

    def put(
        self,
        symbol: str,
        day: dt.date,
        portfolio: PortfolioContext,
        observation: Observation,
        recommendation: Recommendation,
    ) -> None: ...


class CoordinatorPolicy:
    """``policy(symbol, day, portfolio)`` that asks the coordinator and records each
    step's portfolio and recommendation. The analysts answer ahead along ``plan`` (a step
    the plan did not foresee answers alone) and a day's strategists together
    (``decide_day``; one at a time with ``batch_steps: 1``). Steps before a symbol's
    ``eligible`` day get no decision; ``tick`` is called once per step asked; ``store``
    answers the steps it holds; ``shared`` is ``AnalystsAhead``'s."""

    def __init__(
        self,
        coordinator: SystemCoordinator,
        plan: Sequence[Step] = (),
        *,
        eligible: Mapping[str, dt.date] | None = None,
        tick: Callable[[], None] | None = None,
        store: RecommendationStore | None = None,
        shared: SharedAnswers | None = None,
    ) -> None:
        self.coordinator = coordinator
        self.ahead = AnalystsAhead(coordinator, plan, shared)
        self.eligible = eligible
        self.tick = tick
        self.store = store
        self.steps: dict[Step, tuple[PortfolioContext, Recommendation]] = {}
        self.decisions: dict[Step, Decision] = {}
        #: Answers given ahead (module docstring) and the books they were asked with,
        #: until their step comes.
        self.speculated: dict[Step, tuple[PortfolioContext, Recommendation]] = {}
        self.speculation = {"asked": 0, "used": 0, "used_held": 0}
        self.reads = coordinator.team.strategist.reads
        self.speculate = self.ahead.batch > 1 and coordinator.team.strategist.runtime is not None

    def __call__(self, symbol: str, day: dt.date, portfolio: PortfolioContext) -> Decision | None:
        return self.decide_day(day, [(symbol, portfolio)])[0]

    def decide_day(
        self, day: dt.date, asks: Sequence[tuple[str, PortfolioContext]]
    ) -> list[Decision | None]:
        """Every symbol of ``day`` (``engine.DayPolicy``)."""
        decided: dict[int, Decision | None] = {}
        todo: list[tuple[int, str, PortfolioContext, Observation]] = []
        books: dict[str, tuple[PortfolioContext, float]] = {}  # and the day's close
        for k, (symbol, portfolio) in enumerate(asks):
            if self.tick is not None:
                self.tick()
            if self.eligible is not None and day < self.eligible[symbol]:
                decided[k] = None
                continue
            observation = self.ahead.observe(symbol, day)
            books[symbol] = (portfolio, observation.price)
            found = self.store.get(symbol, day, portfolio, observation) if self.store else None
            if found is None:
                found = self._speculated(symbol, day, portfolio, observation)
            if found is not None:
                decided[k] = self._record(symbol, day, portfolio, found)
            else:
                todo.append((k, symbol, portfolio, observation))
        size = max(1, len(todo)) if self.ahead.batch > 1 else 1
        for first in range(0, len(todo), size):
            group = todo[first : first + size]
            ahead = self._ahead(day, group, books)
            recommendations = self.coordinator.recommend_many(
                [(o, self.ahead.analysts(s, day), p, day) for _, s, p, o in group]
                + [(o, self.ahead.analysts(s, d), book, d) for s, d, book, o in ahead]
            )
            for (k, symbol, portfolio, observation), recommendation in zip(
                group, recommendations[: len(group)], strict=True
            ):
                if self.store is not None:
                    self.store.put(symbol, day, portfolio, observation, recommendation)
                decided[k] = self._record(symbol, day, portfolio, recommendation)
            for (symbol, later, book, _), recommendation in zip(
                ahead, recommendations[len(group) :], strict=True
            ):
                self.speculated[(symbol, later)] = (book, recommendation)
        return [decided[k] for k in range(len(asks))]

    def _speculated(
        self, symbol: str, day: dt.date, portfolio: PortfolioContext, observation: Observation
    ) -> Recommendation | None:
        """The answer given ahead for this step, if its book reads as the one it was asked
        with (and then kept in ``store``); else None, and the symbol's answers given ahead
        are dropped: they were asked with books that did not happen."""
        found = self.speculated.pop((symbol, day), None)
        if found is None:
            return None
        book, recommendation = found
        if self.reads(book) != self.reads(portfolio):
            for step in [step for step in self.speculated if step[0] == symbol]:
                del self.speculated[step]
            return None
        self.speculation["used"] += 1
        self.speculation["used_held"] += bool(self.reads(book).position)
        if self.store is not None:
            self.store.put(symbol, day, portfolio, observation, recommendation)
        return recommendation

    def _ahead(
        self,
        day: dt.date,
        group: Sequence[tuple[int, str, PortfolioContext, Observation]],
        books: Mapping[str, tuple[PortfolioContext, float]],
    ) -> list[tuple[str, dt.date, PortfolioContext, Observation]]:
        """The later steps of the day's symbols (``books``: each one's book and close), in
        plan order, that fill the batch up to ``batch_steps`` rows, each with the book it
        holds if nothing trades (none for a rules strategist or without a plan). The
        store is not asked about them: its counts are of the steps a backtest asks."""
        room = self.ahead.batch - len(group)
        if not self.speculate or not group or room <= 0:
            return []
        known = [self.ahead.position.get((s, day)) for _, s, _, _ in group]
        if None in known:
            return []
        out: list[tuple[str, dt.date, PortfolioContext, Observation]] = []
        after = max(k for k in known if k is not None) + 1
        for symbol, later in itertools.islice(self.ahead.plan, after, None):
            if len(out) >= room:
                break
            if later <= day or symbol not in books or (symbol, later) in self.speculated:
                continue
            book = self._held(symbol, day, later, books)
            if book is not None:
                out.append((symbol, later, book, self.ahead.observe(symbol, later)))
        self.speculation["asked"] += len(out)
        return out

    def _held(
        self,
        symbol: str,
        day: dt.date,
        later: dt.date,
        books: Mapping[str, tuple[PortfolioContext, float]],
    ) -> PortfolioContext | None:
        """``symbol``'s book at ``later`` if no symbol trades after ``day``: each
        position's value moves with its close, cash stays, equity is their sum (None when
        a held symbol has no step at ``later``)."""
        mine = books[symbol][0]
        if not mine.position:
            return FLAT
        moved: dict[str, float] = {}
        for held, (book, close) in books.items():
            if not book.position:
                continue
            if (held, later) not in self.ahead.position:
                return None
            moved[held] = book.position * self.ahead.observe(held, later).price / close
        cash = 1.0 - sum(book.position for book, _ in books.values())
        position = moved[symbol] / (cash + sum(moved.values()))
        return PortfolioContext(
            position=max(-1.0, min(1.0, position)),
            entry_price=mine.entry_price,
            days_held=mine.days_held + (later - day).days,
        )

    def _record(
        self, symbol: str, day: dt.date, portfolio: PortfolioContext, rec: Recommendation
    ) -> Decision:
        self.ahead.done(symbol, day)
        self.steps[(symbol, day)] = (portfolio, rec)
        self.decisions[(symbol, day)] = rec.decision
        return rec.decision

    def replay(self, symbol: str, day: dt.date, portfolio: PortfolioContext) -> Decision | None:
        """The decision recorded for ``(symbol, day)``, to rerun the same choices."""
        return self.decisions.get((symbol, day))

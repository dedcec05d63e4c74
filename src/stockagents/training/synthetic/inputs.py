"""What the teacher is asked about: the input payloads of synthetic training examples.

Each agent's examples are drawn so that nothing from validation or test dates can leak
into training:

- **technical**: real price history, at (symbol, date) pairs drawn from one segment of
  the date splits (train for training data, validation for held-out prompts);
- **news**: synthetic news days (``headlines``) about real and fictional companies, at
  dates of the segment, scored by the same digest the live agent reads; with a
  ``HeadlineWriter`` (an API teacher), a share of the days get headlines the teacher
  writes (``teacher_headlines``), and a day whose reply is refused falls back to the
  offline generator with the tone that was asked for;
- **fundamental**: synthetic company profiles (``profiles``) from documented ranges, or
  the configured filings of real companies at segment dates when a source is set;
- **strategist**: the expert analysts' signals at real segment dates (technical from the
  real history; news and fundamental from synthetic days and profiles, or missing), with
  a random book (flat, long or short) as the portfolio context.

The technical analyst and the strategist compare a sum with thresholds, and the natural
draws put few sums next to them, where a student's boundary is learned least sharply (a
cpu SFT strategist bought at +0.11 with the threshold at +0.12). So a quarter of their
*training* examples (``NEAR_SHARE``) are redrawn until the sum lands within
``NEAR_BAND`` of a threshold, on either side; held-out prompts keep the natural mix.

Every example is an ``InputExample``: the agent's input payload plus where it came from.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from stockagents.agents import FundamentalAgent, NewsAgent, StrategistAgent, TechnicalAgent
from stockagents.agents.base import JuniorAgent
from stockagents.core.config import AppConfig
from stockagents.core.errors import DataError, StockAgentsError
from stockagents.core.types import NewsItem, PortfolioContext, Signal
from stockagents.data.calendar import market_close_utc
from stockagents.data.factory import DataSources, build_sources
from stockagents.data.splits import DateSplits, Segment, compute_splits
from stockagents.features.fundamentals import compute_ratios
from stockagents.features.news_digest import digest_news
from stockagents.features.observation import MIN_BARS, Observation, ObservationBuilder
from stockagents.training.synthetic.headlines import (
    COMPANIES,
    NewsDay,
    generate_news,
    sample_news_day,
)
from stockagents.training.synthetic.profiles import sample_profile
from stockagents.training.synthetic.teacher_headlines import HeadlineAsk, HeadlineWriter, draw_ask

__all__ = ["NEAR_BAND", "NEAR_SHARE", "InputExample", "InputSampler", "threshold_margin"]

logger = logging.getLogger(__name__)

AGENTS = ("news", "technical", "fundamental", "strategist")
#: Share of strategist examples whose news / fundamental analyst has nothing to say: half
#: of them without that analyst at all, half with its answer to an input without data
#: (neutral, confidence 0), which is how a real day without news or filings reads (the
#: sample's test window has neither: every one of its prompts is of that kind).
_MISSING_SHARE = 0.3
#: Share of technical and strategist training examples drawn next to a threshold, and
#: how near (module docstring); draws tried for each before taking a far one.
NEAR_SHARE = 0.25
NEAR_BAND = 0.03
_NEAR_TRIES = 200


def threshold_margin(payload: dict[str, Any]) -> float | None:
    """How far the payload's summed terms are from its nearest threshold (rounded to
    cents, as the answer writes the sum); None without terms or thresholds."""
    terms, thresholds = payload.get("terms"), payload.get("thresholds")
    if not isinstance(terms, dict) or not isinstance(thresholds, dict) or not thresholds:
        return None
    total = round(sum(float(v) for v in terms.values()), 2)
    levels = [float(v) for v in thresholds.values()]
    return min(abs(abs(total) - level) for level in levels)


@dataclass(frozen=True)
class InputExample:
    """One prompt's input: the payload the agent renders, and its provenance."""

    agent: str
    symbol: str
    as_of: dt.date
    payload: dict[str, Any]
    source: str  # "sample history", "synthetic news", "teacher news", "synthetic profile", ...
    meta: dict[str, Any] = field(default_factory=dict)


class InputSampler:
    """Draws input payloads for one agent from one segment of the date splits."""

    def __init__(self, config: AppConfig | None = None, sources: DataSources | None = None):
        self.config = config or AppConfig()
        self.sources = sources or build_sources(self.config.data)
        self.builder = ObservationBuilder(self.sources)
        self.symbols = self.sources.prices.symbols()
        if not self.symbols:
            raise DataError(f"the {self.sources.prices.name} price source has no symbols")
        calendar: set[dt.date] = set()
        self._days: dict[str, list[dt.date]] = {}
        for symbol in self.symbols:
            _, last = self.sources.prices.date_range(symbol)
            index = self.sources.prices.prices(symbol, as_of=last).index
            days = [ts.date() for ts in index]
            calendar.update(days)
            self._days[symbol] = days[MIN_BARS - 1 :]
        horizon = max(20, self.config.agents.strategist.horizon_days)
        self.splits: DateSplits = compute_splits(sorted(calendar), self.config.splits, horizon)
        self.agents: dict[str, JuniorAgent[Any]] = {
            "news": NewsAgent(config=self.config.agents.news),
            "technical": TechnicalAgent(config=self.config.agents.technical),
            "fundamental": FundamentalAgent(config=self.config.agents.fundamental),
        }
        self.strategist = StrategistAgent(config=self.config.agents.strategist)

    def segment(self, name: str) -> Segment:
        segment = {"train": self.splits.train, "validation": self.splits.validation}.get(name)
        if segment is None:
            raise DataError(f"the date splits have no {name} segment; set splits.validation_days")
        return segment

    def _real_day(self, rng: random.Random, segment: Segment) -> tuple[str, dt.date]:
        for _ in range(1000):
            symbol = rng.choice(self.symbols)
            days = [d for d in self._days[symbol] if d in segment]
            if days:
                return symbol, rng.choice(days)
        raise DataError(f"no symbol has {MIN_BARS}+ bars inside the {segment.name} segment")

    def _any_day(self, rng: random.Random, segment: Segment) -> dt.date:
        return segment.start + dt.timedelta(days=rng.randrange((segment.end - segment.start).days))

    def draw(
        self, agent: str, n: int, segment: str, seed: int, writer: HeadlineWriter | None = None
    ) -> Iterator[InputExample]:
        """``n`` examples for ``agent`` from ``segment`` (``train`` or ``validation``).

        ``writer`` (news only) writes the headlines of ``writer.share`` of the news days.
        """
        if agent not in AGENTS:
            raise DataError(f"unknown agent type {agent!r}; use one of {', '.join(AGENTS)}")
        rng = random.Random(f"{agent}:{segment}:{seed}")
        where = self.segment(segment)
        if agent == "news" and writer is not None and writer.share > 0:
            yield from self._written_news(rng, where, n, writer)
            return
        draw = getattr(self, f"_{agent}")
        near = agent in ("technical", "strategist") and segment == "train"
        made = 0
        while made < n:
            tries = _NEAR_TRIES if near and rng.random() < NEAR_SHARE else 1
            example = self._draw_near(draw, rng, where, tries)
            if example is None:
                continue
            made += 1
            yield example

    def _draw_near(
        self, draw: Any, rng: random.Random, where: Segment, tries: int
    ) -> InputExample | None:
        """One draw, or with ``tries`` > 1 the first of that many draws whose sum is within
        ``NEAR_BAND`` of a threshold (else the last); None when no draw had data."""
        example = None
        for _ in range(tries):
            try:
                example = draw(rng, where)
            except StockAgentsError as exc:  # a date without enough data: draw again
                logger.debug("skipped a draw: %s", exc)
                continue
            margin = threshold_margin(example.payload)
            if tries == 1 or (margin is not None and margin <= NEAR_BAND):
                break
        return example

    # -- one draw per agent --------------------------------------------------------------

    def _technical(self, rng: random.Random, segment: Segment) -> InputExample:
        symbol, day = self._real_day(rng, segment)
        observation = self.builder.build(symbol, day)
        payload = self.agents["technical"].input_payload(observation)
        return InputExample("technical", symbol, day, payload, "sample history")

    def _digest_observation(
        self, symbol: str, day: dt.date, items: list[NewsItem], price: float = 100.0
    ) -> Observation:
        """The observation the news agent reads: ``items`` digested up to the close."""
        digest = digest_news(items, market_close_utc(day))
        reason = None if digest.count else f"no news about {symbol} in the 7 days to {day}"
        return Observation(
            symbol=symbol,
            as_of=day,
            data_date=day,
            source="synthetic",
            price=price,
            bars=500,
            technical={},
            news=digest,
            news_reason=reason,
        )

    def _news_observation(
        self, rng: random.Random, symbol: str, day: dt.date, price: float = 100.0
    ) -> tuple[Observation, str]:
        news_day = sample_news_day(rng, day, symbol=symbol)
        return self._digest_observation(symbol, day, news_day.items, price), news_day.kind

    def _news_example(
        self, symbol: str, day: dt.date, items: list[NewsItem], source: str, meta: dict[str, Any]
    ) -> InputExample:
        payload = self.agents["news"].input_payload(self._digest_observation(symbol, day, items))
        return InputExample("news", symbol, day, payload, source, meta)

    def _news(self, rng: random.Random, segment: Segment) -> InputExample:
        symbol = rng.choice(sorted(COMPANIES))
        day = self._any_day(rng, segment)
        news_day = sample_news_day(rng, day, symbol=symbol)
        meta = {"kind": news_day.kind, "headlines": "synthetic"}
        return self._news_example(symbol, day, news_day.items, "synthetic news", meta)

    def _written_news(
        self, rng: random.Random, segment: Segment, n: int, writer: HeadlineWriter
    ) -> list[InputExample]:
        """``n`` news examples, each written by the teacher with probability ``writer.share``.

        Every draw (the offline days, the asks, a seed for each ask's fallback) is made
        before the teacher is asked, so the examples depend only on the seed and the replies.
        """
        plans: list[tuple[str, dt.date, NewsDay | tuple[HeadlineAsk, int]]] = []
        for _ in range(n):
            symbol = rng.choice(sorted(COMPANIES))
            day = self._any_day(rng, segment)
            if rng.random() < writer.share:
                ask = draw_ask(rng, symbol, COMPANIES[symbol], day)
                plans.append((symbol, day, (ask, rng.getrandbits(64))))
            else:
                plans.append((symbol, day, sample_news_day(rng, day, symbol=symbol)))
        asks = [plan[0] for _, _, plan in plans if isinstance(plan, tuple)]
        logger.info(
            "asking %s for the headlines of %d news days", ",".join(writer.names), len(asks)
        )
        written = iter(writer.write(asks))
        examples = []
        for symbol, day, plan in plans:
            if isinstance(plan, NewsDay):
                meta = {"kind": plan.kind, "headlines": "synthetic"}
                examples.append(self._news_example(symbol, day, plan.items, "synthetic news", meta))
                continue
            ask, fallback_seed = plan
            news = next(written)
            meta = {"kind": ask.tone, "headline_writer": news.writer}
            if news.items is not None:
                meta["headlines"] = f"teacher:{news.writer}"
                examples.append(self._news_example(symbol, day, news.items, "teacher news", meta))
                continue
            logger.debug("headlines of %s %s fall back: %s", symbol, day, news.error)
            fallback = generate_news(
                symbol, ask.company, day, random.Random(fallback_seed), kind=ask.tone
            )
            meta.update(headlines="synthetic", headline_fallback=news.error or "refused")
            examples.append(self._news_example(symbol, day, fallback.items, "synthetic news", meta))
        return examples

    def _fundamental_observation(
        self, rng: random.Random, symbol: str, day: dt.date
    ) -> tuple[Observation, dict[str, Any]]:
        if not self.sources.fundamentals.unavailable_reason and rng.random() < 0.5:
            try:
                close = float(self.sources.prices.prices(symbol, as_of=day).iloc[-1]["close"])
                filings = self.sources.fundamentals.filings(symbol, as_of=day)
                ratios = compute_ratios(filings, close)
                if ratios is not None:
                    observation = Observation(
                        symbol, day, day, "filings", close, 500, {}, fundamentals=ratios
                    )
                    return observation, {"source": "filings"}
            except StockAgentsError:
                pass
        profile = sample_profile(rng, symbol, day)
        ratios = compute_ratios(profile.snapshots, profile.price)
        reason = None if ratios is not None else f"no usable statements for {symbol}"
        observation = Observation(
            symbol, day, day, "synthetic", profile.price, 500, {},
            fundamentals=ratios, fundamentals_reason=reason,
        )  # fmt: skip
        return observation, {"sector": profile.sector, "archetype": profile.archetype}

    def _fundamental(self, rng: random.Random, segment: Segment) -> InputExample:
        symbol, day = self._real_day(rng, segment)
        observation, meta = self._fundamental_observation(rng, symbol, day)
        payload = self.agents["fundamental"].input_payload(observation)
        source = "filings" if meta.get("source") == "filings" else "synthetic profile"
        return InputExample("fundamental", symbol, day, payload, source, meta)

    def _strategist(self, rng: random.Random, segment: Segment) -> InputExample:
        symbol, day = self._real_day(rng, segment)
        market = self.builder.build(symbol, day)
        signals: dict[str, Signal] = {"technical": self.agents["technical"].answer(market).result}
        draw = rng.random()
        if draw >= _MISSING_SHARE:
            news, _ = self._news_observation(rng, symbol, day, market.price)
            signals["news"] = self.agents["news"].answer(news).result
        elif draw < _MISSING_SHARE / 2:  # a day without news: neutral, confidence 0
            quiet = self._digest_observation(symbol, day, [], market.price)
            signals["news"] = self.agents["news"].answer(quiet).result
        draw = rng.random()
        if draw >= _MISSING_SHARE:
            fundamentals, _ = self._fundamental_observation(rng, symbol, day)
            signals["fundamental"] = self.agents["fundamental"].answer(fundamentals).result
        elif draw < _MISSING_SHARE / 2:  # no filings: neutral, confidence 0
            none = Observation(
                symbol, day, day, "synthetic", market.price, 500, {},
                fundamentals=None, fundamentals_reason=f"no filings for {symbol}",
            )  # fmt: skip
            signals["fundamental"] = self.agents["fundamental"].answer(none).result
        book = rng.random()
        if book < 0.5:
            portfolio = PortfolioContext()
        else:
            side = 1.0 if book < 0.8 or not self.config.agents.strategist.allow_short else -1.0
            portfolio = PortfolioContext(
                position=side * round(rng.uniform(0.05, 0.25), 2),
                entry_price=round(market.price * rng.uniform(0.85, 1.15), 2),
                days_held=rng.randint(1, 30),
            )
        payload = self.strategist.input_payload(market, signals, portfolio)
        return InputExample("strategist", symbol, day, payload, "sample history + signals")

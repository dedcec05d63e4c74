"""Seeded synthetic news days: the news analyst's input when no real news exists offline.

This module owns a template bank of headlines and summaries by event type and the rules
that turn it into a ``NewsDay`` for one symbol at one date. It knows nothing about how the
news is scored or which agent reads it; the wording is chosen so that the finance-aware
VADER scorer (``features.news_digest``) reads each story on the side its meaning says.

Kinds of day (``sample_news_day`` and ``generate_news(kind=None)`` draw them with
``KIND_WEIGHTS``): 30% ``positive`` (positive and neutral stories, rarely one older
contrary story), 30% ``negative`` (the mirror image), 15% ``mixed`` (at least one
positive and one negative story), 15% ``neutral`` (only neutral stories) and 10%
``none`` (no stories). A day with news has 1 to 8 stories (fewer more often).
``event_mix`` draws the same story count and signs for a day of a kind, as short event
descriptions, for a teacher that writes the headlines itself.

Tone
    Each template carries an intended tone in [-1, 1]: strong events (earnings beat or
    miss, guidance, approvals) about +-0.7, moderate ones (buybacks, partnerships, probes)
    about +-0.5, and *negated* templates about +-0.3. A negated template says that a
    negative event did not happen ("no longer expects layoffs", "avoids recall") or that a
    positive one did not ("fails to win approval"); it is worded with the negation cues the
    scorer understands ("not", "no longer", "avoids", "fails to", "unable to") placed
    within three words of the event word. Words such as "denies" are avoided on purpose:
    the scorer reads "denies report of probe" as negative. ``NewsDay.intended_tone`` is the
    recency-weighted mean of the stories' tones (half-life 2 days, age measured from 20:00
    UTC on ``as_of``), 0 for a day without news.

Timing
    Stories are published between 21:00 UTC seven days before ``as_of`` and 19:30 UTC on
    ``as_of`` (to the minute, never at or after 19:30), so all of them fall inside a
    seven-day digest window that ends at the US close (20:00 or 21:00 UTC). When the
    close comes earlier (``market_close_utc``: 13:00 New York on an early close such as
    2023-07-03; the last session's close on a day the exchange is shut), the stories end
    half an hour before it instead, so none lands after it; the intended tone is
    unchanged by where ages are measured from, since every weight shifts alike.
"""

from __future__ import annotations

import datetime as dt
import math
import random
import re
from dataclasses import dataclass

from stockagents.core.types import NewsItem
from stockagents.data.calendar import market_close_utc

__all__ = [
    "COMPANIES",
    "KINDS",
    "KIND_WEIGHTS",
    "NewsDay",
    "event_mix",
    "filled_templates",
    "generate_news",
    "sample_news_day",
]

KINDS = ("positive", "negative", "neutral", "mixed", "none")
KIND_WEIGHTS: dict[str, float] = {
    "positive": 0.30,
    "negative": 0.30,
    "mixed": 0.15,
    "neutral": 0.15,
    "none": 0.10,
}
_STORY_COUNT_WEIGHTS = (25, 20, 16, 12, 10, 8, 5, 4)  # 1..8 stories on a day with news
_HALF_LIFE_DAYS = 2.0
_CONTRARY_SHARE = 0.2
#: On an early close, the last story is published at least this long before the close.
_BEFORE_CLOSE = dt.timedelta(minutes=30)

COMPANIES: dict[str, str] = {
    "AAPL": "Apple", "MSFT": "Microsoft", "GOOGL": "Alphabet", "AMZN": "Amazon",
    "TSLA": "Tesla", "NVDA": "Nvidia", "META": "Meta Platforms", "JPM": "JPMorgan Chase",
    "XOM": "Exxon Mobil", "JNJ": "Johnson & Johnson", "PG": "Procter & Gamble",
    "KO": "Coca-Cola", "NEE": "NextEra", "CAT": "Caterpillar", "UNH": "UnitedHealth",
    "INTC": "Intel", "ORCL": "Oracle", "PFE": "Pfizer", "BA": "Boeing", "DIS": "Disney",
    "WMT": "Walmart", "CVX": "Chevron", "ACMR": "Acme Robotics", "BRVT": "Brevant Therapeutics",
    "CLDW": "Cloudweave Systems", "DRTM": "Dartmoor Mining", "ELVO": "Elvora Foods",
    "FNSK": "Fenwick Semiconductor", "GRNH": "Greenhollow Utilities", "HLXB": "Helixbridge Bio",
    "IRNV": "Ironvale Industrial", "JNPR": "Juniper Lane Retail", "KSTL": "Kestrel Logistics",
    "LMNX": "Lumenox Petroleum", "MRDN": "Meridian Payments", "NVTA": "Novata Motors",
    "OKWD": "Oakwood Insurance", "PXLR": "Pixelridge Games",
}  # fmt: skip

_FIRMS = ("Halvorsen & Co", "Kingsley Brothers", "Ashdown Research", "Pinegate Partners",
          "Marlow Capital", "Thornbury Advisors", "Castellan Group", "Redfern Hale")  # fmt: skip
_PRODUCTS = ("cloud platform", "smartphone", "AI accelerator", "electric SUV",
             "diabetes drug", "payments app", "battery pack", "streaming service",
             "security suite", "cardiac device", "snack line", "wind turbine")  # fmt: skip
_BRANDS = ("Nova", "Apex", "Orion", "Vega", "Atlas", "Zephyr", "Quill", "Summit")
_PEOPLE = ("Dana Whitfield", "Ravi Menon", "Clara Osei", "Tomas Lindqvist", "Mei Tanaka")
_CITIES = ("Austin", "Dublin", "Singapore", "Toronto", "Munich", "Osaka")
_PARTNERS = ("Corvel Analytics", "Tessaly Networks", "Haldane Materials", "Quorra Health",
             "Winterbourne Labs", "Acme Robotics", "Cloudweave Systems")  # fmt: skip
_SOURCES = ("Northbridge Wire", "Ledgerline", "Harbor Street Journal", "Tickertape Daily")


@dataclass(frozen=True)
class _Event:
    """Templates for one event type and tone; slots are filled by ``str.format``."""

    name: str
    tone: float
    headlines: tuple[str, ...]
    summary: str
    negated: bool = False


_EVENTS: tuple[_Event, ...] = (
    _Event("earnings_beat", 0.75, (
        "{co} beats estimates as {q} revenue rises {pct}%",
        "{co} tops estimates on strong {product} demand",
        "{co} {q} profit jumps {pct}%, beating expectations",
    ), "Results came in ahead of analyst expectations, helped by strong demand."),
    _Event("earnings_miss", -0.75, (
        "{co} misses estimates as {q} revenue falls {pct}%",
        "{co} {q} profit slumps {pct}% on weak demand",
        "{co} swings to {q} loss on weak sales",
    ), "Results fell short of analyst expectations as demand weakened."),
    _Event("guidance_raised", 0.7, (
        "{co} raises guidance for fiscal {year}", "{co} raises outlook after strong {q}",
    ), "Management now expects higher revenue and profit, citing strong orders."),
    _Event("guidance_cut", -0.7, (
        "{co} cuts guidance for fiscal {year}, citing weak demand",
        "{co} lowers guidance as orders slow", "{co} issues profit warning for {year}",
    ), "Management now expects lower revenue and profit, citing weak orders."),
    _Event("analyst_upgrade", 0.6, (
        "{firm} upgrades {co} to outperform", "{firm} raises price target on {co} to ${target}",
        "{firm} names {co} a top pick for {year}",
    ), "The analyst sees upside from strong demand and improving margins."),
    _Event("analyst_downgrade", -0.6, (
        "{firm} downgrades {co} to underperform", "{firm} cuts price target on {co} to ${target}",
    ), "The analyst sees downside as growth slows and margins come under pressure."),
    _Event("product_launch", 0.5, (
        "{co} launches {brand} {product} to strong early demand",
        "{co} unveils {brand} {product}, shares climb {pct}%",
    ), "Early reviews of the {brand} {product} have been positive."),
    _Event("product_recall", -0.6, (
        "{co} recalls {n} {brand} units over fire risk",
        "{co} recalls {brand} {product} after safety complaints",
    ), "The recall is expected to weigh on sales and raise costs."),
    _Event("lawsuit_filed", -0.5, (
        "Investors file lawsuit against {co} over disclosures",
        "{co} hit with class-action lawsuit over {brand} {product}",
    ), "The lawsuit seeks damages and could take years to resolve."),
    _Event("lawsuit_won", 0.4, (
        "{co} wins dismissal of shareholder lawsuit", "Court rules in favor of {co} in patent case",
    ), "The ruling is a win for the company and removes a legal risk."),
    _Event("regulatory_approval", 0.75, (
        "{co} wins FDA approval for {brand} {product}",
        "{co} wins regulatory approval to expand {brand} in Europe",
    ), "The approval opens a large new market, analysts said."),
    _Event("regulatory_probe", -0.55, (
        "SEC opens probe into {co} accounting", "{co} faces antitrust investigation in Europe",
    ), "A probe could lead to fines and restrictions on the business."),
    _Event("acquired_at_premium", 0.5, (
        "{co} agrees to be acquired by {partner} at {pct}% premium",
    ), "The offer values the company well above its recent share price."),
    _Event("layoffs", -0.5, (
        "{co} announces {n} job cuts", "{co} to cut {pct}% of workforce amid slowdown",
    ), "The layoffs follow weak sales and a hiring freeze."),
    _Event("buyback", 0.5, (
        "{co} announces ${amt} billion buyback", "{co} boosts buyback by ${amt} billion",
    ), "The company said strong cash flow supports higher returns to shareholders."),
    _Event("dividend_raise", 0.5, (
        "{co} raises dividend by {pct}%", "{co} boosts quarterly dividend {pct}%",
    ), "The company said strong cash flow supports higher returns to shareholders."),
    _Event("dividend_cut", -0.6, (
        "{co} slashes dividend by {pct}% as losses mount",
        "{co} cuts dividend to preserve cash amid downturn",
    ), "The company cited weak cash flow and rising losses."),
    _Event("executive_departure", -0.4, (
        "{co} CFO resigns abruptly", "{co} chief executive quits amid board dispute",
    ), "The sudden exit adds to uncertainty and worries investors."),
    _Event("partnership", 0.5, (
        "{co} partners with {partner} to expand {brand} reach",
        "{co} signs partnership with {partner} to accelerate growth",
    ), "The deal is expected to help growth over the next few years."),
    _Event("supply_problems", -0.5, (
        "{co} warns of supply shortages for {brand} {product}",
        "Supply disruptions hit {co} production",
    ), "Shortages could delay shipments and hurt sales this quarter."),
    _Event("data_breach", -0.6, (
        "{co} discloses data breach affecting {n} customers",
    ), "The breach exposed customer data and could bring fines."),
    _Event("record_sales", 0.6, (
        "{co} reports record sales in {q}", "{co} shares hit record high on strong {brand} sales",
    ), "Strong demand drove the best quarter in company history."),
    _Event("denied_negative", 0.3, (
        "{co} no longer expects layoffs this year", "{co} not planning layoffs, CEO says",
        "{co} avoids recall as regulator closes {brand} review",
        "{co} says it is not under accounting probe",
        "{co} does not expect {brand} recall to affect results",
        "{co} averts supply disruption at main plant", "{co} no longer faces antitrust probe",
    ), "The company said the issue will not hurt results.", negated=True),
    _Event("denied_positive", -0.3, (
        "{co} fails to win approval for {brand} {product}",
        "{co} no longer expects record sales this year", "{co} unable to complete planned buyback",
        "{firm} no longer sees upside in {co}", "{co} fails to beat estimates in {q}",
    ), "The company gave no new timeline, and analysts flagged the setback.", negated=True),
    _Event("scheduled", 0.0, (
        "{co} to report {q} results on {date}", "{co} to present at {firm} technology conference",
        "{co} holds annual shareholder meeting", "{co} files annual report",
    ), "The company made the announcement in a regulatory filing."),
    _Event("corporate", 0.0, (
        "{co} names {person} chief financial officer", "{co} opens new office in {city}",
        "{co} to acquire {partner} for ${amt} billion",
        "{firm} initiates coverage of {co} with hold rating", "{co} CFO to retire at end of year",
    ), "The company made the announcement in a press release."),
)  # fmt: skip


@dataclass(frozen=True)
class NewsDay:
    """The news about one symbol in the seven days to ``as_of``, and what it should mean."""

    items: list[NewsItem]
    kind: str
    intended_tone: float


@dataclass(frozen=True)
class _Story:
    headline: str
    summary: str
    tone: float


def _slots(rng: random.Random, company: str, as_of: dt.date) -> dict[str, str]:
    report = as_of + dt.timedelta(days=rng.randint(5, 40))
    return {
        "co": company,
        "q": f"Q{rng.randint(1, 4)}",
        "year": str(as_of.year + rng.randint(0, 1)),
        "pct": str(rng.randint(2, 35)),
        "target": str(rng.randrange(20, 600, 5)),
        "amt": f"{rng.choice((0.5, 1, 1.5, 2, 3, 5, 10, 20)):g}",
        "n": f"{rng.randint(2, 95)},{rng.randrange(0, 1000, 100):03d}",
        "firm": rng.choice(_FIRMS),
        "product": rng.choice(_PRODUCTS),
        "brand": rng.choice(_BRANDS),
        "partner": rng.choice([name for name in _PARTNERS if name != company]),
        "person": rng.choice(_PEOPLE),
        "city": rng.choice(_CITIES),
        "date": f"{report:%B} {report.day}",
    }


def _events(sign: int) -> list[_Event]:
    return [e for e in _EVENTS if (e.tone > 0) - (e.tone < 0) == sign]


def _story(rng: random.Random, sign: int, company: str, as_of: dt.date) -> _Story:
    event = rng.choice(_events(sign))
    slots = _slots(rng, company, as_of)
    tone = event.tone if sign == 0 else event.tone + rng.uniform(-0.1, 0.1)
    return _Story(rng.choice(event.headlines).format(**slots), event.summary.format(**slots), tone)


def _signs(rng: random.Random, kind: str, count: int) -> list[int]:
    if kind == "neutral":
        return [0] * count
    if kind == "mixed":
        count = max(count, 2)
        mixed = [1, -1, *(rng.choice((1, -1, 0)) for _ in range(count - 2))]
        rng.shuffle(mixed)
        return mixed
    side = 1 if kind == "positive" else -1
    signs = [side] + [side if rng.random() < 0.7 else 0 for _ in range(count - 1)]
    if count >= 4 and rng.random() < _CONTRARY_SHARE:
        signs[-1] = -side  # one contrary story; it is placed oldest below
    return signs


def _times(rng: random.Random, as_of: dt.date, count: int) -> list[dt.datetime]:
    """``count`` distinct minutes in the window, newest first."""
    end = min(
        dt.datetime.combine(as_of, dt.time(19, 30), tzinfo=dt.UTC),
        market_close_utc(as_of) - _BEFORE_CLOSE,
    )
    start = dt.datetime.combine(as_of - dt.timedelta(days=7), dt.time(21, 0), tzinfo=dt.UTC)
    minutes = int((end - start).total_seconds() // 60)
    picked = sorted(rng.sample(range(minutes), count), reverse=True)
    return [start + dt.timedelta(minutes=m) for m in picked]


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:60]


def _weighted_tone(stories: list[_Story], times: list[dt.datetime], as_of: dt.date) -> float:
    if not stories:
        return 0.0
    close = dt.datetime.combine(as_of, dt.time(20, 0), tzinfo=dt.UTC)
    ages = [(close - t).total_seconds() / 86_400.0 for t in times]
    weights = [math.pow(0.5, age / _HALF_LIFE_DAYS) for age in ages]
    mean = sum(w * s.tone for w, s in zip(weights, stories, strict=True)) / sum(weights)
    return max(-1.0, min(1.0, mean))


def generate_news(
    symbol: str,
    company: str,
    as_of: dt.date,
    rng: random.Random,
    kind: str | None = None,
) -> NewsDay:
    """A seeded news day of ``kind`` (drawn with ``KIND_WEIGHTS`` when None) for ``symbol``."""
    if kind is None:
        kind = rng.choices(list(KIND_WEIGHTS), weights=list(KIND_WEIGHTS.values()))[0]
    if kind not in KINDS:
        raise ValueError(f"unknown news day kind {kind!r}; use one of {', '.join(KINDS)}")
    if kind == "none":
        return NewsDay(items=[], kind=kind, intended_tone=0.0)
    count = rng.choices(range(1, 9), weights=_STORY_COUNT_WEIGHTS)[0]
    signs = _signs(rng, kind, count)
    stories: list[_Story] = []
    seen: set[str] = set()
    for sign in signs:  # newest first; a contrary story is last, hence oldest
        for _ in range(20):
            story = _story(rng, sign, company, as_of)
            if story.headline.casefold() not in seen:
                break
        seen.add(story.headline.casefold())
        stories.append(story)
    times = _times(rng, as_of, len(stories))
    tone = _weighted_tone(stories, times, as_of)
    if kind in ("positive", "negative") and (tone > 0) != (kind == "positive"):
        side = 1.0 if kind == "positive" else -1.0
        keep = [i for i, s in enumerate(stories) if s.tone * side >= 0]
        stories, times = [stories[i] for i in keep], [times[i] for i in keep]
        tone = _weighted_tone(stories, times, as_of)
    items = [
        NewsItem(
            symbol=symbol,
            published_at=at,
            headline=story.headline,
            summary=story.summary,
            source=rng.choice(_SOURCES),
            url=f"https://news.example.com/{symbol.lower()}/{at:%Y%m%d}/{_slug(story.headline)}",
        )
        for story, at in zip(stories, times, strict=True)
    ]
    return NewsDay(items=items, kind=kind, intended_tone=tone)


#: How ``event_mix`` names the events whose names do not read as English.
_EVENT_DESCRIPTIONS = {
    "denied_negative": "a feared setback that is not happening",
    "denied_positive": "a hoped-for win that is not happening",
    "scheduled": "a scheduled announcement",
    "corporate": "routine corporate news",
}


def event_mix(rng: random.Random, kind: str) -> list[str]:
    """The events of a news day of ``kind`` (not ``none``), newest first, described in a
    few words: as many stories, with the same signs, as ``generate_news`` would draw; an
    event repeats only when its side has no other left (neutral days have two)."""
    if kind not in KINDS or kind == "none":
        raise ValueError(f"unknown news day kind {kind!r}; use one of {', '.join(KINDS[:-1])}")
    count = rng.choices(range(1, 9), weights=_STORY_COUNT_WEIGHTS)[0]
    events: list[_Event] = []
    for sign in _signs(rng, kind, count):
        fresh = [e for e in _events(sign) if e not in events]  # no repeats while any is left
        events.append(rng.choice(fresh or _events(sign)))
    return [_EVENT_DESCRIPTIONS.get(e.name, e.name.replace("_", " ")) for e in events]


def sample_news_day(rng: random.Random, as_of: dt.date, symbol: str | None = None) -> NewsDay:
    """A news day for ``symbol`` (a random ``COMPANIES`` ticker when None), kind drawn by mix.

    A symbol that is not in ``COMPANIES`` is its own company name.
    """
    if symbol is None:
        symbol = rng.choice(sorted(COMPANIES))
    return generate_news(symbol, COMPANIES.get(symbol, symbol), as_of, rng)


def filled_templates(company: str = "Acme Robotics") -> list[tuple[str, float, bool]]:
    """Every headline template filled for ``company``: (headline, intended tone, negated).

    For checking that a scorer reads each story, negations included, on the side its
    meaning says.
    """
    rng = random.Random(0)
    return [
        (headline.format(**_slots(rng, company, dt.date(2024, 6, 3))), event.tone, event.negated)
        for event in _EVENTS
        for headline in event.headlines
    ]

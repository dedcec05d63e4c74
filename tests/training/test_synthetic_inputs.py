"""Synthetic news days and company profiles: determinism, timing, and that the scorer and
the ratio code read them as intended."""

from __future__ import annotations

import datetime as dt
import random
import statistics
from collections import Counter

import pytest

from stockagents.data.calendar import market_close_utc
from stockagents.features.fundamentals import compute_ratios
from stockagents.features.news_digest import digest_news, score_headline
from stockagents.training.synthetic.headlines import (
    COMPANIES,
    KIND_WEIGHTS,
    KINDS,
    NewsDay,
    event_mix,
    filled_templates,
    generate_news,
    sample_news_day,
)
from stockagents.training.synthetic.profiles import (
    ARCHETYPES,
    GROWTH_RANGES,
    LOSS_MARGINS,
    PE_RANGES,
    SECTOR_RANGES,
    CompanyProfile,
    sample_profile,
)

AS_OF = dt.date(2024, 3, 15)
EPS = 1e-9


def _close(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(20, 0), tzinfo=dt.UTC)


def _days(n: int = 300, seed: int = 7) -> list[tuple[dt.date, NewsDay]]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        as_of = AS_OF + dt.timedelta(days=rng.randrange(0, 700))
        out.append((as_of, sample_news_day(rng, as_of)))
    return out


# -- headlines ---------------------------------------------------------------------------


def test_companies_include_megacaps_and_fictional_names() -> None:
    assert {"AAPL", "MSFT", "GOOGL", "AMZN", "TSLA", "NVDA", "META"} <= set(COMPANIES)
    assert len(COMPANIES) >= 30
    assert abs(sum(KIND_WEIGHTS.values()) - 1.0) < EPS
    assert all(score_headline(name) == 0.0 for name in COMPANIES.values())


def test_news_days_are_deterministic_for_a_seed() -> None:
    first = [sample_news_day(random.Random(s), AS_OF) for s in range(20)]
    again = [sample_news_day(random.Random(s), AS_OF) for s in range(20)]
    assert first == again
    assert first != [sample_news_day(random.Random(s + 100), AS_OF) for s in range(20)]


def test_story_times_counts_and_kinds() -> None:
    rng = random.Random(3)
    kinds: Counter[str] = Counter()
    for _ in range(1000):
        day = sample_news_day(rng, AS_OF, symbol="ZZZZ")
        kinds[day.kind] += 1
        assert day.kind in KINDS
        assert -1.0 <= day.intended_tone <= 1.0
        if day.kind == "none":
            assert day.items == []
            continue
        assert 1 <= len(day.items) <= 8
        assert len({i.headline.casefold() for i in day.items}) == len(day.items)
        for item in day.items:
            assert item.symbol == "ZZZZ"
            assert item.published_at.tzinfo is not None
            assert item.published_at < dt.datetime.combine(AS_OF, dt.time(19, 30), tzinfo=dt.UTC)
            assert item.published_at >= _close(AS_OF) + dt.timedelta(hours=1, days=-7)
            assert item.summary
            assert item.source
            assert item.url.startswith("https://")
    for kind, weight in KIND_WEIGHTS.items():
        assert abs(kinds[kind] / 1000 - weight) < 0.05, kinds


def test_explicit_kinds() -> None:
    rng = random.Random(11)
    for _ in range(50):
        mixed = generate_news("ACMR", "Acme Robotics", AS_OF, rng, kind="mixed")
        signs = {(s > 0) - (s < 0) for s in (score_headline(i.headline) for i in mixed.items)}
        assert {1, -1} <= signs
        neutral = generate_news("ACMR", "Acme Robotics", AS_OF, rng, kind="neutral")
        assert neutral.intended_tone == 0.0
        assert digest_news(neutral.items, _close(AS_OF)).weighted_sentiment == 0.0
    assert generate_news("ACMR", "Acme", AS_OF, rng, kind="none").items == []
    with pytest.raises(ValueError, match="unknown news day kind"):
        generate_news("ACMR", "Acme", AS_OF, rng, kind="bullish")


def test_event_mix_for_a_teacher_follows_the_kind() -> None:
    rng = random.Random(5)
    neutral_events = {"a scheduled announcement", "routine corporate news"}
    assert event_mix(random.Random(1), "mixed") == event_mix(random.Random(1), "mixed")
    for _ in range(200):
        for kind in ("positive", "negative", "mixed", "neutral"):
            events = event_mix(rng, kind)
            assert 1 <= len(events) <= 8
            assert all(e and "_" not in e for e in events)
            if kind == "neutral":
                assert set(events) <= neutral_events
            # Only the two neutral events repeat; each side has enough of its own.
            signed = [e for e in events if e not in neutral_events]
            assert len(set(signed)) == len(signed)
        assert len(event_mix(rng, "mixed")) >= 2
    with pytest.raises(ValueError, match="unknown news day kind"):
        event_mix(rng, "none")


def test_digest_sign_agrees_with_intended_tone() -> None:
    agree: Counter[str] = Counter()
    total: Counter[str] = Counter()
    for as_of, day in _days():
        digest = digest_news(day.items, _close(as_of))
        assert digest.count == len(day.items)
        kind = day.kind
        if kind in ("positive", "negative"):
            total[kind] += 1
            tone = day.intended_tone
            assert (tone > 0) == (kind == "positive")
            agree[kind] += (digest.weighted_sentiment > 0) == (tone > 0)
        if kind == "none":
            assert digest.count == 0
    for kind in ("positive", "negative"):
        assert total[kind] >= 50
        assert agree[kind] / total[kind] >= 0.8, (kind, agree, total)


def test_every_template_scores_on_the_side_of_its_meaning() -> None:
    for company in ("Acme Robotics", "Apple", "Kestrel Logistics"):
        filled = filled_templates(company)
        assert len(filled) >= 60
        assert sum(negated and tone > 0 for _, tone, negated in filled) >= 5
        assert sum(negated and tone < 0 for _, tone, negated in filled) >= 4
        for headline, tone, _ in filled:
            score = score_headline(headline)
            if tone == 0:
                assert score == 0.0, headline
            else:
                assert score * (1 if tone > 0 else -1) >= 0.05, (headline, score, tone)


# -- profiles ----------------------------------------------------------------------------


def _profiles(n: int = 300, seed: int = 5) -> list[tuple[dt.date, CompanyProfile]]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        as_of = AS_OF + dt.timedelta(days=rng.randrange(0, 700))
        out.append((as_of, sample_profile(rng, f"SYN{i}", as_of)))
    return out


def test_profiles_are_deterministic_for_a_seed() -> None:
    first = [sample_profile(random.Random(s), "ACMR", AS_OF) for s in range(30)]
    assert first == [sample_profile(random.Random(s), "ACMR", AS_OF) for s in range(30)]
    assert first != [sample_profile(random.Random(s + 50), "ACMR", AS_OF) for s in range(30)]


def test_ratios_land_in_documented_ranges() -> None:
    growth_by_archetype: dict[str, list[float]] = {a: [] for a in ARCHETYPES}
    for as_of, p in _profiles():
        snaps = p.snapshots
        latest = max(snaps, key=lambda s: s.period_end)
        assert len(snaps) == 2
        assert all(s.period == "annual" for s in snaps)
        assert all(s.filing_date < as_of for s in snaps)
        assert all(30 <= (s.filing_date - s.period_end).days <= 90 for s in snaps)
        age = (as_of - latest.filing_date).days
        stale = p.archetype == "stale"
        assert (200 <= age <= 400) if stale else (20 <= age <= 120)

        r = compute_ratios(snaps, p.price)
        assert r is not None
        assert r.revenue_growth is not None
        ranges = SECTOR_RANGES[p.sector]
        archetype = p.archetype
        growth_by_archetype[archetype].append(r.revenue_growth)
        g_low, g_high = GROWTH_RANGES.get(archetype, ranges.growth)
        assert g_low - EPS <= r.revenue_growth <= g_high + EPS
        assert r.net_margin is not None
        assert r.operating_margin is not None
        if ranges.gross_margin is None:
            assert r.gross_margin is None
        else:
            assert r.gross_margin is not None
            assert ranges.gross_margin[0] - EPS <= r.gross_margin <= ranges.gross_margin[1] + EPS
            assert r.gross_margin > r.operating_margin
        assert r.debt_to_equity is not None
        assert r.debt_to_equity >= 0
        if archetype in LOSS_MARGINS:
            low, high = LOSS_MARGINS[archetype]
            assert low - EPS <= r.net_margin <= high + EPS
            assert r.pe is None
            assert r.operating_margin < 0
            assert r.roe is not None
            assert r.roe < 0
            if archetype == "distressed":
                assert 2.0 - EPS <= r.debt_to_equity <= 6.0 + EPS
                assert r.ps is not None
                assert 0.09 <= r.ps <= 0.85
        else:
            assert ranges.net_margin[0] - EPS <= r.net_margin <= ranges.net_margin[1] + EPS
            op_low, op_high = ranges.operating_margin
            assert op_low - EPS <= r.operating_margin <= op_high + EPS
            assert r.operating_margin >= r.net_margin
            assert latest.net_income > 0
            assert r.pe is not None
            assert r.pe > 0
            pe_low, pe_high = PE_RANGES[archetype]
            assert pe_low * 0.99 <= r.pe <= pe_high * 1.01
            assert r.roe is not None
            assert ranges.roe[0] - EPS <= r.roe <= ranges.roe[1] + EPS
            assert r.debt_to_equity <= ranges.debt_to_equity[1] + EPS
    assert all(len(v) >= 10 for v in growth_by_archetype.values()), growth_by_archetype
    median = {a: statistics.median(v) for a, v in growth_by_archetype.items()}
    assert median["growth"] > median["steady"] > median["value"] > median["distressed"]
    assert median["loss_maker"] > median["value"]


def test_known_tickers_keep_their_sector_and_bad_arguments_fail() -> None:
    assert sample_profile(random.Random(1), "AAPL", AS_OF).sector == "technology"
    assert sample_profile(random.Random(1), "XOM", AS_OF, "value").archetype == "value"
    with pytest.raises(ValueError, match="unknown archetype"):
        sample_profile(random.Random(1), "AAPL", AS_OF, "meme")


def test_stories_on_an_early_close_come_before_it() -> None:
    # 2023-07-03 closed at 13:00 New York (17:00 UTC): every story is in the digest.
    day = dt.date(2023, 7, 3)
    close = market_close_utc(day)
    rng = random.Random(4)
    for _ in range(200):
        news = generate_news("ACMR", "Acme Robotics", day, rng, kind="positive")
        assert all(item.published_at <= close - dt.timedelta(minutes=30) for item in news.items)
        assert digest_news(news.items, close).count == len(news.items)

from __future__ import annotations

import datetime as dt
import json
import threading
from importlib import resources

import pytest
from pydantic import ValidationError

from stockagents.core.types import NewsItem
from stockagents.features.news_digest import (
    HEADLINE_WEIGHT,
    NewsDigest,
    digest_news,
    score_headline,
)

AS_OF = dt.datetime(2024, 5, 10, 20, 0, tzinfo=dt.UTC)


def _item(headline: str, at: dt.datetime, summary: str = "", symbol: str = "AAPL") -> NewsItem:
    return NewsItem(symbol=symbol, published_at=at, headline=headline, summary=summary)


# --- headline sentiment ---------------------------------------------------------------


@pytest.mark.parametrize(
    "headline",
    [
        "Apple beats earnings estimates, raises guidance",
        "Nvidia shares surge to a record",
        "Analyst upgrades Microsoft to outperform",
        "Microsoft announces $60 billion buyback, raises dividend",
        "Company beats estimates",
    ],
)
def test_bullish_finance_headlines_score_positive(headline: str) -> None:
    assert score_headline(headline) > 0.3


@pytest.mark.parametrize(
    "headline",
    [
        "Apple misses revenue estimates and cuts guidance",
        "Analyst downgrades Netflix to underperform",
        "Boeing faces new FAA probe",
        "Retailer files for bankruptcy",
        "Morgan Stanley cuts price target on Tesla",
        "Shares hit record low",
    ],
)
def test_bearish_finance_headlines_score_negative(headline: str) -> None:
    assert score_headline(headline) < -0.3


def test_finance_terms_outrank_plain_vader() -> None:
    # Plain VADER rates none of these words; the finance lexicon must.
    assert score_headline("Analyst downgrades Netflix to underperform") < -0.5
    assert score_headline("Apple beats earnings estimates, raises guidance") > 0.5


def test_neutral_headline_scores_near_zero() -> None:
    assert abs(score_headline("Apple to hold annual meeting on Tuesday")) < 0.05


def test_finance_neutral_words_carry_no_sentiment() -> None:
    # VADER rates "shares", "interest" and "credit" positive; in finance news they are neutral.
    assert score_headline("Shares outstanding and interest on credit facility") == 0.0
    # Phrases with valence 0 neutralise their words ("best" alone is strongly positive).
    assert score_headline("Best Buy misses estimates") < -0.3


def test_negation_flips_a_finance_term() -> None:
    plain = score_headline("Company expects layoffs")
    negated = score_headline("Company does not expect layoffs")
    assert plain < -0.05
    assert negated > 0.05
    assert negated > plain


def test_no_longer_negates() -> None:
    assert score_headline("Company no longer expects layoffs") > 0.05


def test_fails_to_negates_what_follows() -> None:
    assert score_headline("Apple beats estimates") > 0.3
    assert score_headline("Apple fails to beat estimates") < -0.3


def test_averting_a_negative_event_is_positive() -> None:
    assert score_headline("Retailer averts bankruptcy") > 0.05


def test_negated_phrase_flips() -> None:
    assert score_headline("Apple cuts guidance") < -0.3
    assert score_headline("Apple does not cut guidance") > 0.05


def test_phrase_pass_ignores_case_and_spacing() -> None:
    assert score_headline("Apple CUTS   Guidance") == pytest.approx(
        score_headline("Apple cuts guidance")
    )


def test_blank_text_scores_zero() -> None:
    assert score_headline("") == 0.0
    assert score_headline("   \n") == 0.0


def test_scores_are_bounded() -> None:
    text = "Shares soar surge rally record beat-and-raise upgrade bullish outperform!!!"
    assert -1.0 <= score_headline(text) <= 1.0
    assert score_headline(text) > 0.9


def test_lexicon_is_valid_package_data() -> None:
    raw = resources.files("stockagents.features").joinpath("finance_lexicon.json").read_text()
    lexicon = json.loads(raw)
    assert 80 <= len(lexicon) <= 160
    assert all(isinstance(v, int | float) and -4.0 <= v <= 4.0 for v in lexicon.values())
    assert lexicon["downgrade"] < 0 < lexicon["upgrade"]


def test_concurrent_scoring_is_consistent() -> None:
    headline = "Analyst downgrades Netflix to underperform"
    expected = score_headline(headline)
    results: list[float] = []
    lock = threading.Lock()

    def work() -> None:
        for _ in range(50):
            value = score_headline(headline)
            with lock:
                results.append(value)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [expected] * 400


# --- digest ---------------------------------------------------------------------------


def test_empty_input_gives_zero_digest() -> None:
    digest = digest_news([], AS_OF)
    assert digest == NewsDigest(
        count=0,
        positive=0,
        negative=0,
        neutral=0,
        mean_sentiment=0.0,
        weighted_sentiment=0.0,
        latest_published_at=None,
    )
    assert digest.items == []
    assert digest.top_positive == []
    assert digest.top_negative == []


def test_items_after_as_of_are_ignored() -> None:
    items = [
        _item("Apple misses revenue estimates and cuts guidance", AS_OF - dt.timedelta(hours=3)),
        _item("Apple beats earnings estimates, raises guidance", AS_OF + dt.timedelta(minutes=1)),
    ]
    digest = digest_news(items, AS_OF)
    assert digest.count == 1
    assert [it.headline for it in digest.items] == [items[0].headline]
    assert digest.latest_published_at == items[0].published_at
    assert digest.top_positive == []
    assert digest.mean_sentiment < 0


def test_item_exactly_at_as_of_is_kept() -> None:
    digest = digest_news([_item("Nvidia shares surge to a record", AS_OF)], AS_OF)
    assert digest.count == 1
    assert digest.items[0].age_days == 0.0


def test_items_older_than_lookback_are_ignored() -> None:
    items = [
        _item("Nvidia shares surge to a record", AS_OF - dt.timedelta(days=7, minutes=1)),
        _item("Analyst downgrades Netflix to underperform", AS_OF - dt.timedelta(days=7)),
        _item("Apple to hold annual meeting on Tuesday", AS_OF - dt.timedelta(days=1)),
    ]
    digest = digest_news(items, AS_OF, lookback_days=7)
    assert [it.headline for it in digest.items] == [items[2].headline, items[1].headline]
    assert digest.top_positive == []
    assert digest.negative == 1
    assert digest.neutral == 1

    assert digest_news(items, AS_OF, lookback_days=2).count == 1


def test_as_of_in_another_timezone_is_the_same_instant() -> None:
    new_york = dt.timezone(dt.timedelta(hours=-4))
    items = [_item("Nvidia shares surge to a record", AS_OF - dt.timedelta(minutes=30))]
    local_as_of = AS_OF.astimezone(new_york)
    assert digest_news(items, local_as_of) == digest_news(items, AS_OF)
    assert digest_news(items, local_as_of - dt.timedelta(hours=1)).count == 0


def test_duplicate_headlines_keep_the_earliest() -> None:
    first = AS_OF - dt.timedelta(days=2)
    items = [
        _item("Nvidia shares SURGE to a record", AS_OF - dt.timedelta(hours=1)),
        _item("  nvidia shares surge   to a record ", first),
        _item("Nvidia shares surge to a record", AS_OF - dt.timedelta(days=1)),
        _item("Analyst downgrades Netflix to underperform", AS_OF - dt.timedelta(hours=5)),
    ]
    digest = digest_news(items, AS_OF)
    assert digest.count == 2
    nvidia = [it for it in digest.items if "nvidia" in it.headline.lower()]
    assert len(nvidia) == 1
    assert nvidia[0].published_at == first
    assert nvidia[0].age_days == pytest.approx(2.0)


def test_recent_negative_outweighs_old_positive() -> None:
    positive = "Nvidia shares surge to a record"
    negative = "Nvidia shares plunge to a record low"
    pos_score, neg_score = score_headline(positive), score_headline(negative)
    assert pos_score > 0 > neg_score
    items = [
        _item(positive, AS_OF - dt.timedelta(days=6)),
        _item(negative, AS_OF - dt.timedelta(hours=2)),
    ]
    digest = digest_news(items, AS_OF, half_life_days=2.0)
    assert digest.mean_sentiment == pytest.approx((pos_score + neg_score) / 2)
    assert digest.weighted_sentiment < 0
    assert digest.weighted_sentiment < digest.mean_sentiment


def test_recent_negative_and_old_positive_mean_is_zero() -> None:
    # The "beats estimates" and "misses estimates" phrases have opposite valences, so the
    # two headlines score +s and -s and the unweighted mean is 0.
    positive = "Apple beats estimates"
    negative = "Apple misses estimates"
    assert score_headline(positive) == pytest.approx(-score_headline(negative), abs=1e-3)
    items = [
        _item(positive, AS_OF - dt.timedelta(days=4)),
        _item(negative, AS_OF - dt.timedelta(days=0)),
    ]
    digest = digest_news(items, AS_OF, half_life_days=2.0)
    assert digest.mean_sentiment == pytest.approx(0.0, abs=1e-3)
    # Weights 0.25 and 1.0: (0.25 * s - 1.0 * s) / 1.25 = -0.6 * s.
    s = score_headline(positive)
    assert digest.weighted_sentiment == pytest.approx(-0.6 * s, abs=1e-3)
    assert digest.positive == 1
    assert digest.negative == 1


def test_weighting_survives_very_old_items() -> None:
    old = AS_OF - dt.timedelta(days=3000)
    items = [_item("Nvidia shares surge to a record", old)]
    digest = digest_news(items, AS_OF, lookback_days=4000, half_life_days=1.0)
    assert digest.weighted_sentiment == pytest.approx(digest.mean_sentiment)


def test_headline_weighs_more_than_summary() -> None:
    headline = "Apple beats earnings estimates, raises guidance"
    summary = "Analysts warn of a slowdown and possible layoffs."
    digest = digest_news([_item(headline, AS_OF, summary=summary)], AS_OF)
    expected = HEADLINE_WEIGHT * score_headline(headline) + (1 - HEADLINE_WEIGHT) * score_headline(
        summary
    )
    assert HEADLINE_WEIGHT > 0.5
    assert digest.items[0].sentiment == pytest.approx(expected)
    assert digest.items[0].sentiment > 0


def test_counts_order_and_top_lists() -> None:
    headlines = [
        "Nvidia shares surge to a record",
        "Apple beats earnings estimates, raises guidance",
        "Analyst upgrades Microsoft to outperform",
        "Company beats estimates",
        "Apple to hold annual meeting on Tuesday",
        "Analyst downgrades Netflix to underperform",
    ]
    items = [_item(h, AS_OF - dt.timedelta(hours=i + 1)) for i, h in enumerate(headlines)]
    digest = digest_news(items, AS_OF)
    assert digest.count == 6
    assert (digest.positive, digest.negative, digest.neutral) == (4, 1, 1)
    assert [it.headline for it in digest.items] == headlines  # newest first
    assert digest.latest_published_at == items[0].published_at
    assert len(digest.top_positive) == 3
    scores = [score_headline(h) for h in digest.top_positive]
    assert scores == sorted(scores, reverse=True)
    assert min(scores) >= max(
        score_headline(h) for h in headlines[:4] if h not in digest.top_positive
    )
    assert digest.top_negative == ["Analyst downgrades Netflix to underperform"]
    ages = [it.age_days for it in digest.items]
    assert ages == sorted(ages)


def test_input_order_does_not_matter() -> None:
    items = [
        _item("Nvidia shares surge to a record", AS_OF - dt.timedelta(days=1)),
        _item("Analyst downgrades Netflix to underperform", AS_OF - dt.timedelta(days=3)),
        _item("Apple to hold annual meeting on Tuesday", AS_OF - dt.timedelta(hours=2)),
    ]
    assert digest_news(items, AS_OF) == digest_news(list(reversed(items)), AS_OF)


def test_digest_is_frozen() -> None:
    digest = digest_news([_item("Nvidia shares surge to a record", AS_OF)], AS_OF)
    with pytest.raises(ValidationError):
        digest.count = 5  # type: ignore[misc]


@pytest.mark.parametrize(
    ("as_of", "lookback_days", "half_life_days"),
    [
        (dt.datetime(2024, 5, 10, 20, 0), 7, 2.0),  # naive
        (AS_OF, -1, 2.0),
        (AS_OF, 7, 0.0),
        (AS_OF, 7, float("nan")),
    ],
)
def test_bad_arguments_are_rejected(
    as_of: dt.datetime, lookback_days: int, half_life_days: float
) -> None:
    with pytest.raises(ValueError):  # noqa: PT011
        digest_news([], as_of, lookback_days=lookback_days, half_life_days=half_life_days)

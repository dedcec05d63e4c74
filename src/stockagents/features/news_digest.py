"""Turn a list of news items into a digest with finance-aware headline sentiment.

This module owns one step: given news items that the caller has already filtered to
what was public at ``as_of`` (point in time), it scores them and summarises them in a
``NewsDigest``. It knows nothing about news providers or agents. It also does not trust
the caller: anything published after ``as_of`` or before the lookback window is dropped
again here.

Sentiment method
    Each text is scored with VADER (``vaderSentiment``), a lexicon-and-rules model whose
    ``compound`` score lies in [-1, 1]. VADER's general-purpose lexicon is extended with
    the finance terms in ``finance_lexicon.json`` (package data), a flat map of
    word or phrase to valence on VADER's [-4, 4] scale:

    * A single word overrides or adds a lexicon entry (``"downgrade": -2.0``). A valence
      of 0 removes the word from the lexicon, for words VADER rates but that are neutral
      in finance text ("shares", "interest", "credit", "gross", "outstanding").
    * VADER only looks up single tokens, so a phrase (an entry with a space, such as
      ``"cuts guidance"`` or ``"price target cut"``) is handled by a phrase pass run
      before VADER: each match, case-insensitive and longest phrase first, is rewritten
      into one token (``cuts_guidance``), and that token gets the phrase's valence. A
      phrase with valence 0 makes its words neutral ("rate cut", "best buy").
    * VADER flips a lexicon word that comes within three tokens after "not", "never",
      "n't" and the like. A negation pass run before VADER adds cues that VADER does not
      know: "no longer", "unable to", "avoids/averts" and "staves off" become "not", so
      "no longer expects layoffs" and "averts bankruptcy" score positive; "fails to X"
      becomes "fails not X", which keeps the negative "fails" and also flips X ("fails to
      beat estimates" is negative, not mixed). VADER only negates a word when the words in
      between are not in its lexicon, so the finance lexicon leaves common verbs such as
      "expects" unrated.

    An item's sentiment is ``2/3 * headline + 1/3 * summary`` when it has a summary and
    the headline score alone otherwise: the headline is what the market reacts to, while
    summaries are longer, noisier and often boilerplate. Items count as positive at
    ``>= 0.05``, negative at ``<= -0.05`` and neutral in between, the thresholds VADER's
    authors recommend for ``compound``.

Recency weighting
    ``weighted_sentiment`` is the average of item sentiments weighted by
    ``0.5 ** (age_days / half_life_days)``, where ``age_days`` is the time from
    publication to ``as_of``: an item ``half_life_days`` old counts half as much as one
    published at ``as_of``. ``mean_sentiment`` is the unweighted average.

One analyzer is built per process, lazily and under a lock; after construction it is
only read, so scoring is safe from several threads.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import re
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources

from pydantic import BaseModel, ConfigDict, Field
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from stockagents.core.types import NewsItem

__all__ = ["HEADLINE_WEIGHT", "NewsDigest", "ScoredNewsItem", "digest_news", "score_headline"]

logger = logging.getLogger(__name__)

HEADLINE_WEIGHT = 2.0 / 3.0
"""Share of an item's sentiment that comes from its headline when it has a summary."""

POSITIVE_THRESHOLD = 0.05
NEGATIVE_THRESHOLD = -0.05
_TOP_N = 3
_SECONDS_PER_DAY = 86_400.0
_LEXICON_RESOURCE = "finance_lexicon.json"
_VALENCE_LIMIT = 4.0

# Negation cues VADER does not know, rewritten before scoring (see module docstring).
_NEGATION_REWRITES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\bno\s+longer\b", re.IGNORECASE), "not"),
    (re.compile(r"\bunable\s+to\b", re.IGNORECASE), "not"),
    (re.compile(r"\b(?:avoids|avoided|averts|averted)\b", re.IGNORECASE), "not"),
    (re.compile(r"\b(?:staves|staved)\s+off\b", re.IGNORECASE), "not"),
    (re.compile(r"\b(fail|fails|failed|failing)\s+to\b", re.IGNORECASE), r"\1 not"),
)


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ScoredNewsItem(_Frozen):
    """One news item in a digest, with its sentiment and its age at ``as_of``."""

    headline: str
    published_at: dt.datetime = Field(description="Publish time, timezone-aware UTC.")
    sentiment: float = Field(ge=-1.0, le=1.0, description="Headline-weighted VADER compound.")
    age_days: float = Field(ge=0.0, description="Days from publication to as_of.")


class NewsDigest(_Frozen):
    """What the news in a lookback window says, as counts and sentiment averages."""

    count: int = Field(ge=0, description="Items in the window after deduplication.")
    positive: int = Field(ge=0, description="Items with sentiment >= 0.05.")
    negative: int = Field(ge=0, description="Items with sentiment <= -0.05.")
    neutral: int = Field(ge=0, description="Items with sentiment strictly in between.")
    mean_sentiment: float = Field(ge=-1.0, le=1.0)
    weighted_sentiment: float = Field(
        ge=-1.0, le=1.0, description="Mean sentiment with exponential recency weights."
    )
    latest_published_at: dt.datetime | None = None
    items: list[ScoredNewsItem] = Field(
        default_factory=list, description="Scored items, newest first."
    )
    top_positive: list[str] = Field(
        default_factory=list, description="Up to 3 most positive headlines, most positive first."
    )
    top_negative: list[str] = Field(
        default_factory=list, description="Up to 3 most negative headlines, most negative first."
    )


@dataclass(frozen=True)
class _FinanceSentiment:
    """A VADER analyzer with the finance lexicon and the phrase pass that feeds it."""

    analyzer: SentimentIntensityAnalyzer
    phrase_pattern: re.Pattern[str] | None

    def score(self, text: str) -> float:
        prepared = self._prepare(text)
        if not prepared:
            return 0.0
        compound = float(self.analyzer.polarity_scores(prepared)["compound"])
        return max(-1.0, min(1.0, compound))

    def _prepare(self, text: str) -> str:
        prepared = " ".join(text.split())
        for pattern, replacement in _NEGATION_REWRITES:
            prepared = pattern.sub(replacement, prepared)
        if self.phrase_pattern is not None:
            prepared = self.phrase_pattern.sub(lambda m: _phrase_token(m.group(0)), prepared)
        return prepared


def _phrase_token(phrase: str) -> str:
    return "_".join(phrase.lower().split())


def _load_finance_lexicon() -> dict[str, float]:
    raw = resources.files("stockagents.features").joinpath(_LEXICON_RESOURCE).read_text("utf-8")
    data = json.loads(raw)
    if not isinstance(data, dict):
        raise ValueError(f"{_LEXICON_RESOURCE} must be a JSON object of term -> valence")
    lexicon: dict[str, float] = {}
    for term, valence in data.items():
        key = " ".join(str(term).lower().split())
        if not key:
            raise ValueError(f"{_LEXICON_RESOURCE} has an empty term")
        if isinstance(valence, bool) or not isinstance(valence, int | float):
            raise ValueError(f"{_LEXICON_RESOURCE}: valence of {term!r} is not a number")
        value = float(valence)
        if not math.isfinite(value) or abs(value) > _VALENCE_LIMIT:
            raise ValueError(f"{_LEXICON_RESOURCE}: valence of {term!r} is outside [-4, 4]")
        lexicon[key] = value
    return lexicon


def _build(finance_lexicon: Mapping[str, float]) -> _FinanceSentiment:
    analyzer = SentimentIntensityAnalyzer()
    vader_lexicon: dict[str, float] = analyzer.lexicon
    phrases: list[str] = []
    for term, valence in finance_lexicon.items():
        if " " in term:
            phrases.append(term)
            key = _phrase_token(term)
        else:
            key = term
        if valence == 0.0:
            vader_lexicon.pop(key, None)
        else:
            vader_lexicon[key] = valence
    pattern: re.Pattern[str] | None = None
    if phrases:
        # Longest first, so "price target cut" wins over any shorter phrase inside it.
        alternatives = "|".join(
            r"\s+".join(re.escape(word) for word in phrase.split())
            for phrase in sorted(phrases, key=len, reverse=True)
        )
        pattern = re.compile(rf"(?<![\w-])(?:{alternatives})(?![\w-])", re.IGNORECASE)
    logger.debug(
        "finance sentiment lexicon: %d terms, %d phrases", len(finance_lexicon), len(phrases)
    )
    return _FinanceSentiment(analyzer=analyzer, phrase_pattern=pattern)


_sentiment: _FinanceSentiment | None = None
_sentiment_lock = threading.Lock()


def _finance_sentiment() -> _FinanceSentiment:
    global _sentiment
    built = _sentiment
    if built is None:
        with _sentiment_lock:
            built = _sentiment
            if built is None:
                built = _build(_load_finance_lexicon())
                _sentiment = built
    return built


def score_headline(text: str) -> float:
    """The finance-aware VADER compound score of ``text``, in [-1, 1]; 0.0 for blank text."""
    return _finance_sentiment().score(text)


def _item_sentiment(item: NewsItem) -> float:
    headline_score = score_headline(item.headline)
    if not item.summary.strip():
        return headline_score
    summary_score = score_headline(item.summary)
    return HEADLINE_WEIGHT * headline_score + (1.0 - HEADLINE_WEIGHT) * summary_score


def _dedup_key(item: NewsItem) -> str:
    headline = " ".join(item.headline.split()).casefold()
    if headline:
        return headline
    # No headline: fall back to the summary so blank headlines do not collapse together.
    return "\x00" + " ".join(item.summary.split()).casefold()


def digest_news(
    items: Sequence[NewsItem],
    as_of: dt.datetime,
    lookback_days: int = 7,
    half_life_days: float = 2.0,
) -> NewsDigest:
    """Score and summarise the items published in ``[as_of - lookback_days, as_of]``.

    Items outside the window, including any published after ``as_of``, are ignored.
    Items whose headlines match after case-folding and whitespace collapsing are
    counted once, as the earliest of them.
    """
    if as_of.tzinfo is None or as_of.utcoffset() is None:
        raise ValueError("as_of must be timezone-aware")
    if lookback_days < 0:
        raise ValueError("lookback_days must be >= 0")
    if not half_life_days > 0.0:
        raise ValueError("half_life_days must be > 0")
    as_of_utc = as_of.astimezone(dt.UTC)
    window_start = as_of_utc - dt.timedelta(days=lookback_days)

    in_window = [item for item in items if window_start <= item.published_at <= as_of_utc]
    future = sum(1 for item in items if item.published_at > as_of_utc)
    if future:
        logger.debug("ignored %d news items published after as_of %s", future, as_of_utc)

    unique: dict[str, NewsItem] = {}
    for item in sorted(in_window, key=lambda it: it.published_at):  # stable: input order ties
        unique.setdefault(_dedup_key(item), item)

    scored = [
        ScoredNewsItem(
            headline=item.headline,
            published_at=item.published_at,
            sentiment=_item_sentiment(item),
            age_days=(as_of_utc - item.published_at).total_seconds() / _SECONDS_PER_DAY,
        )
        for item in unique.values()
    ]
    scored.sort(key=lambda it: it.published_at, reverse=True)
    if not scored:
        return NewsDigest(
            count=0,
            positive=0,
            negative=0,
            neutral=0,
            mean_sentiment=0.0,
            weighted_sentiment=0.0,
        )

    sentiments = [it.sentiment for it in scored]
    # Weights relative to the newest item: the same normalised average, without underflow.
    newest_age = min(it.age_days for it in scored)
    weights = [0.5 ** ((it.age_days - newest_age) / half_life_days) for it in scored]
    weighted = sum(w * s for w, s in zip(weights, sentiments, strict=True)) / sum(weights)

    positives = sorted(
        (it for it in scored if it.sentiment >= POSITIVE_THRESHOLD), key=lambda it: -it.sentiment
    )
    negatives = sorted(
        (it for it in scored if it.sentiment <= NEGATIVE_THRESHOLD), key=lambda it: it.sentiment
    )
    return NewsDigest(
        count=len(scored),
        positive=len(positives),
        negative=len(negatives),
        neutral=len(scored) - len(positives) - len(negatives),
        mean_sentiment=_clamp(math.fsum(sentiments) / len(sentiments)),
        weighted_sentiment=_clamp(weighted),
        latest_published_at=scored[0].published_at,
        items=scored,
        top_positive=[it.headline for it in positives[:_TOP_N]],
        top_negative=[it.headline for it in negatives[:_TOP_N]],
    )


def _clamp(value: float) -> float:
    return max(-1.0, min(1.0, value))

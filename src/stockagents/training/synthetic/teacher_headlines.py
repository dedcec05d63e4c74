"""Headlines an API teacher writes: the request, the reply's validation, the news items.

With an API teacher (OpenAI or Anthropic), a share of the news days of a data set get
headlines the teacher writes instead of the offline template bank (``headlines``). This
module owns that exchange and knows nothing about digests, agents or data sets:

- ``draw_ask``: what to ask for one day, drawn with the caller's seeded rng: a tone
  (``positive`` / ``negative`` 1/3 each, ``mixed`` / ``neutral`` 1/6 each, the offline
  kind weights without no-news days) and the events of such a day (``event_mix``: 1-8
  stories with the signs the offline generator would draw);
- ``headline_request``: the prompt (``prompts/headlines.md``) and the JSON schema of the
  reply, ``{"headlines": [{"headline": str, "hours_before_close": int}, ...]}``, sent
  as a ``GenerationRequest`` named ``news_headlines`` (OpenAI: ``json_schema`` response
  format; Anthropic: a forced tool of that name);
- ``parse_headlines``: the checks, all of which must pass or the whole reply is refused:
  1 to ``MAX_STORIES`` stories; each headline a non-empty string (whitespace collapsed)
  of at most ``HEADLINE_MAX`` characters; ``hours_before_close`` a whole number from 1
  to ``LOOKBACK_HOURS``, so every story is published inside the seven-day window the
  digest reads and strictly before the close of ``as_of`` (point in time: a story at or
  after the close is refused, never clipped). Repeated headlines (case and whitespace
  folded) are dropped, the first kept;
- ``HeadlineWriter``: sends asks in batches, rotating over the teacher's API backends
  (ask ``i`` goes to backend ``i mod k``), and returns one ``WrittenNews`` per ask. A
  backend failure refuses every ask of its batch; there is no repair round (the caller
  falls back to the offline generator, which costs nothing).

Published times are the close of ``as_of`` (``market_close_utc``: the NYSE close, 13:00
New York on an early close) minus the hours; the items carry no summary, so the digest
scores the headline alone.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from stockagents.core.errors import BackendError, ConfigError
from stockagents.core.types import NewsItem
from stockagents.data.calendar import market_close_utc
from stockagents.llm.base import Backend, ChatMessage, GenerationRequest, Sampling
from stockagents.training.synthetic.headlines import KIND_WEIGHTS, event_mix

__all__ = [
    "HEADLINE_MAX",
    "HEADLINE_SCHEMA",
    "REQUEST_NAME",
    "HeadlineAsk",
    "HeadlineWriter",
    "WrittenNews",
    "draw_ask",
    "parse_headlines",
]

logger = logging.getLogger(__name__)

MAX_STORIES = 8
HEADLINE_MAX = 120
#: The digest's seven-day window, in hours before the close.
LOOKBACK_HOURS = 7 * 24
REQUEST_NAME = "news_headlines"
_BATCH = 8
_TONES = {
    "positive": "positive: good news for the company",
    "negative": "negative: bad news for the company",
    "mixed": "mixed: some good and some bad news",
    "neutral": "neutral: routine news, neither good nor bad for the company",
}

HEADLINE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "headlines": {
            "type": "array",
            "minItems": 1,
            "maxItems": MAX_STORIES,
            "items": {
                "type": "object",
                "properties": {
                    "headline": {"type": "string", "minLength": 1, "maxLength": HEADLINE_MAX},
                    "hours_before_close": {
                        "type": "integer",
                        "minimum": 1,
                        "maximum": LOOKBACK_HOURS,
                    },
                },
                "required": ["headline", "hours_before_close"],
                "additionalProperties": False,
            },
        }
    },
    "required": ["headlines"],
    "additionalProperties": False,
}


@dataclass(frozen=True)
class HeadlineAsk:
    """What a teacher is asked to write for one news day."""

    symbol: str
    company: str
    as_of: dt.date
    tone: str  # positive, negative, mixed or neutral
    events: tuple[str, ...]


@dataclass(frozen=True)
class WrittenNews:
    """A teacher's headlines for one ask (``items`` None: refused, ``error`` says why)."""

    writer: str
    items: list[NewsItem] | None
    error: str | None = None


def draw_ask(rng: random.Random, symbol: str, company: str, as_of: dt.date) -> HeadlineAsk:
    """A seeded ask for ``symbol``'s news in the seven days to ``as_of``."""
    tones = [k for k in KIND_WEIGHTS if k != "none"]
    tone = rng.choices(tones, weights=[KIND_WEIGHTS[k] for k in tones])[0]
    return HeadlineAsk(symbol, company, as_of, tone, tuple(event_mix(rng, tone)))


@cache
def _template() -> tuple[str, str]:
    path = resources.files("stockagents.training.synthetic") / "prompts" / "headlines.md"
    text = path.read_text(encoding="utf-8")
    _, _, rest = text.partition("<!-- system -->")
    system, _, user = rest.partition("<!-- user -->")
    return system.strip(), user.strip()


def headline_request(ask: HeadlineAsk) -> GenerationRequest:
    """The chat request for ``ask``, with the reply's JSON schema."""
    system, user = _template()
    content = user.format(
        company=ask.company, symbol=ask.symbol, weekday=f"{ask.as_of:%A}",
        as_of=ask.as_of.isoformat(), count=len(ask.events), tone=_TONES[ask.tone],
        events="; ".join(ask.events), max_chars=HEADLINE_MAX, max_hours=LOOKBACK_HOURS,
    )  # fmt: skip
    messages: list[ChatMessage] = [
        {"role": "system", "content": system},
        {"role": "user", "content": content},
    ]
    return GenerationRequest(messages=messages, schema=HEADLINE_SCHEMA, name=REQUEST_NAME)


def _hours(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    return None


def parse_headlines(
    text: str, ask: HeadlineAsk, source: str = ""
) -> tuple[list[NewsItem] | None, str | None]:
    """The news items in a reply to ``ask`` (newest first), or None and what is wrong."""
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end <= start:
        return None, "no JSON object found"
    try:
        data = json.loads(text[start : end + 1])
    except json.JSONDecodeError as exc:
        return None, f"invalid JSON ({exc.msg} at character {exc.pos})"
    stories = data.get("headlines") if isinstance(data, dict) else None
    if not isinstance(stories, list):
        return None, "no 'headlines' list"
    if not 1 <= len(stories) <= MAX_STORIES:
        return None, f"{len(stories)} headlines; expected 1 to {MAX_STORIES}"
    close = market_close_utc(ask.as_of)
    items: list[NewsItem] = []
    seen: set[str] = set()
    for i, story in enumerate(stories):
        if not isinstance(story, dict):
            return None, f"headlines[{i}] is not an object"
        headline = story.get("headline")
        if not isinstance(headline, str) or not " ".join(headline.split()):
            return None, f"headlines[{i}].headline is not a non-empty string"
        headline = " ".join(headline.split())
        if len(headline) > HEADLINE_MAX:
            return None, f"headlines[{i}].headline has {len(headline)} > {HEADLINE_MAX} chars"
        hours = _hours(story.get("hours_before_close"))
        if hours is None:
            return None, f"headlines[{i}].hours_before_close is not a whole number"
        if hours < 1:
            return None, f"headlines[{i}] is published at or after the close ({hours} h before)"
        if hours > LOOKBACK_HOURS:
            return None, f"headlines[{i}] is older than the {LOOKBACK_HOURS} h window ({hours} h)"
        key = headline.casefold()
        if key in seen:
            continue
        seen.add(key)
        at = close - dt.timedelta(hours=hours)
        items.append(NewsItem(symbol=ask.symbol, published_at=at, headline=headline, source=source))
    items.sort(key=lambda item: item.published_at, reverse=True)
    return items, None


class HeadlineWriter:
    """Asks API backends for headlines; ``share`` is the share of news days it writes."""

    def __init__(
        self,
        backends: Sequence[tuple[str, Backend]],
        share: float,
        sampling: Sampling | None = None,
    ) -> None:
        if not backends:
            raise ConfigError("teacher-written headlines need an openai or anthropic provider")
        self.backends = list(backends)
        self.share = share
        self.sampling = sampling or Sampling(max_new_tokens=600, temperature=0.8)

    @property
    def names(self) -> list[str]:
        return [name for name, _ in self.backends]

    def write(self, asks: Sequence[HeadlineAsk]) -> list[WrittenNews]:
        """One ``WrittenNews`` per ask, in order."""
        out: list[WrittenNews | None] = [None] * len(asks)
        for slot, (name, backend) in enumerate(self.backends):
            mine = list(range(slot, len(asks), len(self.backends)))
            for start in range(0, len(mine), _BATCH):
                rows = mine[start : start + _BATCH]
                requests = [headline_request(asks[i]) for i in rows]
                try:
                    texts = backend.generate(requests, self.sampling)
                except BackendError as exc:  # the batch falls back; the caller counts it
                    logger.warning("%s could not write headlines: %s", name, exc)
                    for i in rows:
                        out[i] = WrittenNews(name, None, f"backend failed: {exc}")
                    continue
                for i, text in zip(rows, texts, strict=True):
                    items, error = parse_headlines(text, asks[i], source=name)
                    out[i] = WrittenNews(name, items, error)
        return [w for w in out if w is not None]

"""News providers: the interface, "no source", and local JSONL files.

JSONL format, one story per line::

    {"symbol": "AAPL", "published_at": "2023-06-29T13:05:00Z",
     "headline": "...", "summary": "...", "source": "...", "url": "..."}

``symbols`` (a list) may replace ``symbol``; ``title`` and ``datetime`` are accepted
for ``headline`` and ``published_at``. Files are UTF-8. Times are ISO 8601 or Unix
seconds (milliseconds are refused, not guessed); a time
without a zone is read as UTC; a date without a time (``2023-06-30``) is read as the end
of that day, so the story counts from the next trading day, never the same close. A
story without a publish time is never served: it cannot be placed in time, so it could
leak the future.
"""

from __future__ import annotations

import bisect
import datetime as dt
import logging
import math
from abc import ABC, abstractmethod
from collections import Counter
from pathlib import Path
from typing import Any

from stockagents.core.errors import DataError, DataFormatError, SymbolError
from stockagents.core.symbols import validate_symbol, validate_symbols
from stockagents.core.textfile import parse_json, read_text, skipped_summary
from stockagents.core.types import NewsItem

__all__ = ["JsonlNewsProvider", "NewsProvider", "NoNewsProvider", "parse_timestamp"]

logger = logging.getLogger(__name__)


class NewsProvider(ABC):
    """News stories about a symbol, served point in time."""

    name: str = "news"
    #: Why there is nothing to read, when the provider can never return anything.
    unavailable_reason: str | None = None

    @abstractmethod
    def news(self, symbol: str, as_of: dt.datetime, lookback_days: int = 7) -> list[NewsItem]:
        """Stories published in ``[as_of - lookback_days, as_of]``, oldest first."""


class NoNewsProvider(NewsProvider):
    """The default: no news source is configured."""

    name = "none"
    unavailable_reason = "no news source is configured (set data.news in the config)"

    def news(self, symbol: str, as_of: dt.datetime, lookback_days: int = 7) -> list[NewsItem]:
        return []


#: Unix times above this are in milliseconds (or nanoseconds), not seconds (year 5138).
_MAX_SECONDS = 1e11


def read_timestamp(value: Any) -> dt.datetime | None:
    """An aware UTC datetime from ISO 8601 text or Unix seconds; None when absent.

    A value that is present but is no time (a list, a boolean, NaN, milliseconds, text
    that is not ISO 8601, a year out of range) is a ``ValueError`` saying why and how to
    write it instead.
    """
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(
            f"a {type(value).__name__} is not a time; write ISO 8601 text "
            "(2023-06-30T13:05:00Z) or Unix seconds"
        )
    if isinstance(value, (int, float)):
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"{value} is not a time; write ISO 8601 text or Unix seconds")
        if abs(value) > _MAX_SECONDS:
            if isinstance(value, int) and len(str(abs(value))) > 20:
                raise ValueError(f"a {len(str(abs(value)))}-digit number is not a time")
            raise ValueError(
                f"{value} looks like milliseconds; Unix times here are in seconds (divide by 1000)"
            )
        return dt.datetime.fromtimestamp(float(value), tz=dt.UTC)
    text = value.strip()
    if len(text) == 10:  # a date alone: it may have been published after the close
        try:
            day = dt.date.fromisoformat(text)
        except ValueError:
            raise ValueError(f"{text!r} is not a date; write YYYY-MM-DD") from None
        return dt.datetime.combine(day, dt.time(23, 59, 59), tzinfo=dt.UTC)
    try:
        parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"{text[:40]!r} is not an ISO 8601 time; write e.g. 2023-06-30T13:05:00Z "
            "or Unix seconds"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    try:
        return parsed.astimezone(dt.UTC)
    except OverflowError:
        raise ValueError(f"{text!r} is out of range") from None


def parse_timestamp(value: Any) -> dt.datetime | None:
    """``read_timestamp`` for upstream APIs: None when absent or unreadable."""
    try:
        return read_timestamp(value)
    except ValueError:
        return None


_TEXT_FIELDS = ("headline", "title", "summary", "description", "source", "url")


class JsonlNewsProvider(NewsProvider):
    """Stories from a JSONL file, or every ``*.jsonl`` file in a directory.

    A malformed story (a time or symbol of the wrong kind, text that is not text) stops
    the load with the file, line and field; a story that is merely incomplete (no publish
    time, no symbol, no headline) is skipped and counted, by reason, in one warning.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.name = f"jsonl:{self.path}"
        self._by_symbol: dict[str, list[NewsItem]] = {}
        self._times: dict[str, list[dt.datetime]] = {}
        self.skipped: Counter[str] = Counter()
        self._read()

    @property
    def skipped_undated(self) -> int:
        """Stories skipped because they carry no publish time."""
        return self.skipped[_UNDATED]

    def _files(self) -> list[Path]:
        if self.path.is_dir():
            files = sorted(p for p in self.path.glob("*.jsonl") if p.is_file())
            if not files:
                raise DataError(
                    f"news directory {self.path} holds no *.jsonl files; fix data.news.path"
                )
            return files
        if self.path.is_file():
            return [self.path]
        raise DataError(f"news file {self.path} does not exist; fix data.news.path")

    def _read(self) -> None:
        for file in self._files():
            text = read_text(file, "news", "fix data.news.path", DataFormatError)
            for number, line in enumerate(text.splitlines(), start=1):
                if line.strip():
                    self._add(_parse_line(line, file, number), file, number)
        for symbol, items in self._by_symbol.items():
            items.sort(key=lambda item: item.published_at)
            self._times[symbol] = [item.published_at for item in items]
        if self.skipped:
            logger.warning("%s: %s", self.path, skipped_summary(self.skipped, "stories"))

    def _add(self, record: dict[str, Any], file: Path, number: int) -> None:
        where = f"{file}:{number}"
        field = "published_at" if "published_at" in record else "datetime"
        try:
            published = read_timestamp(record.get(field))
        except ValueError as exc:
            raise DataFormatError(f"{where}: {field}: {exc}") from None
        for name in _TEXT_FIELDS:
            value = record.get(name)
            if value is not None and not isinstance(value, str):
                raise DataFormatError(
                    f"{where}: {name}: expected text, got a {type(value).__name__}"
                )
        symbols = _story_symbols(record, where)
        headline = record.get("headline") or record.get("title") or ""
        if published is None:
            self.skipped[_UNDATED] += 1
            return
        if not symbols:
            self.skipped["without a symbol"] += 1
            return
        if not headline.strip():
            self.skipped["without a headline"] += 1
            return
        for symbol in symbols:
            item = NewsItem(
                symbol=symbol,
                published_at=published,
                headline=headline,
                summary=record.get("summary") or record.get("description") or "",
                source=record.get("source") or "",
                url=record.get("url") or "",
            )
            self._by_symbol.setdefault(item.symbol, []).append(item)

    def news(self, symbol: str, as_of: dt.datetime, lookback_days: int = 7) -> list[NewsItem]:
        items = self._by_symbol.get(symbol.upper(), [])
        times = self._times.get(symbol.upper(), [])
        start = as_of - dt.timedelta(days=lookback_days)
        lo = bisect.bisect_left(times, start)
        hi = bisect.bisect_right(times, as_of)
        return items[lo:hi]


_UNDATED = "without a publish time"


def _story_symbols(record: dict[str, Any], where: str) -> list[str]:
    """The story's symbols: ``symbols`` (a list) or ``symbol`` (one), validated."""
    try:
        if record.get("symbols") not in (None, []):
            return validate_symbols(record["symbols"], "symbols")
        if record.get("symbol") in (None, ""):
            return []
        return [validate_symbol(record["symbol"], "symbol")]
    except SymbolError as exc:
        raise DataFormatError(f"{where}: {exc}") from None


def _parse_line(line: str, file: Path, number: int) -> dict[str, Any]:
    record = parse_json(line, f"{file}:{number}", DataFormatError)
    if not isinstance(record, dict):
        raise DataFormatError(f"{file}:{number}: expected a JSON object per line")
    return record

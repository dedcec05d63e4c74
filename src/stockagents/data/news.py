"""News providers: the interface, "no source", and local JSONL files.

JSONL format, one story per line::

    {"symbol": "AAPL", "published_at": "2023-06-29T13:05:00Z",
     "headline": "...", "summary": "...", "source": "...", "url": "..."}

``symbols`` (a list) may replace ``symbol``; ``title`` and ``datetime`` are accepted
for ``headline`` and ``published_at``. Times are ISO 8601 or Unix seconds; a time
without a zone is read as UTC; a date without a time (``2023-06-30``) is read as the end
of that day, so the story counts from the next trading day, never the same close. A
story without a publish time is never served: it cannot be placed in time, so it could
leak the future.
"""

from __future__ import annotations

import bisect
import datetime as dt
import json
import logging
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from stockagents.core.errors import DataError, DataFormatError
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


def parse_timestamp(value: Any) -> dt.datetime | None:
    """An aware UTC datetime from ISO text or Unix seconds; None when absent or unreadable."""
    if value is None or value == "":
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return dt.datetime.fromtimestamp(float(value), tz=dt.UTC)
    text = str(value).strip()
    if len(text) == 10:  # a date alone: it may have been published after the close
        try:
            day = dt.date.fromisoformat(text)
        except ValueError:
            return None
        return dt.datetime.combine(day, dt.time(23, 59, 59), tzinfo=dt.UTC)
    try:
        parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.astimezone(dt.UTC)


class JsonlNewsProvider(NewsProvider):
    """Stories from a JSONL file, or every ``*.jsonl`` file in a directory."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.name = f"jsonl:{self.path}"
        self._by_symbol: dict[str, list[NewsItem]] = {}
        self._times: dict[str, list[dt.datetime]] = {}
        self.skipped_undated = 0
        self._read()

    def _files(self) -> list[Path]:
        if self.path.is_dir():
            return sorted(self.path.glob("*.jsonl"))
        if self.path.is_file():
            return [self.path]
        raise DataError(f"news file {self.path} does not exist; fix data.news.path")

    def _read(self) -> None:
        for file in self._files():
            with file.open(encoding="utf-8") as handle:
                for number, line in enumerate(handle, start=1):
                    if line.strip():
                        self._add(_parse_line(line, file, number))
        for symbol, items in self._by_symbol.items():
            items.sort(key=lambda item: item.published_at)
            self._times[symbol] = [item.published_at for item in items]
        if self.skipped_undated:
            logger.warning(
                "%s: skipped %d stories without a publish time", self.path, self.skipped_undated
            )

    def _add(self, record: dict[str, Any]) -> None:
        published = parse_timestamp(record.get("published_at", record.get("datetime")))
        if published is None:
            self.skipped_undated += 1
            return
        symbols = record.get("symbols") or [record.get("symbol")]
        for symbol in symbols:
            if not symbol:
                continue
            try:
                item = NewsItem(
                    symbol=str(symbol).upper(),
                    published_at=published,
                    headline=str(record.get("headline") or record.get("title") or ""),
                    summary=str(record.get("summary") or record.get("description") or ""),
                    source=str(record.get("source") or ""),
                    url=str(record.get("url") or ""),
                )
            except ValidationError as exc:
                raise DataFormatError(
                    f"{self.path}: invalid story ({exc.errors()[0]['msg']})"
                ) from None
            if item.headline:
                self._by_symbol.setdefault(item.symbol, []).append(item)

    def news(self, symbol: str, as_of: dt.datetime, lookback_days: int = 7) -> list[NewsItem]:
        items = self._by_symbol.get(symbol.upper(), [])
        times = self._times.get(symbol.upper(), [])
        start = as_of - dt.timedelta(days=lookback_days)
        lo = bisect.bisect_left(times, start)
        hi = bisect.bisect_right(times, as_of)
        return items[lo:hi]


def _parse_line(line: str, file: Path, number: int) -> dict[str, Any]:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        raise DataFormatError(f"{file}:{number}: not valid JSON ({exc.msg})") from None
    if not isinstance(record, dict):
        raise DataFormatError(f"{file}:{number}: expected a JSON object per line")
    return record

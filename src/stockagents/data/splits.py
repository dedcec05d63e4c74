"""Train / validation / test segments by date, with an embargo gap between them.

Layout, oldest to newest::

    [ train ][ embargo ][ validation ][ embargo ][ test ]

The test segment is the last ``test_days`` trading days, validation the
``validation_days`` before the embargo that precedes test, and train everything before
the embargo that precedes validation. The embargo must be at least as long as the
longest forward horizon a label or reward looks ahead, so no training label can see into
validation or test prices. Every stage that trains, collects or evaluates takes its
dates from here.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from stockagents.core.config import LONGEST_LABEL_HORIZON, SplitConfig
from stockagents.core.errors import ConfigError, DataError

__all__ = ["FORWARD_HORIZONS", "DateSplits", "Segment", "compute_splits"]

#: Forward-return horizons (trading days) that labels and rewards use.
FORWARD_HORIZONS = (1, 5, 10, LONGEST_LABEL_HORIZON)


@dataclass(frozen=True)
class Segment:
    """A closed range of trading days."""

    name: str
    start: dt.date
    end: dt.date
    days: int

    def __contains__(self, day: object) -> bool:
        return isinstance(day, dt.date) and self.start <= day <= self.end


@dataclass(frozen=True)
class DateSplits:
    """The three segments and the embargo between them."""

    train: Segment
    validation: Segment | None
    test: Segment
    embargo_days: int

    def segment_of(self, day: dt.date) -> str | None:
        """``train``, ``validation``, ``test`` or None (an embargo day or outside)."""
        for segment in (self.train, self.validation, self.test):
            if segment is not None and day in segment:
                return segment.name
        return None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"embargo_days": self.embargo_days}
        for segment in (self.train, self.validation, self.test):
            if segment is not None:
                out[segment.name] = {
                    "start": segment.start.isoformat(),
                    "end": segment.end.isoformat(),
                    "days": segment.days,
                }
        return out


def compute_splits(
    trading_days: Iterable[dt.date],
    config: SplitConfig | None = None,
    max_horizon: int = max(FORWARD_HORIZONS),
) -> DateSplits:
    """Split ``trading_days`` by date as the module docstring describes."""
    config = config or SplitConfig()
    if config.embargo_days < max_horizon:
        raise ConfigError(
            f"splits.embargo_days: {config.embargo_days} is shorter than the longest forward "
            f"horizon ({max_horizon} days); set it to at least {max_horizon}"
        )
    days = sorted(set(trading_days))
    gap = config.embargo_days
    needed = (
        config.test_days + gap + (config.validation_days + gap if config.validation_days else 0)
    )
    if len(days) <= needed:
        raise DataError(
            f"{len(days)} trading days are too few for test {config.test_days}, validation "
            f"{config.validation_days} and embargo {gap} days plus a train segment; "
            "use more data or smaller splits"
        )
    test = days[-config.test_days :]
    rest = days[: -(config.test_days + gap)]
    validation_segment = None
    if config.validation_days:
        validation = rest[-config.validation_days :]
        rest = rest[: -(config.validation_days + gap)]
        validation_segment = Segment("validation", validation[0], validation[-1], len(validation))
    return DateSplits(
        train=Segment("train", rest[0], rest[-1], len(rest)),
        validation=validation_segment,
        test=Segment("test", test[0], test[-1], len(test)),
        embargo_days=gap,
    )

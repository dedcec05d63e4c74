from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from stockagents.core.config import SplitConfig
from stockagents.core.errors import ConfigError, DataError
from stockagents.data.sample import SamplePriceProvider
from stockagents.data.splits import compute_splits


def _days() -> list[dt.date]:
    provider = SamplePriceProvider()
    return [ts.date() for ts in provider.prices("AAPL", as_of=dt.date(2023, 9, 21)).index]


def test_default_segments_on_the_sample() -> None:
    days = _days()
    splits = compute_splits(days)
    assert splits.test.days == 90
    assert splits.test.end == dt.date(2023, 9, 21)
    assert splits.validation is not None
    assert splits.validation.days == 60
    # Exactly 20 trading days of embargo between segments.
    assert days.index(splits.test.start) - days.index(splits.validation.end) == 21
    assert days.index(splits.validation.start) - days.index(splits.train.end) == 21
    assert splits.train.start == dt.date(2013, 1, 2)
    assert splits.train.days == len(days) - 90 - 60 - 40


def test_segments_never_overlap() -> None:
    splits = compute_splits(_days())
    seen = [splits.segment_of(d) for d in _days()]
    assert seen.count("test") == 90
    assert seen.count("validation") == 60
    assert seen.count(None) == 40
    assert splits.segment_of(dt.date(2030, 1, 1)) is None
    assert splits.to_dict()["test"]["days"] == 90


def test_embargo_must_cover_the_longest_horizon() -> None:
    with pytest.raises(ConfigError, match="at least 20"):
        compute_splits(_days(), SplitConfig(embargo_days=5))


def test_too_little_data() -> None:
    days = [d.date() for d in pd.bdate_range("2023-01-02", periods=100)]
    with pytest.raises(DataError, match="too few"):
        compute_splits(days)


def test_no_validation_segment() -> None:
    splits = compute_splits(_days(), SplitConfig(validation_days=0))
    assert splits.validation is None
    assert splits.segment_of(splits.train.end) == "train"

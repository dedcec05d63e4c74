"""The exchange calendar: when a day's information is complete (``data.calendar``)."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys

import pytest

from stockagents.data.calendar import (
    CALENDAR_END,
    CALENDAR_START,
    MARKET_TZ,
    market_close_utc,
)


def _ny(day: str, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(dt.date.fromisoformat(day), dt.time(hour, minute), MARKET_TZ)


@pytest.mark.parametrize(
    ("day", "utc_hour"),
    [("2023-07-03", 17), ("2022-11-25", 18), ("2023-11-24", 18), ("2018-12-24", 18)],
)
def test_early_closes_are_13_00_new_york(day: str, utc_hour: int) -> None:
    close = market_close_utc(dt.date.fromisoformat(day))
    assert close == _ny(day, 13)
    assert close.tzinfo is dt.UTC
    assert (close.hour, close.minute) == (utc_hour, 0)  # EDT in July, EST in November


@pytest.mark.parametrize(
    ("day", "utc_hour"),
    [
        ("2023-01-10", 21),  # standard time
        ("2023-07-10", 20),  # daylight time
        ("2023-03-10", 21),  # the Friday before the switch to daylight time
        ("2023-03-13", 20),  # the Monday after it
        ("2023-11-03", 20),  # the Friday before the switch back
        ("2023-11-06", 21),  # the Monday after it
    ],
)
def test_regular_close_follows_daylight_saving(day: str, utc_hour: int) -> None:
    close = market_close_utc(dt.date.fromisoformat(day))
    assert close == _ny(day, 16)
    assert (close.hour, close.minute) == (utc_hour, 0)


@pytest.mark.parametrize(
    ("day", "last_session"),
    [
        ("2023-07-04", "2023-07-03"),  # Independence Day: the early close before it
        ("2023-07-08", "2023-07-07"),  # a Saturday
        ("2023-07-09", "2023-07-07"),  # a Sunday
        ("2023-04-07", "2023-04-06"),  # Good Friday
        ("2012-10-30", "2012-10-26"),  # shut two days for Hurricane Sandy
        ("2023-11-23", "2023-11-22"),  # Thanksgiving
    ],
)
def test_a_closed_day_takes_the_last_session_close(day: str, last_session: str) -> None:
    assert market_close_utc(dt.date.fromisoformat(day)) == market_close_utc(
        dt.date.fromisoformat(last_session)
    )
    assert market_close_utc(dt.date.fromisoformat(day)).astimezone(MARKET_TZ).date() == (
        dt.date.fromisoformat(last_session)
    )


def test_a_year_of_sessions_matches_the_exchange() -> None:
    days = [dt.date(2023, 1, 1) + dt.timedelta(days=i) for i in range(365)]
    closes = {day: market_close_utc(day).astimezone(MARKET_TZ) for day in days}
    sessions = [day for day, close in closes.items() if close.date() == day]
    early = [day for day in sessions if closes[day].time() == dt.time(13, 0)]
    assert len(sessions) == 250  # 260 weekdays, 10 holidays
    assert early == [dt.date(2023, 7, 3), dt.date(2023, 11, 24)]
    assert all(closes[day].time() == dt.time(16, 0) for day in sessions if day not in early)


@pytest.mark.parametrize(
    "day",
    ["1960-01-04", "1969-12-31", "2041-01-02", "2050-07-01", "2050-07-02", "2050-12-24"],
)
def test_outside_the_calendar_is_16_00_new_york_that_day(day: str) -> None:
    date = dt.date.fromisoformat(day)
    assert not CALENDAR_START <= date <= CALENDAR_END
    close = market_close_utc(date)
    assert close == _ny(day, 16)  # no early close, and a Saturday (2050-07-02) is not moved
    assert close.tzinfo is dt.UTC


def test_the_calendar_edges() -> None:
    # 1970-01-01 is a holiday with no session before it in the calendar: 16:00 that day.
    assert market_close_utc(dt.date(1970, 1, 1)) == _ny("1970-01-01", 16)
    assert market_close_utc(dt.date(1970, 1, 2)) == _ny("1970-01-02", 16)
    assert market_close_utc(CALENDAR_END) == _ny(CALENDAR_END.isoformat(), 16)
    for extreme in (dt.date.min, dt.date.max):
        assert market_close_utc(extreme) == dt.datetime.combine(
            extreme, dt.time(16, 0), MARKET_TZ
        ).astimezone(dt.UTC)


def test_a_datetime_counts_as_its_date() -> None:
    assert market_close_utc(dt.datetime(2023, 7, 3, 23, 0)) == _ny("2023-07-03", 13)


def test_a_story_after_an_early_close_counts_from_the_next_session() -> None:
    late, early = _ny("2023-07-03", 13, 30), _ny("2023-07-03", 12, 30)
    assert late > market_close_utc(dt.date(2023, 7, 3))
    assert late > market_close_utc(dt.date(2023, 7, 4))  # the holiday adds nothing
    assert late <= market_close_utc(dt.date(2023, 7, 5))
    assert early <= market_close_utc(dt.date(2023, 7, 3))


def test_importing_the_module_does_not_build_the_calendar() -> None:
    code = (
        "import sys, stockagents.data.calendar as c; "
        "print('exchange_calendars' in sys.modules, c._table is None)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.split() == ["False", "True"]

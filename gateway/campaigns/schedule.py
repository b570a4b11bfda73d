"""When a campaign is active: days of week, hours and dates in the store's local time (pure).

Local time comes from zoneinfo, so a window "09:00-17:00" means 09:00 on the shop clock on both sides of a DST
change; a window inside the skipped spring-forward hour never matches that day.
"""

from __future__ import annotations

import functools
import re
from datetime import date, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, field_validator, model_validator

Day = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
DAYS: tuple[Day, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MINUTES_PER_DAY = 24 * 60
_HOURS_RE = re.compile(r"^(\d{2}):(\d{2})-(\d{2}):(\d{2})$")


class Schedule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    days: tuple[Day, ...] | None = None  # None = every day
    hours: tuple[str, ...] | None = None  # "HH:MM-HH:MM", end exclusive; "22:00-02:00" wraps past midnight
    start_date: date | None = None  # inclusive, local
    end_date: date | None = None  # inclusive, local

    @field_validator("hours")
    @classmethod
    def _check_hours(cls, v: tuple[str, ...] | None) -> tuple[str, ...] | None:
        for h in v or ():
            parse_window(h)
        return v

    @model_validator(mode="after")
    def _dates_in_order(self) -> Schedule:
        if self.start_date and self.end_date and self.start_date > self.end_date:
            raise ValueError(f"start_date {self.start_date} is after end_date {self.end_date}")
        return self


@functools.lru_cache(maxsize=256)
def parse_window(text: str) -> tuple[int, int]:
    """'08:30-11:00' -> (510, 660) minutes of the day; raises ValueError with the reason."""
    m = _HOURS_RE.match(text)
    if not m:
        raise ValueError(f"'{text}' is not HH:MM-HH:MM")
    h1, m1, h2, m2 = (int(x) for x in m.groups())
    if h1 > 23 or m1 > 59 or h2 > 24 or m2 > 59 or (h2 == 24 and m2 != 0):
        raise ValueError(f"'{text}' has an impossible time")
    return h1 * 60 + m1, h2 * 60 + m2


def _in_window(minute: int, window: tuple[int, int]) -> bool:
    start, end = window
    if start <= end:
        return start <= minute < end
    return minute >= start or minute < end


@functools.lru_cache(maxsize=16)
def store_zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone '{name}'") from None


def local_day(t: float, tz: ZoneInfo) -> str:
    """The store's calendar day of an epoch time, as YYYY-MM-DD (daily budgets and caps reset on it)."""
    return datetime.fromtimestamp(t, tz).date().isoformat()


def is_active(schedule: Schedule | None, t: float, tz: ZoneInfo) -> bool:
    if schedule is None:
        return True
    local = datetime.fromtimestamp(t, tz)
    d = local.date()
    if schedule.start_date and d < schedule.start_date:
        return False
    if schedule.end_date and d > schedule.end_date:
        return False
    if schedule.days is not None and DAYS[local.weekday()] not in schedule.days:
        return False
    if schedule.hours is None:
        return True
    minute = local.hour * 60 + local.minute
    return any(_in_window(minute, parse_window(h)) for h in schedule.hours)


def never_matches(schedule: Schedule) -> str | None:
    """Why a schedule can match no instant at all, or None if it can."""
    if schedule.days is not None and not schedule.days:
        return "days is empty"
    if schedule.hours is not None:
        if not schedule.hours:
            return "hours is empty"
        if all(a == b for a, b in (parse_window(h) for h in schedule.hours)):
            return "every hours window is empty (start equals end)"
    if schedule.days is not None and schedule.start_date and schedule.end_date:
        span = (schedule.end_date - schedule.start_date).days + 1
        if span < 7:
            weekdays = {DAYS[(schedule.start_date + timedelta(days=i)).weekday()] for i in range(span)}
            if not weekdays.intersection(schedule.days):
                return f"none of days {list(schedule.days)} falls between start_date and end_date"
    return None

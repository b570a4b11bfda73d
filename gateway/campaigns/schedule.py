"""When a campaign is active: days of week, hours and dates in the store's local time (pure).

Local time comes from zoneinfo, so a window "09:00-17:00" means 09:00 on the shop clock on both sides of a DST
change; a window inside the skipped spring-forward hour never matches that day.
"""

from __future__ import annotations

import functools
import re
from datetime import UTC, date, datetime, time, timedelta
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


def _exists(d: date, minute: int, tz: ZoneInfo) -> bool:
    naive = datetime.combine(d, time(minute // 60, minute % 60))
    return naive.replace(tzinfo=tz).astimezone(UTC).astimezone(tz).replace(tzinfo=None) == naive


def _gap(d: date, tz: ZoneInfo) -> tuple[int, int] | None:
    """The local minutes [first, end) that do not exist on day d (the clocks go forward), or None."""
    noon = datetime.combine(d, time(12), tzinfo=tz)
    if noon.replace(hour=0).utcoffset() == datetime.combine(d + timedelta(days=1), time(0), tzinfo=tz).utcoffset():
        return None  # no change of offset that day
    missing = [m for m in range(MINUTES_PER_DAY) if not _exists(d, m, tz)]
    return (missing[0], missing[-1] + 1) if missing else None


def _hhmm(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def skipped_times(schedule: Schedule, tz: ZoneInfo, today: date) -> list[tuple[str, str]]:
    """Hours windows that start or end at a local time the clocks skip (spring forward) on a day the schedule runs,
    within a year of `today` (or of start_date), with what the rules do that day: is_active sees local clock
    time, so such a window starts when the clocks jump, ends when they jump, or does not run that day."""
    if not schedule.hours:
        return []
    first = max(today, schedule.start_date or today)
    last = first + timedelta(days=366)
    if schedule.end_date is not None:
        last = min(last, schedule.end_date)
    out: list[tuple[str, str]] = []
    for h in schedule.hours:
        start, end = parse_window(h)
        d = first
        while d <= last:
            gap = _gap(d, tz) if schedule.days is None or DAYS[d.weekday()] in schedule.days else None
            if gap is not None:
                g0, g1 = gap
                starts_in, ends_in = g0 <= start < g1, g0 < end < g1
                if starts_in or ends_in:
                    where = f"a time the clocks skip on {d} ({tz.key}: {_hhmm(g0)} jumps to {_hhmm(g1)})"
                    if starts_in and start < end <= g1:
                        what = f"lies in the time the clocks skip on {d} ({tz.key}: {_hhmm(g0)} jumps to {_hhmm(g1)}): "
                        what += "it does not run that day"
                    elif starts_in:
                        what = f"starts at {_hhmm(start)}, {where}: that day it starts at {_hhmm(g1)}"
                    else:
                        what = f"ends at {_hhmm(end)}, {where}: that day it ends when the clocks jump"
                    out.append((h, what))
                    break
            d += timedelta(days=1)
    return out


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

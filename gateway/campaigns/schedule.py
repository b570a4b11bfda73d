"""When a campaign is active: days of week, hours and dates in the store's local time (pure).

Local time comes from zoneinfo, so a window "09:00-17:00" means 09:00 on the shop clock on both sides of a DST
change; a window inside the skipped spring-forward hour never matches that day, and one inside the repeated
fall-back hour matches twice.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, field_validator

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


@functools.lru_cache(maxsize=16)
def store_zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone '{name}'") from None


def local_day(t: float, tz: ZoneInfo) -> str:
    """The store's calendar day of an epoch time, as YYYY-MM-DD (daily budgets and caps reset on it)."""
    return datetime.fromtimestamp(t, tz).date().isoformat()


def _runs_on(schedule: Schedule, d: date) -> bool:
    """Whether the schedule's days and dates include the store-local day d."""
    if schedule.start_date and d < schedule.start_date:
        return False
    if schedule.end_date and d > schedule.end_date:
        return False
    return schedule.days is None or DAYS[d.weekday()] in schedule.days


def is_active(schedule: Schedule | None, t: float, tz: ZoneInfo) -> bool:
    """Whether the schedule runs at t. A window that crosses midnight belongs to the day it starts, as opening hours
    are read: `days = ["mon"]`, `"22:00-02:00"` is Monday night, Monday 22:00 to Tuesday 02:00."""
    if schedule is None:
        return True
    local = datetime.fromtimestamp(t, tz)
    d = local.date()
    if schedule.hours is None:
        return _runs_on(schedule, d)
    minute = local.hour * 60 + local.minute
    for h in schedule.hours:
        start, end = parse_window(h)
        if start <= end:
            if start <= minute < end and _runs_on(schedule, d):
                return True
        elif minute >= start:
            if _runs_on(schedule, d):
                return True
        elif minute < end and _runs_on(schedule, d - timedelta(days=1)):  # the tail of last night's window
            return True
    return False


def _exists(d: date, minute: int, tz: ZoneInfo) -> bool:
    naive = datetime.combine(d, time(minute // 60, minute % 60))
    return naive.replace(tzinfo=tz).astimezone(UTC).astimezone(tz).replace(tzinfo=None) == naive


def _offset_change(d: date, tz: ZoneInfo) -> timedelta:
    """How far the clocks move on day d, midnight to midnight: positive forward, negative back."""
    midnight = datetime.combine(d, time(0), tzinfo=tz)
    after = datetime.combine(d + timedelta(days=1), time(0), tzinfo=tz)
    return (after.utcoffset() or timedelta(0)) - (midnight.utcoffset() or timedelta(0))


def _gap(d: date, tz: ZoneInfo) -> tuple[int, int] | None:
    """The local minutes [first, end) that do not exist on day d (the clocks go forward), or None."""
    if not _offset_change(d, tz):
        return None
    missing = [m for m in range(MINUTES_PER_DAY) if not _exists(d, m, tz)]
    return (missing[0], missing[-1] + 1) if missing else None


def _twice(d: date, minute: int, tz: ZoneInfo) -> bool:
    naive = datetime.combine(d, time(minute // 60, minute % 60))
    return naive.replace(tzinfo=tz).utcoffset() != naive.replace(tzinfo=tz, fold=1).utcoffset()


def _repeat(d: date, tz: ZoneInfo) -> tuple[int, int] | None:
    """The local minutes [first, end) that happen twice on day d (the clocks go back from `end` to `first`),
    or None."""
    if _offset_change(d, tz) >= timedelta(0):
        return None
    twice = [m for m in range(MINUTES_PER_DAY) if _twice(d, m, tz)]
    return (twice[0], twice[-1] + 1) if twice else None


def _running_days(schedule: Schedule, today: date) -> Iterator[date]:
    """The days within a year of `today` (or of start_date) that the schedule runs on."""
    d = max(today, schedule.start_date or today)
    last = d + timedelta(days=366)
    if schedule.end_date is not None:
        last = min(last, schedule.end_date)
    while d <= last:
        if schedule.days is None or DAYS[d.weekday()] in schedule.days:
            yield d
        d += timedelta(days=1)


def _hhmm(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def _windows_at_change(
    schedule: Schedule,
    tz: ZoneInfo,
    today: date,
    change: Callable[[date, ZoneInfo], tuple[int, int] | None],
    touches: Callable[[int, int, int, int], bool],
) -> Iterator[tuple[str, int, int, date, int, int]]:
    """Per hours window, the first day the schedule runs on (within a year of `today`, or of start_date) whose
    clock change (`change`: the local minutes [g0, g1) skipped or repeated that day) the window `touches`:
    (window, start, end, day, g0, g1)."""
    for h in schedule.hours or []:
        start, end = parse_window(h)
        # a window past midnight runs into the next day, whose clock change its end meets (is_active)
        days = (
            day for d in _running_days(schedule, today) for day in ((d, d + timedelta(days=1)) if start > end else (d,))
        )
        hit = next(((day, span) for day in days if (span := change(day, tz)) and touches(start, end, *span)), None)
        if hit is not None:
            yield h, start, end, hit[0], *hit[1]


def skipped_times(schedule: Schedule, tz: ZoneInfo, today: date) -> list[tuple[str, str]]:
    """Hours windows that start or end at a local time the clocks skip (spring forward) on a day the schedule runs,
    within a year of `today` (or of start_date), with what the rules do that day: is_active sees local clock
    time, so such a window starts when the clocks jump, ends when they jump, or does not run that day."""
    out: list[tuple[str, str]] = []
    for h, start, end, d, g0, g1 in _windows_at_change(
        schedule, tz, today, _gap, lambda s, e, g0, g1: g0 <= s < g1 or g0 < e < g1
    ):
        where = f"a time the clocks skip on {d} ({tz.key}: {_hhmm(g0)} jumps to {_hhmm(g1)})"
        if g0 <= start < g1 and start < end <= g1:
            what = f"lies in the time the clocks skip on {d} ({tz.key}: {_hhmm(g0)} jumps to {_hhmm(g1)}): "
            what += "it does not run that day"
        elif g0 <= start < g1:
            what = f"starts at {_hhmm(start)}, {where}: that day it starts at {_hhmm(g1)}"
        else:
            what = f"ends at {_hhmm(end)}, {where}: that day it ends when the clocks jump"
        out.append((h, what))
    return out


def repeated_times(schedule: Schedule, tz: ZoneInfo, today: date) -> list[tuple[str, str]]:
    """Hours windows that start or end at a local time the clocks repeat (fall back) on a day the schedule runs,
    within a year of `today` (or of start_date), with what the rules do that day: is_active sees local clock time,
    so such a window runs twice, or stops when the clocks go back and starts again."""
    out: list[tuple[str, str]] = []
    # a window from the first repeated minute, or to the last, runs on through the change: no surprise
    for h, start, end, d, g0, g1 in _windows_at_change(
        schedule, tz, today, _repeat, lambda s, e, g0, g1: g0 < s < g1 or g0 < e < g1
    ):
        change = f"{tz.key}: {_hhmm(g1)} goes back to {_hhmm(g0)}"
        if g0 <= start < end <= g1:
            what = f"lies in the time the clocks repeat on {d} ({change}): it runs twice that day"
        elif g0 < start < g1:
            what = (
                f"starts at {_hhmm(start)}, a time the clocks repeat on {d} ({change}): that day it starts "
                f"at the first {_hhmm(start)}, stops when the clocks go back and starts again at the second"
            )
        else:
            what = (
                f"ends at {_hhmm(end)}, a time the clocks repeat on {d} ({change}): that day it ends at the "
                f"first {_hhmm(end)} and runs again from {_hhmm(g0)}, when the clocks go back, to the second"
            )
        out.append((h, what))
    return out


def never_matches(schedule: Schedule) -> str | None:
    """Why a schedule can match no instant at all (every reason, "; "-joined), or None if it can."""
    reasons = []
    if schedule.days is not None and not schedule.days:
        reasons.append("days is empty")
    if schedule.hours is not None:
        if not schedule.hours:
            reasons.append("hours is empty")
        elif all(a == b for a, b in (parse_window(h) for h in schedule.hours)):
            reasons.append("every hours window is empty (start equals end)")
    if schedule.start_date and schedule.end_date and schedule.start_date > schedule.end_date:
        reasons.append(f"start_date {schedule.start_date} is after end_date {schedule.end_date}")
    elif schedule.days and schedule.start_date and schedule.end_date:
        span = (schedule.end_date - schedule.start_date).days + 1
        if span < 7:
            weekdays = {DAYS[(schedule.start_date + timedelta(days=i)).weekday()] for i in range(span)}
            if not weekdays.intersection(schedule.days):
                reasons.append(f"none of days {list(schedule.days)} falls between start_date and end_date")
    return "; ".join(reasons) or None

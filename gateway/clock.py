"""Steps of the wall clock, seen against the monotonic clock (pure).

An advertisement's time is the wall clock's at reception, and everything after the source compares those times.
A Raspberry Pi has no real-time clock: it boots with the time saved at its last shutdown and NTP steps it to
the right one later, by minutes or days; an administrator or a bad NTP server can step it back. Across such a
step the times before and after are not comparable (a dwell of a day, a visit that ends before it began), and
only the monotonic clock, which never steps, can tell a step from a quiet store.
"""

from __future__ import annotations

# NTP slews offsets under 128 ms and steps larger ones (ntpd, chrony and systemd-timesyncd alike); a scheduler
# stall moves both clocks together. 2 s is well clear of both and far below any step worth noticing.
STEP_TOLERANCE_S = 2.0
# A slewing clock runs up to 500 ppm fast or slow (the kernel's limit): over a long silence the two clocks may
# part by that much without any step.
SLEW_ALLOWANCE = 0.0005


class ClockSteps:
    """Fed the wall and monotonic times of each advertisement, returns the wall clock's step since the previous
    one (seconds, + forward), or None when the two clocks moved together."""

    def __init__(self) -> None:
        self._last: tuple[float, float] | None = None

    def check(self, wall: float, mono: float) -> float | None:
        last, self._last = self._last, (wall, mono)
        if last is None:
            return None
        elapsed = mono - last[1]
        step = (wall - last[0]) - elapsed
        return step if abs(step) > STEP_TOLERANCE_S + SLEW_ALLOWANCE * max(elapsed, 0.0) else None

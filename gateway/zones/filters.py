"""RSSI smoothing per (device, receiver), robust to irregular advertising intervals and silent receivers.

Each filter is fed that receiver's readings (monotonic in t) and queried at the device's latest time `now`,
which may be ahead of this receiver's last reading by a few seconds (receivers interleave). A receiver with no
reading within `window_s` of `now` answers None: "not heard", which the classifier models explicitly.
"""

from __future__ import annotations

from collections import deque

MEDIAN_MAX_READINGS = 24  # bounds memory per (device, receiver); at 10 Hz that is still > 2 s of readings


class MedianFilter:
    """Median of the readings in the last `window_s` seconds: shrugs off fades and reflections (outliers)."""

    __slots__ = ("_t", "_v", "window_s")

    def __init__(self, window_s: float) -> None:
        self.window_s = window_s
        self._t: deque[float] = deque(maxlen=MEDIAN_MAX_READINGS)
        self._v: deque[float] = deque(maxlen=MEDIAN_MAX_READINGS)

    def add(self, t: float, rssi: float) -> None:
        self._t.append(t)
        self._v.append(rssi)

    def value(self, now: float) -> float | None:
        horizon = now - self.window_s
        ts = self._t
        while ts and ts[0] < horizon:
            ts.popleft()
            self._v.popleft()
        n = len(self._v)
        if n == 0:
            return None
        s = sorted(self._v)
        mid = n // 2
        return s[mid] if n % 2 else 0.5 * (s[mid - 1] + s[mid])


class KalmanFilter:
    """Scalar Kalman filter with a random-walk state: process noise grows with the gap between readings."""

    __slots__ = ("_p", "_t", "_x", "q", "r", "window_s")

    def __init__(self, window_s: float, q: float, r: float) -> None:
        self.window_s = window_s
        self.q = q
        self.r = r
        self._x = 0.0
        self._p = -1.0  # negative: no reading yet
        self._t = 0.0

    def add(self, t: float, rssi: float) -> None:
        if self._p < 0:
            self._x, self._p = rssi, self.r
        else:
            dt = t - self._t
            # max(dt, 0.0) without a builtin call (add() runs for every recognised reading); NaN stays NaN
            p = self._p + self.q * (0.0 if dt < 0.0 else dt)
            k = p / (p + self.r)
            self._x += k * (rssi - self._x)
            self._p = (1.0 - k) * p
        self._t = t

    def value(self, now: float) -> float | None:
        if self._p < 0 or now - self._t > self.window_s:
            return None
        return self._x


class LastFilter:
    """No smoothing (the baseline): the last reading, while it is recent."""

    __slots__ = ("_t", "_x", "window_s")

    def __init__(self, window_s: float) -> None:
        self.window_s = window_s
        self._x = 0.0
        self._t = float("-inf")

    def add(self, t: float, rssi: float) -> None:
        self._x, self._t = rssi, t

    def value(self, now: float) -> float | None:
        return self._x if now - self._t <= self.window_s else None


RssiFilter = MedianFilter | KalmanFilter | LastFilter


def make_filter(smoothing: str, window_s: float, q: float, r: float) -> RssiFilter:
    if smoothing == "median":
        return MedianFilter(window_s)
    if smoothing == "kalman":
        return KalmanFilter(window_s, q, r)
    return LastFilter(window_s)

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from gateway.zones.filters import KalmanFilter, LastFilter, MedianFilter


def test_median_ignores_a_deep_fade() -> None:
    f = MedianFilter(5.0)
    for i, v in enumerate([-70, -71, -95, -69, -70]):
        f.add(i * 0.5, v)
    assert f.value(2.0) == -70


def test_silent_receiver_reads_as_not_heard() -> None:
    for f in (MedianFilter(4.0), KalmanFilter(4.0, 1.0, 16.0), LastFilter(4.0)):
        f.add(10.0, -70)
        assert f.value(12.0) is not None
        assert f.value(14.5) is None


def test_kalman_follows_a_step_but_smooths_noise() -> None:
    f = KalmanFilter(10.0, 2.0, 16.0)
    for i in range(20):
        f.add(i * 0.5, -60)
    for i in range(20, 60):
        f.add(i * 0.5, -80)
    v = f.value(30.0)
    assert v is not None and -81 < v < -78


@given(st.lists(st.tuples(st.floats(0, 0.9), st.integers(-120, 0)), min_size=1, max_size=60))
def test_median_stays_within_recent_readings(steps: list[tuple[float, int]]) -> None:
    f = MedianFilter(3.0)
    t = 0.0
    seen: list[tuple[float, int]] = []
    for dt, v in steps:
        t += dt
        f.add(t, v)
        seen.append((t, v))
    value = f.value(t)
    recent = [v for tt, v in seen[-24:] if tt >= t - 3.0]
    assert value is not None
    assert min(recent) <= value <= max(recent)

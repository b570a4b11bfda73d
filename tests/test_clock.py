"""Steps of the wall clock told apart from time passing (gateway/clock.py)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from gateway.clock import SLEW_ALLOWANCE, STEP_TOLERANCE_S, ClockSteps

T0 = 1_772_438_400.0

gaps = st.lists(st.floats(min_value=0.0, max_value=7200.0, allow_nan=False), min_size=1, max_size=40)


@given(gaps, st.floats(min_value=-SLEW_ALLOWANCE, max_value=SLEW_ALLOWANCE))
def test_a_clock_that_only_runs_fast_or_slow_never_steps(gaps: list[float], rate: float) -> None:
    """Seconds or hours between advertisements, NTP slewing the wall clock at up to its limit: no step."""
    clock = ClockSteps()
    wall, mono = T0, 100.0
    assert clock.check(wall, mono) is None
    for gap in gaps:
        wall += gap * (1 + rate)
        mono += gap
        assert clock.check(wall, mono) is None


@given(
    gaps,
    st.integers(min_value=0, max_value=39),
    st.floats(min_value=STEP_TOLERANCE_S + 4.0, max_value=400 * 86_400.0),
    st.booleans(),
)
def test_every_step_is_reported_once_with_its_size(gaps: list[float], at: int, size: float, back: bool) -> None:
    step = -size if back else size
    clock = ClockSteps()
    wall, mono = T0, 100.0
    clock.check(wall, mono)
    reported = []
    for i, gap in enumerate(gaps):
        wall += gap + (step if i == at else 0.0)
        mono += gap
        if (got := clock.check(wall, mono)) is not None:
            reported.append((i, got))
    if at < len(gaps):
        assert len(reported) == 1
        i, got = reported[0]
        assert i == at and abs(got - step) < 1e-6 * max(1.0, abs(step))
    else:
        assert reported == []

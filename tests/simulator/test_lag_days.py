"""Whole simulated days with the fixed lag switched off give the decisions of the forward filter exactly; with
the lag the fit writes, the smoothed decisions equal a numpy reference (tests/zones/reference.py)."""

from __future__ import annotations

import pytest

from gateway.zones.calibrate import FIT_SMOOTHING_LAG_S
from gateway.zones.model import ZoneModel
from gateway.zones.tracker import ZoneTracker
from simulator.generate import GenerateResult
from tests.simulator.test_decisions_unchanged import _run
from tests.zones.reference import ReferenceTracker


@pytest.mark.parametrize("which", ["small_day", "kiosk_day"])
def test_lag_zero_gives_the_forward_filters_decisions(which: str, request: pytest.FixtureRequest) -> None:
    day: GenerateResult = request.getfixturevalue(which)
    assert ZoneModel.load(day.config_dir / "zones.toml").params.smoothing_lag_s == FIT_SMOOTHING_LAG_S
    fast_est, fast_events = _run(day, ZoneTracker, smoothing_lag_s=0.0)
    ref_est, ref_events = _run(day, ReferenceTracker, smoothing_lag_s=0.0)
    assert len(fast_est) == len(ref_est) > 1000
    for a, b in zip(fast_est, ref_est, strict=True):
        assert (a[0], a[1], a[3]) == (b[0], b[1], b[3])
        assert abs(a[2] - b[2]) < 1e-9
    assert fast_events == ref_events
    # ...and the lag does change them: the comparison above is not the smoother's by accident
    lag_est, _ = _run(day, ZoneTracker)
    assert [(e[0], e[3]) for e in lag_est] != [(e[0], e[3]) for e in fast_est]

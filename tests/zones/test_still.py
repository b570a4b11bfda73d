"""The tracker's standing rule (`still_motion_db`): what counts as still, that a moving phone is tracked as before,
and the zones.toml keys. What it does for phones standing in a simulated store: tests/simulator/test_standing.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from gateway.zones.calibrate import FIT_STILL_MOTION_DB, FitResult
from gateway.zones.model import ZoneModel
from gateway.zones.tracker import DeviceState, ZoneTracker
from tests.zones.bad_params import assert_one_line_error, assert_written_and_optional
from tests.zones.test_lag import _two_zone as lag_two_zone
from tests.zones.test_lag import _walk_front_to_back


def _two_zone(**params: Any) -> ZoneModel:
    """test_lag's two zones, decided as calibrate fit writes them (Kalman filter, 3 s lag)."""
    base: dict[str, Any] = {"smoothing": "kalman", "switch_time_s": 30.0, "smoothing_lag_s": 3.0}
    return lag_two_zone(**(base | params))


def test_stillness_is_judged_against_each_receivers_running_mean() -> None:
    tr = ZoneTracker(_two_zone(still_motion_db=1.2))
    st = DeviceState(0.0, 0.5)
    assert not tr.is_still(st, [(0, -65.0), (1, -75.0)], 0.5)  # no history yet
    assert tr.is_still(st, [(0, -65.5), (1, -74.5)], 0.5)  # 0.5 dB from the means: standing
    assert not tr.is_still(st, [(0, -60.0), (1, -80.0)], 0.5)  # 5 dB: moving
    # a receiver that starts hearing the device has no mean yet and does not make it move
    st2 = DeviceState(0.0, 0.5)
    tr.is_still(st2, [(0, -65.0)], 0.5)
    assert tr.is_still(st2, [(0, -65.0), (1, -90.0)], 0.5)
    # nothing to compare with at all: not still
    st3 = DeviceState(0.0, 0.5)
    tr.is_still(st3, [(0, -65.0)], 0.5)
    assert not tr.is_still(st3, [(1, -75.0)], 0.5)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_walking_phone_is_placed_in_its_new_zone_as_soon_as_before(seed: int) -> None:
    first_back = {}
    for still in (0.0, FIT_STILL_MOTION_DB):
        # the walk stands in front for 40 s (long enough to be judged standing), then moves to the back
        ests = _walk_front_to_back(ZoneTracker(_two_zone(still_motion_db=still)), np.random.default_rng(seed))
        assert ests[60].zone == "front" and ests[-1].zone == "back"
        first_back[still] = min(e.t for e in ests if e.zone == "back" and e.t >= 40.0)
    assert first_back[FIT_STILL_MOTION_DB] <= first_back[0.0] + 1.0


# ---- zones.toml ------------------------------------------------------------------------------------------------


def test_the_rule_round_trips_and_older_files_load_without_it(fitted: FitResult, tmp_path: Path) -> None:
    keys = ("still_motion_db", "still_evidence_weight", "still_switch_factor")
    assert_written_and_optional(fitted.model, tmp_path, keys, FIT_STILL_MOTION_DB)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("still_motion_db", -1.0),
        ("still_motion_db", "1 dB"),
        ("still_evidence_weight", 0.0),
        ("still_switch_factor", 0.5),
    ],
)
def test_a_bad_rule_value_is_a_one_line_error_naming_the_field(
    fitted: FitResult, tmp_path: Path, key: str, value: object
) -> None:
    assert_one_line_error(fitted.model, tmp_path, key, value)

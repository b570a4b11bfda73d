"""The tracker's standing rule (`still_motion_db`): what counts as still, that a moving phone is tracked as before,
and the zones.toml keys. What it does for phones standing in a simulated store: tests/simulator/test_standing.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tomli_w

from gateway.zones.calibrate import FIT_STILL_EXIT_FACTOR, FIT_STILL_MOTION_DB, FitResult
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


def test_a_standing_device_stays_standing_until_it_clearly_moves() -> None:
    """With `still_exit_factor` the rule is a Schmitt trigger: once still, a gap up to the factor times the
    threshold keeps it still; a device that was moving needs the threshold itself."""
    tr = ZoneTracker(_two_zone(still_motion_db=1.0, still_exit_factor=1.5))
    st = DeviceState(0.0, 0.5)
    tr.is_still(st, [(0, -65.0), (1, -75.0)], 0.0)  # dt 0: the running means stay where they are
    assert tr.is_still(st, [(0, -65.5), (1, -75.5)], 0.0)  # 0.5 dB: still
    assert tr.is_still(st, [(0, -66.2), (1, -76.2)], 0.0)  # 1.2 dB: above the threshold, still standing
    assert not tr.is_still(st, [(0, -66.7), (1, -76.7)], 0.0)  # 1.7 dB: beyond 1.5 x 1 dB, it moves
    assert not tr.is_still(st, [(0, -66.2), (1, -76.2)], 0.0)  # 1.2 dB while moving: not still yet
    assert tr.is_still(st, [(0, -65.8), (1, -75.8)], 0.0)  # 0.8 dB: still again
    plain = ZoneTracker(_two_zone(still_motion_db=1.0))  # files without the key: one threshold
    st2 = DeviceState(0.0, 0.5)
    plain.is_still(st2, [(0, -65.0), (1, -75.0)], 0.0)
    assert plain.is_still(st2, [(0, -65.5), (1, -75.5)], 0.0)
    assert not plain.is_still(st2, [(0, -66.2), (1, -76.2)], 0.0)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_walking_phone_is_placed_in_its_new_zone_as_soon_as_before(seed: int) -> None:
    first_back = {}
    for still, exit_factor in ((0.0, 1.0), (FIT_STILL_MOTION_DB, 1.0), (FIT_STILL_MOTION_DB, FIT_STILL_EXIT_FACTOR)):
        # the walk stands in front for 40 s (long enough to be judged standing), then moves to the back
        model = _two_zone(still_motion_db=still, still_exit_factor=exit_factor)
        ests = _walk_front_to_back(ZoneTracker(model), np.random.default_rng(seed))
        assert ests[60].zone == "front" and ests[-1].zone == "back"
        first_back[(still, exit_factor)] = min(e.t for e in ests if e.zone == "back" and e.t >= 40.0)
    assert first_back[(FIT_STILL_MOTION_DB, 1.0)] <= first_back[(0.0, 1.0)] + 1.0
    assert first_back[(FIT_STILL_MOTION_DB, FIT_STILL_EXIT_FACTOR)] <= first_back[(0.0, 1.0)] + 1.0


# ---- zones.toml ------------------------------------------------------------------------------------------------


def test_the_rule_round_trips_and_older_files_load_without_it(fitted: FitResult, tmp_path: Path) -> None:
    keys = ("still_motion_db", "still_evidence_weight", "still_switch_factor", "still_exit_factor")
    assert_written_and_optional(fitted.model, tmp_path, keys, FIT_STILL_MOTION_DB)
    assert fitted.model.params.still_exit_factor == FIT_STILL_EXIT_FACTOR


def test_a_file_from_before_the_exit_factor_keeps_one_threshold(fitted: FitResult, tmp_path: Path) -> None:
    doc = fitted.model.to_toml()
    del doc["params"]["still_exit_factor"]
    path = tmp_path / "zones.toml"
    path.write_text(tomli_w.dumps(doc))
    assert ZoneModel.load(path).params.still_exit_factor == 1.0


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("still_motion_db", -1.0),
        ("still_motion_db", "1 dB"),
        ("still_evidence_weight", 0.0),
        ("still_switch_factor", 0.5),
        ("still_exit_factor", 0.9),
        ("still_exit_factor", 11.0),
    ],
)
def test_a_bad_rule_value_is_a_one_line_error_naming_the_field(
    fitted: FitResult, tmp_path: Path, key: str, value: object
) -> None:
    assert_one_line_error(fitted.model, tmp_path, key, value)

"""The walk's device against the customers' (gateway/zones/level.py): the median of departing devices' learnt
offsets, and the warning when the customers as a whole read further from the walk's device than the model's
offset prior spreads phones. The tracker feeds it as devices leave; a revoked customer's offset is not kept."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.zones.level import KEEP_DEVICES, MIN_DEVICES, LevelSurvey
from gateway.zones.tracker import ZoneTracker
from tests.zones.test_offset import _model, _visit

SIGMA = 3.0
LEARNT = 1.0  # a belief's variance once learnt (the tracker's floor)


def _survey(offsets: list[float]) -> LevelSurvey:
    s = LevelSurvey(SIGMA)
    for o in offsets:
        s.add(o, LEARNT)
    return s


def test_it_says_nothing_until_enough_visits() -> None:
    s = _survey([6.0] * (MIN_DEVICES - 1))
    assert s.summary() is None and s.warning() is None and s.report() is None
    s.add(6.0, LEARNT)
    summary = s.summary()
    assert summary is not None and summary.devices == MIN_DEVICES and summary.median_db == 6.0


def test_beliefs_still_at_the_prior_are_not_counted() -> None:
    s = _survey([0.0] * MIN_DEVICES)
    for _ in range(50):
        s.add(9.0, SIGMA * SIGMA * 0.9)  # a visit too short, or heard by one receiver: the prior, barely moved
    summary = s.summary()
    assert summary is not None and summary.devices == MIN_DEVICES and summary.median_db == 0.0


def test_it_keeps_the_most_recent_visits() -> None:
    # a walk redone with a better device shows once a day's visits have passed
    s = _survey([8.0] * KEEP_DEVICES + [0.5] * (KEEP_DEVICES // 2 + 1))
    summary = s.summary()
    assert summary is not None and summary.devices == KEEP_DEVICES and summary.median_db == 0.5
    assert s.warning() is None


@pytest.mark.parametrize(("median", "word"), [(4.2, "louder"), (-5.0, "quieter")])
def test_the_warning_says_which_way_and_by_how_much(median: float, word: str) -> None:
    s = _survey([median - 1, median, median + 1] * MIN_DEVICES)
    warning = s.warning()
    assert warning is not None
    assert f"{abs(median):.1f} dB {word}" in warning
    assert f"median of {3 * MIN_DEVICES} visits" in warning
    assert "walk the zones again" in warning and "\n" not in warning
    report = s.report()
    assert report == {"median_db": median, "devices": 3 * MIN_DEVICES, "warning": warning}


@given(st.lists(st.floats(-20, 20, allow_nan=False), min_size=MIN_DEVICES, max_size=60))
def test_it_warns_exactly_when_the_median_is_beyond_the_priors_spread(offsets: list[float]) -> None:
    s = _survey(offsets)
    summary = s.summary()
    assert summary is not None
    assert min(offsets) - 0.05 <= summary.median_db <= max(offsets) + 0.05
    assert (s.warning() is not None) == (abs(summary.median_db) > SIGMA)


def test_a_model_without_an_offset_prior_never_warns() -> None:
    s = LevelSurvey(0.0)
    for _ in range(3 * MIN_DEVICES):
        s.add(10.0, 0.0)
    assert s.summary() is None and s.warning() is None


def _visits(tr: ZoneTracker, offset_db: float, n: int) -> None:
    """n phones in turn, each `offset_db` louder than the walk's device, one minute each; each leaves."""
    rng = np.random.default_rng(5)
    for k in range(n):
        t0 = 1000.0 * k
        _visit(tr, rng, offset_db + float(rng.normal(0, 1.5)), [("aisle", 30.0), ("door", 30.0)], t0=t0)
        tr.expire(t0 + 500.0)  # gone: its belief goes into the survey


def test_the_tracker_notices_customers_louder_than_the_walks_device() -> None:
    loud = ZoneTracker(_model())
    _visits(loud, 8.0, MIN_DEVICES)
    warning = loud.level.warning()
    assert warning is not None and "louder" in warning
    summary = loud.level.summary()
    assert summary is not None and 5.5 < summary.median_db < 10.5

    alike = ZoneTracker(_model())
    _visits(alike, 0.0, MIN_DEVICES)
    summary = alike.level.summary()
    assert summary is not None and abs(summary.median_db) < 2.0
    assert alike.level.warning() is None


def test_a_revoked_customer_leaves_nothing_in_the_survey() -> None:
    tr = ZoneTracker(_model())
    _visit(tr, np.random.default_rng(1), 8.0, [("aisle", 30.0)])
    tr.forget("phone")
    tr.expire(1e6)
    assert len(tr.level._offsets) == 0
    _visit(tr, np.random.default_rng(1), 8.0, [("aisle", 30.0)], t0=2e6)
    tr.expire(3e6)
    assert len(tr.level._offsets) == 1

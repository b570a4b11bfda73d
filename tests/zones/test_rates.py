"""Heard probabilities follow each device's advertising rate (gateway/zones/rates.py)."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from gateway.zones.calibrate import FitResult
from gateway.zones.model import Params, ZoneModel
from gateway.zones.rates import MAX_RATIO, MIN_RATIO, adapt_p_heard, rate_bucket
from gateway.zones.tracker import ZoneTracker

probabilities = st.floats(min_value=0.0, max_value=1.0)
ratios = st.floats(min_value=MIN_RATIO, max_value=MAX_RATIO)


def test_same_rate_or_unknown_rate_is_the_walks_own_bucket() -> None:
    assert rate_bucket(0.2, 0.2) == 0
    assert rate_bucket(0.0, 1.0) == 0  # a zones file from before the walk's rate was recorded
    assert rate_bucket(0.2, 0.0) == 0  # the device's rhythm is not learnt yet
    assert rate_bucket(0.2, 1.0) < 0 < rate_bucket(0.2, 0.1)
    assert rate_bucket(0.2, 1000.0) == rate_bucket(0.2, 50.0)  # clamped: a silent window is a silent window


@given(probabilities, ratios, ratios)
def test_fewer_packets_are_never_heard_more_often(p: float, r1: float, r2: float) -> None:
    lo, hi = sorted((r1, r2))
    a = float(adapt_p_heard(np.array([p]), lo)[0])
    b = float(adapt_p_heard(np.array([p]), hi)[0])
    assert 0.0 <= a <= b + 1e-12 <= 1.0 + 1e-12
    assert abs(float(adapt_p_heard(np.array([p]), 1.0)[0]) - p) < 1e-12


def _street_or_shelf(walk_interval_s: float) -> ZoneModel:
    """Two places: at the shelf rx-a is loud and rx-b catches the tag in 60 % of windows; on the street rx-a is
    8 dB weaker and rx-b almost never hears anything."""
    return ZoneModel(
        ["shelf"],
        ["rx-a", "rx-b"],
        ["shelf", "outside"],
        mean=np.array([[-70.0, -92.0], [-78.0, -94.0]]),
        std=np.full((2, 2), 3.0),
        p_heard=np.array([[0.99, 0.6], [0.99, 0.05]]),
        params=Params(offset_sigma_db=6.0, likelihood_weight=0.5, switch_time_s=30.0, walk_interval_s=walk_interval_s),
    )


def _zone_of_a_slow_phone_at_the_shelf(model: ZoneModel) -> str:
    tracker = ZoneTracker(model)
    t, est = 0.0, None
    while t < 60.0:  # one packet a second, five times slower than the tag; rx-b never catches one
        est = tracker.observe("phone", "rx-a", -70, t)
        t += 1.0
    assert est is not None
    return est.zone


def test_a_slow_phone_whose_far_receiver_is_silent_stays_at_the_shelf() -> None:
    assert _zone_of_a_slow_phone_at_the_shelf(_street_or_shelf(walk_interval_s=0.2)) == "shelf"
    # without the walk's rate the silence of rx-b reads as the street
    assert _zone_of_a_slow_phone_at_the_shelf(_street_or_shelf(walk_interval_s=0.0)) == "outside"


def test_fit_records_the_walks_packet_interval(fitted: FitResult) -> None:
    # tests/zones/synth.py walks send every 0.5 s (+-20 %) and lose 10 % of packets per receiver
    assert 0.4 <= fitted.model.params.walk_interval_s <= 0.6
    reloaded = ZoneModel.from_toml(fitted.model.to_toml())
    assert reloaded.params.walk_interval_s == fitted.model.params.walk_interval_s

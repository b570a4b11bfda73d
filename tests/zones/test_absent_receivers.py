"""A receiver that has died is scored as if the walk had never had it (ZoneTracker.set_absent)."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from gateway.zones.calibrate import FitResult
from gateway.zones.grid import scorer_from_model
from gateway.zones.model import ZoneModel
from gateway.zones.tracker import ZoneTracker
from tests.zones.synth import Store, store_day


def _day(store: Store, seed: int) -> list[tuple[str, str, int, float]]:
    adverts, _ = store_day(store, seed, phones=3)
    return [(a.addr, a.rx, a.rssi, a.t) for a in adverts]


def _with_method(model: ZoneModel, method: str) -> ZoneModel:
    m = copy.deepcopy(model)
    m.params.method = method
    return m


@pytest.mark.parametrize("method", ["offset_nb", "nb", "centroid", "grid"])
def test_a_dead_receiver_left_out_decides_as_a_walk_without_it(
    geo_store: Store, geo_fit: FitResult, method: str
) -> None:
    model = _with_method(geo_fit.model, method)
    dead = model.receivers[0]  # one whose silence matters to every method on this store (the grid's: 0 and 4)
    with_it = ZoneTracker(model)
    with_it.set_absent(frozenset({dead}))
    without = ZoneTracker(model.without_receivers({dead}))
    readings = [r for r in _day(geo_store, 3) if r[1] != dead]  # a dead receiver sends nothing
    assert len(readings) > 1000
    a = [with_it.observe(d, rx, v, t) for d, rx, v, t in readings]
    b = [without.observe(d, rx, v, t) for d, rx, v, t in readings]
    assert [(e.zone, round(e.confidence, 9), e.t) for e in a] == [(e.zone, round(e.confidence, 9), e.t) for e in b]
    full = ZoneTracker(model)  # and it does decide differently from a model that waits to hear from it
    c = [full.observe(d, rx, v, t) for d, rx, v, t in readings]
    assert [e.zone for e in c] != [e.zone for e in a]
    assert without.unknown_rx.get(dead, 0) == 0 and with_it.absent == {dead}


def test_a_receiver_back_is_scored_again_as_before(geo_store: Store, geo_fit: FitResult) -> None:
    model = geo_fit.model
    tracker = ZoneTracker(model)
    tracker.set_absent(frozenset({model.receivers[0], "rx-not-in-the-model"}))
    assert tracker.absent == {model.receivers[0]}
    tracker.set_absent(frozenset())
    fresh = ZoneTracker(model)
    readings = _day(geo_store, 4)
    got = [tracker.observe(d, rx, v, t) for d, rx, v, t in readings]
    want = [fresh.observe(d, rx, v, t) for d, rx, v, t in readings]
    assert [(e.zone, e.confidence) for e in got] == [(e.zone, e.confidence) for e in want]


def test_the_grid_without_a_receiver_scores_every_cell_as_one_built_without_it(geo_fit: FitResult) -> None:
    model = _with_method(geo_fit.model, "grid")
    full = scorer_from_model(model)
    reduced = scorer_from_model(model.without_receivers({model.receivers[2]}))
    masked = full.without(frozenset({2}))
    rng = np.random.default_rng(1)
    n = len(model.receivers)
    for _ in range(20):
        x = rng.uniform(-95, -55, n)
        heard = (rng.uniform(size=n) < 0.7).astype(float)
        keep = [i for i in range(n) if i != 2]
        np.testing.assert_allclose(masked.loglik(x, heard), reduced.loglik(x[keep], heard[keep]), rtol=1e-9)
    assert not np.allclose(full.loglik(x, np.zeros(n)), masked.loglik(x, np.zeros(n)))


def test_silence_loglik_is_large_only_where_the_walk_says_devices_are_heard(
    geo_store: Store, geo_fit: FitResult
) -> None:
    """A receiver silent while devices stand where the walk heard it almost always is evidence of death; one
    silent where the walk rarely heard it is not."""
    model = geo_fit.model
    tracker = ZoneTracker(model)
    readings = _day(geo_store, 5)
    for d, rx, v, t in readings:
        tracker.observe(d, rx, v, t)
    now = readings[-1][3]
    ll = tracker.silence_loglik(now, 1.0)
    assert set(ll) == set(model.receivers)
    assert all(v <= 0.0 for v in ll.values())
    assert ZoneTracker(model).silence_loglik(now, 1.0) == dict.fromkeys(model.receivers, 0.0)  # nobody tracked
    # its expectation per device: each tracked device adds log(1 - p) of the receivers that hear it now
    assert min(ll.values()) < -0.5

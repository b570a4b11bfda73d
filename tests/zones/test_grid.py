"""The geometric (grid) method: fitted from a walk with zone polygons, run by the tracker, kept in zones.toml."""

from __future__ import annotations

import copy
import math
import tracemalloc
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
import tomli_w
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.zones import grid as grid_module
from gateway.zones.calibrate import FitResult, fit
from gateway.zones.evaluate import evaluate
from gateway.zones.grid import points_in_polygon
from gateway.zones.model import ZoneModel, ZonesError
from gateway.zones.tracker import ZoneTracker
from gateway.zones.walkcheck import CalibrationError
from tests.zones.reference import ReferenceTracker
from tests.zones.synth import Store, calibration_walk, store_day


def _grid_model(res: FitResult) -> ZoneModel:
    m = copy.deepcopy(res.model)
    m.params.method = "grid"
    return m


def _stand(
    store: Store, x: float, y: float, seconds: float, rng: np.random.Generator, offset: float = 0.0
) -> list[tuple[str, int, float]]:
    """A phone standing still: every receiver's reading of each packet (fading only), twice a second."""
    t = 1_700_500_000.0
    out: list[tuple[str, int, float]] = []
    while seconds > 0:
        for rx in store.receivers:
            v = store.mean_rssi(rx, x, y) + offset + rng.normal(0, store.fading_db)
            if v > -95:
                out.append((rx, round(v), t))
                t += 0.005
        t += 0.5
        seconds -= 0.5
    return out


def test_default_fit_writes_the_grid_without_cross_validating_it(geo_fit: FitResult) -> None:
    m = geo_fit.model
    assert set(m.zone_polygons) == set(m.zones)
    assert set(m.grid_radio) == set(m.receivers)  # the curves are written, for switching `method` by hand
    assert m.params.method == "offset_nb"  # the grid is opt-in
    # its settings are not searched: that was most of a fit's time and the default never used it
    assert not any(row.get("method") == "grid" for row in geo_fit.report["cv_table"])
    assert geo_fit.report["grid_cv_gain_and_se"] is None


@pytest.fixture(scope="module")
def auto_fit(geo_store: Store) -> FitResult:
    adverts, truth = calibration_walk(geo_store, 11)
    return fit(adverts, truth, geo_store.header_receivers(), zone_positions=geo_store.zone_polygons(), method="auto")


def test_walk_positions_do_not_depend_on_how_the_walk_is_chunked(
    geo_store: Store, geo_fit: FitResult, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The fit scores the walk against every cell a chunk of steps at a time (memory on big stores). A chunk of
    # 7 steps splits most 5 s standing groups across chunks: their positions, and so the curves, must not move.
    monkeypatch.setattr(grid_module, "LOCALISE_CHUNK", 7)
    adverts, truth = calibration_walk(geo_store, 11)
    small = fit(adverts, truth, geo_store.header_receivers(), zone_positions=geo_store.zone_polygons()).model
    ref = geo_fit.model
    for rx in ref.receivers:
        assert small.grid_radio[rx] == pytest.approx(ref.grid_radio[rx], abs=1e-9)
    for cls, row in ref.grid_bias.items():
        assert small.grid_bias[cls] == pytest.approx(row, abs=1e-9)


def test_auto_takes_the_grid_only_beyond_one_standard_error(auto_fit: FitResult) -> None:
    assert any(row.get("method") == "grid" for row in auto_fit.report["cv_table"])
    gain, se = auto_fit.report["grid_cv_gain_and_se"]
    assert math.isfinite(gain) and se > 0
    assert (auto_fit.model.params.method == "grid") == (gain > se)


def test_auto_and_default_agree_when_the_fingerprints_win(geo_fit: FitResult, auto_fit: FitResult) -> None:
    """Skipping the grid's search must not change what the default fit writes."""
    if auto_fit.model.params.method == "grid":
        pytest.skip("the grid won on this walk")  # pragma: no cover - depends on the synthetic walk
    assert auto_fit.model.params == geo_fit.model.params
    np.testing.assert_array_equal(auto_fit.model.mean, geo_fit.model.mean)
    assert auto_fit.model.grid_radio == geo_fit.model.grid_radio


def test_unknown_fit_method_is_refused(geo_store: Store) -> None:
    adverts, truth = calibration_walk(geo_store, 11)
    with pytest.raises(CalibrationError, match="method 'knn'"):
        fit(adverts, truth, geo_store.header_receivers(), method="knn")


def test_standing_device_is_placed_in_its_zone(geo_store: Store, geo_fit: FitResult) -> None:
    rng = np.random.default_rng(5)
    tr = ZoneTracker(_grid_model(geo_fit))
    for i, zone in enumerate(geo_store.zones):
        x0, y0, x1, y1 = geo_store.zone_rect(i)
        dev = f"phone-{i}"
        est = None
        for rx, v, t in _stand(geo_store, (x0 + x1) / 2, (y0 + y1) / 2, 30.0, rng, offset=3.0):
            est = tr.observe(dev, rx, v, t)
        assert est is not None and est.zone == zone, (zone, est)


def test_same_estimate_object_until_the_next_classification(geo_store: Store, geo_fit: FitResult) -> None:
    tr = ZoneTracker(_grid_model(geo_fit))
    rng = np.random.default_rng(2)
    readings = _stand(geo_store, 4.0, 3.0, 10.0, rng)
    ests = [tr.observe("d", rx, v, t) for rx, v, t in readings]
    for (_, _, t0), (_, _, t1), a, b in zip(readings, readings[1:], ests, ests[1:], strict=False):
        if t1 - t0 < 0.1:  # readings of one packet: no reclassification in between
            assert a is b
    assert len({id(e) for e in ests}) > 5  # but it does reclassify as time passes


def test_grid_beats_chance_on_a_day_and_round_trips_through_the_file(
    tmp_path: Path, geo_store: Store, geo_fit: FitResult
) -> None:
    m = _grid_model(geo_fit)
    day, truth = store_day(geo_store, 111, phones=2)
    before = evaluate(m, day, truth)
    assert before["zone_accuracy"] > 0.6  # six zones: chance is 0.17
    m.save(tmp_path / "zones.toml")
    loaded = ZoneModel.load(tmp_path / "zones.toml")
    assert loaded.params.method == "grid"
    after = evaluate(loaded, day, truth)
    assert abs(after["zone_accuracy"] - before["zone_accuracy"]) < 0.01  # rounding in the file only


def test_grid_ignores_the_smoothing_lag(geo_store: Store, geo_fit: FitResult) -> None:
    m = _grid_model(geo_fit)
    assert m.params.smoothing_lag_s > 0  # written by the fit, for the fingerprints
    tr = ZoneTracker(m)
    readings = _stand(geo_store, 4.0, 3.0, 10.0, np.random.default_rng(4))
    ests = [(t, tr.observe("d", rx, v, t)) for rx, v, t in readings]
    later = [(t, e) for t, e in ests if t > readings[0][2] + 1.0]
    assert all(t - e.t < m.params.classify_step_s + 0.1 for t, e in later)  # each describes its own step
    assert any(e.zone != "unknown" for _, e in later)


def test_grid_ignores_the_standing_rule(geo_store: Store, geo_fit: FitResult) -> None:
    m = _grid_model(geo_fit)
    assert m.params.still_motion_db > 0  # written by the fit, for the fingerprints
    off = copy.deepcopy(m)
    off.params.still_motion_db = 0.0
    readings = _stand(geo_store, 4.0, 3.0, 20.0, np.random.default_rng(4))
    with_rule, without = ZoneTracker(m), ZoneTracker(off)
    assert [with_rule.observe("d", rx, v, t) for rx, v, t in readings] == [
        without.observe("d", rx, v, t) for rx, v, t in readings
    ]


@pytest.mark.parametrize("blend", [0.0, 0.5])
def test_grid_decisions_equal_the_numpy_reference(geo_store: Store, geo_fit: FitResult, blend: float) -> None:
    m = _grid_model(geo_fit)
    m.params.grid_blend = blend
    day, _ = store_day(geo_store, 112, phones=2)
    fast, ref = ZoneTracker(m), ReferenceTracker(m)
    steps = 0
    for adv in day:
        a, b = fast.observe(adv.addr, adv.rx, adv.rssi, adv.t), ref.observe(adv.addr, adv.rx, adv.rssi, adv.t)
        assert (a.zone, a.t) == (b.zone, b.t)
        assert abs(a.confidence - b.confidence) < 1e-9
        steps += 1
    assert steps > 1000


def test_old_zones_file_without_grid_keys_still_loads(tmp_path: Path, geo_fit: FitResult) -> None:
    doc = geo_fit.model.to_toml()
    for key in ("zone_polygon", "grid_bias"):
        doc.pop(key, None)
    for entry in doc["receiver"].values():
        for key in ("sigma_db", "sensitivity_dbm", "heard_slope_per_db"):
            entry.pop(key, None)
    for key in ("grid_cell_m", "walk_speed_m_s", "outside_loss_db", "grid_blend"):
        doc["params"].pop(key)
    doc["params"]["method"] = "offset_nb"
    (tmp_path / "old.toml").write_text(tomli_w.dumps(doc), encoding="utf-8")
    m = ZoneModel.load(tmp_path / "old.toml")
    assert m.params.method == "offset_nb" and not m.zone_polygons
    ZoneTracker(m).observe("d", m.receivers[0], -60, 0.0)
    doc["params"]["method"] = "grid"
    (tmp_path / "bad.toml").write_text(tomli_w.dumps(doc), encoding="utf-8")
    with pytest.raises(ZonesError, match=r"bad\.toml.*grid"):
        ZoneModel.load(tmp_path / "bad.toml")


def test_no_polygons_means_no_grid(store: Store, fitted: FitResult) -> None:
    assert fitted.model.params.method != "grid"
    assert not any(row.get("method") == "grid" for row in fitted.report["cv_table"])
    with pytest.raises(ValueError):
        ZoneTracker(fitted.model, method="grid")


@given(
    st.floats(0, 10),
    st.floats(0, 10),
    st.floats(0.5, 5),
    st.floats(0.5, 5),
    st.floats(-2, 17),
    st.floats(-2, 17),
)
def test_point_in_rectangle(x0: float, y0: float, w: float, h: float, px: float, py: float) -> None:
    poly = np.array([[x0, y0], [x0 + w, y0], [x0 + w, y0 + h], [x0, y0 + h]])
    inside = bool(points_in_polygon(np.array([px]), np.array([py]), poly)[0])
    strictly_in = x0 < px < x0 + w and y0 < py < y0 + h
    strictly_out = px < x0 or px > x0 + w or py < y0 or py > y0 + h
    if strictly_in:
        assert inside
    if strictly_out:
        assert not inside


# ---- hole_to_nearest ---------------------------------------------------------------------------------------


def _dense_hole_to_nearest(g: grid_module.Grid) -> npt.NDArray[np.int64]:
    """The straightforward all-pairs answer hole_to_nearest must reproduce, ties included."""
    cls = g.cls.copy()
    holes = np.flatnonzero(cls == grid_module.HOLE)
    owned = np.flatnonzero((cls != grid_module.HOLE) & ~g.outside)
    if len(holes) and len(owned):
        xy = g.xy
        d2 = ((xy[holes, None, :] - xy[None, owned, :]) ** 2).sum(axis=2)
        cls[holes] = cls[owned[np.argmin(d2, axis=1)]]
    return cls


_rects = st.lists(
    st.tuples(st.integers(0, 20), st.integers(0, 14), st.integers(1, 6), st.integers(1, 6)), min_size=1, max_size=4
)


@settings(max_examples=40, deadline=None)
@given(_rects, st.sampled_from([1.0, 0.7, 2.0]), st.booleans(), st.integers(1, 50))
def test_hole_to_nearest_equals_the_dense_answer(
    rects: list[tuple[int, int, int, int]], cell_m: float, outside: bool, chunk: int
) -> None:
    # integer corners on a 1 m grid put many holes at equal distances from two zones: the tie-break is tested
    polys = {f"z{i}": [(x, y), (x + w, y), (x + w, y + h), (x, y + h)] for i, (x, y, w, h) in enumerate(rects)}
    classes = [*polys, "outside"]
    g = grid_module.build_grid(classes, polys, cell_m, len(classes) - 1 if outside else None)
    want = _dense_hole_to_nearest(g)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(grid_module, "NEAREST_CHUNK_PAIRS", chunk, raising=False)  # chunks splitting the holes anywhere
        np.testing.assert_array_equal(grid_module.hole_to_nearest(g), want)
    np.testing.assert_array_equal(grid_module.hole_to_nearest(g), want)  # and from the cache


def test_hole_to_nearest_answers_a_changed_grid_afresh() -> None:
    polys = {"a": [(0.0, 0.0), (2.0, 0.0), (2.0, 2.0), (0.0, 2.0)], "b": [(8.0, 0.0), (10.0, 0.0), (10.0, 2.0)]}
    g = grid_module.build_grid(["a", "b"], polys, 1.0, None)
    first = grid_module.hole_to_nearest(g)
    first[:] = 99  # the caller's copy: the cache must not see this
    np.testing.assert_array_equal(grid_module.hole_to_nearest(g), _dense_hole_to_nearest(g))
    g.cls[g.cls == 1] = grid_module.HOLE  # zone b is gone: its old cells now belong to a
    np.testing.assert_array_equal(grid_module.hole_to_nearest(g), _dense_hole_to_nearest(g))
    assert (grid_module.hole_to_nearest(g) == 0).all()


def test_hole_to_nearest_memory_is_bounded_on_a_big_sparse_floor() -> None:
    # 300 x 300 m, two 10 x 10 m zones, 1 m cells: ~90,000 holes x 200 zone cells. All pairs at once was
    # (holes x owned x 2) doubles plus temporaries of that shape: over 800 MB.
    polys = {
        "a": [(0.0, 0.0), (10.0, 0.0), (10.0, 10.0), (0.0, 10.0)],
        "b": [(290.0, 290.0), (300.0, 290.0), (300.0, 300.0), (290.0, 300.0)],
    }
    g = grid_module.build_grid(["a", "b"], polys, 1.0, None)
    tracemalloc.start()
    try:
        out = grid_module.hole_to_nearest(g)
        _, first_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        again = grid_module.hole_to_nearest(g)
        _, second_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert first_peak < 200e6
    assert second_peak < 10e6  # asked again (the fit does, every iteration): not computed again
    np.testing.assert_array_equal(out, again)
    xy = g.xy
    assert (out >= 0).all()
    assert (out[xy[:, 0] + xy[:, 1] < 299.0] == 0).all() and (out[xy[:, 0] + xy[:, 1] > 301.0] == 1).all()


# ---- the heard/not-heard curve -----------------------------------------------------------------------------


def _heard_case(slope: float, n: int = 2000, seed: int = 3) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Expected RSSI over a typical range, heard with probability sigmoid(slope * (mu + 75)) around a 60% share."""
    rng = np.random.default_rng(seed)
    mu = rng.uniform(-100.0, -50.0, n)
    p = 1.0 / (1.0 + np.exp(-(0.4 + slope * (mu + 75.0))))
    heard = (rng.random(n) < p).astype(np.float64)
    return mu[:, None], heard[:, None]


@pytest.mark.parametrize("slope", [-0.3, -0.05, 0.0, 0.01])
def test_clamped_heard_slope_gets_the_intercept_that_fits_it(slope: float) -> None:
    mu, heard = _heard_case(slope)
    a, b = grid_module._fit_heard(mu, heard)
    assert b[0] == 0.05  # the clamp
    pred = 1.0 / (1.0 + np.exp(-(a[0] + b[0] * mu[:, 0])))
    assert abs(pred.mean() - heard.mean()) < 0.05  # the curve goes through the data, not far off to one side
    sensitivity = -a[0] / b[0]
    assert math.isfinite(sensitivity) and -175.0 < sensitivity < 25.0


@pytest.mark.parametrize(("slope", "sensitivity"), [(0.2, -85.0), (0.2, -60.0), (0.5, -55.0), (1.0, -80.0)])
def test_the_heard_curve_is_recovered_from_clean_data(slope: float, sensitivity: float) -> None:
    """A sensitivity far from where the fit starts (-90 dBm) made the plain Newton iteration run away: slope 0.2
    at -60 dBm came back as the 0.05 clamp at -46 dBm."""
    rng = np.random.default_rng(1)
    z = rng.uniform(-100.0, -50.0, 2000)
    heard = (rng.random(2000) < 1.0 / (1.0 + np.exp(-slope * (z - sensitivity)))).astype(np.float64)
    a, b = grid_module._fit_heard(z[:, None], heard[:, None])
    assert b[0] == pytest.approx(slope, rel=0.15)
    assert -a[0] / b[0] == pytest.approx(sensitivity, abs=1.5)

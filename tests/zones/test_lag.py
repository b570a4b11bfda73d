"""The tracker's fixed-lag smoother (`smoothing_lag_s`): what it reports, when, and that 0 changes nothing."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.zones.calibrate import FIT_SMOOTHING_LAG_S, FitResult
from gateway.zones.classify import FloatArray, Heard, Scorer
from gateway.zones.estimate import UNKNOWN, ZoneEstimate
from gateway.zones.model import Params, ZoneModel
from gateway.zones.tracker import DeviceState, ZoneTracker
from tests.zones.bad_params import assert_one_line_error, assert_written_and_optional
from tests.zones.reference import transition


def _model(n: int, **params: Any) -> ZoneModel:
    names = [f"z{i}" for i in range(n)]
    shape = (n, 1)
    return ZoneModel(
        names, ["rx"], names, np.full(shape, -70.0), np.full(shape, 5.0), np.full(shape, 0.9), Params(**params)
    )


class _Scripted(Scorer):
    """Hands out a given sequence of log-scores, one per classification step."""

    def __init__(self, model: ZoneModel, lls: list[list[float]]) -> None:
        super().__init__(model)
        self.lls = list(lls)

    def scores(self, x: FloatArray, heard: FloatArray) -> FloatArray:
        raise AssertionError("the tracker's fingerprint step uses scores_heard")

    def scores_heard(self, heard: Heard) -> list[float]:
        return self.lls.pop(0)


class _Recording(ZoneTracker):
    """Records every posterior the tracker reports and the time it describes."""

    def __init__(self, model: ZoneModel) -> None:
        super().__init__(model)
        self.reported: list[tuple[float, list[float]]] = []

    def _report(self, st: DeviceState, post: list[float], now: float) -> None:
        self.reported.append((now, list(post)))
        super()._report(st, post, now)


def _forward_backward(liks: list[FloatArray], dts: list[float], switch: float, j: int, last: int) -> FloatArray:
    """Step j's posterior given steps 0..last, with explicit matrices: the textbook recursion."""
    n = len(liks[0])
    alpha = liks[0] / liks[0].sum()
    for k in range(1, j + 1):
        a = (transition(dts[k], switch, n).T @ alpha) * liks[k]
        alpha = a / a.sum()
    beta = np.ones(n)
    for k in range(last, j, -1):
        beta = transition(dts[k], switch, n) @ (liks[k] * beta)
    post = alpha * beta
    out: FloatArray = post / post.sum()
    return out


@st.composite
def _runs(draw: st.DrawFn) -> dict[str, Any]:
    n = draw(st.integers(1, 6))
    k = draw(st.integers(1, 40))
    ll = st.floats(-30.0, 5.0, allow_nan=False)
    return {
        "n": n,
        "lls": draw(st.lists(st.lists(ll, min_size=n, max_size=n), min_size=k, max_size=k)),
        "dts": draw(st.lists(st.floats(0.25, 6.0), min_size=k, max_size=k)),
        "lag": draw(st.floats(0.1, 10.0)),
        "switch": draw(st.sampled_from([5.0, 30.0, 90.0])),
        "weight": draw(st.sampled_from([0.25, 0.5, 1.0])),
        "cap": draw(st.sampled_from([1.0, 3.0, 8.0])),
    }


@settings(max_examples=200, deadline=None)
@given(_runs())
def test_smoothed_posterior_equals_forward_backward_over_the_window(run: dict[str, Any]) -> None:
    n, lls, dts, lag = run["n"], run["lls"], run["dts"], run["lag"]
    model = _model(
        n,
        smoothing="none",
        window_s=60.0,
        classify_step_s=0.0,
        smoothing_lag_s=lag,
        switch_time_s=run["switch"],
        likelihood_weight=run["weight"],
        step_evidence_cap=run["cap"],
        confidence_threshold=0.0,
    )
    tr = _Recording(model)
    tr.scorer = _Scripted(model, lls)
    t = 100.0
    tr.observe("d", "rx", -70, t)  # the device's first packet: the first step (dt 0), taken when the next comes
    times, steps_dt = [t], [0.0]
    last_t = t
    for dt in dts[1:]:
        t += dt
        tr.observe("d", "rx", -70, t)
        times.append(t)
        steps_dt.append(t - last_t)
        last_t = t
    tr.observe("d", "rx", -70, t + 1.0)  # a packet is classified when the next comes: this completes the last
    assert not tr.scorer.lls  # every observation after the first was a step
    liks = [np.exp(np.maximum(np.array(v) * run["weight"] - max(v) * run["weight"], -run["cap"])) for v in lls]
    expected: list[tuple[float, FloatArray]] = []
    done = -1
    for last in range(len(times)):
        j = max((k for k in range(last + 1) if times[k] <= times[last] - lag), default=-1)
        if j > done:
            expected.append((times[j], _forward_backward(liks, steps_dt, run["switch"], j, last)))
            done = j
    assert [r[0] for r in tr.reported] == [e[0] for e in expected]
    for (_, got), (_, want) in zip(tr.reported, expected, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)


def _two_zone(**params: Any) -> ZoneModel:
    mean = np.array([[-60.0, -85.0], [-85.0, -60.0]])
    return ZoneModel(
        ["front", "back"],
        ["rx-a", "rx-b"],
        ["front", "back"],
        mean,
        np.full((2, 2), 4.0),
        np.full((2, 2), 0.95),
        Params(**params),
    )


def _walk_front_to_back(tr: ZoneTracker, rng: np.random.Generator) -> list[ZoneEstimate]:
    """Front for 40 s, then back for 40 s, a packet every 0.5 s heard by both receivers (6 dB noise)."""
    out = []
    for i in range(160):
        t = i * 0.5
        front = t < 40.0
        tr.observe("d", "rx-a", int((-62 if front else -83) + rng.normal(0, 6)), t)
        out.append(tr.observe("d", "rx-b", int((-83 if front else -62) + rng.normal(0, 6)), t + 0.01))
    return out


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_move_is_reported_at_an_earlier_described_time_with_the_lag(seed: int) -> None:
    first_back = {}
    for lag in (0.0, 3.0):
        tr = ZoneTracker(_two_zone(switch_time_s=30.0, smoothing="kalman", smoothing_lag_s=lag))
        ests = _walk_front_to_back(tr, np.random.default_rng(seed))
        assert ests[60].zone == "front" and ests[-1].zone == "back"
        first_back[lag] = min(e.t for e in ests if e.zone == "back" and e.t >= 40.0)
        if lag > 0:  # ... while the estimates themselves describe a time about the lag before they were made
            made = [i * 0.5 + 0.01 for i in range(160)]
            assert all(e.t <= m - lag + 1e-9 for e, m in zip(ests, made, strict=True) if e.t > 0.5)
    assert first_back[3.0] < first_back[0.0]


def test_lag_zero_is_the_forward_filter_step_for_step() -> None:
    rng = np.random.default_rng(5)
    plain = _walk_front_to_back(ZoneTracker(_two_zone()), rng)
    rng = np.random.default_rng(5)
    zero = _walk_front_to_back(ZoneTracker(_two_zone(smoothing_lag_s=0.0)), rng)
    assert plain == zero


def test_expiry_and_forget_drop_the_unreported_steps() -> None:
    tr = ZoneTracker(_two_zone(smoothing_lag_s=3.0, expire_min_s=5.0))
    ests = _walk_front_to_back(tr, np.random.default_rng(1))
    last = ests[-1]
    assert 79.5 - 3.0 - 0.5 <= last.t <= 79.5 - 3.0  # the last 3 s are not reported yet
    assert tr.expire(200.0) == ["d"] and tr.estimate("d") is None
    # back later: a fresh state, nothing reported until its first step is the lag old
    est = tr.observe("d", "rx-a", -62, 300.0)
    assert est.zone == UNKNOWN and est.t == 300.0
    for i in range(1, 6):
        est = tr.observe("d", "rx-a", -62, 300.0 + i * 0.5)
    assert est.t == 300.0  # steps at 300.5..302.5: none is 3 s old yet
    tr.forget("d")
    assert tr.tracked() == 0


# ---- zones.toml ------------------------------------------------------------------------------------------------


def test_lag_round_trips_and_older_files_load_without_it(fitted: FitResult, tmp_path: Path) -> None:
    fitted.model.save(tmp_path / "written.toml")
    assert "smoothing_lag_s = 3.0" in (tmp_path / "written.toml").read_text()  # readable as written
    assert_written_and_optional(fitted.model, tmp_path, ("smoothing_lag_s",), FIT_SMOOTHING_LAG_S)


@pytest.mark.parametrize("value", [-1.0, 10.5, "3 s", math.inf])
def test_a_bad_lag_is_a_one_line_error_naming_the_field(fitted: FitResult, tmp_path: Path, value: object) -> None:
    assert_one_line_error(fitted.model, tmp_path, "smoothing_lag_s", value)

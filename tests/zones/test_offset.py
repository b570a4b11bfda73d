"""Each device's own offset (`offset_learning_rate`): a phone that reads quieter than the calibration device is
placed by the level of its readings once its offset is learnt, the belief only moves on steps that can tell,
and the zones.toml key. Whole simulated days against the numpy reference:
tests/simulator/test_decisions_unchanged.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.zones.calibrate import FIT_OFFSET_LEARNING_RATE, FIT_OFFSET_STEP_SPREAD_DB, FitResult
from gateway.zones.classify import OffsetNaiveBayes
from gateway.zones.estimate import ZoneEstimate
from gateway.zones.model import Params, ZoneModel
from gateway.zones.recall import DRIFT_DB2
from gateway.zones.tracker import OFFSET_VAR_FLOOR_DB2, ZoneTracker, updated_offset
from tests.zones.bad_params import assert_one_line_error, assert_written_and_optional

# "outside" is "door" 10 dB quieter on every receiver (the facade): only the level tells them apart. "aisle" has
# a shape of its own, so a phone standing there shows how loud it is.
MEANS = {"aisle": (-58.0, -74.0, -80.0), "door": (-70.0, -60.0, -72.0), "outside": (-80.0, -70.0, -82.0)}
RECEIVERS = ["rx-a", "rx-b", "rx-c"]


def _model(**params: Any) -> ZoneModel:
    base: dict[str, Any] = {
        "smoothing": "kalman",
        "switch_time_s": 30.0,
        "smoothing_lag_s": 3.0,
        "offset_sigma_db": 6.0,
        "offset_learning_rate": FIT_OFFSET_LEARNING_RATE,
        "offset_step_spread_db": FIT_OFFSET_STEP_SPREAD_DB,
    }
    classes = list(MEANS)
    return ZoneModel(
        ["aisle", "door"],
        RECEIVERS,
        classes,
        np.array([MEANS[c] for c in classes]),
        np.full((3, 3), 4.0),
        np.full((3, 3), 0.95),
        Params(**(base | params)),
    )


def _visit(
    tr: ZoneTracker,
    rng: np.random.Generator,
    offset_db: float,
    stays: list[tuple[str, float]],
    rx: int = 3,
    t0: float = 0.0,
) -> list[tuple[str, ZoneEstimate]]:
    """A phone `offset_db` louder than the walk's device stands in each zone of `stays` in turn from `t0`, a packet
    every 0.5 s heard by the first `rx` receivers (4 dB noise); the estimates with the true zone of their time."""
    out = []
    t = t0
    for zone, seconds in stays:
        for _ in range(int(seconds / 0.5)):
            for i in range(rx):
                rssi = round(float(MEANS[zone][i] + offset_db + rng.normal(0, 4)))
                est = tr.observe("phone", RECEIVERS[i], rssi, t + 0.01 * i)
            out.append((zone, est))
            t += 0.5
    return out


def _door_share(ests: list[tuple[str, ZoneEstimate]]) -> float:
    # the last 40 s of the door stay: the estimates then describe the door (the lag is 3 s)
    tail = [e for zone, e in ests if zone == "door"][-80:]
    return sum(e.zone == "door" for e in tail) / len(tail)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_quiet_phone_whose_offset_was_learnt_is_placed_by_the_door_not_outside(seed: int) -> None:
    stays = [("aisle", 60.0), ("door", 60.0)]
    learnt = _visit(ZoneTracker(_model()), np.random.default_rng(seed), -9.0, stays)
    plain = _visit(ZoneTracker(_model(offset_learning_rate=0.0)), np.random.default_rng(seed), -9.0, stays)
    assert _door_share(learnt) >= 0.9
    assert _door_share(plain) <= 0.5  # without it, 9 dB quieter by the door reads as outside


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_phone_as_loud_as_the_walks_device_is_placed_as_before(seed: int) -> None:
    stays = [("aisle", 40.0), ("door", 40.0), ("outside", 40.0)]
    for rate in (0.0, FIT_OFFSET_LEARNING_RATE):
        ests = _visit(ZoneTracker(_model(offset_learning_rate=rate)), np.random.default_rng(seed), 0.0, stays)
        for zone in MEANS:
            tail = [e for z, e in ests if z == zone][-60:]
            assert sum(e.zone == zone for e in tail) / len(tail) >= 0.9


@pytest.mark.parametrize("offset_db", [-9.0, -4.0, 5.0])
def test_the_belief_converges_on_the_phones_offset(offset_db: float) -> None:
    tr = ZoneTracker(_model())
    _visit(tr, np.random.default_rng(7), offset_db, [("aisle", 60.0)])
    st = tr._devices["phone"]
    assert st.offset is not None
    mu, var = st.offset
    assert abs(mu - offset_db) < 2.5
    assert OFFSET_VAR_FLOOR_DB2 <= var < 6.0**2 / 4  # surer than the prior, never surer than the floor


def _heading_swings(step_spread_db: float, seed: int) -> list[float]:
    """The belief's mean, second by second, for a phone 3 dB quieter than the walk's device standing in one zone
    of a shop whose ten receivers all hear it, its carrier turning every 10 s: its level on every receiver then
    drops or recovers by 8 dB together (the body in the way), which is no change of the phone's offset."""
    rx = [f"rx-{i}" for i in range(10)]
    rng = np.random.default_rng(seed)
    means = rng.uniform(-80.0, -55.0, size=(2, 10))
    model = ZoneModel(
        ["aisle", "till"],
        rx,
        ["aisle", "till"],
        means,
        np.full((2, 10), 3.0),
        np.full((2, 10), 0.99),
        Params(
            smoothing="kalman",
            switch_time_s=30.0,
            offset_sigma_db=3.3,
            offset_learning_rate=FIT_OFFSET_LEARNING_RATE,
            offset_step_spread_db=step_spread_db,
        ),
    )
    tr = ZoneTracker(model)
    beliefs = []
    for n in range(240):
        t = n * 0.5
        turned = -8.0 if int(t // 10) % 2 else 0.0
        for i, r in enumerate(rx):
            tr.observe("phone", r, round(float(means[0, i] - 3.0 + turned + rng.normal(0, 2))), t + 0.001 * i)
        if n % 2 == 0 and (belief := tr._devices["phone"].offset) is not None:
            beliefs.append(belief[0])
    return beliefs[40:]  # after the first 40 s


@pytest.mark.parametrize("seed", [1, 2])
def test_a_phone_heard_by_ten_receivers_keeps_its_offset_while_its_carrier_turns(seed: int) -> None:
    steady = _heading_swings(FIT_OFFSET_STEP_SPREAD_DB, seed)
    chasing = _heading_swings(0.0, seed)
    # limited, the belief settles between the two levels (-3 facing, -11 turned away); unlimited, it follows
    # every turn within seconds, and so re-explains the level a zone change would have explained
    assert max(steady) - min(steady) < 2.0
    assert max(chasing) - min(chasing) > 4.0


def test_steps_heard_by_one_receiver_use_the_belief_without_moving_it() -> None:
    tr = ZoneTracker(_model())
    _visit(tr, np.random.default_rng(3), -9.0, [("aisle", 30.0)], rx=1)
    assert tr._devices["phone"].offset is None  # one receiver cannot tell a quiet phone from a far one
    _visit(tr, np.random.default_rng(3), -9.0, [("aisle", 30.0)], t0=30.0)
    assert tr._devices["phone"].offset is not None
    # the other receivers' readings count as heard for window_s (5 s) after their last packet
    _visit(tr, np.random.default_rng(4), -9.0, [("door", 6.0)], rx=1, t0=60.0)
    learnt = tr._devices["phone"].offset
    _visit(tr, np.random.default_rng(5), -9.0, [("door", 20.0)], rx=1, t0=66.0)
    assert tr._devices["phone"].offset == learnt


def test_a_returning_customer_starts_from_what_the_last_visit_learnt() -> None:
    tr = ZoneTracker(_model())
    _visit(tr, np.random.default_rng(3), -9.0, [("aisle", 30.0)])
    left = tr._devices["phone"].offset
    assert left is not None
    tr.expire(1e6)
    assert tr.tracked() == 0
    tr.observe("phone", "rx-a", -60, 1e6)
    assert tr._devices["phone"].offset == (left[0], left[1] + DRIFT_DB2)
    tr.observe("other-phone", "rx-a", -60, 1e6)
    assert tr._devices["other-phone"].offset is None  # a first visit starts from the prior


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_quiet_regular_is_placed_by_the_door_from_the_start_of_the_next_visit(seed: int) -> None:
    """By the door, a phone 9 dB quieter than the walk's device reads like one outside (the facade costs every
    receiver 10 dB), and standing there alone it cannot learn which it is. Its last visit, which passed the aisle,
    did."""
    regular = ZoneTracker(_model())
    _visit(regular, np.random.default_rng(seed), -9.0, [("aisle", 60.0)])
    regular.expire(1e6)
    back = _visit(regular, np.random.default_rng(seed + 10), -9.0, [("door", 30.0)], t0=2e6)
    stranger = _visit(ZoneTracker(_model()), np.random.default_rng(seed + 10), -9.0, [("door", 30.0)], t0=2e6)

    def door_share(ests: list[tuple[str, ZoneEstimate]]) -> float:
        decided = ests[10:]  # after the first 5 s: the smoother's 3 s lag has passed
        return sum(e.zone == "door" for _, e in decided) / len(decided)

    assert door_share(back) >= 0.9
    assert door_share(stranger) <= 0.5


def test_a_revoked_customer_starts_again_from_the_prior() -> None:
    tr = ZoneTracker(_model())
    _visit(tr, np.random.default_rng(3), -9.0, [("aisle", 30.0)])
    tr.expire(1e6)
    tr.forget("phone")
    tr.observe("phone", "rx-a", -60, 2e6)
    assert tr._devices["phone"].offset is None


@pytest.mark.parametrize("params", [{"offset_learning_rate": 0.0}, {"offset_sigma_db": 0.0}, {"method": "nb"}])
def test_without_a_rate_or_an_offset_prior_decisions_are_as_before(params: dict[str, Any]) -> None:
    """Rate 0, no offset prior (nothing to learn: the phone is taken as loud as the walk's) or a baseline scorer:
    the tracker decides step for step as it did before offset learning existed."""
    stays = [("aisle", 30.0), ("door", 30.0), ("outside", 30.0)]
    with_key = _visit(ZoneTracker(_model(**params)), np.random.default_rng(5), -6.0, stays)
    plain = _model(**(params | {"offset_learning_rate": 0.0}))
    never = _visit(ZoneTracker(plain), np.random.default_rng(5), -6.0, stays)
    assert [e for _, e in with_key] == [e for _, e in never]


# ---- the scorer and the weights: properties --------------------------------------------------------------------

readings = st.lists(
    st.tuples(st.integers(0, 2), st.floats(-100.0, -40.0)), min_size=1, max_size=3, unique_by=lambda r: r[0]
)


@settings(max_examples=200, deadline=None)
@given(heard=readings, mu=st.floats(-15.0, 15.0), sd=st.floats(1.0, 10.0))
def test_scoring_under_a_belief_is_scoring_the_shifted_readings(
    heard: list[tuple[int, float]], mu: float, sd: float
) -> None:
    model = _model(offset_sigma_db=sd)
    scorer = OffsetNaiveBayes(model)
    scores, sws, swrs = scorer.scores_offset(heard, mu, sd * sd)
    shifted = scorer.scores_heard([(i, x - mu) for i, x in heard])
    assert np.allclose(scores, shifted, atol=1e-9)
    w = 1.0 / 16.0
    for sw, swr, means in zip(sws, swrs, MEANS.values(), strict=True):
        assert sw == pytest.approx(w * len(heard))
        assert swr == pytest.approx(sum(w * (x - mu - means[i]) for i, x in heard))


@settings(max_examples=300, deadline=None)
@given(
    prior=st.one_of(st.none(), st.lists(st.floats(0.0, 1.0), min_size=3, max_size=3).filter(lambda p: sum(p) > 0)),
    scores=st.lists(st.floats(-500.0, 0.0), min_size=3, max_size=3),
    stay=st.floats(0.0, 1.0),
    mu=st.floats(-20.0, 20.0),
    var=st.floats(OFFSET_VAR_FLOOR_DB2, 100.0),
    sws=st.lists(st.floats(0.0, 2.0), min_size=3, max_size=3),
    mean_residuals=st.lists(st.floats(-20.0, 20.0), min_size=3, max_size=3),
    step_var=st.one_of(st.just(0.0), st.floats(0.0, 400.0)),
)
def test_the_belief_update_is_the_moment_matched_mixture_of_per_class_updates(
    prior: list[float] | None,
    scores: list[float],
    stay: float,
    mu: float,
    var: float,
    sws: list[float],
    mean_residuals: list[float],
    step_var: float,
) -> None:
    rate = 0.1
    swrs = [sw * r for sw, r in zip(sws, mean_residuals, strict=True)]  # sum w r = sum w x the weighted mean
    new_mu, new_var = updated_offset(mu, var, rate, sws, swrs, prior, scores, stay, step_var)
    # the textbook two-pass version: class weights, per-class Gaussian updates, mixture mean and variance
    pred = np.full(3, 1 / 3) if prior is None else stay * np.asarray(prior) + (1 - stay) / 3
    w = pred * np.exp(np.asarray(scores) - max(scores))
    if not w.sum() > 1e-300:
        return
    w = w / w.sum()
    # a shared spread `step_var` in each step's mean residual (weighted mean swr/sw, precision sw): the step's
    # precision about the offset is 1 / (step_var + 1/sw) = sw / (1 + step_var sw)
    evidence = np.asarray(sws) / (1 + step_var * np.asarray(sws))
    prec = 1 / var + rate * evidence
    m = mu + rate * evidence * np.asarray(mean_residuals) / prec
    mix_mu = float(w @ m)
    mix_var = float(w @ (1 / prec + (m - mix_mu) ** 2))
    assert new_mu == pytest.approx(mix_mu, abs=1e-9)
    assert new_var == pytest.approx(max(mix_var, OFFSET_VAR_FLOOR_DB2), abs=1e-7)
    assert min(m) - 1e-9 <= new_mu <= max(m) + 1e-9  # a mixture's mean lies among its parts'


@settings(max_examples=200, deadline=None)
@given(sw=st.floats(1e-3, 1e3), swr=st.floats(-1e3, 1e3), var=st.floats(OFFSET_VAR_FLOOR_DB2, 100.0))
def test_one_step_tells_the_belief_at_most_one_over_the_step_spread_squared(sw: float, swr: float, var: float) -> None:
    """However many receivers heard a step (sw grows with them), its say about the offset stays under
    1/step_var of precision, i.e. the belief's precision grows by at most rate/step_var."""
    step_var = FIT_OFFSET_STEP_SPREAD_DB**2
    rate = FIT_OFFSET_LEARNING_RATE
    _, new_var = updated_offset(0.0, var, rate, [sw], [swr], None, [0.0], 1.0, step_var)
    assert 1 / new_var <= 1 / var + rate / step_var + 1e-9


# ---- zones.toml ------------------------------------------------------------------------------------------------


def test_the_rate_round_trips_and_older_files_load_without_it(fitted: FitResult, tmp_path: Path) -> None:
    assert_written_and_optional(fitted.model, tmp_path, ("offset_learning_rate",), FIT_OFFSET_LEARNING_RATE)


@pytest.mark.parametrize("value", [-0.1, 1.5, "fast"])
def test_a_bad_rate_is_a_one_line_error_naming_the_field(fitted: FitResult, tmp_path: Path, value: object) -> None:
    assert_one_line_error(fitted.model, tmp_path, "offset_learning_rate", value)


def test_the_step_spread_round_trips_and_older_files_load_without_it(fitted: FitResult, tmp_path: Path) -> None:
    assert_written_and_optional(fitted.model, tmp_path, ("offset_step_spread_db",), FIT_OFFSET_STEP_SPREAD_DB)


@pytest.mark.parametrize("value", [-1.0, 31.0, "wide"])
def test_a_bad_step_spread_is_a_one_line_error_naming_the_field(
    fitted: FitResult, tmp_path: Path, value: object
) -> None:
    assert_one_line_error(fitted.model, tmp_path, "offset_step_spread_db", value)

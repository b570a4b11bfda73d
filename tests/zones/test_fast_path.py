"""The tracker's plain-float scoring and forward step agree with the numpy formulas they replace."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.zones.classify import NearestCentroid, OffsetNaiveBayes
from gateway.zones.model import Params, ZoneModel
from gateway.zones.tracker import forward_lik_floats, forward_step, likelihoods_floats, stay_factor

TOL = 1e-9  # the float path sums residuals, the numpy one expands them: they differ by rounding only


@st.composite
def model_and_reading(draw: st.DrawFn) -> tuple[ZoneModel, np.ndarray, np.ndarray]:
    n_c = draw(st.integers(1, 8))
    n_r = draw(st.integers(1, 8))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    mean = rng.uniform(-100, -40, (n_c, n_r))
    std = rng.uniform(1.0, 15.0, (n_c, n_r))
    p_heard = rng.uniform(0.0, 1.0, (n_c, n_r))
    sigma = draw(st.sampled_from([0.0, 0.5, 3.0, 6.0, 20.0]))
    blend = draw(st.sampled_from([0.0, 0.25, 1.0]))
    model = ZoneModel(
        [f"z{i}" for i in range(n_c)],
        [f"rx{i}" for i in range(n_r)],
        [f"z{i}" for i in range(n_c)],
        mean,
        std,
        p_heard,
        Params(offset_sigma_db=sigma, centroid_blend=blend),
    )
    heard = (rng.random(n_r) < draw(st.floats(0.0, 1.0))).astype(float)
    x = np.where(heard > 0, np.round(rng.uniform(-110, -30, n_r), draw(st.integers(0, 3))), 0.0)
    return model, x, heard


def _pairs(x: np.ndarray, heard: np.ndarray) -> list[tuple[int, float]]:
    # the tracker lists receivers in the order it first heard them, not by index
    idx = [i for i in range(len(x)) if heard[i] > 0]
    return [(i, float(x[i])) for i in reversed(idx)]


@settings(max_examples=300, deadline=None)
@given(model_and_reading())
def test_float_scores_equal_the_numpy_formula(case: tuple[ZoneModel, np.ndarray, np.ndarray]) -> None:
    model, x, heard = case
    scorer = OffsetNaiveBayes(model)
    fast = scorer.scores_heard(_pairs(x, heard))
    ref = scorer.scores(x, heard)
    assert np.allclose(fast, ref, rtol=TOL, atol=TOL), (fast, ref)


@settings(max_examples=50, deadline=None)
@given(model_and_reading())
def test_scorers_without_a_float_path_go_through_numpy(case: tuple[ZoneModel, np.ndarray, np.ndarray]) -> None:
    model, x, heard = case
    model.params.absent_rssi = -105.0
    scorer = NearestCentroid(model)
    assert scorer.scores_heard(_pairs(x, heard)) == scorer.scores(x, heard).tolist()


def _float_step(
    prior: list[float] | None, ll: list[float], dt: float, switch: float, cap: float = math.inf
) -> list[float]:
    """The tracker's forward step in plain floats, composed as ZoneTracker._forward composes it."""
    return forward_lik_floats(prior, likelihoods_floats(ll, cap), stay_factor(dt, switch))


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.floats(-200, 50), min_size=1, max_size=8),
    st.booleans(),
    st.integers(0, 2**32 - 1),
    st.floats(-1.0, 30.0),
    st.sampled_from([90.0, 30.0, 10.0]),
    st.sampled_from([math.inf, 3.0, 0.5]),
)
def test_float_forward_step_equals_the_numpy_one(
    ll: list[float], fresh: bool, seed: int, dt: float, switch: float, cap: float
) -> None:
    prior = None if fresh else np.random.default_rng(seed).dirichlet(np.ones(len(ll)))
    ref = forward_step(prior, np.array(ll), dt, switch, cap)
    fast = _float_step(None if prior is None else prior.tolist(), ll, dt, switch, cap)
    assert math.isclose(sum(fast), 1.0, rel_tol=1e-12)
    assert np.allclose(fast, ref, rtol=1e-12, atol=1e-15)


def test_float_forward_step_falls_back_to_uniform_like_the_numpy_one() -> None:
    for ll in ([math.nan, 0.0, 1.0], [0.0, math.inf, 1.0], [-math.inf] * 3):
        with np.errstate(invalid="ignore"):
            ref = forward_step(np.full(3, 1 / 3), np.array(ll), 0.5, 30.0)
        assert _float_step([1 / 3] * 3, ll, 0.5, 30.0) == ref.tolist()

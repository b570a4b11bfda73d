"""The nearest centroid's reading pooled into the fingerprint score (`centroid_blend`, classify.CentroidTerm): it is
the published baseline when phones are taken as loud as the walk's device, it reads a silence as a quiet reading
where the naive Bayes reads a missed packet, it stays the walk's at every advertising rate, and the zones.toml key.
The float path against numpy: tests/zones/test_fast_path.py; whole days: tests/simulator/test_decisions_unchanged.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.zones.calibrate import FIT_CENTROID_BLEND, FIT_CENTROID_VETO_SE, FitResult, fit
from gateway.zones.classify import CentroidTerm, NearestCentroid, OffsetNaiveBayes
from gateway.zones.model import Params, ZoneModel
from gateway.zones.tracker import ZoneTracker
from tests.zones.bad_params import assert_one_line_error, assert_written_and_optional
from tests.zones.synth import Store, flaky_walks

RECEIVERS = ["rx-door", "rx-till", "rx-back"]
# A kiosk: every receiver hears the walk's tag nearly everywhere, so a silence is rare and says a lot.
MEANS = {"door": (-60.0, -75.0, -82.0), "till": (-74.0, -61.0, -76.0), "back": (-80.0, -73.0, -62.0)}
P_HEARD = {"door": (1.0, 0.97, 0.9), "till": (0.97, 1.0, 0.97), "back": (0.9, 0.97, 1.0)}


def _model(**params: Any) -> ZoneModel:
    classes = list(MEANS)
    return ZoneModel(
        classes,
        RECEIVERS,
        classes,
        np.array([MEANS[c] for c in classes]),
        np.full((3, 3), 5.0),
        np.array([P_HEARD[c] for c in classes]),
        Params(**({"offset_sigma_db": 3.27, "centroid_blend": FIT_CENTROID_BLEND} | params)),
    )


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 6), st.integers(1, 6))
def test_without_an_offset_prior_it_ranks_classes_as_the_nearest_centroid_does(seed: int, n_c: int, n_r: int) -> None:
    rng = np.random.default_rng(seed)
    model = ZoneModel(
        [f"z{i}" for i in range(n_c)],
        [f"rx{i}" for i in range(n_r)],
        [f"z{i}" for i in range(n_c)],
        rng.uniform(-100, -40, (n_c, n_r)),
        rng.uniform(1.0, 15.0, (n_c, n_r)),
        rng.uniform(0.0, 1.0, (n_c, n_r)),
        Params(offset_sigma_db=0.0, centroid_blend=1.0),
    )
    heard = (rng.random(n_r) < 0.7).astype(float)
    x = np.where(heard > 0, rng.uniform(-105, -35, n_r), 0.0)
    # the same numbers: the baseline's -d^2 / (2 mean variance) is this Gaussian's log-density up to a constant
    assert np.allclose(CentroidTerm(model).scores(x, heard), NearestCentroid(model).scores(x, heard), atol=1e-9)


def _best(scorer: OffsetNaiveBayes, heard: list[tuple[int, float]]) -> str:
    scores = scorer.scores_heard(heard)
    return scorer.model.classes[scores.index(max(scores))]


def test_a_silent_receiver_reads_as_quiet_and_counts_against_its_own_zone() -> None:
    # between the door and the till, the back receiver silent. The naive Bayes charges a silence at most
    # log(0.02) (p_heard is clipped at 0.98), however loud the receiver is there, and leaves door and till
    # nearly tied. The centroid's reading takes the silence as a reading at -105 dBm: furthest below the back's
    # mean, least below the door's.
    heard = [(0, -67.0), (1, -66.0)]
    plain = OffsetNaiveBayes(_model(centroid_blend=0.0))
    pooled = OffsetNaiveBayes(_model())
    alone = CentroidTerm(_model()).scores_heard(heard)
    assert alone.index(max(alone)) == 0 and alone.index(min(alone)) == 2
    p, q = plain.scores_heard(heard), pooled.scores_heard(heard)
    assert abs(p[0] - p[1]) < 0.5 and q[0] - q[1] > 1.0  # the door now leads the till clearly
    assert q[2] - q[0] < p[2] - p[0] - 5.0  # and the back, whose receiver is silent, falls far behind


def test_a_phone_heard_everywhere_is_placed_by_the_shape_of_its_readings_either_way() -> None:
    # every receiver hears: the two readings agree, whatever the phone's overall level
    for offset in (-8.0, 0.0, 6.0):
        for zone, means in MEANS.items():
            heard = [(i, m + offset) for i, m in enumerate(means)]
            assert _best(OffsetNaiveBayes(_model()), heard) == zone
            assert _best(OffsetNaiveBayes(_model(centroid_blend=1.0)), heard) == zone


def test_a_slow_phone_keeps_the_walks_centroid_while_its_heard_term_follows_its_rate() -> None:
    tracker = ZoneTracker(_model(walk_interval_s=0.2))
    assert tracker._rates is not None
    fast_scorer = tracker._rates.for_interval(0.2)
    slow_scorer = tracker._rates.for_interval(2.0)
    assert isinstance(fast_scorer, OffsetNaiveBayes) and isinstance(slow_scorer, OffsetNaiveBayes)
    assert not np.allclose(fast_scorer.log_q, slow_scorer.log_q)  # the heard term adapted to ten times fewer packets
    assert slow_scorer.centroid is fast_scorer.centroid  # a silence is a quiet reading at any rate


# ---- calibrate fit ---------------------------------------------------------------------------------------------


def test_an_ordinary_walk_keeps_the_blend(fitted: FitResult) -> None:
    gain, se = fitted.report["centroid_blend_cv_gain_and_se"]
    assert gain >= -FIT_CENTROID_VETO_SE * se
    assert fitted.model.params.centroid_blend == FIT_CENTROID_BLEND


def test_a_walk_whose_silences_say_nothing_about_the_place_turns_it_off(store: Store) -> None:
    """There a silence is not a quiet reading, and the walk itself shows it (five walks, for a verdict beyond two
    standard errors): the fit writes the blend off and reports what it would have cost."""
    adverts, truth = flaky_walks(store, range(7, 12))
    result = fit(adverts, truth, store.header_receivers(), zone_positions=store.zone_centres())
    gain, se = result.report["centroid_blend_cv_gain_and_se"]
    assert gain < -FIT_CENTROID_VETO_SE * se
    assert result.model.params.centroid_blend == 0.0


# ---- zones.toml ------------------------------------------------------------------------------------------------


def test_the_blend_round_trips_and_older_files_load_without_it(fitted: FitResult, tmp_path: Path) -> None:
    assert_written_and_optional(fitted.model, tmp_path, ("centroid_blend",), FIT_CENTROID_BLEND)


@pytest.mark.parametrize("value", [-0.1, 1.5, "half"])
def test_a_bad_blend_is_a_one_line_error_naming_the_field(fitted: FitResult, tmp_path: Path, value: object) -> None:
    assert_one_line_error(fitted.model, tmp_path, "centroid_blend", value)

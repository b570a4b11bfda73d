"""Scoring pairs each sample with the estimate describing its time (gateway/zones/pairing.py)."""

from __future__ import annotations

import copy
import itertools

import pytest

from gateway.zones.calibrate import FitResult
from gateway.zones.estimate import UNKNOWN, ZoneEstimate
from gateway.zones.evaluate import evaluate
from gateway.zones.pairing import EstimatePairing
from gateway.zones.replay import drive
from gateway.zones.samples import Reading, readings
from gateway.zones.tracker import NEW_PACKET_GAP_S, ZoneTracker
from tests.zones.synth import Store, store_day

Pair = tuple[str, float, int, ZoneEstimate]


def _collector() -> tuple[list[Pair], EstimatePairing[int]]:
    out: list[Pair] = []
    return out, EstimatePairing(lambda d, t, item, est: out.append((d, t, item, est)))


def test_samples_before_the_first_estimate_are_unknown() -> None:
    out, pairing = _collector()
    pairing.sample("d", 1.0, 0)
    pairing.sample("d", 2.0, 1)
    assert out == []  # they wait: an estimate describing their time may still come
    late = ZoneEstimate("front", 0.9, 3.0)  # describes a later time than both
    pairing.estimate("d", late)
    assert [(t, i, e.zone) for _, t, i, e in out] == [(1.0, 0, UNKNOWN), (2.0, 1, UNKNOWN)]
    assert out[0][3].t == 1.0


def test_a_sample_takes_the_latest_estimate_describing_its_time_or_earlier() -> None:
    out, pairing = _collector()
    a, b, c = ZoneEstimate("front", 0.9, 1.0), ZoneEstimate("back", 0.8, 2.0), ZoneEstimate("front", 0.7, 4.0)
    pairing.estimate("d", a)
    pairing.sample("d", 2.5, 0)  # made when a was current, but b (described 2.0) is its estimate
    pairing.sample("d", 3.0, 1)
    pairing.estimate("d", b)
    pairing.estimate("d", b)  # the same object again: nothing new
    assert out == []
    pairing.sample("e", 9.0, 7)  # another device does not interfere
    pairing.estimate("d", c)
    assert [(i, e) for _, _, i, e in out] == [(0, b), (1, b)]
    pairing.sample("d", 3.5, 2)  # out of order: the current estimate already describes a later time
    assert out[-1][2:] == (2, c)
    pairing.sample("d", 5.0, 3)
    pairing.end("d")  # the tracker dropped the device: its waiting samples keep the latest estimate
    assert out[-1][2:] == (3, c)
    pairing.sample("d", 6.0, 4)  # after end(): nothing describes it until a new estimate does
    pairing.flush()
    assert out[-2][2] == 7 and out[-2][3].zone == UNKNOWN
    assert out[-1][2] == 4 and out[-1][3].zone == UNKNOWN
    assert pairing.waiting() == 0


def _day(store: Store) -> list[Reading]:
    day, truth = store_day(store, 71, phones=3)
    return list(readings(day, truth))


@pytest.mark.parametrize("lag", [0.0, 1.0, 3.0, 7.5])
def test_with_a_lag_each_sample_gets_the_latest_estimate_describing_its_time(
    store: Store, fitted: FitResult, lag: float
) -> None:
    model = copy.deepcopy(fitted.model)
    model.params.smoothing_lag_s = lag
    rs = _day(store)
    made: dict[str, list[ZoneEstimate]] = {}
    paired: list[tuple[str, float, ZoneEstimate]] = []
    pairing: EstimatePairing[None] = EstimatePairing(lambda d, t, _, est: paired.append((d, t, est)))

    def record(r: Reading, est: ZoneEstimate) -> None:
        seen = made.setdefault(r.device, [])
        if not seen or seen[-1] is not est:
            seen.append(est)
        pairing.estimate(r.device, est)
        pairing.sample(r.device, r.t, None)

    drive(ZoneTracker(model), rs, record)
    pairing.flush()
    assert len(paired) == len(rs)
    for ests in made.values():
        assert all(a.t <= b.t for a, b in itertools.pairwise(ests))  # described times never move back
    late = 0
    for d, t, est in paired:
        want = [e for e in made[d] if e.t <= t][-1]  # a packet's estimate replaces the unknown it starts with
        assert est is want
        late += est.t < t - lag - NEW_PACKET_GAP_S  # a packet is described at its first reading
    assert late < len(paired) // 2  # mostly the step just before the sample, not a stale one


def test_calibrate_evaluate_scores_the_smoothed_estimates(store: Store, fitted: FitResult) -> None:
    day, truth = store_day(store, 72, phones=2)
    model = copy.deepcopy(fitted.model)
    scores = {}
    for lag in (0.0, 3.0):
        model.params.smoothing_lag_s = lag
        scores[lag] = evaluate(model, day, truth)
    assert scores[0.0]["samples"] == scores[3.0]["samples"] > 500
    assert scores[0.0]["zone_accuracy"] != scores[3.0]["zone_accuracy"]
    assert scores[3.0]["zone_accuracy"] > 0.5

"""Scoring a zone model against labelled scans, as the live pipeline would place each labelled sample."""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np

from gateway.adverts import Advert
from gateway.truth import TruthInterval
from gateway.zones.estimate import UNKNOWN, ZoneEstimate
from gateway.zones.liveness import ReceiverWatch
from gateway.zones.model import ZoneModel
from gateway.zones.pairing import EstimatePairing, SampleTimes
from gateway.zones.replay import drive
from gateway.zones.samples import Reading, readings
from gateway.zones.tracker import ZoneTracker
from gateway.zones.walkcheck import ADJACENT_GAP_S, Intervals


def evaluate(
    model: ZoneModel, adverts: Iterable[Advert], truth: list[TruthInterval], *, method: str | None = None
) -> dict[str, Any]:
    """Scores the tracker's estimates as the live pipeline makes them, one per labelled sample (SPEC section 5: a
    (device, time) with an advertisement inside a truth interval, however many receivers heard it): the estimate
    describing that time (pairing.py; with the forward filter alone, the estimate right after the advertisement)."""
    index = Intervals(truth)
    tracker = ZoneTracker(model, method=method)
    rows: list[tuple[Reading, TruthInterval, ZoneEstimate]] = []

    def paired(device: str, t: float, item: tuple[Reading, TruthInterval], est: ZoneEstimate) -> None:
        rows.append((item[0], item[1], est))

    pairing: EstimatePairing[tuple[Reading, TruthInterval]] = EstimatePairing(paired)

    times = SampleTimes()

    def record(r: Reading, est: ZoneEstimate) -> None:
        pairing.estimate(r.device, est)
        iv = index.at(r.device, r.t)
        if iv is not None and times.first(r.device, r.t):
            pairing.sample(r.device, r.t, (r, iv))

    # as the daemon runs it: a receiver silent where the walk says it would hear these devices is left out
    watch = ReceiverWatch(tracker)

    def watched(adverts: Iterable[Advert]) -> Iterator[Advert]:
        heard, due, check = watch.heard, watch.due, watch.check
        for a in adverts:
            heard(a.rx)
            if due(a.t):
                check(a.t)
            yield a

    drive(tracker, readings(watched(adverts), truth), record)
    pairing.flush()
    tracker.expire(math.inf)  # every visit over: the level survey holds them all
    level = tracker.level.report()
    n = len(rows)
    correct = sum(1 for _, iv, est in rows if est.zone == iv.zone)
    labels = sorted({iv.zone for _, iv, _ in rows} | set(model.classes))
    per_zone: dict[str, dict[str, float | int | None]] = {}
    for z in labels:
        tp = sum(1 for _, iv, est in rows if iv.zone == z and est.zone == z)
        support = sum(1 for _, iv, _ in rows if iv.zone == z)
        predicted = sum(1 for _, _, est in rows if est.zone == z)
        # null, not 0: a zone never predicted has no precision and one never visited no recall (a 0 read as
        # "always wrong" on a recording that simply did not reach that zone)
        per_zone[z] = {
            "precision": round(tp / predicted, 4) if predicted else None,
            "recall": round(tp / support, 4) if support else None,
            "support": support,
        }
    return {
        "zone_accuracy": round(correct / n, 4) if n else 0.0,
        "samples": n,
        "unknown_share": round(sum(1 for *_, e in rows if e.zone == UNKNOWN) / n, 4) if n else 0.0,
        "per_zone": per_zone,
        "flap_rate_per_min": round(_eval_flaps(rows), 3),
        "decision_latency_s": _eval_latency(rows, index),
        "method": method or model.params.method,
        # the truth devices against the walk's device (zones/level.py); None for fewer visits than it needs
        "device_level_vs_walk_db": None if level is None else level["median_db"],
        "device_level_visits": 0 if level is None else level["devices"],
        "device_level_warning": None if level is None else level["warning"],
        "receivers_left_out_s": {rx: round(v, 1) for rx, v in sorted(watch.left_out_s.items())},
    }


def _eval_flaps(rows: list[tuple[Reading, TruthInterval, ZoneEstimate]]) -> float:
    """Zone changes per minute inside unchanged truth, counted once the estimate first reached the true zone.

    Unknown in between is skipped: A, unknown, A is no change; A, unknown, B is one.
    """
    changes = 0
    seen: set[int] = set()
    minutes = 0.0
    state: dict[str, tuple[int, bool, str]] = {}
    for r, iv, est in rows:
        if id(iv) not in seen:
            seen.add(id(iv))
            minutes += (iv.t_end - iv.t_start) / 60.0
        if est.zone == UNKNOWN:
            continue  # "don't know" is not a move: rules ignore it, so only real zone changes count
        cur = state.get(r.device)
        if cur is None or cur[0] != id(iv):
            state[r.device] = (id(iv), est.zone == iv.zone, est.zone)
            continue
        _, settled, last = cur
        if settled and est.zone != last:
            changes += 1
        state[r.device] = (id(iv), settled or est.zone == iv.zone, est.zone)
    return changes / minutes if minutes > 0 else 0.0


def _eval_latency(rows: list[tuple[Reading, TruthInterval, ZoneEstimate]], index: Intervals) -> float | None:
    """Median delay from a real zone change (an interval following another zone's) to the first correct estimate."""
    first_right: dict[int, float] = {}
    by_id: dict[int, TruthInterval] = {}
    for r, iv, est in rows:
        by_id[id(iv)] = iv
        if est.zone == iv.zone and id(iv) not in first_right:
            first_right[id(iv)] = r.t
    delays = []
    for ivs in index.ivs.values():
        for prev, iv in itertools.pairwise(ivs):
            if prev.zone == iv.zone or iv.t_start - prev.t_end > ADJACENT_GAP_S or id(iv) not in by_id:
                continue
            if id(iv) in first_right:
                delays.append(first_right[id(iv)] - iv.t_start)
            else:
                delays.append(iv.t_end - iv.t_start)  # never reached: count the whole interval
    return round(float(np.median(delays)), 2) if delays else None

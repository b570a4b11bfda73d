"""Heard probabilities for devices that advertise at another rate than the calibration device did.

`p_heard` is learnt on the walk as "this receiver caught at least one packet within the filter window". That
depends on how many packets the window holds: a tag advertising every 0.2 s gives a far receiver 25 chances
in 5 s, a phone in a pocket advertising every second gives it 5. Read as independent catches with a per-packet
probability q, p = 1 - (1 - q)^n, so a device sending `ratio` times as many packets as the tag is heard with
1 - (1 - p)^ratio. Without this a slow phone's silent far receivers read as "far from everything", which is
what the street looks like (docs/zones.md, round 3).

Both intervals are measured the same way, by the tracker (gaps between packets heard by any receiver), so
packets lost at every receiver count alike on the walk and in the store.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from gateway.zones.classify import CentroidTerm, FloatArray, Scorer, make_scorer
from gateway.zones.model import ZoneModel

STEPS_PER_OCTAVE = 4  # rate buckets: 2^(1/4) apart (19 %); the learnt interval moves smoothly between them
MIN_RATIO = 1.0 / 16  # a device 16x slower than the tag or more: its window is nearly empty anyway
MAX_RATIO = 4.0
RATE_AWARE_METHODS = ("offset_nb", "nb")  # the product's scorers; the baselines are left as published


def rate_bucket(walk_interval_s: float, device_interval_s: float) -> int:
    """The bucket of packets-per-window relative to the walk (0 = same rate, or a rate not learnt yet)."""
    if walk_interval_s <= 0 or device_interval_s <= 0:
        return 0
    ratio = min(max(walk_interval_s / device_interval_s, MIN_RATIO), MAX_RATIO)
    return round(math.log2(ratio) * STEPS_PER_OCTAVE)


def adapt_p_heard(p_heard: FloatArray, ratio: float) -> FloatArray:
    """Heard-within-the-window probability for a device sending `ratio` times as many packets."""
    miss = np.clip(1.0 - p_heard, 0.0, 1.0)
    adapted: FloatArray = 1.0 - np.power(miss, ratio)
    return adapted


class RateScorers:
    """One scorer per rate bucket, built on first use (a store sees a handful of buckets)."""

    def __init__(self, model: ZoneModel, method: str | None = None) -> None:
        self.model = model
        self.method = method
        self.walk_interval_s = model.params.walk_interval_s
        # the centroid term reads silences as a floor level, not as missed packets: it stays the walk's at every rate
        self._centroid = CentroidTerm(model) if model.params.centroid_blend > 0 else None
        self._by_bucket: dict[int, Scorer] = {0: make_scorer(model, method, self._centroid)}

    def for_interval(self, device_interval_s: float) -> Scorer:
        b = rate_bucket(self.walk_interval_s, device_interval_s)
        scorer = self._by_bucket.get(b)
        if scorer is None:
            ratio = 2.0 ** (b / STEPS_PER_OCTAVE)
            adapted = replace(self.model, p_heard=adapt_p_heard(self.model.p_heard, ratio))
            scorer = self._by_bucket[b] = make_scorer(adapted, self.method, self._centroid)
        return scorer

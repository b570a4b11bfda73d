"""A walk replayed as the tracker's classification steps, the fingerprint statistics fitted on them, and the
tracker's forward filter and hysteresis applied to whole arrays of steps, so cross-validation scores what the
daemon would do."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from gateway.zones.classify import FloatArray
from gateway.zones.estimate import ZoneEstimate
from gateway.zones.model import Params, ZoneModel
from gateway.zones.replay import drive
from gateway.zones.samples import Reading
from gateway.zones.tracker import DeviceState, ZoneTracker, confirm_step, forward_step

# A short walk sees each spot for seconds, under one state of the shadowing, with one phone held one way;
# in use, people, trolleys and the shopper's own body move RSSI by several dB. A zone spread narrower than
# this is the walk's luck, not the store's: measured on simulated days, 3 dB beat both 1.5 and 6 dB.
STD_FLOOR_DB = 3.0
STD_SHRINK_STEPS = 3.0  # pseudo-steps pulling a zone's spread towards the receiver's pooled spread


@dataclass
class Steps:
    """The classification steps of a walk, as the tracker would take them."""

    device: list[str]
    t: FloatArray
    dt: FloatArray  # since the previous forward update of that device; nan = first step (fresh state)
    x: FloatArray  # (n, receivers)
    heard: FloatArray  # (n, receivers)
    interval: FloatArray  # the device's packet interval as the tracker had learnt it at that step (0 = not yet)


class _StepRecorder(ZoneTracker):
    """A tracker that records its feature vectors instead of scoring them (same filters, schedule, expiry)."""

    def __init__(self, model: ZoneModel) -> None:
        super().__init__(model, method="centroid")
        self.rows: list[tuple[str, float, float, FloatArray, FloatArray, float]] = []
        self._current = ""
        self._marker = np.zeros(1)

    def observe(self, device: str, rx: str, rssi: int, t: float) -> ZoneEstimate:
        self._current = device
        return super().observe(device, rx, rssi, t)

    def _classify(self, st: DeviceState, now: float) -> None:
        st.last_class_t = now
        x, heard = self.features(st, now)
        if not heard.any():
            return
        dt = math.nan if st.posterior is None else now - st.post_t
        st.post_t = now
        st.posterior = self._marker
        self.rows.append((self._current, now, dt, x, heard, st.interval_s))


def _dummy_model(receivers: list[str], params: Params) -> ZoneModel:
    shape = (1, len(receivers))
    return ZoneModel(["z"], receivers, ["z"], np.full(shape, -70.0), np.ones(shape), np.full(shape, 0.5), params)


def compute_steps(rs: Sequence[Reading], receivers: list[str], params: Params) -> Steps:
    rec = _StepRecorder(_dummy_model(receivers, params))
    drive(rec, rs)
    n, m = len(rec.rows), len(receivers)
    x = np.zeros((n, m))
    h = np.zeros((n, m))
    for i, row in enumerate(rec.rows):
        x[i], h[i] = row[3], row[4]
    rows = rec.rows
    return Steps(
        [r[0] for r in rows],
        np.array([r[1] for r in rows]),
        np.array([r[2] for r in rows]),
        x,
        h,
        np.array([r[5] for r in rows]),
    )


def packet_interval(steps: Steps) -> float:
    """The walk device's typical packet interval (median over steps once learnt; 0 when it never was)."""
    learnt = steps.interval[steps.interval > 0]
    return round(float(np.median(learnt)), 4) if len(learnt) else 0.0


def fit_stats(
    x: FloatArray,
    heard: FloatArray,
    y: np.ndarray[Any, np.dtype[np.int64]],
    n_classes: int,
    absent_rssi: float,
    pooled_spread: bool = False,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Per class and receiver: mean and spread of the filtered RSSI when heard, and the share of steps heard.

    `pooled_spread`: one spread per receiver for all classes. A zone the walk crossed near and far from a
    receiver gets a wide spread of its own, and a wide Gaussian loses to narrow ones everywhere; pooling
    avoids that at the price of modelling genuinely steadier zones less sharply. Cross-validation picks.
    """
    m = x.shape[1]
    mean = np.zeros((n_classes, m))
    std = np.zeros((n_classes, m))
    ph = np.zeros((n_classes, m))
    for r in range(m):
        hr = heard[:, r] > 0
        # pooled within-class spread of this receiver: what a zone with few samples falls back on
        ss, dof = 0.0, 0
        for c in range(n_classes):
            v = x[(y == c) & hr, r]
            if len(v) >= 2:
                ss += float(((v - v.mean()) ** 2).sum())
                dof += len(v) - 1
        pooled = math.sqrt(ss / dof) if dof > 0 else 6.0
        pooled = max(pooled, STD_FLOOR_DB)
        weakest = float(x[hr, r].min()) if hr.any() else absent_rssi
        for c in range(n_classes):
            in_c = y == c
            n_c = int(in_c.sum())
            v = x[in_c & hr, r]
            ph[c, r] = (len(v) + 0.5) / (n_c + 1.0)
            if len(v) >= 2:
                mean[c, r] = float(v.mean())
                var = (float(((v - v.mean()) ** 2).sum()) + STD_SHRINK_STEPS * pooled**2) / (
                    len(v) - 1 + STD_SHRINK_STEPS
                )
                std[c, r] = pooled if pooled_spread else max(math.sqrt(var), STD_FLOOR_DB)
            else:
                mean[c, r] = float(v[0]) if len(v) == 1 else weakest
                std[c, r] = pooled
    return mean, std, ph


def shown(steps: Steps, post: FloatArray, confirm_s: float) -> np.ndarray[Any, np.dtype[np.int64]]:
    """The class the tracker would report at each step, after its hysteresis."""
    out = np.zeros(len(steps.t), dtype=np.int64)
    state: dict[str, tuple[int, int, float]] = {}
    best = np.argmax(post, axis=1)
    for i, d in enumerate(steps.device):
        now = float(steps.t[i])
        shown, cand, cand_t = (-1, -1, now) if math.isnan(float(steps.dt[i])) else state.get(d, (-1, -1, now))
        state[d] = confirm_step(shown, cand, cand_t, int(best[i]), now, confirm_s)
        out[i] = state[d][0]
    return out


def forward_all(steps: Steps, ll: FloatArray, weight: float, switch_time_s: float, cap: float) -> FloatArray:
    """Posterior per step, device by device, as the tracker's forward filter would give it."""
    post = np.zeros_like(ll)
    last: dict[str, FloatArray] = {}
    for i, d in enumerate(steps.device):
        dt = float(steps.dt[i])
        prev = None if math.isnan(dt) else last.get(d)
        p = forward_step(prev, ll[i] * weight, dt, switch_time_s, cap)
        last[d] = p
        post[i] = p
    return post

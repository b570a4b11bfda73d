"""Log-distance path loss, RSSI = A - 10 n log10(d): fitting per receiver, and positioning (a baseline).

The fit is a linear least squares in log10(d) (no scipy needed). It needs receiver positions and zone
positions; the distance of a labelled sample is taken from its zone's centre, so the fit describes how the
store attenuates on average rather than any single spot.
"""

from __future__ import annotations

import numpy as np

from gateway.zones.classify import FloatArray, Scorer
from gateway.zones.model import ZoneModel

MIN_DISTANCE_M = 0.5  # a phone is never inside a receiver; also keeps log10(d) finite
EXPONENT_RANGE = (1.0, 6.0)  # physically plausible indoors; a fit outside it means too little spread in d
GRID_STEP_M = 0.5  # positioning resolution of the baseline


def fit_log_distance(distances: FloatArray, rssi: FloatArray) -> tuple[float, float] | None:
    """(rssi at 1 m, exponent), or None when the distances do not spread enough to tell them apart."""
    d = np.maximum(distances, MIN_DISTANCE_M)
    lg = np.log10(d)
    if len(lg) < 3 or float(np.ptp(lg)) < 0.1:
        return None
    a_mat = np.column_stack([np.ones_like(lg), -10.0 * lg])
    coef, *_ = np.linalg.lstsq(a_mat, rssi, rcond=None)
    a, n = float(coef[0]), float(coef[1])
    lo, hi = EXPONENT_RANGE
    if not lo <= n <= hi:
        n = min(max(n, lo), hi)
        a = float(np.mean(rssi + 10.0 * n * lg))
    return a, n


class LogDistanceScorer(Scorer):
    """Positions the phone on a grid by least squares against the path-loss curves, then the nearest zone centre."""

    def __init__(self, model: ZoneModel) -> None:
        super().__init__(model)
        rx = [r for r in model.receivers if r in model.pathloss and r in model.receiver_positions]
        zones = [c for c in model.classes if c in model.zone_positions]
        if not rx or not zones:
            raise ValueError("log-distance positioning needs receiver positions, path-loss fits and zone positions")
        self.rx_idx = np.array([model.receivers.index(r) for r in rx])
        pos = np.array([model.receiver_positions[r] for r in rx])
        zpos = np.array([model.zone_positions[z] for z in zones])
        self.class_idx = np.array([model.classes.index(z) for z in zones])
        pts = np.vstack([pos, zpos])
        lo, hi = pts.min(axis=0) - 2.0, pts.max(axis=0) + 2.0
        gx, gy = np.meshgrid(np.arange(lo[0], hi[0], GRID_STEP_M), np.arange(lo[1], hi[1], GRID_STEP_M))
        self.grid = np.column_stack([gx.ravel(), gy.ravel()])
        d = np.sqrt(((self.grid[:, None, :] - pos[None, :, :]) ** 2).sum(axis=2))
        a = np.array([model.pathloss[r][0] for r in rx])
        n = np.array([model.pathloss[r][1] for r in rx])
        self.expected = a[None, :] - 10.0 * n[None, :] * np.log10(np.maximum(d, MIN_DISTANCE_M))
        self.zpos = zpos

    def scores(self, x: FloatArray, heard: FloatArray) -> FloatArray:
        out = np.full(self.n_classes, -1e3)
        h = heard[self.rx_idx]
        if not h.any():
            return out
        v = x[self.rx_idx]
        err = (((self.expected - v[None, :]) ** 2) * h[None, :]).sum(axis=1)
        p = self.grid[int(np.argmin(err))]
        d2 = ((self.zpos - p[None, :]) ** 2).sum(axis=1)
        out[self.class_idx] = -0.5 * d2
        return out

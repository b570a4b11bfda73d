"""The tracker's classification step as it was before the plain-float path (numpy throughout): the reference
that tests hold the fast path to. Same filters, schedule and hysteresis; only the arithmetic differs.

With `smoothing_lag_s` > 0 (the fingerprint methods) it smooths with explicit transition matrices and a
backward pass over the window since the last reported step; with 0 it is the forward filter as it was.
With `still_motion_db` > 0 it applies the standing rule's weight and switch time to the steps the tracker's own
`is_still` marks (the test of stillness is shared; what it does to the arithmetic is redone here). With
`offset_learning_rate` > 0 it keeps each device's offset belief itself and scores with it in numpy, pooled with
the centroid term's numpy scores when `centroid_blend` > 0."""

from __future__ import annotations

import math

import numpy as np

from gateway.zones.classify import FloatArray, OffsetNaiveBayes
from gateway.zones.estimate import UNKNOWN, ZoneEstimate
from gateway.zones.model import ZoneModel
from gateway.zones.tracker import (
    OFFSET_MIN_RECEIVERS,
    OFFSET_VAR_FLOOR_DB2,
    DeviceState,
    ZoneTracker,
    confirm_step,
    forward_step,
)


class ReferenceTracker(ZoneTracker):
    def __init__(self, model: ZoneModel, *, method: str | None = None) -> None:
        super().__init__(model, method=method)
        self._class_post: dict[DeviceState, FloatArray] = {}  # keyed by the state object: a new visit starts afresh
        self._window: dict[DeviceState, list[tuple[float, FloatArray, float, float, FloatArray]]] = {}
        self._offset: dict[DeviceState, tuple[float, float]] = {}

    def _classify(self, st: DeviceState, now: float) -> None:
        st.last_class_t = now
        x, heard = self.features(st, now)
        if not heard.any():
            return
        dt = now - st.post_t
        st.post_t = now
        scorer = self.scorer_for(st)
        if self.grid is not None:
            st.posterior = self.grid.forward(st.posterior, self.grid.loglik(x, heard) * self._weight, dt, self._switch)
            post = self.grid.class_mass(st.posterior)
            if self._blend > 0:
                ll = scorer.scores(x, heard) * self._weight
                nb = self._class_post[st] = forward_step(self._class_post.get(st), ll, dt, self._switch, self._cap)
                post = (1.0 - self._blend) * post + self._blend * nb
        else:
            p = self.params
            still = p.still_motion_db > 0 and self.is_still(st, self.heard(st, now), dt)
            weight = self._weight * p.still_evidence_weight if still else self._weight
            switch = self._switch * p.still_switch_factor if still else self._switch
            learns = (
                self._learn > 0
            )  # where the belief applies is the tracker's configuration; its arithmetic is redone
            prior = self._class_post.get(st)
            if learns:
                mu, var = self._offset.get(st, (0.0, p.offset_sigma_db**2))
                raw, sw, swr = offset_scores(scorer, x, heard, mu, var)
            else:
                raw = scorer.scores(x, heard)
            ll = raw * weight
            post = self._class_post[st] = forward_step(prior, ll, dt, switch, self._cap)
            if learns and heard.sum() >= OFFSET_MIN_RECEIVERS:
                n = len(raw)
                pred = np.full(n, 1.0 / n) if prior is None else transition(dt, switch, n).T @ prior
                w = pred * np.exp(raw - raw.max())
                w = w / w.sum()
                k = p.offset_learning_rate / (1.0 + p.offset_step_spread_db**2 * sw)
                prec = 1.0 / var + k * sw
                m = mu + k * swr / prec
                new_mu = float(w @ m)
                self._offset[st] = (new_mu, max(float(w @ (1.0 / prec + (m - new_mu) ** 2)), OFFSET_VAR_FLOOR_DB2))
            if p.smoothing_lag_s > 0:
                window = self._window.setdefault(st, [])
                window.append((now, ll, dt, switch, post))
                j = max((k for k, w in enumerate(window) if w[0] <= now - p.smoothing_lag_s), default=-1)
                if j < 0:
                    return
                post = smoothed_at(window, j, self._cap)
                now = window[j][0]
                del window[: j + 1]
        st.shown, st.cand, st.cand_t = confirm_step(
            st.shown, st.cand, st.cand_t, int(np.argmax(post)), now, self._confirm
        )
        conf = float(post[st.shown])
        zone = self._classes[st.shown] if conf >= self._threshold else UNKNOWN
        st.estimate = ZoneEstimate(zone, conf, now)


def transition(dt: float, switch_time_s: float, n: int) -> FloatArray:
    """The HMM's transition matrix over `dt`: stay, or move to any class (itself included) uniformly."""
    stay = math.exp(-max(dt, 0.0) / switch_time_s)
    out: FloatArray = stay * np.eye(n) + (1.0 - stay) / n * np.ones((n, n))
    return out


def smoothed_at(window: list[tuple[float, FloatArray, float, float, FloatArray]], j: int, cap: float) -> FloatArray:
    """Step j's forward posterior times the backward message of the steps after it in the window
    (time, tempered log-likelihood, dt, switch time into the step, forward posterior), with matrices."""
    n = len(window[j][4])
    beta = np.ones(n)
    for _, ll, dt, switch, _ in reversed(window[j + 1 :]):
        lik = np.exp(np.maximum(ll - ll.max(), -cap))
        beta = transition(dt, switch, n) @ (lik * beta)
        beta = beta / beta.sum()
    post = window[j][4] * beta
    out: FloatArray = post / post.sum()
    return out


def offset_scores(
    scorer: OffsetNaiveBayes, x: FloatArray, heard: FloatArray, mu: float, var: float
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """The offset-integrated scores for an offset believed N(mu, var), in numpy over all classes at once, and per
    class the sums (w, w r) of the residuals net of mu."""
    model = scorer.model
    w = 1.0 / np.square(model.std) * heard
    r = (x - mu - model.mean) * heard
    sw = w.sum(axis=1)
    swr = (w * r).sum(axis=1)
    quad = (w * r * r).sum(axis=1) - swr * swr / (sw + 1.0 / var)
    out: FloatArray = -0.5 * quad - 0.5 * np.log1p(var * sw) + scorer.lin @ heard + scorer.const
    if scorer.centroid is not None:
        out = (1 - scorer.blend) * out + scorer.blend * scorer.centroid.scores(x, heard)
    return out, sw, swr

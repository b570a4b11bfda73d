"""The tracker's classification step as it was before the plain-float path (numpy throughout): the reference
that tests hold the fast path to. Same filters, schedule and hysteresis; only the arithmetic differs."""

from __future__ import annotations

import numpy as np

from gateway.zones.classify import FloatArray
from gateway.zones.estimate import UNKNOWN, ZoneEstimate
from gateway.zones.model import ZoneModel
from gateway.zones.tracker import DeviceState, ZoneTracker, confirm_step, forward_step


class ReferenceTracker(ZoneTracker):
    def __init__(self, model: ZoneModel, *, method: str | None = None) -> None:
        super().__init__(model, method=method)
        self._class_post: dict[DeviceState, FloatArray] = {}  # keyed by the state object: a new visit starts afresh

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
            ll = scorer.scores(x, heard) * self._weight
            post = self._class_post[st] = forward_step(self._class_post.get(st), ll, dt, self._switch, self._cap)
        st.shown, st.cand, st.cand_t = confirm_step(
            st.shown, st.cand, st.cand_t, int(np.argmax(post)), now, self._confirm
        )
        conf = float(post[st.shown])
        zone = self._classes[st.shown] if conf >= self._threshold else UNKNOWN
        st.estimate = ZoneEstimate(zone, conf, now)

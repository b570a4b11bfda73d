"""Per-device zone tracking: smoothing per receiver, a class score, and an HMM forward filter over time.

observe() is the hot path (every reading of every recognised device): it files the reading into that
receiver's filter and returns the cached estimate; only every `classify_step_s` of advert time does it
rebuild the RSSI vector, score the classes and advance the forward filter. The transition prior (stay with
probability exp(-dt / switch_time_s)) is what stops flapping: one noisy step cannot outvote a history.

With `smoothing_lag_s` = L > 0 (fingerprint methods; the grid ignores it) the reported estimate is a fixed-lag
smoother's: each device keeps its last few steps (time, tempered and capped likelihoods, stay factor, forward
posterior), and each new step at time T reports the newest buffered step j with t_j <= T - L, its forward
posterior weighed by a backward pass over the steps after it, as `ZoneEstimate(zone, confidence, t_j)`. The
estimate describes t_j, not T: consumers must use `est.t` (the campaign engine does; the evaluations pair
samples with the estimate describing their time, pairing.py). `class_post` stays the causal forward posterior.
A device that expires (or is forgotten) drops its unreported last L seconds: it has left by then, and its
last reported estimate stands.

With `still_motion_db` > 0 (fingerprint methods) a device whose filtered RSSI vector is still counts as
standing for that step: its evidence is tempered further (`still_evidence_weight`) and its switch time
lengthened (`still_switch_factor`). A standing phone keeps the same shadowing and body loss for tens of
seconds, so its consecutive steps repeat one draw of the noise rather than adding new evidence, and a person
who stands is not about to change zone; a walking one decorrelates within metres and keeps the full weight.
"Still" is the mean absolute gap between each hearing receiver's filtered RSSI and its running mean over
MOTION_TAU_S, below `still_motion_db`: a slow advertiser's filter moves in jumps and reads as moving, so
the rule falls back to the plain filter where it cannot tell (docs/zones.md, "Standing devices").

With `offset_learning_rate` > 0 (method offset_nb with an offset prior) each device carries its own belief
about its constant offset, N(mu, var), starting at the prior N(0, offset_sigma_db^2), or for a returning customer
at what their last visit learnt (recall.py). A phone's offset (its
radio, its case, how it is carried) stays for the whole visit, but integrating it afresh at every step throws
that away: the overall level of the readings then says nothing, and a quiet phone by the door reads like one
outside, behind the facade. After each step heard by two receivers or more (where the shape of the vector
says where the device is), the belief is updated by that step's residuals under each class, weighed by how
likely the step came from that class (`updated_offset`) and by the rate (consecutive steps share readings), and
kept at a variance of at least OFFSET_VAR_FLOOR_DB2 (body loss moves with the carrier's heading). A step's say is
capped (`offset_step_spread_db`): its overall level also moves with things every receiver shares, so ten
receivers hearing it do not make it ten times surer about the phone. One receiver
alone cannot tell a quiet phone from a far one, so its steps use the belief without changing it (docs/zones.md,
"Each phone's offset").
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from operator import mul
from typing import NamedTuple

import numpy as np

from gateway.adverts import NO_RSSI_DBM
from gateway.zones.classify import P_HEARD_CLIP, FloatArray, Heard, OffsetNaiveBayes, Scorer, make_scorer
from gateway.zones.estimate import OUTSIDE, UNKNOWN, ZoneEstimate
from gateway.zones.filters import RssiFilter, make_filter
from gateway.zones.grid import GridScorer, scorer_from_model
from gateway.zones.level import LevelSurvey
from gateway.zones.model import ZoneModel
from gateway.zones.rates import RATE_AWARE_METHODS, RateScorers
from gateway.zones.recall import OffsetRecall

NEW_PACKET_GAP_S = 0.05  # readings this close to a packet's first are that packet, heard by several receivers
INTERVAL_EWMA_ALPHA = 0.2  # how quickly the learnt advertising interval follows a change of the device's rate
MOTION_TAU_S = 5.0  # running mean the "still" test compares each receiver's filtered RSSI with
OFFSET_VAR_FLOOR_DB2 = 1.0  # a device's offset belief never gets surer than +-1 dB
OFFSET_MIN_RECEIVERS = 2  # steps heard by fewer receivers do not update that belief

# One buffered step of the fixed-lag smoother: (time, likelihood per class after tempering and capping, stay
# factor of the transition into this step, forward posterior at this step)
LagStep = tuple[float, list[float], float, list[float]]


class _ScoringView(NamedTuple):
    """What the tracker scores with for one set of live receivers (set_absent)."""

    scorer: Scorer
    rates: RateScorers | None
    grid: GridScorer | None
    remap: list[int] | None


class DeviceState:
    __slots__ = (
        "cand",
        "cand_t",
        "class_post",
        "estimate",
        "filters",
        "interval_s",
        "lag_steps",
        "last_class_t",
        "max_t",
        "motion_mean",
        "offset",
        "packet_t",
        "post_t",
        "posterior",
        "shown",
        "still",
    )

    def __init__(self, t: float, step: float) -> None:
        self.filters: dict[int, RssiFilter] = {}
        self.max_t = t
        self.packet_t = t  # when the packet being heard began: its readings come within NEW_PACKET_GAP_S
        self.last_class_t = t - step  # so the first packet is classified as soon as it is complete
        self.posterior: FloatArray | None = None  # method "grid": over floor cells
        self.class_post: list[float] | None = None  # the fingerprint filter's, over classes (unused by a pure grid)
        self.post_t = t  # time of the last forward update (steps where nothing was heard do not count)
        self.interval_s = 0.0  # 0 = not learnt yet
        self.estimate = ZoneEstimate(UNKNOWN, 0.0, t)
        self.shown = -1  # index of the class currently reported (-1: none yet)
        self.cand = -1  # a class that has led the posterior since cand_t but is not confirmed yet
        self.cand_t = t
        # smoothing_lag_s > 0: the steps not reported yet, oldest first (LagStep); None until the first one
        self.lag_steps: list[LagStep] | None = None
        # still_motion_db > 0: per receiver heard, the running mean of its filtered RSSI (MOTION_TAU_S)
        self.motion_mean: dict[int, float] | None = None
        self.still = False  # the last step was still: leaving takes a larger gap (`still_exit_factor`)
        # offset_learning_rate > 0: (mean, variance) of the belief about this device's offset in dB
        self.offset: tuple[float, float] | None = None


class ZoneTracker:
    def __init__(self, model: ZoneModel, *, method: str | None = None) -> None:
        self.model = model
        p = model.params
        self.params = p
        m = method or p.method
        # the grid method keeps a posterior over floor cells; the fingerprint scorer stays for callers of .scorer
        self.grid: GridScorer | None = scorer_from_model(model) if m == "grid" else None
        scorer_method = "offset_nb" if m == "grid" else m
        # heard probabilities follow each device's own advertising rate when the walk's rate is known (rates.py);
        # the baselines stay as they are published, so comparisons with them stay honest
        rate_aware = p.walk_interval_s > 0 and scorer_method in RATE_AWARE_METHODS
        self._rates = RateScorers(model, scorer_method) if rate_aware else None
        self.scorer: Scorer = self._rates.for_interval(0.0) if self._rates else make_scorer(model, scorer_method)
        self._rx_index = {rx: i for i, rx in enumerate(model.receivers)}
        # readings from receivers the model does not know (a renamed or new node): ignored, but counted so that a
        # replay or the daemon can say so instead of quietly deciding on fewer receivers
        self.unknown_rx: dict[str, int] = {}
        self._n_rx = len(model.receivers)
        self._classes = model.classes
        self._n_classes = len(model.classes)
        self._devices: dict[str, DeviceState] = {}
        self._step = p.classify_step_s
        self._weight = p.likelihood_weight
        self._switch = p.switch_time_s
        self._threshold = p.confidence_threshold
        self._confirm = p.confirm_s
        self._cap = p.step_evidence_cap
        self._blend = p.grid_blend
        self._lag = 0.0 if self.grid is not None else p.smoothing_lag_s  # the grid method ignores the lag
        self._still_db = 0.0 if self.grid is not None else p.still_motion_db  # so does the standing rule
        self._still_weight = p.still_evidence_weight
        self._still_switch = p.still_switch_factor
        self._still_exit = p.still_exit_factor
        learns = self.grid is None and scorer_method == "offset_nb" and p.offset_sigma_db > 0
        self._learn = p.offset_learning_rate if learns else 0.0
        self._step_var = p.offset_step_spread_db**2
        self._offset_prior = (0.0, p.offset_sigma_db**2)
        # what departing devices' offsets say about the walk's device (level.py); empty without offset learning
        self.level = LevelSurvey(p.offset_sigma_db)
        # what each customer's last visit learnt, for their next (recall.py); unused without offset learning
        self.recall = OffsetRecall(self._offset_prior[1])
        # Receivers that hear nothing at all (set_absent): scored as if the walk had never had them
        self._scorer_method = scorer_method
        self._full = _ScoringView(self.scorer, self._rates, self.grid, None)
        self._views: dict[frozenset[int], _ScoringView] = {}
        self._remap: list[int] | None = None  # full receiver index -> index in the reduced model, -1 if absent
        self.absent: frozenset[str] = frozenset()
        self._clipped_p_heard: dict[Scorer, FloatArray] = {}

    # ---- public ---------------------------------------------------------------------------------------

    def observe(self, device: str, rx: str, rssi: int, t: float) -> ZoneEstimate:
        st = self._devices.get(device)
        if st is None:
            st = self._devices[device] = DeviceState(t, self._step)
            if self._learn > 0:
                st.offset = self.recall.recall(device)
        max_t = st.max_t
        if t - st.packet_t > NEW_PACKET_GAP_S:
            # A packet is classified once every receiver's reading of it is in: at the device's next packet, before
            # that one joins the filters, and described at the time it began. Deciding at its first reading put one
            # receiver's reading of it with the others' of the packet before, so the order of lines sharing a time
            # (which SPEC leaves open) moved the zone (docs/zones.md, round 26). A packet is cut from its first
            # reading, not the last, so a beacon advertising every 20 ms still has packets that end.
            if st.packet_t - st.last_class_t >= self._step:
                self._classify(st, st.packet_t)
            st.packet_t = t
        i = self._rx_index.get(rx)
        if i is not None:
            f = st.filters.get(i)
            if f is None:
                p = self.params
                f = st.filters[i] = make_filter(p.smoothing, p.window_s, p.kalman_q_db2_per_s, p.kalman_r_db2)
            if rssi != NO_RSSI_DBM:
                f.add(t, rssi)
        else:
            self.unknown_rx[rx] = self.unknown_rx.get(rx, 0) + 1
        if t > max_t:
            gap = t - max_t
            if gap > NEW_PACKET_GAP_S:
                st.interval_s = (
                    gap if st.interval_s == 0 else st.interval_s + INTERVAL_EWMA_ALPHA * (gap - st.interval_s)
                )
            st.max_t = t
        return st.estimate

    def forget(self, device: str) -> None:
        # a revocation: its offset does not go into the level survey either, and is not recalled
        self._devices.pop(device, None)
        self.recall.forget(device)

    def expire(self, t: float) -> list[str]:
        """Devices silent for longer than their own advertising rhythm allows; their state is dropped."""
        p = self.params
        gone = [
            d
            for d, st in self._devices.items()
            if t - st.max_t > max(p.expire_min_s, p.expire_intervals * st.interval_s)
        ]
        for d in gone:
            st = self._devices.pop(d)
            if st.offset is not None:
                self.level.add(*st.offset)
                self.recall.remember(d, *st.offset, st.max_t)
        return gone

    def set_absent(self, receivers: frozenset[str]) -> None:
        """Score without these receivers until told otherwise: a receiver whose node or adapter has died is silent
        everywhere, and its silence read as "not near me" pushes every device away from its zones (docs/zones.md,
        round 22). Their columns are dropped, nothing is refitted; readings they still send are ignored."""
        absent = frozenset(rx for rx in receivers if rx in self._rx_index)
        if absent == self.absent:
            return
        self.absent = absent
        idx = frozenset(self._rx_index[rx] for rx in absent)
        view = self._full if not idx else self._views.get(idx)
        if view is None:
            view = self._views[idx] = self._reduced_view(idx)
        self.scorer, self._rates, self.grid, self._remap = view

    def _reduced_view(self, idx: frozenset[int]) -> _ScoringView:
        model = self.model.without_receivers({self.model.receivers[i] for i in idx})
        method = self._scorer_method
        rates = RateScorers(model, method) if self._full.rates is not None else None
        scorer = rates.for_interval(0.0) if rates else make_scorer(model, method)
        grid = self._full.grid.without(idx) if self._full.grid is not None else None
        remap = [-1] * self._n_rx
        for k, i in enumerate(i for i in range(self._n_rx) if i not in idx):
            remap[i] = k
        return _ScoringView(scorer, rates, grid, remap)

    def silence_loglik(self, now: float, dt: float) -> dict[str, float]:
        """Per receiver, the log-probability that it would miss every device heard in the last window for `dt`
        seconds if it were alive: the walk's heard probability (at each device's rate) where the forward filter
        believes the device is, a window's miss spread over the window (liveness.py)."""
        window = self.params.window_s
        full = self._full
        by_scorer: dict[Scorer, list[list[float]]] = {}
        for st in self._devices.values():
            if now - st.max_t > window:
                continue
            post = st.class_post
            if post is None:
                if st.posterior is None or full.grid is None:
                    continue
                post = full.grid.class_mass(st.posterior).tolist()
            scorer = full.rates.for_interval(st.interval_s) if full.rates is not None else full.scorer
            by_scorer.setdefault(scorer, []).append(post)
        total = np.zeros(self._n_rx)
        for scorer, posts in by_scorer.items():
            p_heard = self._clipped_p_heard.get(scorer)
            if p_heard is None:
                p_heard = self._clipped_p_heard[scorer] = np.clip(scorer.model.p_heard, P_HEARD_CLIP, 1 - P_HEARD_CLIP)
            total += np.log1p(-(np.array(posts) @ p_heard)).sum(axis=0)
        total *= min(dt, window) / window
        return dict(zip(self.model.receivers, total.tolist(), strict=True))

    def remember_tracked(self) -> None:
        """The gateway stops while customers are in the store: what their visits learnt so far is recalled when
        they are next heard, after the restart, as if they had left."""
        for d, st in self._devices.items():
            if st.offset is not None:
                self.recall.remember(d, *st.offset, st.max_t)

    def tracked(self) -> int:
        return len(self._devices)

    def estimate(self, device: str) -> ZoneEstimate | None:
        st = self._devices.get(device)
        return None if st is None else st.estimate

    # ---- internals ------------------------------------------------------------------------------------

    def features(self, st: DeviceState, now: float) -> tuple[FloatArray, FloatArray]:
        x = np.zeros(self._n_rx)
        heard = np.zeros(self._n_rx)
        for i, f in st.filters.items():
            v = f.value(now)
            if v is not None:
                x[i] = v
                heard[i] = 1.0
        return x, heard

    def heard(self, st: DeviceState, now: float) -> list[tuple[int, float]]:
        """(receiver index, filtered RSSI) of the receivers that hear the device: `features` without arrays."""
        out: list[tuple[int, float]] = []
        for i, f in st.filters.items():
            v = f.value(now)
            if v is not None:
                out.append((i, v))
        return out

    def live_heard(self, st: DeviceState, now: float) -> list[tuple[int, float]]:
        """`heard` without the receivers left out (set_absent): a dead receiver's last readings say nothing either."""
        heard = self.heard(st, now)
        remap = self._remap
        return heard if remap is None else [(i, v) for i, v in heard if remap[i] >= 0]

    def _classify(self, st: DeviceState, now: float) -> None:
        st.last_class_t = now
        if self.grid is not None:
            self._classify_grid(st, now)
            return
        heard = self.live_heard(st, now)
        if not heard:
            return
        dt = now - st.post_t
        st.post_t = now
        still = self._still_db > 0 and self.is_still(st, heard, dt)
        if self._lag > 0:
            self._lag_step(st, heard, dt, now, still)
            return
        post = st.class_post = self._class_step(st, heard, dt, still)
        self._report(st, post, now)

    def is_still(self, st: DeviceState, heard: Heard, dt: float) -> bool:
        """Whether the device's RSSI vector is standing still this step; advances its running means."""
        means = st.motion_mean
        if means is None:
            st.motion_mean = dict(heard)
            return False
        a = 1.0 - math.exp(-max(dt, 0.0) / MOTION_TAU_S)
        gap = 0.0
        n = 0
        for i, v in heard:
            m = means.get(i)
            if m is None:  # a receiver that starts hearing it: no history to compare with yet
                means[i] = v
                continue
            gap += abs(v - m)
            n += 1
            means[i] = m + a * (v - m)
        limit = self._still_db * (self._still_exit if st.still else 1.0)
        st.still = n > 0 and gap < limit * n
        return st.still

    def _lag_step(self, st: DeviceState, heard: Heard, dt: float, now: float, still: bool) -> None:
        """The forward step, buffered; then the estimate of the newest step at least `smoothing_lag_s` old."""
        post, lik, stay = self._forward(st, heard, dt, still)
        buf = st.lag_steps
        if buf is None:
            buf = st.lag_steps = []
        buf.append((now, lik, stay, post))
        limit = now - self._lag
        j = -1
        for step in buf:
            if step[0] > limit:
                break
            j += 1
        if j < 0:
            return
        smoothed = smooth_floats(buf[j][3], buf[j + 1 :])
        t_j = buf[j][0]
        del buf[: j + 1]  # reported: the next target is newer
        self._report(st, smoothed, t_j)

    def _classify_grid(self, st: DeviceState, now: float) -> None:
        assert self.grid is not None
        x, heard = self.features(st, now)
        if not heard.any():
            return
        dt = now - st.post_t
        st.post_t = now
        st.posterior = self.grid.forward(st.posterior, self.grid.loglik(x, heard) * self._weight, dt, self._switch)
        post = self.grid.class_mass(st.posterior)
        if self._blend > 0:
            st.class_post = self._class_step(st, self.live_heard(st, now), dt)
            post = (1.0 - self._blend) * post + self._blend * np.asarray(st.class_post)
        self._report(st, post.tolist(), now)

    def scorer_for(self, st: DeviceState) -> Scorer:
        """The fingerprint scorer for this device: its heard term at the device's own advertising rate."""
        return self.scorer if self._rates is None else self._rates.for_interval(st.interval_s)

    def _forward(self, st: DeviceState, heard: Heard, dt: float, still: bool) -> tuple[list[float], list[float], float]:
        """One forward step of the class filter (and of the device's offset belief): the new posterior, this
        step's likelihoods (tempered by the weight, further while the device stands still, and capped) and the
        stay factor of the transition into it. Scores are at the device's own advertising rate and, with offset
        learning, under its own offset belief."""
        scorer = self.scorer_for(st)
        remap = self._remap
        if remap is not None:  # `heard` is live_heard's: indices into the reduced model's receivers
            heard = [(remap[i], v) for i, v in heard]
        learn = self._learn
        if learn > 0:
            assert isinstance(scorer, OffsetNaiveBayes)
            mu, var = st.offset or self._offset_prior
            scores, sws, swrs = scorer.scores_offset(heard, mu, var)
        else:
            scores = scorer.scores_heard(heard)
        weight = self._weight * self._still_weight if still else self._weight
        lik = likelihoods_floats(scores, self._cap, weight)
        stay = stay_factor(dt, self._switch_time(still))
        prior = st.class_post
        post = st.class_post = forward_lik_floats(prior, lik, stay)
        if learn > 0 and len(heard) >= OFFSET_MIN_RECEIVERS:
            st.offset = updated_offset(mu, var, learn, sws, swrs, prior, scores, stay, self._step_var)
        return post, lik, stay

    def _switch_time(self, still: bool) -> float:
        """The HMM's switch time for this step: longer while the device stands still."""
        return self._switch * self._still_switch if still else self._switch

    def _class_step(self, st: DeviceState, heard: Heard, dt: float, still: bool = False) -> list[float]:
        return self._forward(st, heard, dt, still)[0]

    def _report(self, st: DeviceState, post: list[float], now: float) -> None:
        best = post.index(max(post))  # the first of equals, as np.argmax
        st.shown, st.cand, st.cand_t = confirm_step(st.shown, st.cand, st.cand_t, best, now, self._confirm)
        conf = post[st.shown]
        zone = self._classes[st.shown] if conf >= self._threshold else UNKNOWN
        st.estimate = ZoneEstimate(zone, conf, now)


def confirm_step(
    shown: int, cand: int, cand_t: float, best: int, now: float, confirm_s: float
) -> tuple[int, int, float]:
    """Hysteresis after the HMM: a new leader must lead for `confirm_s` before it is reported (no flicker)."""
    if shown < 0:
        return best, -1, now
    if best == shown:
        return shown, -1, now
    if cand != best:
        cand, cand_t = best, now
    if now - cand_t >= confirm_s:
        return best, -1, now
    return shown, cand, cand_t


def forward_step(
    prior_post: FloatArray | None, ll: FloatArray, dt: float, switch_time_s: float, cap: float = math.inf
) -> FloatArray:
    """One HMM forward update: predict with a sticky uniform transition, then weigh by the (tempered) likelihood.

    `cap` bounds the evidence of one step (in nats, between the best class and any other): a Gaussian model
    is wildly overconfident about a reading that fell in a fade, and such a step must not outvote a history.
    """
    lik = np.exp(np.maximum(ll - ll.max(), -cap))
    n = ll.shape[0]
    if prior_post is None or n == 1:
        post = lik
    else:
        stay = math.exp(-max(dt, 0.0) / switch_time_s)
        prior = stay * prior_post + (1.0 - stay) / n  # a "move" lands anywhere, the current zone included
        post = prior * lik
    s = float(post.sum())
    if not s > 0 or not math.isfinite(s):
        return np.full(n, 1.0 / n)
    result: FloatArray = post / s
    return result


def likelihoods_floats(ll: list[float], cap: float, weight: float = 1.0) -> list[float]:
    """Per-class likelihoods of one step from its log-scores tempered by `weight` (> 0), scaled to 1 at the best
    class, the evidence against any class capped at `cap` nats."""
    exp = math.exp
    top = max(ll)
    floor = -cap
    return [exp(max((v - top) * weight, floor)) for v in ll]


def stay_factor(dt: float, switch_time_s: float) -> float:
    """The transition prior's chance of staying put over `dt` seconds (a "move" lands on any class)."""
    return math.exp(-max(dt, 0.0) / switch_time_s)


def forward_lik_floats(prior_post: list[float] | None, lik: list[float], stay: float) -> list[float]:
    """The forward update from the previous posterior (None: fresh state) and this step's likelihoods."""
    n = len(lik)
    if prior_post is None or n == 1:
        post = lik
    else:
        move = (1.0 - stay) / n  # a "move" lands anywhere, the current zone included
        post = [(stay * p + move) * q for p, q in zip(prior_post, lik, strict=True)]
    s = sum(post)
    if not s > 0 or not math.isfinite(s):
        return [1.0 / n] * n
    return [v / s for v in post]


def updated_offset(
    mu: float,
    var: float,
    rate: float,
    sws: list[float],
    swrs: list[float],
    prior_post: list[float] | None,
    scores: list[float],
    stay: float,
    step_var: float = 0.0,
) -> tuple[float, float]:
    """A device's offset belief N(mu, var) after one step. Per class c, the Gaussian update by that class's
    residuals with their weight scaled by `rate`: precision 1/var + rate sws[c], mean mu + rate swrs[c] / that
    precision. With `step_var` (offset_step_spread_db^2) the step's mean residual carries that much variance
    besides the receivers' own, shared by all of them, so sws and swrs count 1 / (1 + step_var sws[c]) of
    themselves: a step's precision about the offset stays under 1/step_var. The per-class results are mixed by
    how likely the step came from each class, the transition's
    prediction from the previous posterior times the class's marginal likelihood under the belief (the untempered
    scores: tempering and the cap are the class filter's guard against correlated steps, the rate is this
    update's), and moment-matched to one Gaussian, its variance floored at OFFSET_VAR_FLOOR_DB2. One pass."""
    exp = math.exp
    top = max(scores)
    inv_var = 1.0 / var
    move = (1.0 - stay) / len(scores)
    total = first = second = 0.0
    prior = prior_post or [1.0] * len(scores)  # a fresh state: every class alike
    for p, s, sw, swr in zip(prior, scores, sws, swrs, strict=True):
        e = (stay * p + move) * exp(s - top)
        k = rate / (1.0 + step_var * sw)
        prec = inv_var + k * sw
        m = mu + k * swr / prec
        total += e
        first += e * m
        second += e * (1.0 / prec + m * m)
    if not total > 0 or not math.isfinite(total):
        return mu, var
    new_mu = first / total
    return new_mu, max(second / total - new_mu * new_mu, OFFSET_VAR_FLOOR_DB2)


def smooth_floats(forward_post: list[float], later: Sequence[LagStep]) -> list[float]:
    """A step's smoothed posterior: its forward posterior times the backward message of the `later` steps.

    The transition is "stay with probability `stay`, else land uniformly on any class", so one backward step
    costs O(classes): with lb = lik * beta, beta_prev = stay * lb + (1 - stay) / n * sum(lb). Each beta is
    divided by sum(lb) (its scale does not matter) so that a long window cannot underflow.
    """
    n = len(forward_post)
    isfinite = math.isfinite
    beta: list[float] | None = None
    for _, lik, stay, _ in reversed(later):
        # sum(lb) first (map/sum run in C), then the new beta in one pass with lb folded in
        s = sum(lik) if beta is None else sum(map(mul, lik, beta))
        if not s > 0 or not isfinite(s):
            beta = None  # no usable evidence in this step: as if the window ended here
            continue
        k = stay / s
        move = (1.0 - stay) / n
        if beta is None:
            beta = [k * q + move for q in lik]
        else:
            beta = [k * q * b + move for q, b in zip(lik, beta, strict=True)]
    if beta is None:
        return forward_post
    post = list(map(mul, forward_post, beta))
    s = sum(post)
    if not s > 0 or not isfinite(s):
        return forward_post
    return [v / s for v in post]


__all__ = [
    "OUTSIDE",
    "UNKNOWN",
    "DeviceState",
    "LagStep",
    "ZoneEstimate",
    "ZoneTracker",
    "forward_lik_floats",
    "forward_step",
    "smooth_floats",
    "updated_offset",
]

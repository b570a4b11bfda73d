"""Fitting a zone model from a labelled calibration walk, and scoring a model against labelled scans.

Everything is fitted from the walk itself: the fingerprint statistics per zone and receiver, and by blocked
cross-validation the smoothing, the likelihood weight, the stickiness of the HMM and the confidence threshold.
Folds are contiguous thirds of every truth interval, so each fold is scored on time it was not fitted on while
every zone stays represented in training (a walk often visits a zone only once).
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gateway.adverts import NO_RSSI_DBM, Advert
from gateway.truth import TruthInterval
from gateway.zones.classify import FloatArray, make_scorer
from gateway.zones.estimate import OUTSIDE, UNKNOWN, ZoneEstimate
from gateway.zones.grid import (
    HOLE_POLICY,
    Grid,
    GridScorer,
    bias_entries,
    build_grid,
    fit_radio,
    radio_entries,
    step_groups,
    zones_without_receiver,
)
from gateway.zones.liveness import ReceiverWatch
from gateway.zones.model import (
    COORD_LIMIT_M,
    MAX_GRID_CELLS,
    Params,
    ZoneModel,
    ZonesError,
    grid_cells,
    grid_radio_ok,
    pathloss_ok,
)
from gateway.zones.pairing import EstimatePairing, SampleTimes
from gateway.zones.pathloss import fit_log_distance
from gateway.zones.replay import drive
from gateway.zones.samples import Reading, readings
from gateway.zones.tracker import DeviceState, ZoneTracker, confirm_step, forward_step

CV_FOLDS = 3
FIT_METHODS = ("offset_nb", "grid", "auto")  # what `fit` can be asked for (the baselines are scored, not fitted)
# A short walk sees each spot for seconds, under one state of the shadowing, with one phone held one way;
# in use, people, trolleys and the shopper's own body move RSSI by several dB. A zone spread narrower than
# this is the walk's luck, not the store's: measured on simulated days, 3 dB beat both 1.5 and 6 dB.
STD_FLOOR_DB = 3.0
STD_SHRINK_STEPS = 3.0  # pseudo-steps pulling a zone's spread towards the receiver's pooled spread
FLAP_PENALTY_PER_MIN = 0.03  # model selection: one flap per minute costs as much as 3 % accuracy
# A zone holding more than half of the posterior is likelier than all the others together: never silence it,
# whatever the walk says. (0.6 before: on 8 simulated days it cost up to 9.5 points of accuracy, 2.0 on
# average, and bought no trigger precision, only fewer flaps; the walk's tag is louder than shoppers, so
# its confidences run higher than a day's and a threshold set on them silences too much of the day.)
MAX_THRESHOLD = 0.5
ADJACENT_GAP_S = 30.0  # intervals closer than this are one walk moving on: the change is a real zone change

# What cross-validation chooses among. Windows are in seconds of advert time, q in dB^2/s.
SMOOTHING_GRID: tuple[tuple[str, float, float], ...] = (
    # Kalman measured best or equal on 6 of 7 data sets against windowed medians and no smoothing
    # (docs/zones.md); the others stay selectable for comparison (benchmarks/bench_zones.py).
    ("kalman", 5.0, 2.0),
    ("kalman", 5.0, 5.0),
    ("kalman", 10.0, 2.0),
)
ALL_SMOOTHINGS: tuple[tuple[str, float, float], ...] = (
    ("median", 2.5, 0.0),
    ("median", 5.0, 0.0),
    ("median", 10.0, 0.0),
    ("kalman", 5.0, 2.0),
    ("kalman", 5.0, 5.0),
    ("kalman", 10.0, 2.0),
    ("none", 5.0, 0.0),
)
WEIGHT_GRID = (0.25, 0.5, 1.0)
# The HMM's switch time: cross-validation scores each, then the fit takes the longest within one standard error of
# the best (`_stickiest_within_one_se`): a walk cannot tell 10 s from 30 s on a handful of intervals, and a standing
# customer pays for the shorter one in flaps.
SWITCH_TIME_GRID_S = (10.0, 30.0, 90.0)
# Hysteresis on top of the HMM holds a zone whose posterior has already dropped, so those steps report
# "unknown"; cross-validation on a walk cannot see that cost and chose up to 10 s. Measured over 11 days:
# mean accuracy 0.631 when CV chose among 0/3/6/10 s, 0.654 with none, flaps about equal. So the fit leaves
# it off; confirm_s stays in zones.toml for a person who prefers fewer changes to faster ones.
CONFIRM_GRID_S = (0.0,)
# The grid method's motion model: how far the posterior spreads per second between steps. Shoppers stand
# and walk (~1.5 m/s); a slower spread trades reaction time for fewer flaps, and the walk decides.
WALK_SPEED_GRID_M_S = (0.5, 1.0, 1.5)
# ...and a small chance per step of having moved anywhere (a model error, a missed reading): the switch time
# of the fingerprint method made no measurable difference here, so one value.
GRID_SWITCH_TIME_S = 90.0
# The grid and the fingerprints err in different places (the grid places people in a zone without a receiver
# poorly, the fingerprints confuse big neighbouring zones): averaging their zone posteriors can beat both.
GRID_BLEND_GRID = (0.0, 0.5)
# The fixed lag of the tracker's smoother (tracker.py), written by the fit as a product default, not chosen
# by cross-validation: the walk stands in each zone for 45 s or more, so any lag scores better on it and CV
# would always take the largest offered. The price of a lag is that every decision comes that much later: 3 s
# next to dwell rules of 30 s and more. Measured on four simulated days (docs/zones.md, round 4): +0.8 to +2.1
# points of zone accuracy at 3 s, 5 s within 0.2 points of that.
FIT_SMOOTHING_LAG_S = 3.0
# The standing rule (tracker.py, `still_motion_db`), also a written product default rather than a CV choice:
# the walk stands in every zone, so on the walk stickier always looks better, while its price, a later move
# for someone who was standing, only shows on a day. Measured (docs/zones.md, round 6): standing phones' flaps
# under 0.5 per minute on 18 of 20 store-seeds; whole days (bench_days) flaps per hour -20 to -50 % and zone
# accuracy -0.7 to +1.2 points; thresholds 0.9-1.6 dB within 0.1 points of each other on twelve days.
FIT_STILL_MOTION_DB = 1.2
# Leaving the standing state takes a gap 1.5 times the threshold (`still_exit_factor`, tracker.py). A standing
# phone's gap hovers about the threshold, so with one threshold the rule held on only 20-63 % of its steps
# (pharmacy, seed 1). Measured (docs/zones.md, round 14): standing phones' flaps -16 to -40 % on all seven
# layouts; bench_days accuracy -0.8 to +0.7 points per store over twelve store-triples, mean +0.2.
FIT_STILL_EXIT_FACTOR = 1.5
# Each device's offset belief (tracker.py, `offset_learning_rate`, `offset_step_spread_db`): how far a step's
# residuals move it, and how much one step may tell it, both written product defaults. The walk has one device, whose
# offset is the fingerprints' zero by construction, so it cannot tell what learning another phone's is worth.
# The limit: a step's overall level also moves with what every receiver shares (the carrier turning, shadowing,
# where in the zone the phone is). Without it the belief of a phone heard by ten receivers followed those within
# seconds, -10 to +10 dB over one visit; the walk cannot measure that for phones (its tag, held in the hand,
# wandered 1.1-1.4 dB that way on that ten-receiver shop). 4 dB is about half of what a body costs (5-15 dB).
# The rate: consecutive 0.5 s steps share most of their filtered readings, so a step is a fraction of new
# evidence. Until session 15 it was 0.1 with no limit (round 7: +1.5 points over eight days; 0.3 then unstable);
# the limit leaves a step heard by three receivers about a quarter of its say, and 0.3 gives it back, while a step
# heard by ten keeps a tenth. Measured (docs/zones.md, round 17): the ten-receiver 6 x 4 m shop +8.4 points over
# four days, the seven shipped layouts -0.2..+0.4 per store, standing phones' flaps example 0.141 -> 0.125 and
# kiosk 0.192 -> 0.203 per minute.
FIT_OFFSET_LEARNING_RATE = 0.3
FIT_OFFSET_STEP_SPREAD_DB = 4.0
# The nearest centroid's reading pooled into the fingerprint score (classify.py, `CentroidTerm`), a written product
# default as well: what it adds is what a silence means for a phone, and the walk's tag is heard by nearly every
# receiver nearly always, so the walk's cross-validation cannot see it (it chose the centroid's representation on
# one day of twelve, docs/zones.md round 8). Measured (round 10) on thirty days and thirty more held out:
# 0.15-0.35 all gain about a point on average, 1.0 (the centroid's reading alone) loses one.
FIT_CENTROID_BLEND = 0.25
# ...but a walk with silences of its own (a phone, real radio) can show that it hurts there, as the UCI walks do
# (-6.3 points on the walk, 3.4 standard errors; -3.0 on the later walks). Then it is off. The simulator's
# tag walks cannot see its gain, and lean slightly against it: at one standard error the walk switched it off on
# 19 of 60 days that gained 1.2 points from it on average, at two on 1 of 60 (docs/zones.md, round 10).
FIT_CENTROID_VETO_SE = 2.0
# Phones differ from the calibration tag by a few dB (antenna, case, tx power); cross-validation replays
# the held-out folds shifted by these to see it. +-4 dB is the typical spread quoted for same-kind phones.
PHONE_SHIFTS_DB = (-4.0, 0.0, 4.0)
# The fingerprint method's prior on a phone's offset (`offset_sigma_db`), written rather than chosen: the walk has
# one device, so it cannot measure how phones differ, and choosing among 6/3/0 dB on its shifted folds (as up to
# session 5) read that same +-4 dB assumption back through a noisy selection that also flipped the other choices
# (docs/zones.md, round 8). So the prior is the spread of those shifts themselves, 3.3 dB; the device's own belief
# (FIT_OFFSET_LEARNING_RATE) moves from there.
FIT_OFFSET_SIGMA_DB = round(float(np.std(PHONE_SHIFTS_DB)), 2)
OFFSET_SIGMA_GRID_DB = (6.0, 3.0, 0.0)  # the grid method's prior, still chosen; most robust first (ties: wider)


# A cross-validated candidate: (score, params, steps, posterior per step, class per step, shown class per step,
# pooled spreads)
_Candidate = tuple[float, Params, "Steps", FloatArray, FloatArray, np.ndarray[Any, np.dtype[np.int64]], bool]


class CalibrationError(Exception):
    """The walk cannot produce a model (or cannot be scored); the message says what is missing, and `about`
    which input is at fault ("scans" or "truth"), so a command can name the file."""

    def __init__(self, message: str, *, about: str = "scans") -> None:
        super().__init__(message)
        self.about = about


@dataclass
class FitResult:
    model: ZoneModel
    report: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


# ---- truth helpers ----------------------------------------------------------------------------------------


class _Intervals:
    """Per device, sorted intervals; finds the interval covering t (zone and fold)."""

    def __init__(self, truth: Sequence[TruthInterval]) -> None:
        per: dict[str, list[TruthInterval]] = {}
        for iv in truth:
            per.setdefault(iv.device, []).append(iv)
        self.ivs = {d: sorted(v, key=lambda iv: iv.t_start) for d, v in per.items()}
        self.starts = {d: [iv.t_start for iv in v] for d, v in self.ivs.items()}

    def at(self, device: str, t: float) -> TruthInterval | None:
        starts = self.starts.get(device)
        if not starts:
            return None
        i = bisect.bisect_right(starts, t) - 1
        ivs = self.ivs[device]
        for j in range(i, max(i - 3, -1), -1):
            if ivs[j].t_start <= t <= ivs[j].t_end:
                return ivs[j]
        return None


OVERLAP_TOLERANCE_S = 1.0  # a walker's intervals may touch; more than this is two zones at once


def overlap_warning(truth: Sequence[TruthInterval]) -> str | None:
    """Intervals of one device that overlap in time (a labelling mistake in a walk): named, for a warning."""
    found = []
    for device, ivs in _Intervals(truth).ivs.items():
        # against the earlier interval that reaches furthest, not only the one before: a long interval typed with
        # a wrong end overlaps every one it covers
        reach = ivs[0]  # a device is indexed with its intervals: never an empty list
        for b in ivs[1:]:
            if b.t_start < reach.t_end - OVERLAP_TOLERANCE_S and reach.zone != b.zone:
                found.append((device, reach, b))
            if b.t_end > reach.t_end:
                reach = b
    if not found:
        return None
    device, a, b = found[0]
    more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
    return (
        f"truth intervals of {device} overlap: {a.zone!r} {a.t_start:.1f}..{a.t_end:.1f} and {b.zone!r} "
        f"{b.t_start:.1f}..{b.t_end:.1f}{more}; readings in an overlap are labelled with the later one"
    )


def _fold(iv: TruthInterval, t: float) -> int:
    span = iv.t_end - iv.t_start
    if span <= 0:
        return 0
    return min(CV_FOLDS - 1, int(CV_FOLDS * (t - iv.t_start) / span))


def _step_folds(
    steps: Steps, index: _Intervals
) -> tuple[list[TruthInterval | None], np.ndarray[Any, np.dtype[np.int64]]]:
    """Each step's truth interval (None: unlabelled) and its cross-validation fold (-1: unlabelled)."""
    ivs = [index.at(d, float(t)) for d, t in zip(steps.device, steps.t, strict=True)]
    folds = np.array(
        [_fold(iv, float(t)) if iv is not None else -1 for iv, t in zip(ivs, steps.t, strict=True)], dtype=np.int64
    )
    return ivs, folds


def check_time_span(adverts: Sequence[Advert], truth: Sequence[TruthInterval]) -> list[TruthInterval]:
    """Every zone's truth interval must lie within the recording's time span or continue, without a pause
    longer than ADJACENT_GAP_S, a walk that does: otherwise it belongs to another recording, and that is an
    error. The intervals that only continue one (the device not heard yet at the walk's start, or no more at
    its end: a quiet tag, weak receivers) are returned for a warning. `outside` is exempt: the street may be
    out of every receiver's range, so a walk that ends outside can end its recording before its last interval."""
    if not adverts:
        raise CalibrationError("the recording holds no advertisement")
    outside = outside_span(adverts, truth)
    if not outside:
        return []
    lo, hi = _span(adverts)
    walked = set(map(id, _walks_in_span(truth, lo, hi)))
    stray = [iv for iv in outside if id(iv) not in walked]
    if stray or len(outside) == sum(iv.zone != OUTSIDE for iv in truth):
        iv = (stray or outside)[0]
        raise CalibrationError(
            # milliseconds: a zero-length interval 15 ms before the first advert read "200.0..200.0 lies outside
            # 200.0..2722.0" at one decimal
            f"truth interval {iv.zone!r} {iv.t_start:.3f}..{iv.t_end:.3f} lies outside the recording's "
            f"time span {lo:.3f}..{hi:.3f}{_clock_hint(truth, lo)}",
            about="truth",
        )
    return outside


def _clock_hint(truth: Sequence[TruthInterval], lo: float) -> str:
    """A truth whose first interval starts whole hours from the recording's first advertisement was written on
    another clock: local time for UTC, most likely (time zones differ by whole hours, a few by half hours)."""
    shift = min(iv.t_start for iv in truth) - lo
    hours = shift / 3600
    way = "after" if shift > 0 else "before"
    if abs(hours) < 0.5 or abs(hours * 2 - round(hours * 2)) > 0.05:
        if abs(shift) <= ADJACENT_GAP_S:
            return ""
        return f"; the truth starts {abs(shift):.0f} s {way} the recording: of the same walk, on the same clock?"
    return (
        f"; the truth starts {abs(round(hours * 2) / 2):g} h {way} the recording: truth times written in local time "
        "rather than UTC (seconds since the Unix epoch)?"
    )


def _walks_in_span(truth: Sequence[TruthInterval], lo: float, hi: float) -> list[TruthInterval]:
    """The intervals of every walk (one device's intervals without a pause longer than ADJACENT_GAP_S) that
    overlaps the time span lo..hi."""
    out: list[TruthInterval] = []
    for ivs in _Intervals(truth).ivs.values():
        walk: list[TruthInterval] = []
        end = -math.inf
        for iv in [*ivs, None]:
            if walk and (iv is None or iv.t_start - end > ADJACENT_GAP_S):
                if any(w.t_end >= lo and w.t_start <= hi for w in walk):
                    out.extend(walk)
                walk, end = [], -math.inf
            if iv is not None:
                walk.append(iv)
                end = max(end, iv.t_end)
    return out


def _span(adverts: Sequence[Advert]) -> tuple[float, float]:
    return min((a.t for a in adverts), default=math.inf), max((a.t for a in adverts), default=-math.inf)


def outside_span(adverts: Sequence[Advert], truth: Sequence[TruthInterval]) -> list[TruthInterval]:
    """The zone intervals (not `outside`) that do not overlap the recording's time span at all."""
    lo, hi = _span(adverts)
    return [iv for iv in truth if iv.zone != OUTSIDE and (iv.t_end < lo or iv.t_start > hi)]


def unknown_truth_zones(classes: Sequence[str], truth: Sequence[TruthInterval], zones: object) -> str | None:
    """A warning naming the truth's zones that the zones file lacks, with the zone each may have meant: a truth
    written by hand with "Produce" for produce had every sample of the zone counted wrong, and the warning left the
    reader to spot the capital."""
    unknown = sorted({iv.zone for iv in truth} - set(classes) - {OUTSIDE})
    if not unknown:
        return None
    folded = {c.strip().casefold(): c for c in classes}
    shown = ", ".join(
        repr(z) + (f" (did you mean {meant!r}?)" if (meant := folded.get(z.strip().casefold())) else "")
        for z in unknown
    )
    return f"zones not in {zones}: {shown}; their samples count as wrong"


def unscorable_outside(classes: Sequence[str], truth: Sequence[TruthInterval], zones: object) -> str | None:
    """A warning when the truth has `outside` stays a model without an outside class can never answer (SPEC
    section 5 allows `outside` in every truth; it is no zone of zones.toml that is missing)."""
    if OUTSIDE in classes or not any(iv.zone == OUTSIDE for iv in truth):
        return None
    return (
        f"{zones} has no 'outside' class (its walk had no outside part, or none a receiver heard), so the model never "
        "answers 'outside': the truth's outside samples count as wrong"
    )


# ---- step features ------------------------------------------------------------------------------------------


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


# ---- statistics -------------------------------------------------------------------------------------------------


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


def _shown(steps: Steps, post: FloatArray, confirm_s: float) -> np.ndarray[Any, np.dtype[np.int64]]:
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


def _forward_all(steps: Steps, ll: FloatArray, weight: float, switch_time_s: float, cap: float) -> FloatArray:
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


# ---- fit --------------------------------------------------------------------------------------------------------


def fit(
    adverts: Iterable[Advert],
    truth: list[TruthInterval],
    receivers: dict[str, Any] | None = None,
    *,
    zone_positions: dict[str, Any] | None = None,
    method: str = "offset_nb",
    smoothing_grid: Sequence[tuple[str, float, float]] = SMOOTHING_GRID,
) -> FitResult:
    if not truth:
        raise CalibrationError("the truth file has no intervals", about="truth")
    if (clash := _zone_spelling_problem(truth)) is not None:
        raise CalibrationError(clash, about="truth")
    # offline, the walk's own order does not matter: lines merged from several receivers, or concatenated
    # recordings, come slightly or wholly out of time order, and the filters would drop what goes back in time
    all_adverts = sorted(adverts, key=lambda a: a.t)
    unheard_edges = check_time_span(all_adverts, truth)
    walked = list(readings(all_adverts, truth))
    rs = [r for r in walked if r.rssi != NO_RSSI_DBM]  # heard, but no level to fit
    if not rs:
        raise CalibrationError("no advertisement of any truth device in the scans (check addresses/identities)")
    warnings: list[str] = []
    if levelless := len(walked) - len(rs):
        warnings.append(
            f"{levelless} of the walk's {len(walked)} readings carry no RSSI (-127, or HCI's 127: the adapter did "
            "not measure it) and are left out of the fit"
        )
    if unheard_edges:
        edge = unheard_edges[0]
        more = f" (and {len(unheard_edges) - 1} more)" if len(unheard_edges) > 1 else ""
        warnings.append(
            f"truth interval {edge.zone!r} {edge.t_start:.1f}..{edge.t_end:.1f}{more} lies before the first or "
            "after the last advertisement of the recording: the device was not heard there, and the interval adds "
            "nothing"
        )
    if (overlap := overlap_warning(truth)) is not None:
        warnings.append(overlap)
    street = _Intervals([iv for iv in truth if iv.zone == OUTSIDE])
    if not street.ivs:
        warnings.append(
            "the walk has no 'outside' part: the model has no 'outside' class, so a shopper on the pavement by the "
            "door is placed in the store; walk a zone named 'outside' too (install guide, section 9)"
        )
    street_s = {int(r.t) for r in rs if street.at(r.device, r.t) is not None} if street.ivs else set()
    if street.ivs and len(street_s) < MIN_STREET_HEARD_S:
        # (almost) not heard on the street: no "outside" fingerprint to learn; a shopper who leaves goes quiet
        held = (
            "the walk's 'outside' intervals hold no advertisement of the device"
            if not street_s
            else f"the device was heard in only {len(street_s)} s of the walk's 'outside' intervals"
        )
        warnings.append(
            f"{held} (no receiver reaches the street): the model has no 'outside' class, and a shopper who leaves "
            "is noticed by going quiet"
        )
        truth = [iv for iv in truth if iv.zone != OUTSIDE]
    heard_rx = sorted({r.rx for r in rs})
    for rx in receivers or {}:
        if rx not in heard_rx:
            warnings.append(f"receiver {rx!r} never heard the calibration device; it is left out of the model")
    zones = sorted({iv.zone for iv in truth if iv.zone != OUTSIDE})
    if not zones:
        raise CalibrationError("the truth file names no zone (only 'outside')", about="truth")
    has_outside = any(iv.zone == OUTSIDE for iv in truth)
    classes = zones + ([OUTSIDE] if has_outside else [])
    if len(heard_rx) == 1 and len(classes) > 1:
        # nothing but a level to go on, and no second receiver to learn a device's offset from: how loud the
        # walk's device reads against shoppers' phones decides the zones (docs/zones.md, round 15)
        warnings.append(
            f"only receiver {heard_rx[0]!r} heard the walk: zones are told apart by how loud a device reads there, "
            "so the walk's device decides them, and the gateway's check of that device (\"devices vs walk\") needs "
            "two; walk with a phone carried the way shoppers carry theirs (install guide, section 9)"
        )
    cls_index = {c: i for i, c in enumerate(classes)}
    index = _Intervals(truth)
    warnings.extend(_zone_name_warnings(truth, zone_positions))
    walked_s = _zone_walk_seconds(truth)
    warnings.extend(_zone_amount_checks(classes, rs, index, walked_s, _span(all_adverts)))

    # a robust measurement-noise estimate for the Kalman filter: spread of raw readings inside one interval
    by_key: dict[tuple[int, str], list[float]] = {}
    for r in rs:
        iv = index.at(r.device, r.t)
        if iv is not None:
            by_key.setdefault((id(iv), r.rx), []).append(float(r.rssi))
    variances = [float(np.var(v, ddof=1)) for v in by_key.values() if len(v) >= 3]
    kalman_r = float(np.median(variances)) if variances else 25.0
    kalman_r = max(kalman_r, STD_FLOOR_DB**2)

    # method "offset_nb" (the default): the fingerprints; with geometry the grid's radio (path-loss curves, levels,
    # sensitivities) is fitted and written too, with the grid's default settings, for switching `method` by hand;
    # "auto": the grid when it cross-validates better; "grid": the grid only (the fingerprints are still fitted: the
    # grid may blend them)
    if method not in FIT_METHODS:
        raise CalibrationError(f"method {method!r}: expected one of {', '.join(FIT_METHODS)}")
    only_grid = method == "grid"
    # "auto" lets cross-validation pick the grid over the fingerprints (one-standard-error rule below). It is not
    # the default: where it picked the grid it lost accuracy on every simulated set measured (docs/zones.md,
    # round 3) and the grid costs 3-4x the CPU per step. Only "grid" and "auto" cross-validate the grid's
    # settings: that is about three quarters of a fit's time on a large floor (a 50 x 30 m store's walk:
    # 10.6 s of CPU with it, 2.7 s without), and the default fit never used the result.
    auto = method == "auto"
    base = Params(
        method="offset_nb" if only_grid or auto else method,
        kalman_r_db2=round(kalman_r, 2),
        offset_sigma_db=FIT_OFFSET_SIGMA_DB,
    )
    rx_pos = _positions(receivers or {}, "receivers", warnings)
    # receivers far off are named below, with the polygons; a zone is where zones.toml takes it or nowhere
    z_pos = _positions(zone_positions or {}, "zones", warnings, COORD_LIMIT_M)
    # only the walked zones: a polygon of a zone the model does not know would make the file unloadable
    polygons = {z: poly for z, poly in _polygons(zone_positions or {}, warnings).items() if z in cls_index}
    far = _far_receivers(rx_pos, polygons) if polygons else []
    if far:
        warnings.append(
            f"receivers placed far from the zones in the recording's header: {', '.join(far)}; check their "
            "positions (metres, in the zones' frame); the floor grid is left out"
        )
        rx_pos = {rx: p for rx, p in rx_pos.items() if rx not in far}
    if polygons and rx_pos and (bare := zones_without_receiver(rx_pos, polygons)):
        warnings.append(
            f"zones with no receiver inside: {', '.join(bare)}; in simulation such zones were the hardest to tell "
            "from their neighbours (one more receiver took the example store's coffee corner from 0.42 to 0.81 "
            "for an estimator that knows the radio map; docs/install-raspberry-pi.md, section 0)"
        )
    if rx_pos and (unplaced := [rx for rx in heard_rx if rx not in rx_pos and rx not in far]):
        warnings.append(
            f"receivers heard on the walk without a position in the recording's header: {', '.join(unplaced)}; "
            "the floor grid needs every receiver's position and is left out"
        )
    geometry, no_grid = (
        _grid_geometry(classes, heard_rx, rx_pos, polygons, base) if base.method == "offset_nb" else (None, "")
    )
    if only_grid and geometry is None:
        raise CalibrationError(f"method 'grid' cannot run on this walk: {no_grid}")
    if geometry is None and "cells" in no_grid:
        warnings.append(f"the floor grid is left out: {no_grid}; the fingerprints do not need it")
    table: list[dict[str, Any]] = []
    best: _Candidate | None = None
    best_grid: _Candidate | None = None
    # the best candidate's siblings, by (switch time, confirm), for the one-standard-error rule below; only the best's
    # group is kept: each candidate holds a posterior per walk step, and all of them would take about 100 MB on the
    # department store's walk
    best_group: dict[tuple[float, float], _Candidate] = {}
    for smoothing, window, q_grid in smoothing_grid:
        q = q_grid if smoothing == "kalman" else base.kalman_q_db2_per_s
        params = Params(**{**base.__dict__, "smoothing": smoothing, "window_s": window, "kalman_q_db2_per_s": q})
        grid_params = Params(**params.__dict__)
        steps = compute_steps(rs, heard_rx, params)
        ivs, folds = _step_folds(steps, index)
        y = np.array([cls_index[iv.zone] if iv is not None else -1 for iv in ivs], dtype=np.int64)
        for c in classes:
            if not (y == cls_index[c]).any():
                advice = (
                    "stand outside by the door longer, or leave the 'outside' intervals out of the truth"
                    if c == OUTSIDE
                    else _thin_zone_advice(walked_s.get(c, 0.0))
                )
                raise CalibrationError(
                    f"zone {c!r} has no labelled step: its readings are too few or too brief to fit; " + advice,
                    about="truth",
                )
        labelled = y >= 0
        # Whether zones get spreads of their own: each held-out fold is replayed as if by another phone (shifted by
        # PHONE_SHIFTS_DB), and what places those best is kept (a tie keeps per-zone spreads).
        lls: list[FloatArray] = []
        best_choice: tuple[bool, float] | None = None
        for pooled in (False, True):
            cand = []
            hits = 0
            for k in range(CV_FOLDS):
                train = labelled & (folds != k)
                stats = fit_stats(
                    steps.x[train], steps.heard[train], y[train], len(classes), params.absent_rssi, pooled
                )
                scorer = make_scorer(ZoneModel(zones, heard_rx, classes, *stats, params))
                xs = steps.x + PHONE_SHIFTS_DB[k % len(PHONE_SHIFTS_DB)]
                ll = np.array([scorer.scores(xs[i], steps.heard[i]) for i in range(len(steps.t))])
                cand.append(ll)
                sel = labelled & (folds == k)
                hits += int((ll[sel].argmax(axis=1) == y[sel]).sum())
            acc_choice = hits / max(int(labelled.sum()), 1)
            if best_choice is None or acc_choice > best_choice[1]:
                best_choice, lls = (pooled, acc_choice), cand
        assert best_choice is not None
        pooled_choice = best_choice[0]
        for weight in WEIGHT_GRID if base.method in ("offset_nb", "nb") else (1.0,):
            group: dict[tuple[float, float], _Candidate] = {}
            for switch in SWITCH_TIME_GRID_S:
                post = np.zeros((len(steps.t), len(classes)))
                for k in range(CV_FOLDS):
                    pk = _forward_all(steps, lls[k], weight, switch, base.step_evidence_cap)
                    sel = folds == k
                    post[sel] = pk[sel]
                for confirm in CONFIRM_GRID_S:
                    pred = _shown(steps, post, confirm)
                    acc = float((pred[labelled] == y[labelled]).mean())
                    flaps = _flap_rate(steps, pred, y, ivs)
                    score = acc - FLAP_PENALTY_PER_MIN * flaps
                    table.append(
                        {
                            "smoothing": smoothing,
                            "window_s": window,
                            "kalman_q": q,
                            "likelihood_weight": weight,
                            "switch_time_s": switch,
                            "confirm_s": confirm,
                            "cv_accuracy": round(acc, 4),
                            "cv_flap_rate_per_min": round(flaps, 3),
                        }
                    )
                    if not only_grid:
                        chosen = Params(
                            **{
                                **params.__dict__,
                                "likelihood_weight": weight,
                                "switch_time_s": switch,
                                "confirm_s": confirm,
                            }
                        )
                        candidate = (score, chosen, steps, post, y.astype(np.float64), pred, pooled_choice)
                        group[switch, confirm] = candidate
                        if best is None or score > best[0]:
                            best = candidate
            if any(c is best for c in group.values()):
                best_group = group
        if geometry is not None and (only_grid or auto):
            nb_stats = [
                fit_stats(
                    steps.x[labelled & (folds != k)],
                    steps.heard[labelled & (folds != k)],
                    y[labelled & (folds != k)],
                    len(classes),
                    params.absent_rssi,
                    pooled_choice,
                )
                for k in range(CV_FOLDS)
            ]

            def nb_lls(
                sigma: float,
                st: list[tuple[FloatArray, FloatArray, FloatArray]] = nb_stats,
                p: Params = params,
                s: Steps = steps,
            ) -> list[FloatArray]:
                """The fingerprint scores per fold with the grid's offset prior (the tracker's blend uses one)."""
                out = []
                for k in range(CV_FOLDS):
                    mean_k, std_k, ph_k = st[k]
                    pk = Params(**{**p.__dict__, "offset_sigma_db": sigma})
                    scorer = make_scorer(ZoneModel(zones, heard_rx, classes, mean_k, std_k, ph_k, pk))
                    xs = s.x + PHONE_SHIFTS_DB[k % len(PHONE_SHIFTS_DB)]
                    out.append(np.array([scorer.scores(xs[i], s.heard[i]) for i in range(len(s.t))]))
                return out

            for cand_score, cand_params, post, pred, row in _grid_candidates(
                geometry, steps, y, folds, ivs, grid_params, (smoothing, window, q), nb_lls
            ):
                table.append(row)
                if best_grid is None or cand_score > best_grid[0]:
                    best_grid = (cand_score, cand_params, steps, post, y.astype(np.float64), pred, pooled_choice)
    switch_choice = None
    if best is not None:
        best, switch_choice = _stickiest_within_one_se(best, best_group, index)
    grid_margin = None
    if best_grid is not None:
        if best is None:
            best = best_grid
        else:
            # One standard error rule: the walk is a handful of truth intervals, so a CV difference smaller than
            # its own spread over intervals is noise; the established fingerprints keep the benefit of the doubt.
            # (Measured: choosing the grid on any CV gain lost 2.6 points on average over five simulated days.)
            _, se = _interval_gain(best_grid, best, index)
            grid_margin = (round(best_grid[0] - best[0], 4), round(se, 4))
            if auto and best_grid[0] - best[0] > se:
                best = best_grid
    assert best is not None
    _, params, steps, post, yf, pred, pooled_spread = best
    y = yf.astype(np.int64)
    labelled = y >= 0
    conf = post[labelled, pred[labelled]]
    correct = pred[labelled] == y[labelled]
    params.confidence_threshold = round(_threshold(conf, correct, len(classes)), 4)
    params.walk_interval_s = packet_interval(steps)
    params.smoothing_lag_s = FIT_SMOOTHING_LAG_S
    params.still_motion_db = FIT_STILL_MOTION_DB
    params.still_exit_factor = FIT_STILL_EXIT_FACTOR
    params.offset_learning_rate = FIT_OFFSET_LEARNING_RATE
    params.offset_step_spread_db = FIT_OFFSET_STEP_SPREAD_DB
    blend_margin = None
    if params.method == "offset_nb":
        blend_margin = _centroid_blend_margin(best, index, zones, heard_rx, classes)
        # the walk can veto the default, not choose it: it only sees what a silence means where it has silences
        vetoed = blend_margin[0] < -FIT_CENTROID_VETO_SE * blend_margin[1]
        params.centroid_blend = 0.0 if vetoed else FIT_CENTROID_BLEND

    mean, std, ph = fit_stats(
        steps.x[labelled], steps.heard[labelled], y[labelled], len(classes), params.absent_rssi, pooled_spread
    )
    model = ZoneModel(zones, heard_rx, classes, mean, std, ph, params, rx_pos, z_pos)
    pathloss_points: dict[str, tuple[list[float], list[float]]] = {}
    if geometry is not None:
        # the grid's curves, fitted with the walk positioned inside its zones, on every labelled step; written
        # even when the fingerprints won, so a person can switch `params.method` to "grid" by hand
        ivs_final = [index.at(d, float(t)) for d, t in zip(steps.device, steps.t, strict=True)]
        radio, cells = fit_radio(
            geometry.grid,
            geometry.rx_xy,
            steps.x[labelled],
            steps.heard[labelled],
            y[labelled],
            step_groups(
                [d for d, ok in zip(steps.device, labelled, strict=True) if ok],
                steps.t[labelled],
                _interval_ids(ivs_final)[labelled],
            ),
            len(classes),
        )
        params.outside_loss_db = round(radio.outside_loss_db, 2)
        model.zone_polygons = polygons
        model.grid_radio = radio_entries(heard_rx, radio)
        model.grid_bias = bias_entries(classes, heard_rx, radio)
        xy = geometry.grid.xy[cells]
        for ri, rx in enumerate(heard_rx):
            if rx in model.grid_radio:
                model.pathloss[rx] = (float(radio.rssi_at_1m[ri]), float(radio.exponent[ri]))
                sel = steps.heard[labelled][:, ri] > 0
                dists = np.sqrt(((xy[sel] - geometry.rx_xy[ri]) ** 2).sum(axis=1))
                pathloss_points[rx] = (dists.tolist(), steps.x[labelled][sel, ri].tolist())
    elif rx_pos and z_pos:
        for ri, rx in enumerate(heard_rx):
            if rx not in rx_pos:
                continue
            sel = labelled & (steps.heard[:, ri] > 0)
            ds, vs = [], []
            for i in np.nonzero(sel)[0]:
                zp = z_pos.get(classes[y[i]])
                if zp is not None:
                    ds.append(math.dist(zp, rx_pos[rx]))
                    vs.append(float(steps.x[i, ri]))
            pathloss_points[rx] = (ds, vs)
            f = fit_log_distance(np.array(ds), np.array(vs))
            if f is not None:
                model.pathloss[rx] = f

    for rx, (a, n) in list(model.pathloss.items()):
        if not pathloss_ok(a, n):
            # a curve extrapolated from distances that do not fit the readings: no radio's, and not loadable
            warnings.append(
                f"receiver {rx!r}: the path-loss fit ({a:.1f} dBm at 1 m, exponent {n:.2f}) is no radio's and is "
                "left out; are the receiver and zone positions in the same metres?"
            )
            del model.pathloss[rx]
            model.grid_radio.pop(rx, None)
    for rx, (sigma, sens, slope) in list(model.grid_radio.items()):
        if not grid_radio_ok(sigma, sens, slope):
            warnings.append(
                f"receiver {rx!r}: the floor grid's radio fit (spread {sigma:.1f} dB, sensitivity {sens:.0f} dBm) "
                "is no radio's; the grid leaves this receiver out"
            )
            del model.grid_radio[rx]
    if params.method == "grid" and not (model.pathloss and model.grid_radio):
        raise CalibrationError(
            "method 'grid' cannot run on this walk: no receiver's path loss could be fitted (too few readings at "
            "known distances); fit the fingerprints (the default method)"
        )
    try:  # what is written must load: the same checks `config check` and the daemon apply
        ZoneModel.from_toml(model.to_toml())
    except ZonesError as e:
        raise CalibrationError(f"the fitted model cannot be written: {e}") from None

    confusion = np.zeros((len(classes), len(classes)), dtype=np.int64)
    for t_, p_ in zip(y[labelled], pred[labelled], strict=True):
        confusion[t_, p_] += 1
    report: dict[str, Any] = {
        "classes": classes,
        "receivers": heard_rx,
        "readings": len(rs),
        "steps": int(labelled.sum()),
        "samples_per_class": {c: int((y == i).sum()) for i, c in enumerate(classes)},
        "cv_accuracy": round(float(correct.mean()), 4),
        "pooled_spread": pooled_spread,
        "method": params.method,
        "grid_cv_gain_and_se": grid_margin,
        "centroid_blend_cv_gain_and_se": blend_margin,
        "switch_time_one_se": switch_choice,
        "cv_unknown_share": round(float((conf < params.confidence_threshold).mean()), 4),
        "chosen": params.to_toml(),
        "cv_table": table,
        "cv_confusion": confusion.tolist(),
        "pathloss": {rx: {"rssi_at_1m": a, "exponent": n} for rx, (a, n) in model.pathloss.items()},
        "pathloss_points": pathloss_points,
        # the floor plan as walked, for the report's plan even where the model keeps no polygons (no grid)
        "zone_polygons": polygons,
    }
    return FitResult(model, report, warnings)


def _stickiest_within_one_se(
    best: _Candidate, siblings: dict[tuple[float, float], _Candidate], index: _Intervals
) -> tuple[_Candidate, dict[str, Any] | None]:
    """The longest switch time whose held-out accuracy per truth interval is within one standard error of the best
    candidate's, among `siblings` (its other choices the same, by switch time and confirm time); and, when that is
    not the best candidate's own, what was chosen over what. The walk stands in each zone for a minute or more, and
    a shorter switch time often wins on it by less than its own spread over intervals, while a customer standing
    still pays for that choice in flaps (docs/zones.md, round 27). The one-standard-error rule prefers the more
    regular model where the data cannot tell them apart, as `fit(method="auto")` does between the grid and the
    fingerprints."""
    p = best[1]
    for switch in sorted((s for s in SWITCH_TIME_GRID_S if s > p.switch_time_s), reverse=True):
        cand = siblings.get((switch, p.confirm_s))
        if cand is None:
            continue
        gain, se = _interval_gain(cand, best, index)
        if math.isfinite(se) and gain >= -se:
            note = {
                "best_scoring_s": p.switch_time_s,
                "chosen_s": switch,
                "cv_gain_and_se": (round(gain, 4), round(se, 4)),
            }
            return cand, note
    return best, None


def _centroid_blend_margin(
    best: _Candidate, index: _Intervals, zones: list[str], heard_rx: list[str], classes: list[str]
) -> tuple[float, float]:
    """What pooling the centroid term (FIT_CENTROID_BLEND) into the chosen fingerprints does on the walk: the mean
    change of held-out accuracy per truth interval, and its standard error. The chosen settings and folds are
    replayed as chosen, with the blend alone changed."""
    _, params, steps, post, yf, _, pooled = best
    y = yf.astype(np.int64)
    labelled = y >= 0
    _, folds = _step_folds(steps, index)
    blended = Params(**{**params.__dict__, "centroid_blend": FIT_CENTROID_BLEND})
    post_b = np.zeros_like(post)
    for k in range(CV_FOLDS):
        train = labelled & (folds != k)
        stats = fit_stats(steps.x[train], steps.heard[train], y[train], len(classes), params.absent_rssi, pooled)
        scorer = make_scorer(ZoneModel(zones, heard_rx, classes, *stats, blended))
        xs = steps.x + PHONE_SHIFTS_DB[k % len(PHONE_SHIFTS_DB)]
        ll = np.array([scorer.scores(xs[i], steps.heard[i]) for i in range(len(steps.t))])
        pk = _forward_all(steps, ll, params.likelihood_weight, params.switch_time_s, params.step_evidence_cap)
        post_b[folds == k] = pk[folds == k]
    pred_b = _shown(steps, post_b, params.confirm_s)
    gain, se = _interval_gain((0.0, blended, steps, post_b, yf, pred_b, pooled), best, index)
    return round(gain, 4), round(se, 4)  # (0.0, inf) where the walk can tell nothing


def _interval_gain(cand: _Candidate, than: _Candidate, index: _Intervals) -> tuple[float, float]:
    """How much `cand` changes held-out accuracy per truth interval against `than`: the mean change and its standard
    error over the intervals both scored; (0.0, inf) with fewer than two, where the walk can tell nothing."""
    diff = _interval_scores(cand, index) - _interval_scores(than, index)
    diff = diff[np.isfinite(diff)]
    if len(diff) < 2:
        return 0.0, math.inf
    return float(diff.mean()), float(diff.std(ddof=1) / math.sqrt(len(diff)))


def _interval_scores(
    cand: _Candidate,
    index: _Intervals,
) -> FloatArray:
    """Held-out accuracy per truth interval (in the index's order; nan where the interval has no step)."""
    _, _, steps, _, yf, pred, _ = cand
    pos = {id(iv): i for i, iv in enumerate(iv for ivs in index.ivs.values() for iv in ivs)}
    hits = np.zeros(len(pos))
    n = np.zeros(len(pos))
    for i, (d, t) in enumerate(zip(steps.device, steps.t, strict=True)):
        iv = index.at(d, float(t))
        if iv is not None and yf[i] >= 0:
            k = pos[id(iv)]
            n[k] += 1
            hits[k] += float(pred[i] == int(yf[i]))
    out: FloatArray = np.where(n > 0, hits / np.maximum(n, 1), np.nan)
    return out


def _flap_rate(
    steps: Steps,
    pred: np.ndarray[Any, np.dtype[np.int64]],
    y: np.ndarray[Any, np.dtype[np.int64]],
    ivs: list[TruthInterval | None],
) -> float:
    changes = 0
    minutes = 0.0
    state: dict[str, tuple[int, bool, int]] = {}  # device -> (interval id, settled, last prediction)
    seen: set[int] = set()
    for i, d in enumerate(steps.device):
        iv = ivs[i]
        if iv is None:
            state.pop(d, None)
            continue
        p = int(pred[i])
        cur = state.get(d)
        if cur is None or cur[0] != id(iv):
            if id(iv) not in seen:
                seen.add(id(iv))
                minutes += (iv.t_end - iv.t_start) / 60.0
            state[d] = (id(iv), p == y[i], p)
            continue
        _, settled, last = cur
        if settled and p != last:
            changes += 1
        state[d] = (id(iv), settled or p == y[i], p)
    return changes / minutes if minutes > 0 else 0.0


def _threshold(conf: FloatArray, correct: np.ndarray[Any, np.dtype[np.bool_]], n_classes: int) -> float:
    """The confidence below which acting on the estimate is wrong more often than right (in cross-validation)."""
    floor = 1.0 / n_classes
    if len(conf) == 0:
        return floor
    order = np.argsort(-conf)
    gain = np.cumsum(np.where(correct[order], 1.0, -1.0))
    k = int(np.argmax(gain))
    thr = float(conf[order][k])
    return min(max(thr, floor), MAX_THRESHOLD)


def _number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def _within(v: Any, limit_m: float = COORD_LIMIT_M) -> bool:
    # zones.toml's limit by default: a polygon's 1e308 passed as a number, overflowed the floor grid's arithmetic
    # (a numpy RuntimeWarning) and then made the fitted model unwritable, blamed on the recording
    return _number(v) and abs(v) <= limit_m


def _positions(
    d: dict[str, Any], key: str, warnings: list[str], limit_m: float = math.inf
) -> dict[str, tuple[float, float]]:
    """Positions from the recording header's `receivers` or `zones` (x/y, or a polygon's mean vertex), within
    `limit_m` of the origin; an entry that is there but unreadable is named in a warning and left out."""
    out: dict[str, tuple[float, float]] = {}
    for name, v in d.items():
        if isinstance(v, dict) and ("x" in v or "y" in v):
            if _within(v.get("x"), limit_m) and _within(v.get("y"), limit_m):
                out[name] = (float(v["x"]), float(v["y"]))
            else:
                within = f", within +-{limit_m:g}" if limit_m < math.inf else ""
                warnings.append(f"recording header: {key}.{name}: x and y must be numbers (metres{within}); left out")
        elif isinstance(v, dict) and isinstance(v.get("polygon"), list):
            pts = _polygon_points(v["polygon"])
            if pts is not None:
                out[name] = (sum(p[0] for p in pts) / len(pts), sum(p[1] for p in pts) / len(pts))
        elif isinstance(v, list | tuple) and len(v) == 2 and _within(v[0], limit_m) and _within(v[1], limit_m):
            out[name] = (float(v[0]), float(v[1]))
    return out


FAR_RECEIVER_M = 100.0  # a receiver this far outside the zones' bounding box is a typo (cm for m, a swapped axis)


def _far_receivers(rx_pos: dict[str, tuple[float, float]], polygons: dict[str, list[tuple[float, float]]]) -> list[str]:
    xs = [x for poly in polygons.values() for x, _ in poly]
    ys = [y for poly in polygons.values() for _, y in poly]
    lo_x, hi_x, lo_y, hi_y = min(xs), max(xs), min(ys), max(ys)
    return sorted(
        rx
        for rx, (x, y) in rx_pos.items()
        if max(lo_x - x, x - hi_x, 0.0) > FAR_RECEIVER_M or max(lo_y - y, y - hi_y, 0.0) > FAR_RECEIVER_M
    )


def _polygon_points(poly: Any) -> list[tuple[float, float]] | None:
    """At least three [x, y] vertices in metres within COORD_LIMIT_M, or None."""
    if not isinstance(poly, list) or len(poly) < 3:
        return None
    pts = []
    for p in poly:
        if not (isinstance(p, list | tuple) and len(p) == 2 and _within(p[0]) and _within(p[1])):
            return None
        pts.append((float(p[0]), float(p[1])))
    return pts


def _zone_spelling_problem(truth: Sequence[TruthInterval]) -> str | None:
    """Zone names that differ only in case or surrounding spaces (`calibrate record --zone Bakery` one day,
    `--zone bakery` the next) would be fitted as two zones, each with part of the walk; a name with spaces at
    either end matches no campaign's zone."""
    spellings: dict[str, dict[str, int]] = {}  # folded name -> spelling -> the first line it is on
    for iv in truth:
        spellings.setdefault(iv.zone.strip().casefold(), {}).setdefault(iv.zone, iv.line)
    for names in spellings.values():
        if len(names) > 1:
            shown = [_at_line(name, line) for name, line in names.items()]
            more = f" (and {len(shown) - 2} more)" if len(shown) > 2 else ""
            return (
                f"field 'zone': {' and '.join(shown[:2])}{more} differ only in case or spaces: "
                "use one spelling for one zone"
            )
    for names in spellings.values():
        name, line = next(iter(names.items()))
        if name != name.strip():
            return (
                f"field 'zone': {_at_line(name, line)} starts or ends with a space: no campaign's zone would match it"
            )
    return None


def _at_line(zone: str, line: int) -> str:
    return f"{zone!r} (line {line})" if line else repr(zone)


def _zone_name_warnings(truth: Sequence[TruthInterval], zone_positions: dict[str, Any] | None) -> list[str]:
    """The truth's zones against the recording header's: a misspelt label, or a zone the walk left out."""
    listed = set(zone_positions or {}) - {OUTSIDE}
    if not listed:
        return []
    first_line: dict[str, int] = {}
    for iv in truth:
        first_line.setdefault(iv.zone, iv.line)
    out = []
    if unlisted := sorted(set(first_line) - listed - {OUTSIDE}):
        out.append(
            f"truth zones not among the recording header's zones: "
            f"{', '.join(_at_line(z, first_line[z]) for z in unlisted)}; check the spelling "
            "(they are fitted as zones of their own)"
        )
    if unwalked := sorted(listed - set(first_line)):
        out.append(
            f"zones in the recording header that the walk never labels: {', '.join(unwalked)}; they are not in "
            "the model (a shopper there is placed in a zone that was walked): walk them and fit again"
        )
    return out


# Fewer seconds with a reading than this on the street is no fingerprint of it (two readings made a simulated
# walk's `outside` class with no labelled step at all): the class is left out, as when nothing was heard there.
MIN_STREET_HEARD_S = 3
MIN_ZONE_WALK_S = 10.0  # a fingerprint from fewer seconds than this is a guess: one standing spot, one facing


def _zone_walk_seconds(truth: Iterable[TruthInterval]) -> dict[str, float]:
    """How long the walk's truth says each zone was walked."""
    out: dict[str, float] = {}
    for iv in truth:
        out[iv.zone] = out.get(iv.zone, 0.0) + iv.t_end - iv.t_start
    return out


def _walked_enough(walked_s: float) -> bool:
    return walked_s >= 2 * MIN_ZONE_WALK_S


def _thin_zone_advice(walked_s: float) -> str:
    """What to do about a zone heard too little: walk it longer or, if it was walked long enough and still
    barely heard, put a receiver in reach (a longer walk will not help then)."""
    if _walked_enough(walked_s):
        return (
            "no receiver reliably reaches it; a receiver in or next to it helps (docs/install-raspberry-pi.md, "
            "section 0)"
        )
    return (
        "walk it for about two minutes, a new spot every five seconds or so (docs/install-raspberry-pi.md, section 9)"
    )


def _unrecorded(zone: str, index: _Intervals, span: tuple[float, float]) -> str | None:
    """Why a zone has no sample when the recording is at fault: every one of its truth intervals lies after the
    recording's last advertisement (it stopped early) or before its first (it started late)."""
    ivs = [iv for per in index.ivs.values() for iv in per if iv.zone == zone]
    lo, hi = span
    if ivs and all(iv.t_start > hi for iv in ivs):
        first = min(iv.t_start for iv in ivs)
        # the device heard well before the truth's first interval: the whole truth may be late, not the recording
        start = min(iv.t_start for per in index.ivs.values() for iv in per)
        late = (
            f"; or, if it holds the whole walk, the truth's clock runs ahead: its first interval starts "
            f"{start - lo:.0f} s after the recording does"
            if start - lo > ADJACENT_GAP_S
            else ""
        )
        return (
            f"the recording ends at {hi:.3f}, before the truth's intervals of zone {zone!r} (the first starts at "
            f"{first:.3f}): it stopped before that part of the walk; record the walk again{late}"
        )
    if ivs and all(iv.t_end < lo for iv in ivs):
        last = max(iv.t_end for iv in ivs)
        return (
            f"the recording starts at {lo:.3f}, after the truth's intervals of zone {zone!r} (the last ends at "
            f"{last:.3f}): it started after that part of the walk; record the walk again"
        )
    return None


def _zone_amount_checks(
    classes: list[str],
    rs: Sequence[Reading],
    index: _Intervals,
    walked_s: dict[str, float],
    span: tuple[float, float],
) -> list[str]:
    """Every class must have been heard; one heard only briefly gets a warning (its fingerprint is thin).
    `span` is the recording's first and last advertisement time."""
    heard_s: dict[str, set[tuple[int, int]]] = {c: set() for c in classes}
    for r in rs:
        iv = index.at(r.device, r.t)
        if iv is not None and iv.zone in heard_s:
            # distinct seconds with a reading, counted from the interval's start: by the clock's seconds a 5 s
            # interval touches six and was "heard in only 6 s"
            heard_s[iv.zone].add((id(iv), int(r.t - iv.t_start)))
    out = []
    for c in classes:
        n = len(heard_s[c])
        if n == 0:
            # a recording that stopped early was blamed on the truth file, whose intervals were right
            if (cut := _unrecorded(c, index, span)) is not None:
                raise CalibrationError(cut, about="scans")
            raise CalibrationError(
                f"no labelled samples for zone {c!r}: the device was not heard while there", about="truth"
            )
        if n < MIN_ZONE_WALK_S:
            walked = walked_s.get(c, 0.0)
            of = (
                f"was walked for {walked:.0f} s but heard in only {n} s of it"
                if _walked_enough(walked)
                else f"was heard in only {n} s of the walk"
            )
            out.append(f"zone {c!r} {of}: its fingerprint rests on few readings; " + _thin_zone_advice(walked))
    if len(classes) == 1:
        out.append(f"the walk labels one zone only ({classes[0]!r}): every estimate will be that zone")
    return out


# ---- the grid method -------------------------------------------------------------------------------------------


@dataclass
class _Geometry:
    grid: Grid
    rx_xy: FloatArray


def _polygons(d: dict[str, Any], warnings: list[str]) -> dict[str, list[tuple[float, float]]]:
    out: dict[str, list[tuple[float, float]]] = {}
    for name, v in d.items():
        if not isinstance(v, dict) or "polygon" not in v:
            continue
        pts = _polygon_points(v["polygon"])
        if pts is None:
            warnings.append(
                f"recording header: zones.{name}.polygon: expected at least three [x, y] points in metres within "
                f"+-{COORD_LIMIT_M:g}; without it the floor grid is left out"
            )
        else:
            out[name] = pts
    return out


def _grid_geometry(
    classes: list[str],
    receivers: list[str],
    rx_pos: dict[str, tuple[float, float]],
    polygons: dict[str, list[tuple[float, float]]],
    params: Params,
) -> tuple[_Geometry | None, str]:
    """The floor grid when every zone has a polygon and at least two receivers have positions; else None and
    what it would need."""
    zones = [c for c in classes if c != OUTSIDE]
    if not all(z in polygons for z in zones):
        return None, "it needs zone polygons for every zone"
    if len(receivers) < 2 or not all(rx in rx_pos for rx in receivers):
        return None, "it needs two receivers or more that heard the walk, each with a position"
    outside = classes.index(OUTSIDE) if OUTSIDE in classes else None
    zone_polygons = {z: polygons[z] for z in zones}
    cells = grid_cells(zone_polygons, params.grid_cell_m, outside is not None)
    if cells > MAX_GRID_CELLS:
        return None, (
            f"the zone polygons span {cells:,} cells of {params.grid_cell_m:g} m, more than the {MAX_GRID_CELLS:,} "
            "it runs on (a very large floor, or polygons not in metres)"
        )
    grid = build_grid(classes, zone_polygons, params.grid_cell_m, outside)
    if any(not (grid.cls == ci).any() for ci in range(len(classes))):
        return None, "it needs every zone to be at least one grid cell wide"
    rx_xy = np.array([rx_pos.get(rx, (math.nan, math.nan)) for rx in receivers], dtype=np.float64)
    return _Geometry(grid, rx_xy), ""


def _interval_ids(ivs: list[TruthInterval | None]) -> np.ndarray[Any, np.dtype[np.int64]]:
    ids: dict[int, int] = {}
    return np.array([-1 if iv is None else ids.setdefault(id(iv), len(ids)) for iv in ivs], dtype=np.int64)


def _grid_loglik(scorer: GridScorer, x: FloatArray, heard: FloatArray, chunk: int = 256) -> FloatArray:
    out = np.zeros((len(x), len(scorer.cell_class)))
    for i in range(0, len(x), chunk):
        out[i : i + chunk] = scorer.loglik(x[i : i + chunk], heard[i : i + chunk])
    return out


def _grid_forward_all(steps: Steps, scorer: GridScorer, ll: FloatArray, weight: float, switch: float) -> FloatArray:
    """Zone masses per step from the forward filter over cells, device by device, as the tracker runs it."""
    out = np.zeros((len(steps.t), scorer.assign.shape[0]))
    last: dict[str, FloatArray] = {}
    for i, d in enumerate(steps.device):
        dt = float(steps.dt[i])
        prev = None if math.isnan(dt) else last.get(d)
        p = scorer.forward(prev, ll[i] * weight, dt, switch)
        last[d] = p
        out[i] = scorer.class_mass(p)
    return out


def _grid_candidates(
    geo: _Geometry,
    steps: Steps,
    y: np.ndarray[Any, np.dtype[np.int64]],
    folds: np.ndarray[Any, np.dtype[np.int64]],
    ivs: list[TruthInterval | None],
    params: Params,
    smoothing_grid_entry: tuple[str, float, float],
    nb_lls: Callable[[float], list[FloatArray]],
) -> list[tuple[float, Params, FloatArray, np.ndarray[Any, np.dtype[np.int64]], dict[str, Any]]]:
    """Cross-validated grid models for these steps: the same folds, phone shifts and HMM grid as the fingerprints."""
    labelled = y >= 0
    groups = step_groups(steps.device, steps.t, _interval_ids(ivs))
    n_classes = int(y.max()) + 1
    radios = []
    for k in range(CV_FOLDS):
        train = labelled & (folds != k)
        radios.append(
            fit_radio(geo.grid, geo.rx_xy, steps.x[train], steps.heard[train], y[train], groups[train], n_classes)[0]
        )
    best_sigma: tuple[float, float, list[tuple[GridScorer, FloatArray]]] | None = None
    for sigma in OFFSET_SIGMA_GRID_DB:
        per_fold = []
        hits = 0
        for k in range(CV_FOLDS):
            sc = GridScorer(geo.grid, geo.rx_xy, radios[k], n_classes, sigma, params.walk_speed_m_s, HOLE_POLICY)
            ll = _grid_loglik(sc, steps.x + PHONE_SHIFTS_DB[k % len(PHONE_SHIFTS_DB)], steps.heard)
            per_fold.append((sc, ll))
            sel = labelled & (folds == k)
            lik = np.exp(ll[sel] - ll[sel].max(axis=1, keepdims=True))
            hits += int(((lik @ sc.assign.T).argmax(axis=1) == y[sel]).sum())
        acc = hits / max(int(labelled.sum()), 1)
        if best_sigma is None or acc > best_sigma[1]:
            best_sigma = (sigma, acc, per_fold)
    assert best_sigma is not None
    sigma, _, per_fold = best_sigma
    out = []
    smoothing, window, q = smoothing_grid_entry
    fingerprint = nb_lls(sigma)
    for weight in WEIGHT_GRID:
        nb_post = np.zeros((len(steps.t), n_classes))
        for k in range(CV_FOLDS):
            pk = _forward_all(steps, fingerprint[k], weight, GRID_SWITCH_TIME_S, params.step_evidence_cap)
            nb_post[folds == k] = pk[folds == k]
        for speed in WALK_SPEED_GRID_M_S:
            grid_post = np.zeros((len(steps.t), n_classes))
            for k, (sc, ll) in enumerate(per_fold):
                sc.set_speed(speed)
                pk = _grid_forward_all(steps, sc, ll, weight, GRID_SWITCH_TIME_S)
                grid_post[folds == k] = pk[folds == k]
            for blend in GRID_BLEND_GRID:
                post = (1.0 - blend) * grid_post + blend * nb_post
                pred = _shown(steps, post, 0.0)
                acc = float((pred[labelled] == y[labelled]).mean())
                flaps = _flap_rate(steps, pred, y, ivs)
                settings = {
                    "method": "grid",
                    "offset_sigma_db": sigma,
                    "likelihood_weight": weight,
                    "switch_time_s": GRID_SWITCH_TIME_S,
                    "walk_speed_m_s": speed,
                    "grid_blend": blend,
                    "confirm_s": 0.0,
                }
                chosen = Params(**{**params.__dict__, **settings})
                row = {
                    **settings,
                    "smoothing": smoothing,
                    "window_s": window,
                    "kalman_q": q,
                    "cv_accuracy": round(acc, 4),
                    "cv_flap_rate_per_min": round(flaps, 3),
                }
                out.append((acc - FLAP_PENALTY_PER_MIN * flaps, chosen, post, pred, row))
    return out


# ---- evaluate ---------------------------------------------------------------------------------------------------


def evaluate(
    model: ZoneModel, adverts: Iterable[Advert], truth: list[TruthInterval], *, method: str | None = None
) -> dict[str, Any]:
    """Scores the tracker's estimates as the live pipeline makes them, one per labelled sample (SPEC section 5: a
    (device, time) with an advertisement inside a truth interval, however many receivers heard it): the estimate
    describing that time (pairing.py; with the forward filter alone, the estimate right after the advertisement)."""
    index = _Intervals(truth)
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


def _eval_latency(rows: list[tuple[Reading, TruthInterval, ZoneEstimate]], index: _Intervals) -> float | None:
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

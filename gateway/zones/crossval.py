"""Blocked cross-validation on a walk: folds, held-out scores per truth interval, and the choices taken from them.

Folds are contiguous thirds of every truth interval, so each fold is scored on time it was not fitted on while
every zone stays represented in training (a walk often visits a zone only once)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from gateway.truth import TruthInterval
from gateway.zones.classify import FloatArray, make_scorer
from gateway.zones.model import Params, ZoneModel
from gateway.zones.walkcheck import Intervals
from gateway.zones.walksteps import Steps, fit_stats, forward_all

CV_FOLDS = 3
FLAP_PENALTY_PER_MIN = 0.03  # model selection: one flap per minute costs as much as 3 % accuracy
# A zone holding more than half of the posterior is likelier than all the others together: never silence it,
# whatever the walk says. (0.6 before: on 8 simulated days it cost up to 9.5 points of accuracy, 2.0 on
# average, and bought no trigger precision, only fewer flaps; the walk's tag is louder than shoppers, so
# its confidences run higher than a day's and a threshold set on them silences too much of the day.)
MAX_THRESHOLD = 0.5
WEIGHT_GRID = (0.25, 0.5, 1.0)  # the likelihood's temper: neighbouring steps share most of their readings
# Phones differ from the calibration tag by a few dB (antenna, case, tx power); cross-validation replays
# the held-out folds shifted by these to see it. +-4 dB is the typical spread quoted for same-kind phones.
PHONE_SHIFTS_DB = (-4.0, 0.0, 4.0)

# A cross-validated candidate: (score, params, steps, posterior per step, class per step, shown class per step,
# pooled spreads)
Candidate = tuple[float, Params, "Steps", FloatArray, FloatArray, np.ndarray[Any, np.dtype[np.int64]], bool]


def _fold(iv: TruthInterval, t: float) -> int:
    span = iv.t_end - iv.t_start
    if span <= 0:
        return 0
    return min(CV_FOLDS - 1, int(CV_FOLDS * (t - iv.t_start) / span))


def step_folds(
    steps: Steps, index: Intervals
) -> tuple[list[TruthInterval | None], np.ndarray[Any, np.dtype[np.int64]]]:
    """Each step's truth interval (None: unlabelled) and its cross-validation fold (-1: unlabelled)."""
    ivs = [index.at(d, float(t)) for d, t in zip(steps.device, steps.t, strict=True)]
    folds = np.array(
        [_fold(iv, float(t)) if iv is not None else -1 for iv, t in zip(ivs, steps.t, strict=True)], dtype=np.int64
    )
    return ivs, folds


def held_out_scores(
    steps: Steps,
    y: np.ndarray[Any, np.dtype[np.int64]],
    folds: np.ndarray[Any, np.dtype[np.int64]],
    n_classes: int,
    model_of: Callable[[tuple[FloatArray, FloatArray, FloatArray]], ZoneModel],
    pooled_spread: bool,
    absent_rssi: float,
) -> list[FloatArray]:
    """Per fold k, every step's class scores under the fingerprints fitted on the other folds' labelled steps
    (`model_of` makes the model from those statistics), the steps replayed as by a phone PHONE_SHIFTS_DB[k] louder:
    the walk has one device, and a model that only places that device well places customers' phones badly."""
    labelled = y >= 0
    out = []
    for k in range(CV_FOLDS):
        train = labelled & (folds != k)
        stats = fit_stats(steps.x[train], steps.heard[train], y[train], n_classes, absent_rssi, pooled_spread)
        scorer = make_scorer(model_of(stats))
        xs = steps.x + PHONE_SHIFTS_DB[k % len(PHONE_SHIFTS_DB)]
        out.append(np.array([scorer.scores(xs[i], steps.heard[i]) for i in range(len(steps.t))]))
    return out


def held_out_posterior(
    steps: Steps,
    scores: list[FloatArray],
    folds: np.ndarray[Any, np.dtype[np.int64]],
    weight: float,
    switch_time_s: float,
    cap: float,
) -> FloatArray:
    """The tracker's forward posterior at every step, each fold's steps taken from the run over its own scores."""
    post = np.zeros_like(scores[0])
    for k in range(CV_FOLDS):
        pk = forward_all(steps, scores[k], weight, switch_time_s, cap)
        post[folds == k] = pk[folds == k]
    return post


def interval_gain(cand: Candidate, than: Candidate, index: Intervals) -> tuple[float, float]:
    """How much `cand` changes held-out accuracy per truth interval against `than`: the mean change and its standard
    error over the intervals both scored; (0.0, inf) with fewer than two, where the walk can tell nothing."""
    diff = _interval_scores(cand, index) - _interval_scores(than, index)
    diff = diff[np.isfinite(diff)]
    if len(diff) < 2:
        return 0.0, math.inf
    return float(diff.mean()), float(diff.std(ddof=1) / math.sqrt(len(diff)))


def _interval_scores(
    cand: Candidate,
    index: Intervals,
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


def flap_rate(
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


def confidence_threshold(conf: FloatArray, correct: np.ndarray[Any, np.dtype[np.bool_]], n_classes: int) -> float:
    """The confidence below which acting on the estimate is wrong more often than right (in cross-validation)."""
    floor = 1.0 / n_classes
    if len(conf) == 0:
        return floor
    order = np.argsort(-conf)
    gain = np.cumsum(np.where(correct[order], 1.0, -1.0))
    k = int(np.argmax(gain))
    thr = float(conf[order][k])
    return min(max(thr, floor), MAX_THRESHOLD)

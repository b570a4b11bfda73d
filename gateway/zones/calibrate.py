"""Fitting a zone model from a labelled calibration walk (`calibrate fit`).

Everything is fitted from the walk itself: the fingerprint statistics per zone and receiver, and by blocked
cross-validation (crossval.py) the smoothing, the likelihood weight, the stickiness of the HMM and the confidence
threshold. What the walk cannot measure is written as a product default, each with the figures that chose it.
The walk's truth is checked first (walkcheck.py), and with a floor plan in the recording's header the grid
method's radio is fitted too (gridfit.py). Scoring a model against labelled scans is evaluate.py's.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gateway.adverts import NO_RSSI_DBM, Advert
from gateway.truth import TruthInterval
from gateway.zones.classify import FloatArray
from gateway.zones.crossval import (
    CV_FOLDS,
    FLAP_PENALTY_PER_MIN,
    PHONE_SHIFTS_DB,
    WEIGHT_GRID,
    Candidate,
    confidence_threshold,
    flap_rate,
    held_out_posterior,
    held_out_scores,
    interval_gain,
    step_folds,
)
from gateway.zones.estimate import OUTSIDE
from gateway.zones.floorplan import header_geometry
from gateway.zones.gridfit import Geometry, grid_candidates, grid_geometry, write_floor_radio
from gateway.zones.model import Params, ZoneModel, ZonesError, grid_radio_ok, pathloss_ok
from gateway.zones.pathloss import fit_log_distance
from gateway.zones.samples import Reading, readings
from gateway.zones.walkcheck import (
    CalibrationError,
    Intervals,
    check_time_span,
    overlap_warning,
    span,
    street_check,
    thin_zone_advice,
    zone_amount_checks,
    zone_name_warnings,
    zone_spelling_problem,
    zone_walk_seconds,
)
from gateway.zones.walksteps import STD_FLOOR_DB, Steps, compute_steps, fit_stats, packet_interval, shown

FIT_METHODS = ("offset_nb", "grid", "auto")  # what `fit` can be asked for (the baselines are scored, not fitted)

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
# The HMM's switch time: cross-validation scores each, then the fit takes the longest within one standard error of
# the best (`_stickiest_within_one_se`): a walk cannot tell 10 s from 30 s on a handful of intervals, and a standing
# customer pays for the shorter one in flaps.
SWITCH_TIME_GRID_S = (10.0, 30.0, 90.0)
# Hysteresis on top of the HMM holds a zone whose posterior has already dropped, so those steps report
# "unknown"; cross-validation on a walk cannot see that cost and chose up to 10 s. Measured over 11 days:
# mean accuracy 0.631 when CV chose among 0/3/6/10 s, 0.654 with none, flaps about equal. So the fit leaves
# it off; confirm_s stays in zones.toml for a person who prefers fewer changes to faster ones.
CONFIRM_GRID_S = (0.0,)
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
# The fingerprint method's prior on a phone's offset (`offset_sigma_db`), written rather than chosen: the walk has
# one device, so it cannot measure how phones differ, and choosing among 6/3/0 dB on its shifted folds (as up to
# session 5) read that same +-4 dB assumption back through a noisy selection that also flipped the other choices
# (docs/zones.md, round 8). So the prior is the spread of those shifts themselves, 3.3 dB; the device's own belief
# (FIT_OFFSET_LEARNING_RATE) moves from there.
FIT_OFFSET_SIGMA_DB = round(float(np.std(PHONE_SHIFTS_DB)), 2)


@dataclass
class FitResult:
    model: ZoneModel
    report: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


# ---- fit --------------------------------------------------------------------------------------------------------


@dataclass
class _Walk:
    """A calibration walk, checked: what the fit works from."""

    readings: list[Reading]  # the truth devices' readings that carry a level
    receivers: list[str]  # those that heard the walk
    zones: list[str]
    classes: list[str]  # the zones, then `outside` when the walk has it
    index: Intervals  # the truth's intervals, without `outside` when the street was (almost) not heard
    walked_s: dict[str, float]  # how long the truth says each zone was walked
    warnings: list[str]


@dataclass
class _Search:
    """What cross-validation found: the best fingerprint candidate and its siblings, the best grid candidate, and
    a row per setting tried for the report."""

    table: list[dict[str, Any]] = field(default_factory=list)
    best: Candidate | None = None
    # the best candidate's siblings, by (switch time, confirm), for the one-standard-error rule; only the best's
    # group is kept: each candidate holds a posterior per walk step, and all of them would take about 100 MB on the
    # department store's walk
    best_group: dict[tuple[float, float], Candidate] = field(default_factory=dict)
    best_grid: Candidate | None = None


def fit(
    adverts: Iterable[Advert],
    truth: list[TruthInterval],
    receivers: dict[str, Any] | None = None,
    *,
    zone_positions: dict[str, Any] | None = None,
    method: str = "offset_nb",
    smoothing_grid: Sequence[tuple[str, float, float]] = SMOOTHING_GRID,
) -> FitResult:
    """The zone model for a labelled walk. `method` "offset_nb" (the default): the fingerprints; with a floor plan
    in the header the grid's radio is fitted and written too, with the grid's default settings, for switching
    `method` by hand. "auto": the grid when it cross-validates clearly better. "grid": the grid only (the
    fingerprints are still fitted: the grid may blend them). Raises CalibrationError naming what is wrong."""
    walk = _checked_walk(adverts, truth, receivers, zone_positions)
    warnings = walk.warnings
    if method not in FIT_METHODS:
        raise CalibrationError(f"method {method!r}: expected one of {', '.join(FIT_METHODS)}")
    only_grid = method == "grid"
    # "auto" lets cross-validation pick the grid over the fingerprints (one-standard-error rule below). It is not
    # the default: where it picked the grid it lost accuracy on every simulated set measured (docs/zones.md,
    # round 3) and the grid costs 3-4x the CPU per step. Only "grid" and "auto" cross-validate the grid's
    # settings: that is about three quarters of a fit's time on a large floor (a 50 x 30 m store's walk:
    # 10.6 s of CPU with it, 2.7 s without), and the default fit never used the result.
    auto = method == "auto"
    base = Params(method="offset_nb", kalman_r_db2=round(_kalman_r(walk), 2), offset_sigma_db=FIT_OFFSET_SIGMA_DB)
    rx_pos, z_pos, polygons = header_geometry(
        receivers or {}, zone_positions or {}, walk.classes, walk.receivers, warnings
    )
    geometry, no_grid = grid_geometry(walk.classes, walk.receivers, rx_pos, polygons, base)
    if only_grid and geometry is None:
        raise CalibrationError(f"method 'grid' cannot run on this walk: {no_grid}")
    if geometry is None and "cells" in no_grid:
        warnings.append(f"the floor grid is left out: {no_grid}; the fingerprints do not need it")

    search = _Search()
    for smoothing in smoothing_grid:
        _search_smoothing(search, walk, base, smoothing, geometry if only_grid or auto else None, only_grid)
    best, switch_choice, grid_margin = _choose(search, walk.index, auto)
    _, params, steps, post, yf, pred, pooled_spread = best
    y = yf.astype(np.int64)
    labelled = y >= 0
    conf = post[labelled, pred[labelled]]
    correct = pred[labelled] == y[labelled]
    params.confidence_threshold = round(confidence_threshold(conf, correct, len(walk.classes)), 4)
    params.walk_interval_s = packet_interval(steps)
    params.smoothing_lag_s = FIT_SMOOTHING_LAG_S
    params.still_motion_db = FIT_STILL_MOTION_DB
    params.still_exit_factor = FIT_STILL_EXIT_FACTOR
    params.offset_learning_rate = FIT_OFFSET_LEARNING_RATE
    params.offset_step_spread_db = FIT_OFFSET_STEP_SPREAD_DB
    blend_margin = None
    if params.method == "offset_nb":
        blend_margin = _centroid_blend_margin(best, walk)
        # the walk can veto the default, not choose it: it only sees what a silence means where it has silences
        vetoed = blend_margin[0] < -FIT_CENTROID_VETO_SE * blend_margin[1]
        params.centroid_blend = 0.0 if vetoed else FIT_CENTROID_BLEND

    n_classes = len(walk.classes)
    stats = fit_stats(
        steps.x[labelled], steps.heard[labelled], y[labelled], n_classes, params.absent_rssi, pooled_spread
    )
    model = ZoneModel(walk.zones, walk.receivers, walk.classes, *stats, params, rx_pos, z_pos)
    if geometry is not None:
        ivs = [walk.index.at(d, float(t)) for d, t in zip(steps.device, steps.t, strict=True)]
        pathloss_points = write_floor_radio(model, geometry, steps, y, ivs, polygons)
    else:
        pathloss_points = _log_distance_curves(model, steps, y, rx_pos, z_pos)
    _drop_implausible_radio(model, warnings)

    confusion = np.zeros((n_classes, n_classes), dtype=np.int64)
    for t_, p_ in zip(y[labelled], pred[labelled], strict=True):
        confusion[t_, p_] += 1
    report: dict[str, Any] = {
        "classes": walk.classes,
        "receivers": walk.receivers,
        "readings": len(walk.readings),
        "steps": int(labelled.sum()),
        "samples_per_class": {c: int((y == i).sum()) for i, c in enumerate(walk.classes)},
        "cv_accuracy": round(float(correct.mean()), 4),
        "pooled_spread": pooled_spread,
        "method": params.method,
        "grid_cv_gain_and_se": grid_margin,
        "centroid_blend_cv_gain_and_se": blend_margin,
        "switch_time_one_se": switch_choice,
        "cv_unknown_share": round(float((conf < params.confidence_threshold).mean()), 4),
        "chosen": params.to_toml(),
        "cv_table": search.table,
        "cv_confusion": confusion.tolist(),
        "pathloss": {rx: {"rssi_at_1m": a, "exponent": n} for rx, (a, n) in model.pathloss.items()},
        "pathloss_points": pathloss_points,
        # the floor plan as walked, for the report's plan even where the model keeps no polygons (no grid)
        "zone_polygons": polygons,
    }
    return FitResult(model, report, warnings)


def _checked_walk(
    adverts: Iterable[Advert],
    truth: list[TruthInterval],
    receivers: dict[str, Any] | None,
    zone_positions: dict[str, Any] | None,
) -> _Walk:
    """The walk's readings and classes; raises CalibrationError for what no model can come from, and collects a
    warning for each thing that weakens the one that does."""
    if not truth:
        raise CalibrationError("the truth file has no intervals", about="truth")
    if (clash := zone_spelling_problem(truth)) is not None:
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
    truth, street = street_check(truth, rs)
    warnings.extend(street)
    heard_rx = sorted({r.rx for r in rs})
    for rx in receivers or {}:
        if rx not in heard_rx:
            warnings.append(f"receiver {rx!r} never heard the calibration device; it is left out of the model")
    zones = sorted({iv.zone for iv in truth if iv.zone != OUTSIDE})
    if not zones:
        raise CalibrationError("the truth file names no zone (only 'outside')", about="truth")
    classes = zones + ([OUTSIDE] if any(iv.zone == OUTSIDE for iv in truth) else [])
    if len(heard_rx) == 1 and len(classes) > 1:
        # nothing but a level to go on, and no second receiver to learn a device's offset from: how loud the
        # walk's device reads against shoppers' phones decides the zones (docs/zones.md, round 15)
        warnings.append(
            f"only receiver {heard_rx[0]!r} heard the walk: zones are told apart by how loud a device reads there, "
            "so the walk's device decides them, and the gateway's check of that device (\"devices vs walk\") needs "
            "two; walk with a phone carried the way shoppers carry theirs (install guide, section 9)"
        )
    index = Intervals(truth)
    warnings.extend(zone_name_warnings(truth, zone_positions))
    walked_s = zone_walk_seconds(truth)
    warnings.extend(zone_amount_checks(classes, rs, index, walked_s, span(all_adverts)))
    return _Walk(rs, heard_rx, zones, classes, index, walked_s, warnings)


def _kalman_r(walk: _Walk) -> float:
    """A robust measurement-noise estimate for the Kalman filter: the median spread of raw readings of one
    receiver inside one truth interval."""
    by_key: dict[tuple[int, str], list[float]] = {}
    for r in walk.readings:
        iv = walk.index.at(r.device, r.t)
        if iv is not None:
            by_key.setdefault((id(iv), r.rx), []).append(float(r.rssi))
    variances = [float(np.var(v, ddof=1)) for v in by_key.values() if len(v) >= 3]
    kalman_r = float(np.median(variances)) if variances else 25.0
    return max(kalman_r, STD_FLOOR_DB**2)


def _labels(steps: Steps, ivs: list[TruthInterval | None], walk: _Walk) -> np.ndarray[Any, np.dtype[np.int64]]:
    """Each step's class (-1: unlabelled); raises when a class has no labelled step, with what to do about it."""
    cls_index = {c: i for i, c in enumerate(walk.classes)}
    y = np.array([cls_index[iv.zone] if iv is not None else -1 for iv in ivs], dtype=np.int64)
    for c in walk.classes:
        if not (y == cls_index[c]).any():
            advice = (
                "stand outside by the door longer, or leave the 'outside' intervals out of the truth"
                if c == OUTSIDE
                else thin_zone_advice(walk.walked_s.get(c, 0.0))
            )
            raise CalibrationError(
                f"zone {c!r} has no labelled step: its readings are too few or too brief to fit; " + advice,
                about="truth",
            )
    return y


def _search_smoothing(
    search: _Search,
    walk: _Walk,
    base: Params,
    smoothing_entry: tuple[str, float, float],
    geometry: Geometry | None,
    only_grid: bool,
) -> None:
    """Cross-validates every fingerprint setting (and with `geometry`, every grid setting) under one smoothing,
    into `search`."""
    smoothing, window, q_grid = smoothing_entry
    q = q_grid if smoothing == "kalman" else base.kalman_q_db2_per_s
    params = Params(**{**base.__dict__, "smoothing": smoothing, "window_s": window, "kalman_q_db2_per_s": q})
    steps = compute_steps(walk.readings, walk.receivers, params)
    ivs, folds = step_folds(steps, walk.index)
    y = _labels(steps, ivs, walk)
    labelled = y >= 0
    n = len(walk.classes)

    def scores(pooled: bool, p: Params = params) -> list[FloatArray]:
        return held_out_scores(
            steps,
            y,
            folds,
            n,
            lambda st: ZoneModel(walk.zones, walk.receivers, walk.classes, *st, p),
            pooled,
            p.absent_rssi,
        )

    # Whether zones get spreads of their own: each held-out fold is replayed as if by another phone (shifted by
    # PHONE_SHIFTS_DB), and what places those best is kept (a tie keeps per-zone spreads).
    best_choice: tuple[bool, float, list[FloatArray]] | None = None
    for pooled in (False, True):
        lls = scores(pooled)
        hits = 0
        for k in range(CV_FOLDS):
            sel = labelled & (folds == k)
            hits += int((lls[k][sel].argmax(axis=1) == y[sel]).sum())
        acc_choice = hits / max(int(labelled.sum()), 1)
        if best_choice is None or acc_choice > best_choice[1]:
            best_choice = (pooled, acc_choice, lls)
    assert best_choice is not None
    pooled_choice, _, lls = best_choice
    for weight in WEIGHT_GRID:
        group: dict[tuple[float, float], Candidate] = {}
        for switch in SWITCH_TIME_GRID_S:
            post = held_out_posterior(steps, lls, folds, weight, switch, base.step_evidence_cap)
            for confirm in CONFIRM_GRID_S:
                pred = shown(steps, post, confirm)
                acc = float((pred[labelled] == y[labelled]).mean())
                flaps = flap_rate(steps, pred, y, ivs)
                search.table.append(
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
                if only_grid:
                    continue
                chosen = Params(
                    **{**params.__dict__, "likelihood_weight": weight, "switch_time_s": switch, "confirm_s": confirm}
                )
                score = acc - FLAP_PENALTY_PER_MIN * flaps
                candidate = (score, chosen, steps, post, y.astype(np.float64), pred, pooled_choice)
                group[switch, confirm] = candidate
                if search.best is None or score > search.best[0]:
                    search.best = candidate
        if any(c is search.best for c in group.values()):
            search.best_group = group
    if geometry is None:
        return

    def nb_lls(sigma: float) -> list[FloatArray]:
        """The fingerprint scores per fold with the grid's offset prior (the tracker's blend uses one)."""
        return scores(pooled_choice, Params(**{**params.__dict__, "offset_sigma_db": sigma}))

    for cand_score, cand_params, post, pred, row in grid_candidates(
        geometry, steps, y, folds, ivs, Params(**params.__dict__), (smoothing, window, q), nb_lls
    ):
        search.table.append(row)
        if search.best_grid is None or cand_score > search.best_grid[0]:
            search.best_grid = (cand_score, cand_params, steps, post, y.astype(np.float64), pred, pooled_choice)


def _choose(
    search: _Search, index: Intervals, auto: bool
) -> tuple[Candidate, dict[str, Any] | None, tuple[float, float] | None]:
    """The candidate to write, what the switch-time rule chose over what (None: the best scoring's own), and the
    grid's margin over the fingerprints with its standard error (None: the grid was not tried against them)."""
    best, switch_choice, grid_margin = search.best, None, None
    if best is not None:
        best, switch_choice = _stickiest_within_one_se(best, search.best_group, index)
    if search.best_grid is not None:
        if best is None:
            best = search.best_grid
        else:
            # One standard error rule: the walk is a handful of truth intervals, so a CV difference smaller than
            # its own spread over intervals is noise; the established fingerprints keep the benefit of the doubt.
            # (Measured: choosing the grid on any CV gain lost 2.6 points on average over five simulated days.)
            _, se = interval_gain(search.best_grid, best, index)
            grid_margin = (round(search.best_grid[0] - best[0], 4), round(se, 4))
            if auto and search.best_grid[0] - best[0] > se:
                best = search.best_grid
    assert best is not None
    return best, switch_choice, grid_margin


def _log_distance_curves(
    model: ZoneModel,
    steps: Steps,
    y: np.ndarray[Any, np.dtype[np.int64]],
    rx_pos: dict[str, tuple[float, float]],
    z_pos: dict[str, tuple[float, float]],
) -> dict[str, tuple[list[float], list[float]]]:
    """Without a floor grid but with positions: each receiver's path-loss curve from its readings against the
    distance to the middle of the zone they were taken in, into `model`; returns the points for the report."""
    points: dict[str, tuple[list[float], list[float]]] = {}
    if not (rx_pos and z_pos):
        return points
    labelled = y >= 0
    for ri, rx in enumerate(model.receivers):
        if rx not in rx_pos:
            continue
        sel = labelled & (steps.heard[:, ri] > 0)
        ds, vs = [], []
        for i in np.nonzero(sel)[0]:
            zp = z_pos.get(model.classes[y[i]])
            if zp is not None:
                ds.append(math.dist(zp, rx_pos[rx]))
                vs.append(float(steps.x[i, ri]))
        points[rx] = (ds, vs)
        f = fit_log_distance(np.array(ds), np.array(vs))
        if f is not None:
            model.pathloss[rx] = f
    return points


def _drop_implausible_radio(model: ZoneModel, warnings: list[str]) -> None:
    """Leaves out, with a warning, a receiver's curve or grid radio that is no radio's, and checks that what is
    written will load (the same checks `config check` and the daemon apply)."""
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
    if model.params.method == "grid" and not (model.pathloss and model.grid_radio):
        raise CalibrationError(
            "method 'grid' cannot run on this walk: no receiver's path loss could be fitted (too few readings at "
            "known distances); fit the fingerprints (the default method)"
        )
    try:
        ZoneModel.from_toml(model.to_toml())
    except ZonesError as e:
        raise CalibrationError(f"the fitted model cannot be written: {e}") from None


def _stickiest_within_one_se(
    best: Candidate, siblings: dict[tuple[float, float], Candidate], index: Intervals
) -> tuple[Candidate, dict[str, Any] | None]:
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
        gain, se = interval_gain(cand, best, index)
        if math.isfinite(se) and gain >= -se:
            note = {
                "best_scoring_s": p.switch_time_s,
                "chosen_s": switch,
                "cv_gain_and_se": (round(gain, 4), round(se, 4)),
            }
            return cand, note
    return best, None


def _centroid_blend_margin(best: Candidate, walk: _Walk) -> tuple[float, float]:
    """What pooling the centroid term (FIT_CENTROID_BLEND) into the chosen fingerprints does on the walk: the mean
    change of held-out accuracy per truth interval, and its standard error. The chosen settings and folds are
    replayed as chosen, with the blend alone changed."""
    _, params, steps, _, yf, _, pooled = best
    y = yf.astype(np.int64)
    _, folds = step_folds(steps, walk.index)
    blended = Params(**{**params.__dict__, "centroid_blend": FIT_CENTROID_BLEND})
    scores = held_out_scores(
        steps,
        y,
        folds,
        len(walk.classes),
        lambda st: ZoneModel(walk.zones, walk.receivers, walk.classes, *st, blended),
        pooled,
        params.absent_rssi,
    )
    post_b = held_out_posterior(
        steps, scores, folds, params.likelihood_weight, params.switch_time_s, params.step_evidence_cap
    )
    pred_b = shown(steps, post_b, params.confirm_s)
    gain, se = interval_gain((0.0, blended, steps, post_b, yf, pred_b, pooled), best, walk.index)
    return round(gain, 4), round(se, 4)  # (0.0, inf) where the walk can tell nothing

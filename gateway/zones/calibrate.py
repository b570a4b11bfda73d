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
from gateway.zones.classify import FloatArray, make_scorer
from gateway.zones.crossval import (
    CV_FOLDS,
    FLAP_PENALTY_PER_MIN,
    PHONE_SHIFTS_DB,
    WEIGHT_GRID,
    Candidate,
    confidence_threshold,
    flap_rate,
    interval_gain,
    step_folds,
)
from gateway.zones.estimate import OUTSIDE
from gateway.zones.floorplan import far_receivers, header_polygons, header_positions
from gateway.zones.grid import (
    bias_entries,
    fit_radio,
    radio_entries,
    step_groups,
    zones_without_receiver,
)
from gateway.zones.gridfit import grid_candidates, grid_geometry, interval_ids
from gateway.zones.model import (
    COORD_LIMIT_M,
    Params,
    ZoneModel,
    ZonesError,
    grid_radio_ok,
    pathloss_ok,
)
from gateway.zones.pathloss import fit_log_distance
from gateway.zones.samples import readings
from gateway.zones.walkcheck import (
    MIN_STREET_HEARD_S,
    CalibrationError,
    Intervals,
    check_time_span,
    overlap_warning,
    span,
    thin_zone_advice,
    zone_amount_checks,
    zone_name_warnings,
    zone_spelling_problem,
    zone_walk_seconds,
)
from gateway.zones.walksteps import STD_FLOOR_DB, Steps, compute_steps, fit_stats, forward_all, packet_interval, shown

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
    street = Intervals([iv for iv in truth if iv.zone == OUTSIDE])
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
    index = Intervals(truth)
    warnings.extend(zone_name_warnings(truth, zone_positions))
    walked_s = zone_walk_seconds(truth)
    warnings.extend(zone_amount_checks(classes, rs, index, walked_s, span(all_adverts)))

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
    rx_pos = header_positions(receivers or {}, "receivers", warnings)
    # receivers far off are named below, with the polygons; a zone is where zones.toml takes it or nowhere
    z_pos = header_positions(zone_positions or {}, "zones", warnings, COORD_LIMIT_M)
    # only the walked zones: a polygon of a zone the model does not know would make the file unloadable
    polygons = {z: poly for z, poly in header_polygons(zone_positions or {}, warnings).items() if z in cls_index}
    far = far_receivers(rx_pos, polygons) if polygons else []
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
        grid_geometry(classes, heard_rx, rx_pos, polygons, base) if base.method == "offset_nb" else (None, "")
    )
    if only_grid and geometry is None:
        raise CalibrationError(f"method 'grid' cannot run on this walk: {no_grid}")
    if geometry is None and "cells" in no_grid:
        warnings.append(f"the floor grid is left out: {no_grid}; the fingerprints do not need it")
    table: list[dict[str, Any]] = []
    best: Candidate | None = None
    best_grid: Candidate | None = None
    # the best candidate's siblings, by (switch time, confirm), for the one-standard-error rule below; only the best's
    # group is kept: each candidate holds a posterior per walk step, and all of them would take about 100 MB on the
    # department store's walk
    best_group: dict[tuple[float, float], Candidate] = {}
    for smoothing, window, q_grid in smoothing_grid:
        q = q_grid if smoothing == "kalman" else base.kalman_q_db2_per_s
        params = Params(**{**base.__dict__, "smoothing": smoothing, "window_s": window, "kalman_q_db2_per_s": q})
        grid_params = Params(**params.__dict__)
        steps = compute_steps(rs, heard_rx, params)
        ivs, folds = step_folds(steps, index)
        y = np.array([cls_index[iv.zone] if iv is not None else -1 for iv in ivs], dtype=np.int64)
        for c in classes:
            if not (y == cls_index[c]).any():
                advice = (
                    "stand outside by the door longer, or leave the 'outside' intervals out of the truth"
                    if c == OUTSIDE
                    else thin_zone_advice(walked_s.get(c, 0.0))
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
            group: dict[tuple[float, float], Candidate] = {}
            for switch in SWITCH_TIME_GRID_S:
                post = np.zeros((len(steps.t), len(classes)))
                for k in range(CV_FOLDS):
                    pk = forward_all(steps, lls[k], weight, switch, base.step_evidence_cap)
                    sel = folds == k
                    post[sel] = pk[sel]
                for confirm in CONFIRM_GRID_S:
                    pred = shown(steps, post, confirm)
                    acc = float((pred[labelled] == y[labelled]).mean())
                    flaps = flap_rate(steps, pred, y, ivs)
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

            for cand_score, cand_params, post, pred, row in grid_candidates(
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
            _, se = interval_gain(best_grid, best, index)
            grid_margin = (round(best_grid[0] - best[0], 4), round(se, 4))
            if auto and best_grid[0] - best[0] > se:
                best = best_grid
    assert best is not None
    _, params, steps, post, yf, pred, pooled_spread = best
    y = yf.astype(np.int64)
    labelled = y >= 0
    conf = post[labelled, pred[labelled]]
    correct = pred[labelled] == y[labelled]
    params.confidence_threshold = round(confidence_threshold(conf, correct, len(classes)), 4)
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
                interval_ids(ivs_final)[labelled],
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


def _centroid_blend_margin(
    best: Candidate, index: Intervals, zones: list[str], heard_rx: list[str], classes: list[str]
) -> tuple[float, float]:
    """What pooling the centroid term (FIT_CENTROID_BLEND) into the chosen fingerprints does on the walk: the mean
    change of held-out accuracy per truth interval, and its standard error. The chosen settings and folds are
    replayed as chosen, with the blend alone changed."""
    _, params, steps, post, yf, _, pooled = best
    y = yf.astype(np.int64)
    labelled = y >= 0
    _, folds = step_folds(steps, index)
    blended = Params(**{**params.__dict__, "centroid_blend": FIT_CENTROID_BLEND})
    post_b = np.zeros_like(post)
    for k in range(CV_FOLDS):
        train = labelled & (folds != k)
        stats = fit_stats(steps.x[train], steps.heard[train], y[train], len(classes), params.absent_rssi, pooled)
        scorer = make_scorer(ZoneModel(zones, heard_rx, classes, *stats, blended))
        xs = steps.x + PHONE_SHIFTS_DB[k % len(PHONE_SHIFTS_DB)]
        ll = np.array([scorer.scores(xs[i], steps.heard[i]) for i in range(len(steps.t))])
        pk = forward_all(steps, ll, params.likelihood_weight, params.switch_time_s, params.step_evidence_cap)
        post_b[folds == k] = pk[folds == k]
    pred_b = shown(steps, post_b, params.confirm_s)
    gain, se = interval_gain((0.0, blended, steps, post_b, yf, pred_b, pooled), best, index)
    return round(gain, 4), round(se, 4)  # (0.0, inf) where the walk can tell nothing

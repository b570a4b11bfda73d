"""The grid method's side of a fit: the floor grid from the walk's geometry, and its settings cross-validated on
the same folds, phone shifts and HMM grid as the fingerprints."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from gateway.truth import TruthInterval
from gateway.zones.classify import FloatArray
from gateway.zones.crossval import (
    CV_FOLDS,
    FLAP_PENALTY_PER_MIN,
    PHONE_SHIFTS_DB,
    WEIGHT_GRID,
    flap_rate,
    held_out_posterior,
)
from gateway.zones.estimate import OUTSIDE
from gateway.zones.grid import (
    HOLE_POLICY,
    Grid,
    GridScorer,
    bias_entries,
    build_grid,
    fit_radio,
    radio_entries,
    step_groups,
)
from gateway.zones.model import MAX_GRID_CELLS, Params, ZoneModel, grid_cells
from gateway.zones.walksteps import Steps, shown

# The grid method's motion model: how far the posterior spreads per second between steps. Shoppers stand
# and walk (~1.5 m/s); a slower spread trades reaction time for fewer flaps, and the walk decides.
WALK_SPEED_GRID_M_S = (0.5, 1.0, 1.5)
# ...and a small chance per step of having moved anywhere (a model error, a missed reading): the switch time
# of the fingerprint method made no measurable difference here, so one value.
GRID_SWITCH_TIME_S = 90.0
# The grid and the fingerprints err in different places (the grid places people in a zone without a receiver
# poorly, the fingerprints confuse big neighbouring zones): averaging their zone posteriors can beat both.
GRID_BLEND_GRID = (0.0, 0.5)


OFFSET_SIGMA_GRID_DB = (6.0, 3.0, 0.0)  # the grid method's prior, still chosen; most robust first (ties: wider)


@dataclass
class Geometry:
    grid: Grid
    rx_xy: FloatArray


def grid_geometry(
    classes: list[str],
    receivers: list[str],
    rx_pos: dict[str, tuple[float, float]],
    polygons: dict[str, list[tuple[float, float]]],
    params: Params,
) -> tuple[Geometry | None, str]:
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
    return Geometry(grid, rx_xy), ""


def interval_ids(ivs: list[TruthInterval | None]) -> np.ndarray[Any, np.dtype[np.int64]]:
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


def grid_candidates(
    geo: Geometry,
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
    groups = step_groups(steps.device, steps.t, interval_ids(ivs))
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
        nb_post = held_out_posterior(steps, fingerprint, folds, weight, GRID_SWITCH_TIME_S, params.step_evidence_cap)
        for speed in WALK_SPEED_GRID_M_S:
            grid_post = np.zeros((len(steps.t), n_classes))
            for k, (sc, ll) in enumerate(per_fold):
                sc.set_speed(speed)
                pk = _grid_forward_all(steps, sc, ll, weight, GRID_SWITCH_TIME_S)
                grid_post[folds == k] = pk[folds == k]
            for blend in GRID_BLEND_GRID:
                post = (1.0 - blend) * grid_post + blend * nb_post
                pred = shown(steps, post, 0.0)
                acc = float((pred[labelled] == y[labelled]).mean())
                flaps = flap_rate(steps, pred, y, ivs)
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


def write_floor_radio(
    model: ZoneModel,
    geo: Geometry,
    steps: Steps,
    y: np.ndarray[Any, np.dtype[np.int64]],
    ivs: list[TruthInterval | None],
    polygons: dict[str, list[tuple[float, float]]],
) -> dict[str, tuple[list[float], list[float]]]:
    """The grid's radio (path-loss curves, levels, sensitivities, the facade's loss), fitted with the walk placed
    inside its zones on every labelled step, into `model`; written even when the fingerprints won, so a person can
    switch `params.method` to "grid" by hand. Returns each receiver's (distances, readings) for the report's plot."""
    labelled = y >= 0
    radio, cells = fit_radio(
        geo.grid,
        geo.rx_xy,
        steps.x[labelled],
        steps.heard[labelled],
        y[labelled],
        step_groups(
            [d for d, ok in zip(steps.device, labelled, strict=True) if ok],
            steps.t[labelled],
            interval_ids(ivs)[labelled],
        ),
        len(model.classes),
    )
    model.params.outside_loss_db = round(radio.outside_loss_db, 2)
    model.zone_polygons = polygons
    model.grid_radio = radio_entries(model.receivers, radio)
    model.grid_bias = bias_entries(model.classes, model.receivers, radio)
    xy = geo.grid.xy[cells]
    points: dict[str, tuple[list[float], list[float]]] = {}
    for ri, rx in enumerate(model.receivers):
        if rx in model.grid_radio:
            model.pathloss[rx] = (float(radio.rssi_at_1m[ri]), float(radio.exponent[ri]))
            sel = steps.heard[labelled][:, ri] > 0
            dists = np.sqrt(((xy[sel] - geo.rx_xy[ri]) ** 2).sum(axis=1))
            points[rx] = (dists.tolist(), steps.x[labelled][sel, ri].tolist())
    return points

"""Geometric zone estimation: a likelihood per floor cell from path-loss curves, a walking HMM over cells.

The floor plan (zone polygons) is cut into square cells. Each receiver's log-distance curve gives the RSSI
expected in each cell; a filtered RSSI vector scores every cell with the phone's constant offset integrated
out (as the fingerprint method does) plus a heard/not-heard term from each receiver's fitted sensitivity. A
forward filter over cells moves the posterior with a walking-speed diffusion between steps, and a zone's
probability is the posterior mass of its cells. Unlike one Gaussian per zone, this describes a 10 x 10 m zone
by where in it the phone may be, and generalises to spots the calibration walk never stood on.

When the walk has `outside` samples the grid extends beyond the floor plan by OUTSIDE_BAND_M; those cells are
"outside" and their expected RSSI carries one extra loss (the facade), fitted from the walk.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from gateway.zones.pathloss import MIN_DISTANCE_M, fit_log_distance

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

OUTSIDE_BAND_M = 6.0  # how far beyond the floor plan the grid reaches when "outside" is a class
HOLE = -1  # a floor cell in no zone polygon (an aisle between zones)
SIGMA_FLOOR_DB = 3.0  # a fitted spread below this is the walk's luck (same reasoning as the fingerprints)
P_HEARD_CLIP = 0.02  # one missing receiver never vetoes a cell outright
LOCALISE_WINDOW_S = 5.0  # while fitting, the walk's position is estimated per window of this length
FIT_ITERATIONS = 3  # localise the walk, refit the curves, repeat
DT_QUANTUM_S = 0.25  # motion kernels are cached per multiple of this
MAX_MOTION_DT_S = 30.0  # beyond this the motion kernel is as good as flat
MAX_LOSS_DB = 40.0
MIN_HEARD_SLOPE = 0.05  # logit per dB of p_heard's fitted curve: louder is never less likely to be heard


def points_in_polygon(px: FloatArray, py: FloatArray, poly: FloatArray) -> npt.NDArray[np.bool_]:
    """Ray casting, vectorised over points."""
    inside = np.zeros(px.shape, dtype=np.bool_)
    n = len(poly)
    for i in range(n):
        x0, y0 = poly[i]
        x1, y1 = poly[(i + 1) % n]
        cross = (y0 > py) != (y1 > py)
        with np.errstate(divide="ignore", invalid="ignore"):
            xi = x0 + (py - y0) * (x1 - x0) / (y1 - y0)
        inside ^= cross & (px < xi)
    return inside


def zones_without_receiver(
    rx_pos: dict[str, tuple[float, float]], polygons: dict[str, list[tuple[float, float]]]
) -> list[str]:
    """The zones no receiver stands in, sorted: the hardest to tell from their neighbours."""
    px = np.array([x for x, _ in rx_pos.values()], dtype=np.float64)
    py = np.array([y for _, y in rx_pos.values()], dtype=np.float64)
    return sorted(z for z, poly in polygons.items() if not points_in_polygon(px, py, np.array(poly)).any())


@dataclass
class Grid:
    """Cells of the floor plan (plus the outside band), row-major: index = iy * nx + ix."""

    xs: FloatArray  # (nx,) cell centres
    ys: FloatArray  # (ny,)
    cls: IntArray  # (cells,) class index, or HOLE
    outside: npt.NDArray[np.bool_]  # (cells,) beyond the floor plan
    # hole_to_nearest's answer with the cls and outside it was computed from: the fit asks for it in every
    # iteration and on a floor with large aisles it takes seconds. The inputs are kept because the dataclass is
    # mutable: a changed cls must not be answered from the cache (comparing costs one pass over the cells).
    _nearest: tuple[IntArray, npt.NDArray[np.bool_], IntArray] | None = field(
        default=None, init=False, repr=False, compare=False
    )

    @property
    def nx(self) -> int:
        return len(self.xs)

    @property
    def ny(self) -> int:
        return len(self.ys)

    @property
    def xy(self) -> FloatArray:
        gx, gy = np.meshgrid(self.xs, self.ys)
        out: FloatArray = np.column_stack([gx.ravel(), gy.ravel()])
        return out


def build_grid(
    classes: list[str], polygons: dict[str, list[tuple[float, float]]], cell_m: float, outside_class: int | None
) -> Grid:
    pts = np.array([p for z in polygons.values() for p in z], dtype=np.float64)
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    band = OUTSIDE_BAND_M if outside_class is not None else 0.0
    xs = np.arange(lo[0] - band + cell_m / 2, hi[0] + band, cell_m)
    ys = np.arange(lo[1] - band + cell_m / 2, hi[1] + band, cell_m)
    gx, gy = np.meshgrid(xs, ys)
    px, py = gx.ravel(), gy.ravel()
    cls = np.full(px.shape, HOLE, dtype=np.int64)
    for ci in range(len(classes) - 1, -1, -1):  # the first class listed wins where polygons overlap
        poly = polygons.get(classes[ci])
        if poly is not None:
            cls[points_in_polygon(px, py, np.array(poly, dtype=np.float64))] = ci
    beyond = (px < lo[0]) | (px > hi[0]) | (py < lo[1]) | (py > hi[1])
    if outside_class is not None:
        cls[beyond] = outside_class
    return Grid(xs, ys, cls, beyond)


NEAREST_CHUNK_PAIRS = 1 << 20  # (hole, zone cell) distances held at once by hole_to_nearest: two 8 MB tables


def hole_to_nearest(grid: Grid) -> IntArray:
    """The class of each cell, hole cells given the class of the nearest zone cell (ties: the lowest cell index)."""
    cached = grid._nearest
    if cached is not None and np.array_equal(cached[0], grid.cls) and np.array_equal(cached[1], grid.outside):
        return cached[2].copy()  # a copy: callers own what they get, as they did before the cache
    cls = grid.cls.copy()
    holes = np.flatnonzero(cls == HOLE)
    owned = np.flatnonzero((cls != HOLE) & ~grid.outside)
    if len(holes) and len(owned):
        xy = grid.xy
        ox, oy = xy[owned, 0], xy[owned, 1]
        nearest = np.empty(len(holes), dtype=np.int64)
        # Every hole against every zone cell at once was (holes x owned x 2) doubles: 12 GB on a 400 x 300 m floor
        # with four 40 m zones. Holes are independent rows, so a chunk of them at a time gives the same argmin
        # (dx^2 + dy^2 is the same arithmetic as summing the squared pair, so ties still go to the first cell).
        step = max(1, NEAREST_CHUNK_PAIRS // len(owned))
        for i in range(0, len(holes), step):
            h = holes[i : i + step]
            dx = xy[h, 0, None] - ox[None, :]
            dy = xy[h, 1, None] - oy[None, :]
            np.square(dx, out=dx)
            np.square(dy, out=dy)
            dx += dy
            nearest[i : i + step] = np.argmin(dx, axis=1)
        cls[holes] = cls[owned[nearest]]
    grid._nearest = (grid.cls.copy(), grid.outside.copy(), cls.copy())
    return cls


@dataclass
class RadioMap:
    """What the grid method fitted per receiver (index = the model's receiver order; nan = not usable)."""

    rssi_at_1m: FloatArray
    exponent: FloatArray
    sigma_db: FloatArray
    heard_a: FloatArray  # p_heard = sigmoid(heard_a + heard_b * expected rssi)
    heard_b: FloatArray
    outside_loss_db: float = 0.0
    # (classes, rx) what a zone adds to the curve on average (walls, shelving, the facade for outside): the
    # curve gives the shape inside a zone, the walk's mean residual there its level; 0 where not fitted
    bias: FloatArray | None = None
    report: dict[str, Any] = field(default_factory=dict)


def expected_rssi(grid: Grid, rx_xy: FloatArray, radio: RadioMap) -> FloatArray:
    xy = grid.xy
    d = np.sqrt(((xy[:, None, :] - rx_xy[None, :, :]) ** 2).sum(axis=2))
    mu: FloatArray = radio.rssi_at_1m[None, :] - 10.0 * radio.exponent[None, :] * np.log10(
        np.maximum(d, MIN_DISTANCE_M)
    )
    mu[grid.outside] -= radio.outside_loss_db
    if radio.bias is not None:
        owner = hole_to_nearest(grid)
        mu += np.where((owner >= 0)[:, None], radio.bias[np.maximum(owner, 0)], 0.0)
    return mu


class GridScorer:
    """Log-likelihood per cell of one filtered RSSI vector, the walking prediction and the zone masses."""

    def __init__(
        self,
        grid: Grid,
        rx_xy: FloatArray,
        radio: RadioMap,
        n_classes: int,
        offset_sigma_db: float,
        walk_speed_m_s: float,
        hole_policy: str = "nearest",
    ) -> None:
        self.grid = grid
        self.usable = np.isfinite(radio.rssi_at_1m)
        self.mu = expected_rssi(grid, np.nan_to_num(rx_xy), _finite(radio))
        self.w = np.where(self.usable, 1.0 / np.square(np.nan_to_num(radio.sigma_db, nan=1.0)), 0.0)
        self.var_b = offset_sigma_db**2
        # The logistic was fitted on the calibration tag at positions fitted to its own readings. In use, the
        # RSSI in a cell scatters by sigma around the curve and the phone is offset by up to offset_sigma_db
        # (and advertises at another rate): averaging the logistic over that spread (the probit
        # approximation) softens it. Measured: unsoftened, a silent receiver vetoed cells too hard.
        b = np.nan_to_num(radio.heard_b)
        spread2 = np.square(np.nan_to_num(radio.sigma_db)) + offset_sigma_db**2
        soften = 1.0 / np.sqrt(1.0 + math.pi * spread2 * np.square(b) / 8.0)
        z = (np.nan_to_num(radio.heard_a)[None, :] + b[None, :] * self.mu) * soften[None, :]
        with np.errstate(over="ignore"):  # exp(+large) -> inf -> p = 0, clipped: the limit, not an error
            p = np.clip(1.0 / (1.0 + np.exp(-z)), P_HEARD_CLIP, 1 - P_HEARD_CLIP)
        self.log_p = np.where(self.usable[None, :], np.log(p), 0.0)
        self.log_q = np.where(self.usable[None, :], np.log1p(-p), 0.0)
        self.mu_t = np.ascontiguousarray(self.mu.T)
        self.mu2_t = np.ascontiguousarray(np.square(self.mu).T)
        self.heard_lin_t = np.ascontiguousarray((self.log_p - self.log_q).T)
        self.heard_const = self.log_q @ self.usable.astype(np.float64)
        cls = hole_to_nearest(grid) if hole_policy == "nearest" else grid.cls
        self.cell_class = cls
        n = len(cls)
        self.assign = np.zeros((n_classes, n))
        owned = cls >= 0
        self.assign[cls[owned], np.flatnonzero(owned)] = 1.0
        self.speed = walk_speed_m_s
        self._kernels: dict[int, tuple[FloatArray, FloatArray]] = {}
        self.uniform = np.full(n, 1.0 / n)

    def loglik(self, x: FloatArray, heard: FloatArray, cells: IntArray | None = None) -> FloatArray:
        """(cells,) for one step, or (steps, cells) for a stack of steps; only the given cells, if given.

        The squared residuals are expanded into matrix-vector products against precomputed per-cell tables
        (x^2 - 2 x mu + mu^2): this runs for every classification of every device, so no (cells, rx) temporaries.
        """
        mu_t, mu2_t, heard_lin_t, heard_const = self.mu_t, self.mu2_t, self.heard_lin_t, self.heard_const
        if cells is not None:
            mu_t, mu2_t, heard_lin_t = mu_t[:, cells], mu2_t[:, cells], heard_lin_t[:, cells]
            heard_const = heard_const[cells]
        h = heard * self.usable
        hw = h * self.w
        hwx = hw * x
        sw = hw.sum(axis=-1)[..., None]
        sx = hwx.sum(axis=-1)[..., None]
        swr = sx - hw @ mu_t
        swr2 = (hwx * x).sum(axis=-1)[..., None] - 2.0 * (hwx @ mu_t) + hw @ mu2_t
        quad = swr2 - swr * swr / (sw + 1.0 / self.var_b) if self.var_b > 0 else swr2
        out: FloatArray = -0.5 * quad + h @ heard_lin_t + heard_const
        return out

    def without(self, absent: frozenset[int]) -> GridScorer:
        """This scorer with the receivers at these indices left out: neither their readings nor their silence count."""
        out = copy.copy(self)
        out.usable = self.usable & ~np.isin(np.arange(len(self.usable)), list(absent))
        out.heard_const = self.log_q @ out.usable.astype(np.float64)
        return out

    def set_speed(self, walk_speed_m_s: float) -> None:
        self.speed = walk_speed_m_s
        self._kernels.clear()

    def _kernel(self, dt: float) -> tuple[FloatArray, FloatArray]:
        k = round(min(max(dt, 0.0), MAX_MOTION_DT_S) / DT_QUANTUM_S)
        got = self._kernels.get(k)
        if got is None:
            s = max(self.speed * k * DT_QUANTUM_S, 1e-3)
            got = (blur_matrix(self.grid.xs, s), blur_matrix(self.grid.ys, s))
            self._kernels[k] = got
        return got

    def forward(self, prior: FloatArray | None, ll: FloatArray, dt: float, switch_time_s: float) -> FloatArray:
        """One forward step over cells: walk (diffusion), a small chance of relocating anywhere, the evidence."""
        lik = np.exp(ll - ll.max())
        if prior is None:
            post = lik
        else:
            kx, ky = self._kernel(dt)
            moved = (ky @ prior.reshape(self.grid.ny, self.grid.nx) @ kx.T).ravel()
            stay = math.exp(-max(dt, 0.0) / switch_time_s)
            post = (stay * moved + (1.0 - stay) * self.uniform) * lik
        s = float(post.sum())
        if not s > 0 or not math.isfinite(s):
            return self.uniform.copy()
        out: FloatArray = post / s
        return out

    def class_mass(self, post: FloatArray) -> FloatArray:
        out: FloatArray = self.assign @ post
        return out


def _finite(radio: RadioMap) -> RadioMap:
    return RadioMap(
        np.nan_to_num(radio.rssi_at_1m, nan=-200.0),
        np.nan_to_num(radio.exponent, nan=2.0),
        np.nan_to_num(radio.sigma_db, nan=10.0),
        radio.heard_a,
        radio.heard_b,
        radio.outside_loss_db,
        None if radio.bias is None else np.nan_to_num(radio.bias),
    )


def blur_matrix(centres: FloatArray, sigma: float) -> FloatArray:
    """Column j: where mass in cell j goes within one step (a Gaussian, cut at the walls, mass conserved)."""
    d = centres[:, None] - centres[None, :]
    k = np.exp(-0.5 * np.square(d / sigma))
    out: FloatArray = k / k.sum(axis=0, keepdims=True)
    return out


# ---- fitting from the walk ---------------------------------------------------------------------------------


def fit_radio(
    grid: Grid,
    rx_xy: FloatArray,
    x: FloatArray,
    heard: FloatArray,
    y: IntArray,
    group: IntArray,
    n_classes: int,
    use_bias: bool = True,
) -> tuple[RadioMap, IntArray]:
    """Path-loss curves, spreads, sensitivities and the facade loss from labelled steps, by alternating between
    positioning the walk inside its labelled zone and refitting the curves to those positions.

    The truth says only which zone the walk was in; the first fit uses each zone's centre, later fits the cell
    of that zone that best explains each `group` of steps (a few seconds standing: one position per group).
    Returns the radio map and the cell chosen for every step.
    """
    m = x.shape[1]
    xy = grid.xy
    centre_cell = np.zeros(len(y), dtype=np.int64)
    class_cells: dict[int, IntArray] = {}
    for c in np.unique(y):
        cells = np.flatnonzero(grid.cls == c)
        class_cells[int(c)] = cells
        mid = xy[cells].mean(axis=0)
        centre_cell[y == c] = cells[np.argmin(((xy[cells] - mid) ** 2).sum(axis=1))]
    cell = centre_cell
    nan = np.full(m, np.nan)
    radio = RadioMap(nan.copy(), nan.copy(), nan.copy(), np.zeros(m), np.zeros(m))
    for it in range(FIT_ITERATIONS + 1):
        d = np.sqrt(((xy[cell][:, None, :] - rx_xy[None, :, :]) ** 2).sum(axis=2))  # (steps, rx)
        inside = ~grid.outside[cell]
        a, n, sig = nan.copy(), nan.copy(), nan.copy()
        for r in range(m):
            sel = (heard[:, r] > 0) & inside
            f = fit_log_distance(d[sel, r], x[sel, r]) if sel.sum() >= 3 else None
            if f is None:
                continue
            a[r], n[r] = f
            res = x[sel, r] - (f[0] - 10 * f[1] * np.log10(np.maximum(d[sel, r], MIN_DISTANCE_M)))
            # positions were chosen to fit these very readings: about 2 of the m values per step are spent
            dof = m / (m - 2) if m > 2 and it > 0 else 1.0
            sig[r] = max(float(np.sqrt(np.mean(res**2) * dof)), SIGMA_FLOOR_DB)
        loss = 0.0
        out_sel = ~inside
        if out_sel.any():
            exp_out = a[None, :] - 10 * n[None, :] * np.log10(np.maximum(d, MIN_DISTANCE_M))
            hh = (heard > 0) & out_sel[:, None] & np.isfinite(exp_out)
            if hh.any():
                loss = float(np.clip(np.median((exp_out - x)[hh]), 0.0, MAX_LOSS_DB))
        radio = RadioMap(a, n, sig, np.zeros(m), np.zeros(m), loss)
        if use_bias:
            radio.bias = _zone_bias(grid, rx_xy, radio, x, heard, y, cell, n_classes)
            radio.outside_loss_db = 0.0  # the outside class's bias is the facade, per receiver
            mu = expected_rssi(grid, rx_xy, _finite(radio))[cell]
            dof = m / (m - 2) if m > 2 and it > 0 else 1.0
            for r in range(m):
                sel = (heard[:, r] > 0) & np.isfinite(a[r])
                if sel.sum() >= 3:
                    res = x[sel, r] - mu[sel, r]
                    sig[r] = max(float(np.sqrt(np.mean(res**2) * dof)), SIGMA_FLOOR_DB)
        radio.heard_a, radio.heard_b = _fit_heard(expected_rssi(grid, rx_xy, _finite(radio))[cell], heard)
        if it == FIT_ITERATIONS:
            break
        scorer = GridScorer(grid, rx_xy, radio, n_classes, 0.0, 1.0, "unknown")
        cell = _localise(scorer, x, heard, y, group, class_cells)
    radio.report = {"outside_loss_db": round(radio.outside_loss_db, 2)}
    return radio, cell


BIAS_PSEUDO_STEPS = 10.0  # a zone's mean residual is shrunk towards 0 (the bare curve) with this many steps


def _zone_bias(
    grid: Grid,
    rx_xy: FloatArray,
    radio: RadioMap,
    x: FloatArray,
    heard: FloatArray,
    y: IntArray,
    cell: IntArray,
    n_classes: int,
) -> FloatArray:
    base = RadioMap(radio.rssi_at_1m, radio.exponent, radio.sigma_db, radio.heard_a, radio.heard_b, 0.0)
    mu = expected_rssi(grid, rx_xy, _finite(base))[cell]
    bias = np.zeros((n_classes, x.shape[1]))
    for c in range(n_classes):
        sel = y == c
        h = heard[sel] > 0
        res = np.where(h, x[sel] - mu[sel], 0.0)
        bias[c] = res.sum(axis=0) / (h.sum(axis=0) + BIAS_PSEUDO_STEPS)
    bias[:, ~np.isfinite(radio.rssi_at_1m)] = 0.0
    return bias


LOCALISE_CHUNK = 256  # steps scored against every cell at once


def _localise(
    scorer: GridScorer, x: FloatArray, heard: FloatArray, y: IntArray, group: IntArray, class_cells: dict[int, IntArray]
) -> IntArray:
    """The cell of its labelled zone that best explains each group of steps (summed log-likelihood).

    The walk is scored a chunk of steps at a time: the whole (steps, cells) table and loglik's temporaries of
    that shape took 1 GB on a 20-zone, 80 x 48 m store's walk, more than a small gateway has to fit on.
    """
    totals: dict[int, FloatArray] = {}
    for i in range(0, len(y), LOCALISE_CHUNK):
        # Only the cells of the zones this chunk is labelled with: scoring every cell was 85% of a fit's time on a
        # 400 x 300 m floor whose four zones hold 5% of the cells.
        start: dict[int, int] = {}
        for c in np.unique(y[i : i + LOCALISE_CHUNK]).tolist():
            start[c] = sum(len(class_cells[k]) for k in start)
        cols = np.concatenate([class_cells[c] for c in start])
        ll = scorer.loglik(x[i : i + LOCALISE_CHUNK], heard[i : i + LOCALISE_CHUNK], cols)
        g_chunk = group[i : i + LOCALISE_CHUNK]
        for g in np.unique(g_chunk):
            rows = np.flatnonzero(g_chunk == g)
            c = int(y[i + rows[0]])
            part = ll[rows, start[c] : start[c] + len(class_cells[c])].sum(axis=0)
            prev = totals.get(int(g))
            totals[int(g)] = part if prev is None else prev + part
    cell = np.zeros(len(y), dtype=np.int64)
    for g, total in totals.items():
        sel = np.flatnonzero(group == g)
        cell[sel] = class_cells[int(y[sel[0]])][int(np.argmax(total))]
    return cell


def _fit_heard(mu: FloatArray, heard: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Per receiver, logistic regression of heard/not heard on the expected RSSI (a soft sensitivity).

    A small ridge keeps it finite when a receiver heard every step; the slope is kept at or above
    MIN_HEARD_SLOPE, and where that binds the intercept is refitted for that slope."""
    m = mu.shape[1]
    a_out, b_out = np.zeros(m), np.zeros(m)
    for r in range(m):
        z = mu[:, r]
        if not np.isfinite(z).all():
            continue
        h = (heard[:, r] > 0).astype(np.float64)
        zc = z + 90.0  # centred near typical sensitivities: conditions the 2x2 system
        feats = np.column_stack([np.ones_like(zc), zc])
        beta = np.array([0.0, 0.2])
        ridge = np.diag([1e-2, 1.0])
        best = _heard_objective(beta, feats, h, ridge)
        for _ in range(50):
            with np.errstate(over="ignore"):  # exp(+large) -> inf -> p = 0: the limit, not an error
                p = 1.0 / (1.0 + np.exp(-(feats @ beta)))
            g = feats.T @ (h - p) - ridge @ beta
            hess = (feats * (p * (1 - p))[:, None]).T @ feats + ridge
            step = np.linalg.solve(hess, g)
            # A full Newton step overshoots where the curve is flat and then runs away (on clean data with a true
            # slope of 0.2 it ended at slope -2950): halve it until the objective does not fall.
            t = 1.0
            while t > 1e-6 and not _heard_objective(beta + t * step, feats, h, ridge) >= best:
                t *= 0.5
            if t <= 1e-6:
                break
            beta = beta + t * step
            best = _heard_objective(beta, feats, h, ridge)
            if float(np.abs(t * step).max()) < 1e-8:
                break
        b, a_c = float(beta[1]), float(beta[0])
        if b < MIN_HEARD_SLOPE:
            # The unclamped intercept belongs to another slope: kept with the clamp's, it put a receiver's
            # sensitivity at 501910 dBm on a store with a 40 dB facade. The best curve with this slope instead.
            b = MIN_HEARD_SLOPE
            a_c = _fit_intercept(b * zc, h, float(ridge[0, 0]))
        a_out[r] = a_c + 90.0 * b
        b_out[r] = b
    return a_out, b_out


def _heard_objective(beta: FloatArray, feats: FloatArray, h: FloatArray, ridge: FloatArray) -> float:
    """The ridged log-likelihood of heard/not heard that `_fit_heard`'s Newton iteration climbs."""
    eta = feats @ beta
    return float(h @ eta - np.logaddexp(0.0, eta).sum() - 0.5 * beta @ ridge @ beta)


def _fit_intercept(offset: FloatArray, h: FloatArray, ridge: float) -> float:
    """The intercept a maximising the ridged log-likelihood of h under sigmoid(a + offset), the slope held fixed.

    Newton on a concave function of one variable, safeguarded by bisection: the gradient falls as a rises, so
    a bracket of its root is kept, and a Newton step that leaves the bracket (a plain one overshoots where the
    curve is flat) is replaced by the bracket's midpoint.
    """

    def grad_hess(a: float) -> tuple[float, float]:
        with np.errstate(over="ignore"):  # exp(+large) -> inf -> p = 0: the limit, not an error
            p = 1.0 / (1.0 + np.exp(-(a + offset)))
        return float((h - p).sum()) - ridge * a, float((p * (1 - p)).sum()) + ridge

    # the ridge bounds the root: |sum(h - p)| <= n, so |a| <= n / ridge
    lo, hi = -len(h) / ridge - 1.0, len(h) / ridge + 1.0
    a = 0.0
    for _ in range(100):
        g, hess = grad_hess(a)
        if g == 0:
            return a
        if g > 0:
            lo = a
        else:
            hi = a
        step = g / hess
        nxt = a + step
        if not lo < nxt < hi:
            nxt = 0.5 * (lo + hi)
        if abs(nxt - a) < 1e-10 * max(1.0, abs(a)):
            return nxt
        a = nxt
    return a


def step_groups(device: list[str], t: FloatArray, interval_id: IntArray) -> IntArray:
    """Consecutive steps of one truth interval, cut every LOCALISE_WINDOW_S: one standing position each."""
    out = np.zeros(len(t), dtype=np.int64)
    keys: dict[tuple[str, int, int], int] = {}
    starts: dict[int, float] = {}
    for i, (d, ti, iv) in enumerate(zip(device, t.tolist(), interval_id.tolist(), strict=True)):
        t0 = starts.setdefault(iv, ti)
        k = (d, iv, int((ti - t0) // LOCALISE_WINDOW_S))
        out[i] = keys.setdefault(k, len(keys))
    return out


# ---- from and to the zone model ----------------------------------------------------------------------------

HOLE_POLICY = "nearest"


def bias_entries(classes: list[str], receivers: list[str], radio: RadioMap) -> dict[str, dict[str, float]]:
    if radio.bias is None:
        return {}
    return {
        c: {rx: float(radio.bias[ci, ri]) for ri, rx in enumerate(receivers) if np.isfinite(radio.rssi_at_1m[ri])}
        for ci, c in enumerate(classes)
    }


def radio_entries(receivers: list[str], radio: RadioMap) -> dict[str, tuple[float, float, float]]:
    """The model's grid_radio entries: (sigma, sensitivity where p_heard = 1/2, logit slope per dB)."""
    out: dict[str, tuple[float, float, float]] = {}
    for r, rx in enumerate(receivers):
        if np.isfinite(radio.rssi_at_1m[r]) and radio.heard_b[r] > 0:
            b = float(radio.heard_b[r])
            out[rx] = (float(radio.sigma_db[r]), -float(radio.heard_a[r]) / b, b)
    return out


def scorer_from_model(model: Any) -> GridScorer:
    """The grid scorer a zones file describes; ValueError when it lacks the geometry."""
    if not model.zone_polygons or not model.grid_radio:
        raise ValueError("the grid method needs zone polygons and per-receiver path-loss fits in the zones file")
    m = len(model.receivers)
    nan = np.full(m, np.nan)
    a, n, sig, ha, hb = nan.copy(), nan.copy(), nan.copy(), np.zeros(m), np.zeros(m)
    rx_xy = np.zeros((m, 2))
    for r, rx in enumerate(model.receivers):
        if rx in model.pathloss and rx in model.grid_radio and rx in model.receiver_positions:
            a[r], n[r] = model.pathloss[rx]
            sig[r], sens, slope = model.grid_radio[rx]
            ha[r], hb[r] = -sens * slope, slope
            rx_xy[r] = model.receiver_positions[rx]
    p = model.params
    radio = RadioMap(a, n, sig, ha, hb, p.outside_loss_db)
    if model.grid_bias:
        radio.bias = np.array(
            [[model.grid_bias.get(c, {}).get(rx, 0.0) for rx in model.receivers] for c in model.classes]
        )
    outside = model.classes.index("outside") if model.outside_is_class else None
    grid = build_grid(model.classes, model.zone_polygons, p.grid_cell_m, outside)
    return GridScorer(grid, rx_xy, radio, len(model.classes), p.offset_sigma_db, p.walk_speed_m_s, HOLE_POLICY)

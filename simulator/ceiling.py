"""The zone accuracy a store layout allows: an estimator that knows the simulator's own radio map.

Two questions need this figure. A store planning its receivers wants to know, before installing, whether they
can tell its zones apart at all; and the zone model's accuracy means little without knowing how much of the
gap to 100 % is the layout and the noise rather than the model.

The oracle knows what no calibration walk can: every receiver's position and path loss, the walls, facade and
door, each device's own offset and body factor, the noise model's spreads (simulator/radio.py), and that people
outside walk on the pavement by the door. It does not know the draws of the shadowing and fading, nor where the
device is or which way its carrier faces. Per second of a visit it scores every 1 m cell where people walk (for
eight headings, summed) from that second's readings: the mean RSSI each receiver reported against what it
reports from that cell (the packets it catches far away are the lucky ones), and the chance of each receiver
hearing nothing. Forward-backward over the whole visit, with a diffusion between seconds, gives each second a
posterior over cells, and the zone holding most of it is the estimate; the forward pass alone gives the
estimate of an oracle deciding as it goes. It is scored like `evaluate_day`: once per report, against the zone
the device was really in.

It is an estimate of the ceiling, not a proof of one. The shadowing is correlated over 45 s and 3 m but scored
as a fresh draw each second, which overstates the evidence. So the oracle tempers it and chooses how far a
second's move may go: of six settings, it keeps the one that scores best against the truth, as a ceiling may.
It also keeps hindsight or deciding as it goes, whichever scores better; overstated evidence can make
hindsight worse, as on the corner shop. The heading, too, is drawn afresh each second. Told the true heading,
the oracle gained 1.6 points on the example store's first day (0.857 -> 0.873), about what tracking the
heading could add. Since session 13's calibration walk the product's own zone model scores above it on two
shipped layouts (docs/zones.md, round 15): read it as a planning estimate, not as a bound.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from gateway.zones.grid import blur_matrix
from simulator.devices import Device
from simulator.engine import SLICE_S, RadioSimulation
from simulator.radio import DEFAULT_RADIO, RadioParams, Receivers, fast_fading_db, mean_rssi
from simulator.store import Store

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

OUTSIDE = "outside"
CELL_M = 1.0
PAVEMENT_AWAY_M = 8.0  # shoppers outside walk 1-6 m from the facade (simulator/movement.py)
PAVEMENT_ALONG_M = 20.0  # and at most 18 m along it from the door, beyond the side walls too
STEP_S = 1.0  # the simulator's own position and shadowing grid
HEADINGS = 8
# (evidence weight, spread of one second's move in metres) tried; the best against the truth is kept. The
# weight tempers the evidence a fresh shadowing draw per second overstates; shoppers walk at 1.0-1.4 m/s but
# mostly stand, and no one spread suits both.
SETTINGS = tuple((w, m) for w in (0.1, 0.2, 0.35) for m in (0.4, 1.0))
Setting = tuple[float, float]
NO_ZONE = -1  # a cell in an aisle that belongs to no zone (not scored, as in the truth)
_NOISE_DRAWS = 128  # draws of shadowing + fading, for what a receiver catches and reports


@dataclass(frozen=True)
class Cells:
    """The floor plan and an outside band cut into square cells, row-major (index = iy * nx + ix)."""

    xs: FloatArray
    ys: FloatArray
    cls: IntArray  # index into `names`, or NO_ZONE
    names: tuple[str, ...]  # the store's zones, then "outside"
    where_people_are: npt.NDArray[np.bool_]  # the floor plan and the pavement by the door, not behind the shop

    @property
    def x(self) -> FloatArray:
        return np.tile(self.xs, len(self.ys))

    @property
    def y(self) -> FloatArray:
        return np.repeat(self.ys, len(self.xs))

    def __len__(self) -> int:
        return len(self.xs) * len(self.ys)

    @functools.cached_property
    def zone_of_cell(self) -> FloatArray:
        """(cells, names) one-hot: a posterior over cells times this is the mass per zone (aisle cells count
        for none)."""
        out = np.zeros((len(self), len(self.names)))
        in_zone = self.cls != NO_ZONE
        out[np.flatnonzero(in_zone), self.cls[in_zone]] = 1.0
        return out


def cells_of(store: Store, cell_m: float = CELL_M) -> Cells:
    band = max(PAVEMENT_AWAY_M, PAVEMENT_ALONG_M)
    xs = np.arange(-band + cell_m / 2, store.width + band, cell_m)
    ys = np.arange(-band + cell_m / 2, store.height + band, cell_m)
    names = (*store.zone_names, OUTSIDE)
    zi = store.zone_of(np.tile(xs, len(ys)), np.repeat(ys, len(xs)))  # -1 outside, -2 no zone
    cls = np.where(zi == -1, len(names) - 1, np.where(zi == -2, NO_ZONE, zi)).astype(np.int64)
    (ex, ey), (ox, oy) = store.entrance, store.outward
    dx, dy = np.tile(xs, len(ys)) - ex, np.repeat(ys, len(xs)) - ey
    away, along = dx * ox + dy * oy, dy * ox - dx * oy
    pavement = (away > 0) & (away <= PAVEMENT_AWAY_M) & (np.abs(along) <= PAVEMENT_ALONG_M)
    here = ((zi != -1) | pavement).reshape(len(ys), len(xs))
    # crop to where people are: the smoother's arrays are steps x cells, and a department store's full band
    # would more than double them
    rows, cols = np.flatnonzero(here.any(axis=1)), np.flatnonzero(here.any(axis=0))
    r0, r1, c0, c1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    crop = cls.reshape(len(ys), len(xs))[r0:r1, c0:c1].ravel()
    return Cells(xs[c0:c1], ys[r0:r1], crop, names, here[r0:r1, c0:c1].ravel())


def forward_backward(
    loglik: FloatArray,
    ny: int,
    nx: int,
    sigma_m: float,
    cell_m: float = CELL_M,
    allowed: npt.NDArray[np.bool_] | None = None,
) -> tuple[FloatArray, FloatArray]:
    """(forward, smoothed) posteriors over cells per step for a separable diffusion between steps.

    With the grid method's kernels (`blur_matrix`: column i is where mass at i goes), the move from cell
    i = (iy, ix) to j = (jy, jx) is ky[jy, iy] * kx[jx, ix] * allowed[j] / z[i], z[i] making each allowed cell's
    moves sum to one: a walker stays where people walk instead of leaking into the walls' far side. The first
    step starts uniform over the allowed cells.
    """
    ky = blur_matrix(np.arange(ny, dtype=np.float64) * cell_m, sigma_m)
    kx = blur_matrix(np.arange(nx, dtype=np.float64) * cell_m, sigma_m)
    mask = np.ones((ny, nx)) if allowed is None else allowed.reshape(ny, nx).astype(np.float64)
    z = np.maximum(ky.T @ mask @ kx, 1e-300)
    steps = loglik.shape[0]
    lik = np.exp(loglik - loglik.max(axis=1, keepdims=True)).reshape(steps, ny, nx) * mask
    alpha = np.empty((steps, ny, nx))
    p = mask / mask.sum()
    for s in range(steps):
        if s:
            p = ky @ (p / z) @ kx.T
        p = p * lik[s]
        p /= p.sum()
        alpha[s] = p
    post = np.empty_like(alpha)
    post[-1] = alpha[-1]
    beta = np.ones((ny, nx))
    for s in range(steps - 2, -1, -1):
        beta = ky.T @ (lik[s + 1] * beta) @ kx / z
        beta /= beta.sum()
        q = alpha[s] * beta
        post[s] = q / q.sum()
    return alpha.reshape(steps, -1), post.reshape(steps, -1)


@dataclass(frozen=True)
class DeviceRadio:
    """What the oracle knows of one device's radio at every cell: expected RSSI and catch probability."""

    mean_db: FloatArray  # (cells, headings, receivers): mean RSSI of the packets caught
    log_none: FloatArray  # (cells, headings, receivers): log P(no packet of a step caught)
    log_some: FloatArray  # log P(at least one caught)
    var_one_db2: FloatArray  # (cells, headings, receivers): the spread's part shared by a step's packets
    var_packet_db2: FloatArray  # and the part each packet draws anew


@functools.cache
def _noise(params: RadioParams) -> tuple[FloatArray, float]:
    """Draws of shadowing + fading, and the shadowing's share of their variance (common to a step's packets; the
    fading's share is each packet's own). The same for every device: computed once per radio."""
    rng = np.random.default_rng(1)
    draws = rng.standard_normal(_NOISE_DRAWS) * params.shadow_sigma_db + fast_fading_db((_NOISE_DRAWS,), rng, params)
    fading = fast_fading_db((200_000,), np.random.default_rng(0), params)
    return draws, params.shadow_sigma_db**2 / (params.shadow_sigma_db**2 + float(fading.var()))


def device_radio(
    rx: Receivers, x: FloatArray, y: FloatArray, device: Device, params: RadioParams = DEFAULT_RADIO
) -> DeviceRadio:
    """The device's radio at the points (x, y)."""
    n = len(x)
    headings = np.linspace(-math.pi, math.pi, HEADINGS, endpoint=False)
    mean = np.stack(
        [
            mean_rssi(rx, x, y, np.full(n, h), np.full(n, device.body_factor), np.full(n, device.offset_db), params)
            for h in headings
        ],
        axis=1,
    )
    # A receiver reports only the packets it caught, and far away those are the lucky ones: what it reports is
    # the power given that it was caught, not the mean field. Both are taken over draws of the noise itself.
    draws, shared = _noise(params)
    caught = np.zeros(mean.shape)
    first = np.zeros(mean.shape)
    second = np.zeros(mean.shape)
    for e in draws:  # draw by draw: a (cells, headings, receivers, draws) array is too big for large stores
        power = mean + e
        margin = (power - rx.sensitivity) / params.loss_width_db
        p = rx.duty / (1.0 + np.exp(-np.clip(margin, -50, 50))) * (power >= rx.sensitivity)
        caught += p
        first += p * power
        second += p * power * power
    some = np.maximum(caught, 1e-12)
    reported = first / some
    spread = np.maximum(second / some - reported * reported, 1.0)
    p_catch = np.clip(caught / _NOISE_DRAWS, 1e-4, 1 - 1e-4)
    log_none = STEP_S / device.interval_s * np.log1p(-p_catch)
    return DeviceRadio(reported, log_none, np.log(-np.expm1(log_none)), spread * shared, spread * (1 - shared))


def visit_loglik(radio: DeviceRadio, step: IntArray, rx_index: IntArray, rssi: FloatArray, steps: int) -> FloatArray:
    """(steps, cells) log-likelihood of each step's readings; `step`, `rx_index`, `rssi` are per report."""
    n_rx = radio.mean_db.shape[2]
    count = np.zeros((steps, n_rx))
    total = np.zeros((steps, n_rx))
    np.add.at(count, (step, rx_index), 1.0)
    np.add.at(total, (step, rx_index), rssi)
    silent_all = radio.log_none.sum(axis=2)  # (cells, headings)
    out = np.empty((steps, radio.mean_db.shape[0]))
    for s in range(steps):
        ll = silent_all.copy()
        for r in np.flatnonzero(count[s]).tolist():
            n = count[s, r]
            var = radio.var_one_db2[:, :, r] + radio.var_packet_db2[:, :, r] / n
            dev = total[s, r] / n - radio.mean_db[:, :, r]
            heard = radio.log_some[:, :, r] - radio.log_none[:, :, r]
            ll += heard - 0.5 * (dev * dev / var + np.log(2 * math.pi * var))
        top = ll.max(axis=1, keepdims=True)
        out[s] = (top + np.log(np.exp(ll - top).sum(axis=1, keepdims=True))).ravel() - math.log(HEADINGS)
    return out


@dataclass
class Tally:
    samples: int = 0
    correct: int = 0

    @property
    def accuracy(self) -> float:
        return self.correct / self.samples if self.samples else float("nan")


@dataclass
class Ceiling:
    """Per setting tried: smoothed and forward hits per zone (the truth's zone names)."""

    smoothed: dict[Setting, dict[str, Tally]] = field(default_factory=dict)
    forward: dict[Setting, dict[str, Tally]] = field(default_factory=dict)

    def add(self, setting: Setting, truth: Sequence[str], smoothed: Sequence[str], forward: Sequence[str]) -> None:
        for table, est in ((self.smoothed, smoothed), (self.forward, forward)):
            per_zone = table.setdefault(setting, {})
            for t, e in zip(truth, est, strict=True):
                tally = per_zone.setdefault(t, Tally())
                tally.samples += 1
                tally.correct += t == e

    def merge(self, other: Ceiling) -> None:
        """Adds another day's tallies (the setting is then chosen over both)."""
        for mine, theirs in ((self.smoothed, other.smoothed), (self.forward, other.forward)):
            for w, table in theirs.items():
                per_zone = mine.setdefault(w, {})
                for z, t in table.items():
                    tally = per_zone.setdefault(z, Tally())
                    tally.samples += t.samples
                    tally.correct += t.correct

    @staticmethod
    def _overall(per_zone: dict[str, Tally]) -> float:
        n = sum(t.samples for t in per_zone.values())
        return sum(t.correct for t in per_zone.values()) / n if n else float("nan")

    def _best(self) -> tuple[dict[Setting, dict[str, Tally]], Setting]:
        """The table and setting that scored best over everything added: the oracle may decide with hindsight
        or as it goes (ties: hindsight, then the first setting tried)."""
        candidates = [(table, k) for table in (self.smoothed, self.forward) for k in table]
        return max(candidates, key=lambda c: self._overall(c[0][c[1]]))

    @property
    def setting(self) -> Setting:
        return self._best()[1]

    @property
    def hindsight(self) -> bool:
        return self._best()[0] is self.smoothed

    @property
    def accuracy(self) -> float:
        table, k = self._best()
        return self._overall(table[k])

    @property
    def forward_accuracy(self) -> float:
        """The best of the oracle deciding as it goes, as a live estimator must."""
        return max(self._overall(t) for t in self.forward.values())

    def per_zone(self) -> dict[str, Tally]:
        table, k = self._best()
        return table[k]


def score_visit(
    ceiling: Ceiling,
    cells: Cells,
    rx: Receivers,
    store: Store,
    device: Device,
    times: FloatArray,
    rx_index: IntArray,
    rssi: FloatArray,
    params: RadioParams = DEFAULT_RADIO,
    settings: Iterable[Setting] = SETTINGS,
) -> None:
    """Adds one device's visit: its reports (time, receiver, RSSI) scored against where its track really was."""
    if len(times) == 0:
        return
    step = np.floor((times - device.t_on) / STEP_S).astype(np.int64)
    steps = int(step.max()) + 1
    here = cells.where_people_are
    loglik = np.full((steps, len(cells)), -np.inf)
    radio = device_radio(rx, cells.x[here], cells.y[here], device, params)
    loglik[:, here] = visit_loglik(radio, step, rx_index, rssi, steps)
    x, y, _ = device.track.at(times)
    zi = store.zone_of(x, y)
    # one sample per (device, time) however many receivers reported it, as `evaluate` counts (SPEC section 5)
    once = np.zeros(len(times), dtype=np.bool_)
    once[np.unique(times, return_index=True)[1]] = True
    labelled = (zi != -2) & once
    truth = [OUTSIDE if z == -1 else store.zone_names[z] for z in zi[labelled].tolist()]
    for weight, spread_m in settings:
        forward, smoothed = forward_backward(
            weight * loglik, len(cells.ys), len(cells.xs), spread_m, CELL_M, cells.where_people_are
        )
        picks = [(post @ cells.zone_of_cell).argmax(axis=1)[step[labelled]] for post in (smoothed, forward)]
        ceiling.add((weight, spread_m), truth, *([cells.names[i] for i in p.tolist()] for p in picks))


def ceiling_of_day(
    store: Store,
    seed: int,
    shoppers: int = 40,
    duration_s: float = 1800.0,
    params: RadioParams = DEFAULT_RADIO,
    ceiling: Ceiling | None = None,
) -> Ceiling:
    """The day `proximity-sim generate` would make with these arguments (same people, same radio draws),
    scored by the oracle over the consenting customers' devices, as `evaluate` scores the pipeline."""
    # imported here: generate imports the gateway's zone fitting, which the oracle does not need
    from simulator.generate import DAY_START_EPOCH, day_draws

    draws = day_draws(store, seed, shoppers, duration_s, radio=params)
    pop, t0 = draws.population, DAY_START_EPOCH
    sim = RadioSimulation(store, pop.devices, np.random.default_rng(draws.day), params)
    wanted = np.array([d.customer_id is not None and d.customer_id in pop.tracks for d in pop.devices])
    parts: list[tuple[FloatArray, IntArray, IntArray, IntArray]] = []
    for i in range(math.ceil(duration_s / SLICE_S)):
        s0 = t0 + i * SLICE_S
        rep = sim.slice_reports(s0, min(s0 + SLICE_S, t0 + duration_s))
        if rep is None:
            continue
        t, dev, ai, ri, value = rep
        keep = wanted[dev[ai]]
        parts.append((t[ai][keep], dev[ai][keep], ri[keep], value[keep]))
    out = ceiling if ceiling is not None else Ceiling()
    if not parts:
        return out
    times = np.concatenate([p[0] for p in parts])
    devs = np.concatenate([p[1] for p in parts])
    rxs = np.concatenate([p[2] for p in parts])
    values = np.concatenate([p[3] for p in parts]).astype(np.float64)
    cells = cells_of(store)
    for d in np.unique(devs).tolist():
        mine = devs == d
        score_visit(out, cells, sim.rx, store, pop.devices[d], times[mine], rxs[mine], values[mine], params)
    return out

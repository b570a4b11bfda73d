"""A small synthetic store for developing and testing zone estimation without the full simulator.

Log-distance path loss per receiver, a spatially correlated shadowing field per receiver (the walls and shelves:
the same for every phone), fast fading per reading, a constant per-phone offset, packet loss and a sensitivity
floor. Zones are rectangles on a grid; people walk between random spots and stand still for a while.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from gateway.adverts import Advert
from gateway.truth import TruthInterval

SENSITIVITY_DBM = -98.0


@dataclass
class Store:
    width: float
    height: float
    cols: int
    rows: int
    receivers: dict[str, tuple[float, float]]
    rssi_1m: dict[str, float]
    exponent: dict[str, float]
    shadow: dict[str, np.ndarray]  # coarse lattice per receiver
    shadow_step: float
    fading_db: float
    zones: list[str] = field(default_factory=list)

    def zone_rect(self, z: int) -> tuple[float, float, float, float]:
        w, h = self.width / self.cols, self.height / self.rows
        c, r = z % self.cols, z // self.cols
        return c * w, r * h, (c + 1) * w, (r + 1) * h

    def zone_of(self, x: float, y: float) -> str:
        c = min(int(x / (self.width / self.cols)), self.cols - 1)
        r = min(int(y / (self.height / self.rows)), self.rows - 1)
        return self.zones[r * self.cols + c]

    def zone_centres(self) -> dict[str, dict[str, float]]:
        out = {}
        for i, z in enumerate(self.zones):
            x0, y0, x1, y1 = self.zone_rect(i)
            out[z] = {"x": (x0 + x1) / 2, "y": (y0 + y1) / 2}
        return out

    def zone_polygons(self) -> dict[str, dict[str, list[list[float]]]]:
        """The recording-header form ("zones" key): what the grid method positions against."""
        out = {}
        for i, z in enumerate(self.zones):
            x0, y0, x1, y1 = self.zone_rect(i)
            out[z] = {"polygon": [[x0, y0], [x1, y0], [x1, y1], [x0, y1]]}
        return out

    def header_receivers(self) -> dict[str, dict[str, float]]:
        return {rx: {"x": p[0], "y": p[1]} for rx, p in self.receivers.items()}

    def mean_rssi(self, rx: str, x: float, y: float) -> float:
        px, py = self.receivers[rx]
        d = max(math.hypot(x - px, y - py), 0.5)
        lat = self.shadow[rx]
        gx, gy = x / self.shadow_step, y / self.shadow_step
        i, j = min(int(gx), lat.shape[0] - 2), min(int(gy), lat.shape[1] - 2)
        fx, fy = gx - i, gy - j
        s = (
            lat[i, j] * (1 - fx) * (1 - fy)
            + lat[i + 1, j] * fx * (1 - fy)
            + lat[i, j + 1] * (1 - fx) * fy
            + lat[i + 1, j + 1] * fx * fy
        )
        return self.rssi_1m[rx] - 10 * self.exponent[rx] * math.log10(d) + s


def make_store(
    seed: int, *, cols: int = 3, rows: int = 2, n_rx: int = 5, shadow_db: float = 6.0, fading_db: float = 4.0
) -> Store:
    rng = np.random.default_rng(seed)
    width, height = 8.0 * cols, 7.0 * rows
    names = [f"rx-{i}" for i in range(n_rx)]
    # receivers near the walls and one in the middle, jittered: a typical retrofit
    pos = {}
    for i, rx in enumerate(names):
        a = 2 * math.pi * i / max(n_rx, 1)
        x = width / 2 + 0.45 * width * math.cos(a) * (0 if i == n_rx - 1 and n_rx > 3 else 1)
        y = height / 2 + 0.45 * height * math.sin(a) * (0 if i == n_rx - 1 and n_rx > 3 else 1)
        pos[rx] = (float(np.clip(x + rng.normal(0, 1), 0, width)), float(np.clip(y + rng.normal(0, 1), 0, height)))
    step = 2.0
    shape = (int(width / step) + 2, int(height / step) + 2)
    return Store(
        width,
        height,
        cols,
        rows,
        pos,
        {rx: float(rng.uniform(-62, -54)) for rx in names},
        {rx: float(rng.uniform(2.0, 3.2)) for rx in names},
        {rx: rng.normal(0, shadow_db, size=shape) for rx in names},
        step,
        fading_db,
        [f"zone-{chr(97 + i)}" for i in range(cols * rows)],
    )


def walk(
    store: Store,
    seed: int,
    *,
    device: str = "AA:BB:CC:00:00:01",
    offset_db: float = 0.0,
    interval_s: float = 0.5,
    stops: int = 12,
    stand_s: tuple[float, float] = (40.0, 90.0),
    t0: float = 1_700_000_000.0,
    visit_all: bool = True,
    loss: float = 0.1,
    spots_per_zone: int = 1,
) -> tuple[list[Advert], list[TruthInterval]]:
    """One phone walking between random spots; truth intervals follow the zone it is actually in."""
    rng = np.random.default_rng(seed)
    n_z = len(store.zones)
    order: list[int] = []
    while len(order) < stops:
        zs = list(rng.permutation(n_z)) if visit_all else [int(rng.integers(n_z))]
        order.extend(z for z in zs if not order or z != order[-1])
    path: list[tuple[float, float, float]] = []  # (t, x, y) keyframes
    t = t0
    x, y = store.width / 2, store.height / 2
    for z in order[:stops]:
        x0, y0, x1, y1 = store.zone_rect(z)
        for _ in range(spots_per_zone):  # a calibration walk covers its zone: several spots each
            nx, ny = rng.uniform(x0 + 1, x1 - 1), rng.uniform(y0 + 1, y1 - 1)
            t += math.hypot(nx - x, ny - y) / 1.0  # walking at 1 m/s
            path.append((t, nx, ny))
            t += rng.uniform(*stand_s)
            path.append((t, nx, ny))
            x, y = nx, ny
    adverts: list[Advert] = []
    zones_seq: list[tuple[float, str]] = []
    ts = np.array([p[0] for p in path])
    xs = np.array([p[1] for p in path])
    ys = np.array([p[2] for p in path])
    tt = path[0][0]
    while tt < path[-1][0]:
        px, py = float(np.interp(tt, ts, xs)), float(np.interp(tt, ts, ys))
        zones_seq.append((tt, store.zone_of(px, py)))
        for rx in store.receivers:
            if rng.random() < loss:
                continue
            v = store.mean_rssi(rx, px, py) + offset_db + rng.normal(0, store.fading_db)
            if v < SENSITIVITY_DBM:
                continue
            jitter = float(rng.uniform(0, 0.02))
            adverts.append(Advert(round(tt + jitter, 3), rx, device, round(v)))
        tt += interval_s * float(rng.uniform(0.8, 1.2))
    adverts.sort(key=lambda a: a.t)
    truth: list[TruthInterval] = []
    start_t, cur = zones_seq[0]
    for tt2, z in zones_seq[1:]:
        if z != cur:
            truth.append(TruthInterval(device, cur, start_t, tt2))
            start_t, cur = tt2, z
    truth.append(TruthInterval(device, cur, start_t, zones_seq[-1][0]))
    return adverts, truth


def calibration_walk(store: Store, seed: int) -> tuple[list[Advert], list[TruthInterval]]:
    """What staff do: walk each zone once, pausing at a few spots in it (about 1 minute per zone)."""
    return walk(store, seed, stops=len(store.zones), spots_per_zone=4, stand_s=(10.0, 20.0))


def store_day(
    store: Store, seed: int, *, phones: int = 4, offset_spread_db: float = 6.0, t0: float = 1_700_100_000.0
) -> tuple[list[Advert], list[TruthInterval]]:
    """Several phones, each with its own constant offset and advertising interval, at overlapping times."""
    rng = np.random.default_rng(seed)
    adverts: list[Advert] = []
    truth: list[TruthInterval] = []
    for p in range(phones):
        a, tr = walk(
            store,
            seed * 100 + p,
            device=f"AA:BB:CC:00:01:{p:02X}",
            offset_db=float(rng.uniform(-offset_spread_db, offset_spread_db)),
            interval_s=float(rng.choice([0.3, 1.0, 2.0])),
            stops=8,
            stand_s=(30.0, 120.0),
            t0=t0 + float(rng.uniform(0, 120)),
            visit_all=False,
        )
        adverts.extend(a)
        truth.extend(tr)
    adverts.sort(key=lambda a: a.t)
    return adverts, truth


def flaky_walks(store: Store, seeds: range) -> tuple[list[Advert], list[TruthInterval]]:
    """Calibration walks (one device each) heard by receivers that drop out in runs of about 10 s wherever the walker
    is, on for 30 % of them: a flaky USB dongle, a receiver behind a door that opens and shuts. There a silence says
    nothing about the place."""
    adverts: list[Advert] = []
    truth: list[TruthInterval] = []
    for i, seed in enumerate(seeds):
        walk_adverts, walk_truth = calibration_walk(store, seed)
        address = f"AA:BB:CC:00:01:{i:02X}"
        rng = np.random.default_rng(seed)
        receivers = sorted({a.rx for a in walk_adverts})
        on = dict.fromkeys(receivers, True)
        last = walk_adverts[0].t
        for a in walk_adverts:
            for rx in receivers:
                if rng.random() < 0.1 * (a.t - last):
                    on[rx] = rng.random() < 0.3
            last = a.t
            if on[a.rx]:
                adverts.append(Advert(a.t, a.rx, address, a.rssi, a.tx_power))
        truth += [TruthInterval(address, iv.zone, iv.t_start, iv.t_end) for iv in walk_truth]
    adverts.sort(key=lambda a: a.t)
    return adverts, truth

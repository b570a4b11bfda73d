"""Where people are: tracks (piecewise-linear paths with a facing) and the plans that build them (pure).

A shopper approaches along the pavement, may linger by the door, enters, walks between zones along
aisle-like L-shaped paths at their own walking speed, browses each zone (standing, shuffling a few metres,
turning to the shelves), queues at the checkout, leaves and walks off. Passers-by stay outside.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from simulator.store import Point, Segment, Store, Zone, crosses

FloatArray = npt.NDArray[np.float64]
WALK_SPEED_RANGE_MPS = (1.0, 1.4)
BROWSE_STEP_S = (15.0, 45.0)  # people turn to another shelf every so often while dwelling
DOOR_APPROACH_M = (6.0, 18.0)  # how far along the pavement the phone is first heard coming
ZONE_MARGIN_M = 0.4  # standing points keep off the zone's edge (shelves)
DOOR_WAIT_AWAY_M = (1.0, 2.5)  # people waiting outside stand this far from the facade, by the door
DOOR_WAIT_ALONG_M = 2.0  # the calibration walk's spots by the door: within this of the doorway, along the facade
PAVEMENT_SPOT_AWAY_M = (2.5, 6.0)  # its other outside spots: out on the pavement
PAVEMENT_SPOT_ALONG_M = 5.0


@dataclass(slots=True)
class Track:
    """Positions at key times; `heading[i]` (radians) holds from t[i] to t[i+1]."""

    t: FloatArray
    x: FloatArray
    y: FloatArray
    heading: FloatArray

    @property
    def t_start(self) -> float:
        return float(self.t[0])

    @property
    def t_end(self) -> float:
        return float(self.t[-1])

    def at(self, t: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
        x = np.interp(t, self.t, self.x)
        y = np.interp(t, self.t, self.y)
        i = np.clip(np.searchsorted(self.t, t, side="right") - 1, 0, len(self.t) - 1)
        return x, y, self.heading[i]

    def shifted(self, dx: float, dy: float) -> Track:
        return Track(self.t, self.x + dx, self.y + dy, self.heading)


WALL_CLEARANCE_M = 1.0  # people walk round the end of a shelf or wall, not through it


def _clear(points: list[Point], walls: list[Segment]) -> bool:
    return not any(crosses(a, b, w) for a, b in itertools.pairwise(points) for w in walls)


def _length(points: list[Point]) -> float:
    return sum(math.dist(a, b) for a, b in itertools.pairwise(points))


def route(
    p: Point, q: Point, walls: list[Segment], rng: np.random.Generator, floor: tuple[float, float] | None = None
) -> list[Point]:
    """Waypoints from p to q (q included): an L along the aisles, or round the end of a wall in the way
    (a detour stays on the `floor` (width, height) when given: no walking round a wall through the facade)."""
    corners = [(q[0], p[1]), (p[0], q[1])]
    if rng.random() >= 0.5:
        corners.reverse()
    for c in corners:
        if _clear([p, c, q], walls):
            return [c, q]
    detours: list[list[Point]] = []
    for start, end in walls:
        for tip, base in ((end, start), (start, end)):
            n = math.dist(tip, base) or 1.0
            around = (
                tip[0] + (tip[0] - base[0]) / n * WALL_CLEARANCE_M,
                tip[1] + (tip[1] - base[1]) / n * WALL_CLEARANCE_M,
            )
            if floor is not None and not (0 < around[0] < floor[0] and 0 < around[1] < floor[1]):
                continue
            for path in (
                [p, around, q],
                [p, (around[0], p[1]), around, (q[0], around[1]), q],
                [p, (p[0], around[1]), around, (around[0], q[1]), q],
            ):
                if _clear(path, walls):
                    detours.append(path[1:])
    if detours:
        return min(detours, key=lambda d: _length([p, *d]))
    return [corners[0], q]


class TrackBuilder:
    def __init__(
        self,
        t0: float,
        x: float,
        y: float,
        heading: float = 0.0,
        walls: list[Segment] | None = None,
        floor: tuple[float, float] | None = None,
    ) -> None:
        self.walls = walls or []
        self.floor = floor
        self.t = [t0]
        self.x = [x]
        self.y = [y]
        self.h = [heading]

    @property
    def now(self) -> float:
        return self.t[-1]

    def _add(self, t: float, x: float, y: float, heading: float) -> None:
        self.h[-1] = heading
        self.t.append(t)
        self.x.append(x)
        self.y.append(y)
        self.h.append(heading)

    def walk_to(self, x: float, y: float, speed: float) -> None:
        dx, dy = x - self.x[-1], y - self.y[-1]
        d = math.hypot(dx, dy)
        if d < 1e-6:
            return
        self._add(self.now + d / speed, x, y, math.atan2(dy, dx))

    def aisle_walk_to(self, x: float, y: float, speed: float, rng: np.random.Generator) -> None:
        """Shops have aisles: walk along one axis, then the other, in a random order, round walls."""
        for wx, wy in route((self.x[-1], self.y[-1]), (x, y), self.walls, rng, self.floor):
            self.walk_to(wx, wy, speed)

    def stand(self, duration: float, heading: float) -> None:
        self._add(self.now + max(duration, 0.0), self.x[-1], self.y[-1], heading)

    def build(self) -> Track:
        return Track(np.array(self.t), np.array(self.x), np.array(self.y), np.array(self.h))


def walls_of(store: Store) -> list[Segment]:
    return [(w.start, w.end) for w in store.wall]


def point_in_zone(zone: Zone, rng: np.random.Generator) -> Point:
    v = zone.vertices
    lo, hi = v.min(axis=0) + ZONE_MARGIN_M, v.max(axis=0) - ZONE_MARGIN_M
    for _ in range(100):
        p = lo + rng.random(2) * (hi - lo)
        if zone.contains(np.array([p[0]]), np.array([p[1]]))[0]:
            return float(p[0]), float(p[1])
    c = v.mean(axis=0)
    return float(c[0]), float(c[1])


def spread_points(zone: Zone, n: int, rng: np.random.Generator) -> list[Point]:
    """n standing points spread over a zone (farthest-point sampling among random candidates)."""
    candidates = np.array([point_in_zone(zone, rng) for _ in range(8 * n)])
    chosen = [0]
    dist = np.hypot(*(candidates - candidates[0]).T)
    for _ in range(n - 1):
        i = int(np.argmax(dist))
        chosen.append(i)
        dist = np.minimum(dist, np.hypot(*(candidates - candidates[i]).T))
    return [(float(candidates[i, 0]), float(candidates[i, 1])) for i in chosen]


def outside_point(store: Store, rng: np.random.Generator, away_m: tuple[float, float], along_m: float) -> Point:
    """A point on the pavement: `away_m` from the facade, within `along_m` of the door along it."""
    ox, oy = store.outward
    ex, ey = store.entrance
    a = away_m[0] + rng.random() * (away_m[1] - away_m[0])
    b = (rng.random() * 2 - 1) * along_m
    return ex + ox * a - oy * b, ey + oy * a + ox * b


def _browse(b: TrackBuilder, store: Store, zone: Zone, dwell_s: float, speed: float, rng: np.random.Generator) -> None:
    end = b.now + dwell_s
    while b.now < end - 1.0:
        b.stand(min(rng.uniform(*BROWSE_STEP_S), end - b.now), rng.uniform(-math.pi, math.pi))
        if b.now < end - 5.0:
            x, y = point_in_zone(zone, rng)
            step = min(1.0, 2.5 / max(math.hypot(x - b.x[-1], y - b.y[-1]), 1e-6))  # shuffle a few metres
            b.walk_to(b.x[-1] + (x - b.x[-1]) * step, b.y[-1] + (y - b.y[-1]) * step, speed * 0.6)


def shopper_track(
    store: Store, t_arrive: float, rng: np.random.Generator, favourites: list[str] | None = None, enters: bool = True
) -> Track:
    """A whole visit. `favourites` are zones this shopper is more likely to visit (their segments)."""
    speed = rng.uniform(*WALK_SPEED_RANGE_MPS)
    sx, sy = outside_point(store, rng, (2.0, 6.0), rng.uniform(*DOOR_APPROACH_M))
    b = TrackBuilder(t_arrive, sx, sy, walls=walls_of(store), floor=(store.width, store.height))
    door_out = outside_point(store, rng, DOOR_WAIT_AWAY_M, 1.5)
    b.walk_to(*door_out, speed)
    if rng.random() < 0.15 or not enters:  # waiting for someone, on the phone, smoking
        b.stand(rng.uniform(60.0, 420.0), rng.uniform(-math.pi, math.pi))
    if enters:
        ex, ey = store.inward_point(1.0)
        b.walk_to(ex, ey, speed)
        door = store.zone_named(store.door_zone)
        b.walk_to(*point_in_zone(door, rng), speed)
        b.stand(rng.uniform(3.0, 15.0), rng.uniform(-math.pi, math.pi))  # trolley, basket
        shop_zones = [z for z in store.zone if z.name not in (store.door_zone, store.till_zone)]
        shop_zones = shop_zones or [store.zone_named(store.door_zone)]  # a one-room shop: browse by the door
        if shop_zones:
            weights = np.array([z.area_m2 for z in shop_zones])
            for i, z in enumerate(shop_zones):
                if favourites and z.name in favourites:
                    weights[i] *= 6.0
            n = min(len(shop_zones), int(rng.integers(1, 5)))
            order = rng.choice(len(shop_zones), size=n, replace=False, p=weights / weights.sum())
            for i in order:
                zone = shop_zones[int(i)]
                b.aisle_walk_to(*point_in_zone(zone, rng), speed, rng)
                _browse(b, store, zone, float(rng.lognormal(math.log(75.0), 0.7)), speed, rng)
        if store.till_zone is not None:
            till = store.zone_named(store.till_zone)
            b.aisle_walk_to(*point_in_zone(till, rng), speed, rng)
            _browse(b, store, till, rng.uniform(40.0, 240.0), speed, rng)
        b.aisle_walk_to(*store.inward_point(1.0), speed, rng)
        b.walk_to(*door_out, speed)
        if rng.random() < 0.1:
            b.stand(rng.uniform(30.0, 300.0), rng.uniform(-math.pi, math.pi))
    b.walk_to(*outside_point(store, rng, (2.0, 6.0), rng.uniform(*DOOR_APPROACH_M)), speed)
    return b.build()


def passer_by_track(store: Store, t_start: float, rng: np.random.Generator) -> Track:
    """Someone walking along the facade past the door, never entering."""
    speed = rng.uniform(1.1, 1.6)
    ox, oy = store.outward
    ex, ey = store.entrance
    away = rng.uniform(1.5, 8.0)
    side = 1.0 if rng.random() < 0.5 else -1.0
    span = rng.uniform(15.0, 30.0)
    b = TrackBuilder(t_start, ex + ox * away + oy * span * side, ey + oy * away - ox * span * side)
    b.walk_to(ex + ox * away - oy * span * side, ey + oy * away + ox * span * side, speed)
    return b.build()


def fixed_track(x: float, y: float, t_start: float, t_end: float) -> Track:
    b = TrackBuilder(t_start, x, y)
    b.stand(t_end - t_start, 0.0)
    return b.build()


# The walk the install guide asks of store staff (docs/install-raspberry-pi.md, section 9): a new spot two or three
# metres away every five seconds or so, about two minutes per zone. Standing 60 s per zone at a set of 3-4 spots per
# 10 s, with the walk between spots, is that pace: a small shop's zone takes about two minutes, a large one longer.
CALIBRATION_PER_ZONE_S = 60.0
SPOT_SET_S = 10.0


def calibration_track(
    store: Store,
    t0: float,
    rng: np.random.Generator,
    per_zone_s: float = CALIBRATION_PER_ZONE_S,
    spot_sets: int | None = None,
) -> Track:
    """A staff member with a reference tag: zone after zone, standing at points spread over each zone
    (turning between them, so both facings are in the data), then outside: right by the door and out on the
    pavement, in turn. The points come in sets of 3-4 per zone, one set per `SPOT_SET_S` of the walk by default
    (the guide's pace), so a longer walk stands at more points rather than longer at the same ones; `spot_sets`
    sets the number of sets whatever the length (docs/zones.md, round 9: the number of points is what a walk's
    accuracy follows, not its length)."""
    speed = 1.0
    ex, ey = store.inward_point(1.0)
    b = TrackBuilder(t0, ex, ey, walls=walls_of(store), floor=(store.width, store.height))
    sets = spot_sets if spot_sets is not None else max(1, round(per_zone_s / SPOT_SET_S))
    for zone in store.zone:
        n_points = (3 if zone.area_m2 < 80 else 4) * sets
        for px, py in spread_points(zone, n_points, rng):
            b.aisle_walk_to(px, py, speed, rng)
            b.stand(per_zone_s / n_points, rng.uniform(-math.pi, math.pi))
    b.aisle_walk_to(*store.inward_point(1.0), speed, rng)
    for i in range(3 * sets):
        # every other spot right outside the door, where people wait: read from inside the shop, that is the
        # pavement most like the door zone, and a walk out on the pavement alone left it to the door zone
        # (docs/zones.md, round 13)
        away, along = (
            (DOOR_WAIT_AWAY_M, DOOR_WAIT_ALONG_M) if i % 2 == 0 else (PAVEMENT_SPOT_AWAY_M, PAVEMENT_SPOT_ALONG_M)
        )
        b.walk_to(*outside_point(store, rng, away, along), speed)
        b.stand(per_zone_s / (3 * sets), rng.uniform(-math.pi, math.pi))
    return b.build()

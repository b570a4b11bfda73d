"""People move like people: at walking speed, round walls, inside the store, dwelling where the truth says."""

from __future__ import annotations

import itertools

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator.movement import calibration_track, route, shopper_track, walls_of
from simulator.store import crosses, load_store

STORE = load_store()
inside = st.tuples(st.floats(0.5, STORE.width - 0.5), st.floats(0.5, STORE.height - 0.5))


@settings(max_examples=200, deadline=None)
@given(p=inside, q=inside, seed=st.integers(0, 2**32 - 1))
def test_routes_stay_on_the_floor_and_never_cross_a_wall(
    p: tuple[float, float], q: tuple[float, float], seed: int
) -> None:
    walls = walls_of(STORE)
    path = [p, *route(p, q, walls, np.random.default_rng(seed), (STORE.width, STORE.height))]
    assert path[-1] == q
    for x, y in path:
        assert 0 <= x <= STORE.width and 0 <= y <= STORE.height
    assert not any(crosses(a, b, w) for a, b in itertools.pairwise(path) for w in walls)


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_shoppers_walk_at_walking_speed_and_enter_through_the_door(seed: int) -> None:
    track = shopper_track(STORE, 1000.0, np.random.default_rng(seed))
    dt = np.diff(track.t)
    moving = dt > 0
    speed = np.hypot(np.diff(track.x), np.diff(track.y))[moving] / dt[moving]
    assert speed.max() <= 1.4 + 1e-9
    ts = np.arange(track.t_start, track.t_end, 0.5)
    x, y, _ = track.at(ts)
    zone = STORE.zone_of(x, y)
    assert zone[0] == -1 and zone[-1] == -1, "visits start and end outside"
    crossing = np.flatnonzero((zone[:-1] == -1) & (zone[1:] != -1))
    for i in crossing:  # stepping in happens at the door, not through a wall
        assert abs(x[i + 1] - STORE.entrance[0]) < 2.0 and y[i + 1] < 2.0


def _stands(seconds: float, sets: int | None) -> dict[str, list[float]]:
    """Per zone, how long the walk stood at each point (a stand: two keyframes at the same place)."""
    track = calibration_track(STORE, 0.0, np.random.default_rng(3), seconds, sets)
    zone_of = STORE.zone_of(track.x, track.y)
    out: dict[str, list[float]] = {}
    for i in range(1, len(track.t)):
        if track.x[i] == track.x[i - 1] and track.y[i] == track.y[i - 1] and zone_of[i] >= 0:
            out.setdefault(STORE.zone[int(zone_of[i])].name, []).append(float(track.t[i] - track.t[i - 1]))
    return out


def test_a_calibration_walk_spreads_its_time_over_as_many_points_as_asked() -> None:
    """The walk's accuracy follows how many points it stands at, not how long (docs/zones.md, round 9):
    `spot_sets` sets the points, and the time per zone stays what was asked."""
    one_set, more_points, longer_same_points = _stands(45, 1), _stands(45, 4), _stands(180, 1)
    assert set(one_set) == set(more_points) == set(longer_same_points) == set(STORE.zone_names)
    for zone in STORE.zone_names:
        n = len(one_set[zone])
        assert n in (3, 4)
        assert len(more_points[zone]) == 4 * n and len(longer_same_points[zone]) == n
        assert abs(sum(one_set[zone]) - 45) < 1e-6 and abs(sum(more_points[zone]) - 45) < 1e-6
        assert abs(sum(longer_same_points[zone]) - 180) < 1e-6


def test_by_default_the_calibration_walk_keeps_the_install_guides_pace() -> None:
    """The guide asks for about two minutes per zone and a new spot every five seconds or so: the simulated
    walk does the same by default, and a longer or shorter walk keeps the pace rather than the number of spots."""
    default = calibration_track(STORE, 0.0, np.random.default_rng(3))
    assert default.t[-1] == calibration_track(STORE, 0.0, np.random.default_rng(3), 60.0, 6).t[-1]
    for seconds in (45.0, 120.0, 300.0):
        for zone, stands in _stands(seconds, None).items():
            assert abs(sum(stands) - seconds) < 1e-6, zone
            assert 2.0 <= seconds / len(stands) <= 4.0, (zone, seconds, len(stands))  # 2-4 s at each, then on


def test_the_calibration_walk_stands_outside_both_by_the_door_and_on_the_pavement() -> None:
    """People waiting outside stand right by the door, where the readings are most like the door zone's; a walk
    whose outside spots were all out on the pavement left that spot to the door zone (docs/zones.md, round 13)."""
    track = calibration_track(STORE, 0.0, np.random.default_rng(5), 120.0, 2)
    (ex, ey), (ox, oy) = STORE.entrance, STORE.outward
    stands = [
        i
        for i in range(1, len(track.t))
        if track.x[i] == track.x[i - 1]
        and track.y[i] == track.y[i - 1]
        and STORE.zone_of(track.x[i : i + 1], track.y[i : i + 1])[0] == -1
    ]
    away = [(track.x[i] - ex) * ox + (track.y[i] - ey) * oy for i in stands]
    along = [abs((track.y[i] - ey) * ox - (track.x[i] - ex) * oy) for i in stands]
    by_the_door = [a <= 2.5 and b <= 2.0 for a, b in zip(away, along, strict=True)]
    assert len(stands) == 6
    assert sum(by_the_door) == 3, "half the outside spots by the door"
    assert all(a > 0 for a in away), "all of them outside the facade"
    assert max(away) > 2.5, "the others out on the pavement"

"""The radio model behaves like radio: weaker with distance, walls and bodies; lossy near sensitivity."""

from __future__ import annotations

import math
from collections import defaultdict

import numpy as np
import pytest

from gateway.sources.recording import read_recording
from gateway.truth import TruthIndex, read_truth
from simulator.generate import GenerateResult
from simulator.radio import DEFAULT_RADIO, Receivers, fast_fading_db, mean_rssi, receive, shadow_step
from simulator.store import Receiver, Store, Wall, Zone, load_store


def _one_receiver_store(walls: list[Wall] | None = None) -> Store:
    return Store(
        store_id="lab",
        width=40.0,
        height=10.0,
        entrance=(0.0, 5.0),
        zone=[Zone(name="all", polygon=[(0, 0), (40, 0), (40, 10), (0, 10)])],
        receiver=[Receiver(id="rx", x=0.5, y=5.0, rssi_at_1m=-59.0, path_loss_exponent=2.5, sensitivity_dbm=-100.0)],
        wall=walls or [],
    )


def _reported(store: Store, x: float, n: int, seed: int = 0, heading: float = math.pi) -> np.ndarray:
    rng = np.random.default_rng(seed)
    rx = Receivers(store)
    xs, ys = np.full(n, x), np.full(n, 5.0)
    power = mean_rssi(rx, xs, ys, np.full(n, heading), np.ones(n), np.zeros(n))
    power += rng.standard_normal((n, 1)) * DEFAULT_RADIO.shadow_sigma_db  # independent shadowing per sample
    power += fast_fading_db(power.shape, rng)
    caught, rssi = receive(rx, power, rng)
    return rssi[caught[:, 0], 0]


def test_rssi_falls_off_with_distance_as_the_path_loss_exponent_says() -> None:
    store = _one_receiver_store()
    distances = [2.0, 4.0, 8.0, 16.0]
    medians = [float(np.median(_reported(store, 0.5 + d, 4000, seed=i))) for i, d in enumerate(distances)]
    assert medians == sorted(medians, reverse=True)
    # per doubling of distance: 10 * n * log10(2) = 7.5 dB for n = 2.5 (the height offset flattens it near)
    drops = np.diff(medians)
    assert all(-10.0 < d < -4.0 for d in drops), medians


def test_a_wall_and_a_body_cost_decibels() -> None:
    open_floor = np.median(_reported(_one_receiver_store(), 8.0, 4000, seed=1))
    walled = np.median(_reported(_one_receiver_store([Wall(start=(4, 0), end=(4, 10), loss_db=8.0)]), 8.0, 4000, 1))
    assert 5.0 <= open_floor - walled <= 11.0
    facing = np.median(_reported(_one_receiver_store(), 8.0, 4000, seed=2, heading=math.pi))  # towards rx
    away = np.median(_reported(_one_receiver_store(), 8.0, 4000, seed=2, heading=0.0))
    assert facing - away >= DEFAULT_RADIO.body_loss_db - 3


def test_packets_get_lost_near_the_sensitivity_and_rssi_stays_in_range() -> None:
    rx = Receivers(_one_receiver_store())
    rng = np.random.default_rng(3)
    strong = np.full((5000, 1), -70.0)
    weak = np.full((5000, 1), -99.7)
    caught_strong, rssi_strong = receive(rx, strong, rng)
    caught_weak, rssi_weak = receive(rx, weak, rng)
    duty = rx.duty[0]
    assert caught_strong.mean() == pytest.approx(duty, abs=0.03)
    assert caught_weak.mean() < 0.6 * duty
    assert rssi_weak[caught_weak].min() >= -100
    assert rssi_strong.dtype.kind == "i"
    _, saturated = receive(rx, np.full((10, 1), 5.0), rng)
    assert saturated.max() <= rx.max_rssi[0]


def test_shadowing_is_correlated_for_a_standing_device_and_not_for_a_walking_one() -> None:
    rng = np.random.default_rng(4)
    n = 20000
    start = rng.standard_normal((n, 1)) * DEFAULT_RADIO.shadow_sigma_db
    standing = shadow_step(start, np.zeros(n), 1.0, rng)
    walked = shadow_step(start, np.full(n, 10.0), 1.0, rng)
    assert np.corrcoef(start[:, 0], standing[:, 0])[0, 1] > 0.9
    assert abs(np.corrcoef(start[:, 0], walked[:, 0])[0, 1]) < 0.15
    assert np.std(walked) == pytest.approx(DEFAULT_RADIO.shadow_sigma_db, rel=0.05)  # stationary variance


def test_calibration_walk_is_loudest_at_the_receiver_of_the_zone(small_day: GenerateResult) -> None:
    """On the generated files: each receiver hears the tag best while it stands in that receiver's zone."""
    store = load_store()
    _, adverts, _ = read_recording(small_day.calibration)
    index = TruthIndex(read_truth(small_day.calibration_truth))
    per: dict[tuple[str, str], list[int]] = defaultdict(list)
    for a in adverts:
        zone = index.zone_at(a.addr, a.t)
        if zone is not None:
            per[(a.rx, zone)].append(a.rssi)
    home = {
        "rx-entrance": "entrance",
        "rx-checkout": "checkout",
        "rx-produce": "produce",
        "rx-bakery": "bakery",
        "rx-household": "household",
    }
    for rx_id, zone in home.items():
        own = np.mean(per[(rx_id, zone)])
        others = [np.mean(v) for (r, z), v in per.items() if r == rx_id and z != zone and len(v) > 20]
        assert own > max(others), (rx_id, own, others)
    assert {r.id for r in store.receiver} == set(home)


def test_advert_rates_per_receiver_are_plausible(small_day: GenerateResult) -> None:
    """The reference tag advertises every 0.2 s: a receiver next to it catches most of them, none more."""
    _, adverts, _ = read_recording(small_day.calibration)
    index = TruthIndex(read_truth(small_day.calibration_truth))
    iv = next(iv for iv in index.intervals(adverts[0].addr) if iv.zone == "produce")
    near = [a for a in adverts if a.rx == "rx-produce" and iv.t_start <= a.t <= iv.t_end]
    rate = len(near) / (iv.t_end - iv.t_start)
    assert 2.5 <= rate <= 5.0, rate
    _, day, _ = read_recording(small_day.scans)
    per_device_rx: dict[tuple[str, str], list[float]] = defaultdict(list)
    for a in day:
        per_device_rx[(a.addr, a.rx)].append(a.t)
    fastest = min(min(np.diff(ts)) for ts in per_device_rx.values() if len(ts) > 1)
    assert fastest >= 0.09  # nothing advertises faster than every 100 ms


def test_a_device_advertises_at_its_interval_across_slices() -> None:
    """Interval plus 0-10 ms advDelay, without gaps or repeats at the 60 s slice boundaries."""
    from simulator.devices import Device, Frames, fixed_payload
    from simulator.engine import SLICE_S, RadioSimulation
    from simulator.movement import fixed_track

    store = _one_receiver_store()
    t0 = 1_772_438_400.0
    dev = Device(
        "tag",
        fixed_track(1.5, 5.0, t0, t0 + 300),
        0.5,
        10.0,
        0.0,
        Frames(b"k" * 16, "static", None, 0.0, fixed_payload({})),
        t_on=t0,
        t_off=t0 + 300,
    )
    dev.frames.plan(dev.t_on, dev.t_off)
    sim = RadioSimulation(store, [dev], np.random.default_rng(5))
    ts = []
    for i in range(5):
        for line in sim.slice_lines(t0 + i * SLICE_S, t0 + (i + 1) * SLICE_S):
            ts.append(float(line.split('"t":')[1].split(",")[0]))
    assert sim.adverts_sent == pytest.approx(300 / 0.505, rel=0.02)
    gaps = np.diff(ts)
    assert gaps.min() >= 0.499
    # the receiver catches about scan_duty of them; a missed one shows as a gap of twice the interval or more
    assert len(ts) == pytest.approx(sim.adverts_sent * 0.8, rel=0.08)
    assert np.all((gaps < 0.52) | (gaps > 0.99))


def test_the_device_offset_spread_is_the_one_asked_for() -> None:
    """--device-offset-db sets how far phones of one kind differ in level; 0 makes them alike, and the walk's
    device is drawn from the same spread."""
    from simulator.generate import day_draws
    from simulator.radio import radio_with

    store = load_store(None)

    def phone_offsets(spread: float) -> list[float]:
        pop = day_draws(store, 3, 60, 1800.0, strangers=0, radio=radio_with(device_offset_db=spread)).population
        return [d.offset_db for d in pop.devices if d.kind in ("app-phone", "irk-phone")]

    assert set(phone_offsets(0.0)) == {0.0}
    varied = phone_offsets(8.0)
    assert len(varied) >= 30 and 5.0 < float(np.std(varied)) < 11.0

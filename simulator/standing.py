"""Phones that stand still: the issue's definition of a flap is a zone change of a device that does not move.

A store's calibration walk is generated and fitted as `proximity-sim generate` does it (the zones.toml a store
would get), then phones stand at points spread over every zone, each with its own advertising interval
(0.1-1 s), offset and facing, carried on a body like a shopper's phone, through the simulator's radio
(shadowing that drifts over time, fading, body loss, walls). Used by benchmarks/bench_standing.py and its test.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gateway.adverts import Advert
from gateway.sources.recording import read_recording
from gateway.truth import TruthInterval
from gateway.zones.model import ZoneModel
from simulator.devices import Device, Frames, company_payload, derived_bytes, log_uniform, random_address
from simulator.generate import generate_day, simulate_to_file
from simulator.movement import fixed_track, spread_points
from simulator.radio import DEFAULT_RADIO
from simulator.store import load_store

WARM_UP_S = 20.0  # the first seconds after a phone appears are a decision, not standing: not in the truth
T0 = 1_800_000_000.0


@dataclass
class StandingDay:
    model: ZoneModel  # fitted on the store's walk
    adverts: list[Advert]  # the standing phones' advertisements as the receivers reported them
    truth: list[TruthInterval]  # each phone in its zone, from the end of its warm-up
    phones: int
    offsets: dict[str, float]  # each phone's true constant offset in dB (its radio, before body loss), by address


def standing_phones(store_path: Path, seed: int, spots: int, minutes: float, work: Path) -> StandingDay:
    store = load_store(store_path)
    day = generate_day(work / "walk", store=store, shoppers=0, duration_s=60, seed=seed, progress=False, plot=False)
    model = ZoneModel.load(day.config_dir / "zones.toml")
    rng = np.random.default_rng(1000 + seed)
    t1 = T0 + WARM_UP_S + 60.0 * minutes
    devices: list[Device] = []
    truth: list[TruthInterval] = []
    offsets: dict[str, float] = {}
    for zone in store.zone:
        for x, y in spread_points(zone, spots, rng):
            key = rng.bytes(16)
            addr = random_address(derived_bytes(key, "static", 6), "static")
            frames = Frames(key, "static", None, 0.0, company_payload(89, "", 6))
            frames.plan(T0, t1)
            track = fixed_track(x, y, T0, t1)
            track.heading[:] = rng.uniform(-math.pi, math.pi)  # one facing for the whole stand
            interval = log_uniform(rng, 0.1, 1.0)
            offset = float(rng.normal(0.0, DEFAULT_RADIO.device_offset_sigma_db))
            devices.append(Device("standing-phone", track, interval, offset, 1.0, frames, t_on=T0, t_off=t1))
            truth.append(TruthInterval(addr, zone.name, T0 + WARM_UP_S, t1))
            offsets[addr] = offset
    scans = work / "standing.jsonl.gz"
    simulate_to_file(scans, store, devices, T0, t1, rng, DEFAULT_RADIO, "standing phones")
    _, adverts, _ = read_recording(scans)
    return StandingDay(model, adverts, truth, len(devices), offsets)

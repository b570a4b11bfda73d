"""Flaps of a device that stands still, the issue's definition: zone changes per minute of a phone that does not move.

    python benchmarks/bench_standing.py [--seeds 1 2] [--spots 4] [--minutes 5]

For each shipped store and seed: the store's calibration walk is generated and fitted as `proximity-sim generate`
does it (the same zones.toml a store would get), then phones stand at `--spots` points spread over every zone for
`--minutes`, each with its own advertising interval (0.1-1 s), offset and facing, carried on a body like a
shopper's phone, through the simulator's radio (shadowing that drifts over time, fading, body loss, walls).
`calibrate evaluate`'s scoring then counts, per phone, the changes of the estimated zone once it first reached
its true zone, and how often it was right.

A walking shopper's flaps are in bench_zones / bench_days; this isolates the case the issue names.
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gateway.sources.recording import read_recording
from gateway.truth import TruthInterval
from gateway.zones.calibrate import evaluate
from gateway.zones.model import ZoneModel
from simulator.devices import Device, Frames, company_payload, derived_bytes, log_uniform, random_address
from simulator.generate import generate_day, simulate_to_file
from simulator.movement import fixed_track, spread_points
from simulator.radio import DEFAULT_RADIO
from simulator.store import load_store

STORES = Path(__file__).resolve().parent.parent / "simulator" / "stores"
WARM_UP_S = 20.0  # the first seconds after a phone appears are a decision, not standing (bench_zones has them)


def standing_phones(store_path: Path, seed: int, spots: int, minutes: float, work: Path) -> dict[str, float]:
    store = load_store(store_path)
    day = generate_day(work / "walk", store=store, shoppers=0, duration_s=60, seed=seed, progress=False, plot=False)
    model = ZoneModel.load(day.config_dir / "zones.toml")
    rng = np.random.default_rng(1000 + seed)
    t0 = 1_800_000_000.0
    t1 = t0 + WARM_UP_S + 60.0 * minutes
    devices: list[Device] = []
    truth: list[TruthInterval] = []
    for zone in store.zone:
        for x, y in spread_points(zone, spots, rng):
            key = rng.bytes(16)
            addr = random_address(derived_bytes(key, "static", 6), "static")
            frames = Frames(key, "static", None, 0.0, company_payload(89, "", 6))
            frames.plan(t0, t1)
            track = fixed_track(x, y, t0, t1)
            track.heading[:] = rng.uniform(-math.pi, math.pi)  # one facing for the whole stand
            interval = log_uniform(rng, 0.1, 1.0)
            offset = float(rng.normal(0.0, DEFAULT_RADIO.device_offset_sigma_db))
            devices.append(Device("standing-phone", track, interval, offset, 1.0, frames, t_on=t0, t_off=t1))
            truth.append(TruthInterval(addr, zone.name, t0 + WARM_UP_S, t1))
    scans = work / "standing.jsonl.gz"
    simulate_to_file(scans, store, devices, t0, t1, rng, DEFAULT_RADIO, "bench_standing")
    _, adverts, _ = read_recording(scans)
    # the tracker meets each phone from its first advertisement; only the standing part after the warm-up is scored
    result = evaluate(model, adverts, truth)
    return {
        "phones": len(devices),
        "accuracy": result["zone_accuracy"],
        "flaps_per_min": result["flap_rate_per_min"],
        "unknown": result["unknown_share"],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--spots", type=int, default=4, help="standing phones per zone")
    ap.add_argument("--minutes", type=float, default=5.0)
    args = ap.parse_args()
    print(f"{'store':14} {'seed':>4} {'phones':>6} {'accuracy':>8} {'unknown':>7} {'flaps/min':>9}")
    for path in sorted(STORES.glob("*.toml")):
        for seed in args.seeds:
            with tempfile.TemporaryDirectory(prefix="bench-standing-") as tmp:
                r = standing_phones(path, seed, args.spots, args.minutes, Path(tmp))
            print(
                f"{path.stem:14} {seed:>4} {r['phones']:>6} {r['accuracy']:>8.3f} {r['unknown']:>7.3f} "
                f"{r['flaps_per_min']:>9.2f}",
                flush=True,
            )


if __name__ == "__main__":
    main()

"""The zone accuracy each store's layout allows, on the same days bench_days.py scores the pipeline on.

    python benchmarks/bench_ceiling.py [--seeds 1 2 3] [--shoppers 40] [--duration 1800] [--stores ...]
    python benchmarks/bench_ceiling.py --shadowing-db 5 --body-loss-db 0    # the issue's noise wording

Per store: the oracle of simulator/ceiling.py (it knows the simulator's radio map and may use hindsight),
over the consenting customers of the days `proximity-sim generate --seed K` makes with these arguments. Read
it next to bench_days.py's zone accuracy for the same seeds: the gap between the two is what a better zone
model or calibration could still win; the gap between this and 1.0 is the layout's and the noise's.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from simulator.ceiling import Ceiling, ceiling_of_day
from simulator.radio import radio_with
from simulator.store import load_store

STORE_DIR = Path(__file__).resolve().parent.parent / "simulator/stores"
STORES = {p.stem: p for p in sorted(STORE_DIR.glob("*.toml"))}  # every shipped layout, the per-zone example too


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    ap.add_argument("--stores", nargs="+", choices=list(STORES), default=list(STORES))
    ap.add_argument("--shoppers", type=int, default=40)
    ap.add_argument("--duration", type=float, default=1800.0)
    ap.add_argument("--json", action="store_true", help="also print one JSON object per store")
    ap.add_argument("--shadowing-db", type=float, help="the radio's shadowing spread (default: the simulator's)")
    ap.add_argument("--body-loss-db", type=float, help="what a carrier's body costs (default: the simulator's)")
    ap.add_argument("--device-offset-db", type=float, help="how much phones differ (default: the simulator's)")
    args = ap.parse_args()
    radio = radio_with(args.shadowing_db, args.body_loss_db, args.device_offset_db)

    print(f"{'store':<27} {'ceiling':>8} {'causal':>7} {'setting':>10} {'s/day':>6}  per zone (pooled over the seeds)")
    for name in args.stores:
        store = load_store(STORES[name])
        result = Ceiling()
        per_day = []
        started = time.perf_counter()
        for seed in args.seeds:
            day = ceiling_of_day(store, seed, args.shoppers, args.duration, radio)
            per_day.append(round(day.accuracy, 3))
            result.merge(day)
        seconds = (time.perf_counter() - started) / len(args.seeds)
        zones = ", ".join(f"{z} {t.accuracy:.2f}" for z, t in sorted(result.per_zone().items()))
        print(
            f"{name:<27} {result.accuracy:>8.3f} {result.forward_accuracy:>7.3f} {result.setting!s:>10} "
            f"{seconds:>6.1f}  {zones}; days {per_day}",
            flush=True,
        )
        if args.json:
            print(json.dumps({"store": name, "seeds": args.seeds, "ceiling": result.accuracy, "per_day": per_day}))


if __name__ == "__main__":
    main()

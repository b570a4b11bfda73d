"""Flaps of a device that stands still, the issue's definition: zone changes per minute of a phone that does not move.

    python benchmarks/bench_standing.py [--seeds 1 2] [--spots 4] [--minutes 5]

For each shipped store and seed: `simulator.standing` fits the store's calibration walk as `proximity-sim generate`
does it, then stands phones at `--spots` points spread over every zone for `--minutes` (each with its own
interval, offset and facing, on a body like a shopper's phone). `calibrate evaluate`'s scoring then counts, per
phone, the changes of the estimated zone once it first reached its true zone, and how often it was right.
`--still-motion-db X` replaces the fitted standing rule's threshold (0 = the rule off), `--still-exit-factor X` its
exit factor (1 = one threshold), `--offset-learning-rate X` the rate of each phone's offset belief (0 = off) and
`--offset-step-spread-db X` the limit on one step's say in it (0 = none), for before/after figures. Per store, the
mean over the seeds.

A walking shopper's flaps are in bench_zones / bench_days; this isolates the case the issue names.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gateway.zones.evaluate import evaluate
from simulator.standing import standing_phones as standing_day

STORES = Path(__file__).resolve().parent.parent / "simulator" / "stores"


def standing_phones(
    store_path: Path,
    seed: int,
    spots: int,
    minutes: float,
    work: Path,
    overrides: dict[str, float] | None = None,
) -> dict[str, float]:
    """`overrides`: fitted params replaced by these values (before/after figures)."""
    day = standing_day(store_path, seed, spots, minutes, work)
    for key, value in (overrides or {}).items():
        setattr(day.model.params, key, value)
    # the tracker meets each phone from its first advertisement; only the standing part after the warm-up is scored
    result = evaluate(day.model, day.adverts, day.truth)
    return {
        "phones": day.phones,
        "accuracy": result["zone_accuracy"],
        "flaps_per_min": result["flap_rate_per_min"],
        "unknown": result["unknown_share"],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--spots", type=int, default=4, help="standing phones per zone")
    ap.add_argument("--minutes", type=float, default=5.0)
    ap.add_argument("--still-motion-db", type=float, default=None, help="override the fitted value (0 = off)")
    ap.add_argument("--offset-learning-rate", type=float, default=None, help="override the fitted value (0 = off)")
    ap.add_argument("--still-exit-factor", type=float, help="override the fitted value (1 = no hysteresis)")
    ap.add_argument("--offset-step-spread-db", type=float, help="override the fitted value (0 = no limit)")
    args = ap.parse_args()
    keys = ("still_motion_db", "offset_learning_rate", "still_exit_factor", "offset_step_spread_db")
    overrides = {k: getattr(args, k) for k in keys if getattr(args, k) is not None}
    stores = sorted(STORES.glob("*.toml"))
    width = max(16, *(len(p.stem) for p in stores))
    print(f"{'store':{width}} {'seed':>4} {'phones':>6} {'accuracy':>8} {'unknown':>7} {'flaps/min':>9}")
    means: list[str] = []
    for path in stores:
        rows = []
        for seed in args.seeds:
            with tempfile.TemporaryDirectory(prefix="bench-standing-") as tmp:
                r = standing_phones(path, seed, args.spots, args.minutes, Path(tmp), overrides)
            rows.append(r)
            print(
                f"{path.stem:{width}} {seed:>4} {r['phones']:>6} {r['accuracy']:>8.3f} {r['unknown']:>7.3f} "
                f"{r['flaps_per_min']:>9.2f}",
                flush=True,
            )
        acc = sum(r["accuracy"] for r in rows) / len(rows)
        flaps = sum(r["flaps_per_min"] for r in rows) / len(rows)
        means.append(f"{path.stem:{width}} {'mean':>4} {'':>6} {acc:>8.3f} {'':>7} {flaps:>9.2f}")
    print("\n".join(means))


if __name__ == "__main__":
    main()

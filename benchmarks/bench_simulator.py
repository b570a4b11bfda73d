"""Time and peak memory of a busy simulated store day.

    python benchmarks/bench_simulator.py                       # 500 shoppers, 2000 strangers, 10 h
    python benchmarks/bench_simulator.py --shoppers 50 --hours 1

Wall time depends on what else runs on the machine; CPU time less so.
Peak memory is the process's maximum resident set (ru_maxrss), which includes Python, numpy and matplotlib.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

from simulator.generate import generate_day


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--shoppers", type=int, default=500)
    ap.add_argument("--strangers", type=int, default=2000)
    ap.add_argument("--hours", type=float, default=10.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", type=Path, default=None, help="keep the files here (default: a temporary directory)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out = args.out or Path(tmp)
        start = time.perf_counter()
        cpu_start = time.process_time()
        res = generate_day(
            out,
            shoppers=args.shoppers,
            strangers=args.strangers,
            duration_s=args.hours * 3600,
            seed=args.seed,
            progress=False,
        )
        elapsed = time.perf_counter() - start
        cpu = time.process_time() - cpu_start
        size_mb = res.scans.stat().st_size / 1e6
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"day: {args.hours:g} h, {args.shoppers} shoppers, {args.strangers} strangers' devices, "
        f"{len(res.reports_per_receiver)} receivers"
    )
    print(f"reported advertisements: {res.adverts:,} ({res.adverts / elapsed:,.0f}/s); scans.jsonl.gz {size_mb:.1f} MB")
    print("per receiver: " + ", ".join(f"{k} {v:,}" for k, v in res.reports_per_receiver.items()))
    print(f"truth intervals: {res.truth_intervals:,}; customers: {res.n_customers}; devices: {res.n_devices}")
    print(f"wall time: {elapsed:.1f} s; CPU time (both threads): {cpu:.1f} s; peak RSS: {peak_mb:.0f} MB")


if __name__ == "__main__":
    main()

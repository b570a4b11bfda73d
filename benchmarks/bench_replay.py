"""`proximity-gateway replay --fast` as a user runs it, on a store day of about 290,000 advertisements.

    python benchmarks/bench_replay.py [--scans DAY/scans.jsonl.gz]    # default: generates seed 9, 50 shoppers, 25 min

Starts a private Mosquitto on a free port, runs the real command (a separate process: start-up, SQLite
outbox, QoS 1 publishing and the final drain included) and prints its own summary line and the wall time.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from simulator.generate import generate_day
from simulator.localbroker import Mosquitto


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scans", type=Path)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-replay-") as tmp:
        work = Path(tmp)
        if args.scans is None:
            generate_day(work / "day", shoppers=50, duration_s=1500, seed=9, progress=False, plot=False)
            args.scans = work / "day" / "scans.jsonl.gz"
        config = args.scans.parent / "config"
        with Mosquitto(work / "broker") as broker:
            env = {**os.environ, "PROXIMITY_MQTT__URL": broker.url, "PROXIMITY_STATE_DIR": str(work / "state")}
            start = time.perf_counter()
            done = subprocess.run(
                [sys.executable, "-m", "gateway", "replay", str(args.scans), "--config", str(config), "--fast"],
                env=env, capture_output=True, text=True, check=False,
            )  # fmt: skip
            wall = time.perf_counter() - start
    print(done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "(no output)")
    print(f"exit {done.returncode}; {wall:.2f} s wall for the whole command (start-up and outbox drain included)")


if __name__ == "__main__":
    main()

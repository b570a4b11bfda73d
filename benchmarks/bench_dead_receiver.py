"""What a receiver that dies costs the zones, and what leaving it out wins back (docs/zones.md, round 22).

    python benchmarks/bench_dead_receiver.py                          # 7 layouts x seeds 1 2: about 20 min on 2 cores
    python benchmarks/bench_dead_receiver.py --stores example pharmacy --seeds 1 --jobs 2    # a couple of minutes

For each store with more than one receiver and each seed, `proximity-sim generate` makes a day (`--shoppers`,
`--duration`; kept in `--days` and reused). Then for every receiver of the day, its lines are removed from the
day's second half, and that half is scored (`proximity-sim evaluate`'s scoring, the truth cut at the midpoint):

  intact     the day as generated (once per day)
  blind      the dead receiver's silence read as evidence, as before session 20 (the liveness test switched off)
  told       left out from the moment it died, as when its node says it is offline (the best the test can do)
  detected   as shipped: left out once its silence is surprising enough (gateway/zones/liveness.py)

and how long after its death `detected` left it out (median and longest; on how many half-days it was left out at
all). Per layout, the mean over its receivers and seeds.
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import statistics
import sys
import tempfile
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gateway.adverts import Advert
from gateway.pipeline import Pipeline
from simulator.evaluate import evaluate_day
from simulator.generate import generate_day

STORES_DIR = Path(__file__).resolve().parent.parent / "simulator" / "stores"
LAYOUTS = (
    "dense-small",
    "department-store",
    "example",
    "example-receiver-per-zone",
    "hypermarket",
    "pharmacy",
    "small-kiosk",
)
MODES = ("blind", "told", "detected")


def make_day(store: str, seed: int, shoppers: int, duration: float, days: Path) -> Path:
    out = days / f"{store}-{seed}-{shoppers}-{duration:g}"
    if not (out / "truth.jsonl").is_file():
        generate_day(
            out,
            store=STORES_DIR / f"{store}.toml",
            shoppers=shoppers,
            duration_s=duration,
            seed=seed,
            progress=False,
            plot=False,
        )
    return out


def receivers(day: Path) -> list[str]:
    with gzip.open(day / "scans.jsonl.gz", "rt", encoding="utf-8") as f:
        return list(json.loads(f.readline())["receivers"])


def second_half(day: Path, dead: str | None, work: Path) -> tuple[Path, Path, float]:
    """The day's scans without `dead`'s lines from the midpoint on, and its truth from the midpoint on."""
    with gzip.open(day / "scans.jsonl.gz", "rt", encoding="utf-8") as f:
        header, *lines = f.read().splitlines()
    first, last = (json.loads(line)["t"] for line in (lines[0], lines[-1]))
    died = (first + last) / 2
    scans, truth = work / "scans.jsonl", work / "truth.jsonl"
    mark = f'"rx":"{dead}"'
    with scans.open("w", encoding="utf-8") as f:
        f.write(header + "\n")
        for line in lines:
            if dead is None or mark not in line or json.loads(line)["t"] < died:
                f.write(line + "\n")
    with truth.open("w", encoding="utf-8") as f:
        for line in (day / "truth.jsonl").read_text(encoding="utf-8").splitlines():
            iv = json.loads(line)
            if iv["t_end"] > died:
                iv["t_start"] = max(iv["t_start"], died)
                f.write(json.dumps(iv) + "\n")
    return scans, truth, died


def score(day: Path, dead: str | None, mode: str) -> tuple[float, float | None, list[str]]:
    """Accuracy on the second half, (detected) seconds from the death to leaving the receiver out, and the live
    receivers that were left out (none, if the test does not cry wolf)."""
    with tempfile.TemporaryDirectory() as tmp:
        scans, truth, died = second_half(day, dead, Path(tmp))
        t_last = 0.0

        def before(pipeline: Pipeline, adv: Advert) -> None:
            nonlocal t_last
            t_last = adv.t
            if mode == "blind":
                pipeline.liveness.threshold = math.inf
            elif mode == "told" and dead is not None and adv.t >= died and not pipeline.liveness.offline:
                pipeline.receivers_offline([dead])

        result = evaluate_day(scans, truth, day / "config", before_advert=before)
    left_out = result["receivers_left_out_s"].get(dead) if dead is not None else None
    after = t_last - died - left_out if mode == "detected" and left_out is not None else None
    live_out = sorted(rx for rx in result["receivers_left_out_s"] if rx != dead)
    return float(result["zone_accuracy"]), after, live_out


Result = tuple[str, Path, str | None, str, float, float | None, list[str]]


def job(args: tuple[str, Path, str | None, str]) -> Result:
    _, day, dead, mode = args
    return (*args, *score(day, dead, mode))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--stores", nargs="+", default=list(LAYOUTS), choices=LAYOUTS)
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--shoppers", type=int, default=40)
    ap.add_argument("--duration", type=float, default=1800.0)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--days", type=Path, default=Path(tempfile.gettempdir()) / "bench-dead-receiver")
    args = ap.parse_args()
    args.days.mkdir(parents=True, exist_ok=True)

    jobs: list[tuple[str, Path, str | None, str]] = []
    for store in args.stores:
        for seed in args.seeds:
            day = make_day(store, seed, args.shoppers, args.duration, args.days)
            jobs.append((store, day, None, "intact"))
            jobs += [(store, day, rx, mode) for rx in receivers(day) for mode in MODES]
    print(
        f"{len(args.stores)} layouts x seeds {' '.join(map(str, args.seeds))} ({args.shoppers} shoppers, "
        f"{args.duration:g} s): {len(jobs)} second halves to score on {args.jobs} processes",
        flush=True,
    )
    with ProcessPoolExecutor(args.jobs) as pool:
        results = list(pool.map(job, jobs))

    intact = {day: acc for _, day, _, mode, acc, _, _ in results if mode == "intact"}
    cells: dict[tuple[str, str | None, Path], dict[str, float]] = defaultdict(dict)
    afters: dict[str, list[float]] = defaultdict(list)
    wolf = [(day.name, dead, mode, live) for _, day, dead, mode, _, _, live in results if live and mode != "told"]
    for store, day, dead, mode, acc, after, _ in results:
        if mode != "intact":
            cells[(store, dead, day)][mode] = acc
        if after is not None:
            afters[store].append(after)
    modes = " | ".join(MODES)
    print(f"\n| layout | half-days | intact | {modes} | detected - blind | up / down | left out after (s) |")
    print("|---|---|---|---|---|---|---|---|---|")
    everyone: list[tuple[float, dict[str, float]]] = []
    for store in args.stores:
        rows = [(intact[day], m) for (s, _, day), m in cells.items() if s == store]
        if not rows:
            continue
        everyone += rows
        print(_row(store, rows, afters[store]))
    print(_row("all", everyone, [a for v in afters.values() for a in v]))
    print(
        f"\nlive receivers left out: {len(wolf)} of {len(results)} second halves"
        + "".join(f"\n  {day} ({dead or 'intact'}, {mode}): {', '.join(live)}" for day, dead, mode, live in wolf)
    )


def _row(name: str, rows: list[tuple[float, dict[str, float]]], afters: list[float]) -> str:
    n = len(rows)
    gains = [m["detected"] - m["blind"] for _, m in rows]
    mean = [sum(a for a, _ in rows) / n] + [sum(m[k] for _, m in rows) / n for k in MODES]
    up, down = sum(g > 0.0005 for g in gains), sum(g < -0.0005 for g in gains)
    late = f"never (0 of {n})"
    if afters:
        late = f"{statistics.median(afters):.0f} (max {max(afters):.0f}; {len(afters)} of {n})"
    cols = " | ".join(f"{v:.3f}" for v in mean)
    return f"| {name} | {n} | {cols} | {100 * sum(gains) / n:+.1f} points | {up} / {down} | {late} |"


if __name__ == "__main__":
    main()

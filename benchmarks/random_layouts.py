"""Store layouts nobody chose: rectangles of zones and receivers thrown at random, for checking a change of the
zone model on stores it was not made on.

    python benchmarks/random_layouts.py --out DIR [--count 10] [--seed 100]
    for k in 0 1 ...; do proximity-sim generate --out DIR/dK --store DIR/randK.toml --seed 7 ...; done

Each layout: a floor of 8-40 x 6-30 m, the door in the middle of the left wall, 2-3 x 1-3 rectangular zones
tiling it, 3-12 receivers anywhere on it with radios drawn around the simulator's (-68..-55 dBm at 1 m,
exponent 1.9-3.2, sensitivity -99..-90 dBm, scan duty 0.5-0.95). The same seed writes the same files.
Session 15 scored its offset-belief change on the ten of seed 100 (docs/zones.md, round 17).

`--receivers LO HI` draws the receiver count from another range (one receiver is the store with a single
gateway), `--door-anywhere` puts the door anywhere on any wall; without them a seed writes what it always did.
`benchmarks/bench_random_layouts.py` runs such layouts through the CLI (docs/zones.md, round 28).
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

ZONE_NAMES = ("alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india")


def layout(k: int, rng: random.Random, receivers: tuple[int, int] = (3, 12), door_anywhere: bool = False) -> str:
    """The TOML of layout `k`, drawn from `rng`."""
    w = round(rng.uniform(8, 40), 1)
    h = round(rng.uniform(6, 30), 1)
    nx, ny = rng.choice([2, 3]), rng.choice([1, 2, 3])
    n_rx = rng.randint(*receivers)
    lines = [f'store_id = "rand-{k}"', f'name = "Random layout {k}"', f"width = {w}", f"height = {h}"]
    lines += [f"entrance = [0.0, {h / 2:.1f}]", ""]
    names = iter(ZONE_NAMES)
    for i in range(nx):
        for j in range(ny):
            # rounded inward so that no vertex lies outside the floor plan
            x0, x1 = round(w * i / nx, 2), min(round(w * (i + 1) / nx, 2), w)
            y0, y1 = round(h * j / ny, 2), min(round(h * (j + 1) / ny, 2), h)
            polygon = f"[[{x0}, {y0}], [{x1}, {y0}], [{x1}, {y1}], [{x0}, {y1}]]"
            lines += ["[[zone]]", f'name = "{next(names)}"', f"polygon = {polygon}", ""]
    for r in range(n_rx):
        lines += [
            "[[receiver]]",
            f'id = "r{r}"',
            f"x = {rng.uniform(0.3, w - 0.3):.1f}",
            f"y = {rng.uniform(0.3, h - 0.3):.1f}",
            f"rssi_at_1m = {rng.uniform(-68, -55):.1f}",
            f"path_loss_exponent = {rng.uniform(1.9, 3.2):.2f}",
            f"sensitivity_dbm = {rng.uniform(-99, -90):.1f}",
            f"scan_duty = {rng.uniform(0.5, 0.95):.2f}",
            "",
        ]
    if door_anywhere:  # drawn last, so that the rest of the layout is what the seed always drew
        along = rng.uniform(0.15, 0.85)
        door = next(i for i, text in enumerate(lines) if text.startswith("entrance = "))
        lines[door] = "entrance = " + rng.choice(
            [f"[0.0, {h * along:.1f}]", f"[{w}, {h * along:.1f}]", f"[{w * along:.1f}, 0.0]", f"[{w * along:.1f}, {h}]"]
        )
    return "\n".join(lines)


def write_layouts(
    out: Path, count: int, seed: int, receivers: tuple[int, int] = (3, 12), door_anywhere: bool = False
) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for k in range(count):
        path = out / f"rand{k}.toml"
        path.write_text(layout(k, random.Random(seed + k), receivers, door_anywhere), encoding="utf-8")
        paths.append(path)
    return paths


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--count", type=int, default=10)
    ap.add_argument("--seed", type=int, default=100)
    ap.add_argument("--receivers", type=int, nargs=2, default=(3, 12), metavar=("LO", "HI"))
    ap.add_argument("--door-anywhere", action="store_true")
    args = ap.parse_args()
    if not 1 <= args.receivers[0] <= args.receivers[1]:
        ap.error(f"--receivers: expected 1 <= LO <= HI, got {args.receivers[0]} {args.receivers[1]}")
    for path in write_layouts(args.out, args.count, args.seed, tuple(args.receivers), args.door_anywhere):
        print(path)


if __name__ == "__main__":
    main()

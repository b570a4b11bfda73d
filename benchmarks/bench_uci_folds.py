"""Zone accuracy on the public UCI BLE RSSI data, every walk scored once: K folds of whole walks in time order,
each scored by a model fitted on the other folds' walks. bench_zones' UCI column scores one 70/30 split
(299 samples); this pools every row of the file, so method differences below a point or two on that split can be
told from the split's luck.

    python benchmarks/bench_uci_folds.py [--folds 5]

Methods as in bench_zones: ours (what `calibrate fit` makes), nb (the same fingerprints without the phone's offset
integrated out: the UCI data has one phone throughout), nearest centroid, strongest receiver.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gateway.sources.recording import read_recording
from gateway.truth import read_truth
from gateway.zones.calibrate import fit
from gateway.zones.evaluate import evaluate
from simulator.uci import convert_folds

UCI_CSV = Path("/work/shared/data/uci-ble-rssi/iBeacon_RSSI_Labeled_until_september.csv")
METHODS = (("ours", None), ("nb", "nb"), ("nearest centroid", "centroid"), ("strongest receiver", "strongest"))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--csv", type=Path, default=UCI_CSV)
    args = ap.parse_args()
    if not args.csv.exists():
        sys.exit(f"{args.csv}: not found (the public UCI BLE RSSI data set)")
    pooled = {name: [0.0, 0] for name, _ in METHODS}
    print(f"{'fold':6s} {'samples':>7s} " + " ".join(f"{name:>18s}" for name, _ in METHODS))
    with tempfile.TemporaryDirectory() as work:
        for k, part in enumerate(convert_folds(args.csv, work, args.folds)):
            _, cal, _ = read_recording(part["fit"][0])
            _, day, _ = read_recording(part["evaluate"][0])
            truth = read_truth(part["evaluate"][1])
            model = fit(cal, read_truth(part["fit"][1]), None).model
            cells = []
            n = 0
            for name, method in METHODS:
                r = evaluate(model, day, truth, method=method)
                n = r["samples"]
                pooled[name][0] += r["zone_accuracy"] * n
                pooled[name][1] += n
                cells.append(f"{r['zone_accuracy']:18.3f}")
            print(f"{k:<6d} {n:7d} " + " ".join(cells), flush=True)
    total = pooled["ours"][1]
    print(f"{'pooled':6s} {total:7d} " + " ".join(f"{c / max(n, 1):18.3f}" for c, n in pooled.values()))


if __name__ == "__main__":
    main()

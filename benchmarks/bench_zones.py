"""Zone estimation: method x data set (accuracy, unknown share, flap rate), and tracker cost per observe().

    python benchmarks/bench_zones.py            # everything (a few minutes on 2 cores)
    python benchmarks/bench_zones.py --quick    # synthetic stores and UCI only
    python benchmarks/bench_zones.py --only sim-department-store-6   # the named data sets only

Data sets (each fitted on its own calibration walk, scored on data it was not fitted on):
- synth-K: tests/zones/synth.py stores (log-distance, 5 dB shadowing correlated in space, 4 dB fading,
  phones offset by up to +-6 dB, 10 % packet loss), a calibration walk, then a day of 4 phones;
- sim-<store>-K: `proximity-sim generate` days (when the simulator is installed); the day's adverts are
  recognised with the customers file (gateway.identity.Resolver) and scored per customer; corner-shop (one
  receiver), hypermarket and department-store (twenty zones) were added after the model was designed: nothing
  was tuned on them;
- uci: the public UCI BLE RSSI walks, converted by simulator.uci, fitted on the earliest 70 % of walks,
  scored on the later ones.
Methods: ours = what `calibrate fit` makes by default (row "ours chose"): the fingerprints (offset-invariant naive
Bayes + HMM; "+ centroid": pooled with the nearest centroid's reading, unless the walk vetoed it); "grid" =
`fit(method="grid")` where the walk carries zone polygons (path-loss curves + per-zone level, walking HMM over 1 m
cells, optionally averaged with the fingerprints: "no blend" without); "ours, no threshold" = ours with confidence
threshold 0; nb = the fingerprints without the offset integration; centroid = nearest centroid; strongest =
strongest receiver; logdist = log-distance positioning (needs receiver and zone positions); "ours, no HMM" = switch
time ~0 and no hysteresis; "ours, smoothing=X" = fitted with only that smoothing allowed.
"""

from __future__ import annotations

import argparse
import copy
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gateway.adverts import Advert
from gateway.sources.recording import read_recording
from gateway.truth import TruthInterval, read_truth
from gateway.zones.calibrate import ALL_SMOOTHINGS, FitResult, fit
from gateway.zones.evaluate import evaluate
from gateway.zones.tracker import ZoneTracker

UCI_CSV = Path("/work/shared/data/uci-ble-rssi/iBeacon_RSSI_Labeled_until_september.csv")
DataSet = tuple[
    str, list[Advert], list[TruthInterval], list[Advert], list[TruthInterval], dict[str, Any], dict[str, Any]
]


def synth_sets(seeds: list[int]) -> list[DataSet]:
    from tests.zones.synth import calibration_walk, make_store, store_day

    out = []
    for seed in seeds:
        st = make_store(seed, shadow_db=5.0)
        cal, ct = calibration_walk(st, seed)
        day, dt = store_day(st, seed + 100)
        out.append((f"synth-{seed}", cal, ct, day, dt, st.header_receivers(), st.zone_polygons()))
    return out


def customer_adverts(day: Path) -> list[Advert]:
    """A generated day's advertisements of consenting customers, each under its customer id (as the truth names
    devices): what the zone stage sees once recognition has run."""
    from gateway.identity.importer import read_customers_file
    from gateway.identity.resolver import Resolver

    resolver = Resolver([c for c in read_customers_file(day / "customers.jsonl").customers if c.consent])
    _, raw, _ = read_recording(day / "scans.jsonl.gz")
    return [Advert(a.t, a.rx, cid, a.rssi) for a in raw if (cid := resolver.match(a)) is not None]


def sim_sets(specs: list[tuple[str | None, int]], work: Path) -> list[DataSet]:
    out = []
    for store, seed in specs:
        d = work / f"sim-{seed}"
        cmd = [sys.executable, "-m", "simulator", "generate", "--out", str(d), "--seed", str(seed)]
        if store:
            cmd += ["--store", store]
        if subprocess.run(cmd, capture_output=True, check=False).returncode != 0:
            print(f"simulator not usable for {store or 'example'} seed {seed}; skipped", file=sys.stderr)
            continue
        header, cal, _ = read_recording(d / "calibration.jsonl.gz")
        ct = read_truth(d / "calibration-truth.jsonl")
        day = customer_adverts(d)
        zpos = header.zone_geometry() or {}
        out.append((sim_name(store, seed), cal, ct, day, read_truth(d / "truth.jsonl"), header.receivers, zpos))
    return out


def uci_set(work: Path) -> list[DataSet]:
    if not UCI_CSV.exists():
        return []
    from simulator.uci import convert_split

    parts = convert_split(UCI_CSV, work / "uci", 0.7)
    _, cal, _ = read_recording(parts["fit"][0])
    _, day, _ = read_recording(parts["evaluate"][0])
    return [("uci", cal, read_truth(parts["fit"][1]), day, read_truth(parts["evaluate"][1]), {}, {})]


def score(ds: DataSet, full: bool) -> dict[str, dict[str, Any]]:
    _, cal, ct, day, dt, rx, zpos = ds
    t0 = time.perf_counter()
    res: FitResult = fit(cal, ct, rx or None, zone_positions=zpos or None)
    fit_s = time.perf_counter() - t0
    rows: dict[str, dict[str, Any]] = {}
    ours = evaluate(res.model, day, dt)
    ours["fit_s"] = round(fit_s, 1)
    ours["cv"] = res.report["cv_accuracy"]
    p = res.model.params
    # "+ centroid": the centroid term pooled in (the fit's default unless the walk vetoes it); "+ blend": the grid's
    ours["chosen"] = p.method + (" + blend" if p.grid_blend > 0 else "")
    ours["chosen"] += " + centroid" if p.centroid_blend > 0 else ""
    rows["ours"] = ours
    if res.model.grid_radio:  # the walk had polygons and at least two positioned receivers: the grid exists
        grid = fit(cal, ct, rx or None, zone_positions=zpos, method="grid")
        rows["grid"] = evaluate(grid.model, day, dt)
        unblended = copy.deepcopy(grid.model)
        unblended.params.grid_blend = 0.0
        rows["grid, no blend"] = evaluate(unblended, day, dt)
    zero = copy.deepcopy(res.model)
    zero.params.confidence_threshold = 0.0
    rows["ours, no threshold"] = evaluate(zero, day, dt)
    for method in ("nb", "centroid", "strongest", "logdist"):
        try:
            rows[method] = evaluate(res.model, day, dt, method=method)
        except ValueError:
            continue  # logdist without positions
    if full:
        no_hmm = copy.deepcopy(res.model)
        no_hmm.params.switch_time_s = 0.1
        no_hmm.params.confirm_s = 0.0
        no_hmm.params.likelihood_weight = 1.0
        no_hmm.params.confidence_threshold = 0.0  # the HMM's threshold means nothing for a memoryless posterior
        rows["ours, no HMM"] = evaluate(no_hmm, day, dt)
        for smoothing in ("median", "kalman", "none"):
            grid = [g for g in ALL_SMOOTHINGS if g[0] == smoothing]
            r = fit(cal, ct, rx or None, zone_positions=zpos or None, smoothing_grid=grid)
            rows[f"ours, smoothing={smoothing}"] = evaluate(r.model, day, dt)
    return rows


def tracker_cost(ds: DataSet, method: str = "offset_nb") -> float:
    _, cal, ct, day, _, rx, zpos = ds
    if method == "grid":
        model = fit(cal, ct, rx or None, zone_positions=zpos or None, method="grid").model
    else:  # without polygons the fit cannot choose the grid: this times the fingerprints themselves
        model = fit(cal, ct, rx or None).model
    tr = ZoneTracker(model)
    calls = [(a.addr, a.rx, a.rssi, a.t) for a in day]
    t0 = time.perf_counter()
    for d, r, v, t in calls:
        tr.observe(d, r, v, t)
    return (time.perf_counter() - t0) / max(len(calls), 1) * 1e6


# corner-shop, hypermarket, department-store: layouts added after the model's design, nothing tuned on them
SIM_DAYS: list[tuple[str | None, int]] = [
    (None, 1),
    (None, 2),
    ("simulator/stores/small-kiosk.toml", 3),
    ("simulator/stores/corner-shop.toml", 4),
    ("simulator/stores/hypermarket.toml", 5),
    ("simulator/stores/department-store.toml", 6),
]


def sim_name(store: str | None, seed: int) -> str:
    return f"sim-{Path(store).stem if store else 'example'}-{seed}"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--only", nargs="+", metavar="NAME", help="score only these data sets (names as in the table)")
    args = ap.parse_args()
    names = ["synth-1", "synth-2", "synth-3", "uci"] + ([] if args.quick else [sim_name(*d) for d in SIM_DAYS])
    if args.only and (unknown := [n for n in args.only if n not in names]):
        sys.exit(f"--only: no data set named {', '.join(unknown)}; the names are {', '.join(names)}")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        sets = synth_sets([1, 2, 3]) + uci_set(work)
        if not args.quick:
            # generating a day is the slow part: only the ones asked for
            days = [d for d in SIM_DAYS if not args.only or sim_name(*d) in args.only]
            sets += sim_sets(days, work)
        if args.only:
            sets = [ds for ds in sets if ds[0] in args.only]
        table: dict[str, dict[str, dict[str, Any]]] = {}
        for ds in sets:
            table[ds[0]] = score(ds, full=not args.quick)
            print(f"{ds[0]}: done", file=sys.stderr)
        methods = list(dict.fromkeys(m for rows in table.values() for m in rows))
        print("zone accuracy (unknown counts as wrong) / flaps per minute")
        print(f"{'method':28s}" + "".join(f"{n:>24s}" for n in table))
        for m in methods:
            cells = []
            for rows in table.values():
                r = rows.get(m)
                cells.append(f"{r['zone_accuracy']:.3f} / {r['flap_rate_per_min']:.2f}" if r else "-")
            print(f"{m:28s}" + "".join(f"{c:>24s}" for c in cells))
        print(f"{'samples':28s}" + "".join(f"{rows['ours']['samples']:>24d}" for rows in table.values()))
        print(f"{'cross-validated (walk)':28s}" + "".join(f"{rows['ours']['cv']:>24.3f}" for rows in table.values()))
        print(
            f"{'unknown share (ours)':28s}"
            + "".join(f"{rows['ours']['unknown_share']:>24.3f}" for rows in table.values())
        )
        print(
            f"{'latency s (ours)':28s}"
            + "".join(f"{rows['ours']['decision_latency_s']!s:>24s}" for rows in table.values())
        )
        print(f"{'fit seconds':28s}" + "".join(f"{rows['ours']['fit_s']:>24.1f}" for rows in table.values()))
        print(f"{'ours chose':28s}" + "".join(f"{rows['ours']['chosen']:>24s}" for rows in table.values()))
        for ds in sets:
            if ds[0].startswith("sim-example"):
                for method in ("offset_nb", "grid"):
                    print(f"tracker cost: {tracker_cost(ds, method):.1f} us per observe() on {ds[0]}, {method}")
                break
        print(f"tracker cost: {tracker_cost(sets[0]):.1f} us per observe() on {sets[0][0]}")


if __name__ == "__main__":
    main()

"""Zone accuracy on stores from a generator that is not ours, against the baselines (docs/zones.md, round 24).

    python benchmarks/bench_outsider.py                     # layouts a-e, seeds 1-6 (about 7 minutes, one core)
    python benchmarks/bench_outsider.py --layouts a c --seeds 1 2 --out DIR   # keep the files

A helper session wrote the generator from SPEC.md alone, without reading `simulator/` or the zone model, so that
the product is measured on walks, radios and phones nobody designed it beside. Keep it that way: this file is a
check, not a benchmark to tune against. Its world: log-distance path loss (-65..-59 dBm at 1 m, exponent 2-3 per
receiver), shadowing of 5-8 dB correlated over about 3 m, fading 2-4 dB, 5-20 % loss, a -95 dBm floor, 8 dB
through the shop front, no body loss. The walk: one iBeacon tag at 0 dB, 60-180 s per zone over 3-5 spots, and
the pavement. The day: ten customers recognised by SPEC's rotating token (offsets uniform in +-5 dB, intervals
0.1-1 s, addresses rotating every 15 minutes) and four phones nobody knows.

Each day goes through the CLI as a store (or a judge) would: `calibrate fit` on the walk, `calibrate evaluate
--json` on the day with the customers file beside it. The baselines are scored on the same labelled samples (one
per customer and advertisement time): the strongest receiver (the zone whose walk most often had it strongest),
per advertisement and over 2 s windows, and the nearest centroid of 2 s windows (silence at -105 dBm).
"""

# The generator and baselines are kept as the helper wrote them (names and all): the figures of round 24 are
# theirs, and the same seed must write the same files.

from __future__ import annotations

import argparse
import bisect
import gzip
import hashlib
import hmac
import json
import math
import os
import statistics
import struct
import subprocess
import sys
import tempfile
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

T0 = 1732450000.0
TOKEN_CID = 0xFFFF
MISSING = -105.0
LAYOUTS = "abcde"


T0 = 1732450000.0
TOKEN_CID = 0xFFFF


def grid_zones(W, H, nx, ny, names):
    zones = {}
    k = 0
    for j in range(ny):
        for i in range(nx):
            x0, x1 = W * i / nx, W * (i + 1) / nx
            y0, y1 = H * j / ny, H * (j + 1) / ny
            zones[names[k]] = (x0, y0, x1, y1)
            k += 1
    return zones


def layout(name):
    if name == "a":  # 4 zones 2x2, one receiver per zone
        W, H = 20.0, 14.0
        zones = grid_zones(W, H, 2, 2, ["entrance", "bakery", "produce", "dairy"])
        rx = {"rx-1": (5.5, 3.0), "rx-2": (14.0, 4.0), "rx-3": (4.5, 10.5), "rx-4": (15.5, 10.0)}
    elif name == "b":  # 6 zones, 3 receivers
        W, H = 24.0, 12.0
        zones = grid_zones(
            W, H, 3, 2, ["front-left", "front-mid", "front-right", "back-left", "back-mid", "back-right"]
        )
        rx = {"rx-a": (4.0, 3.0), "rx-b": (12.0, 9.0), "rx-c": (20.0, 3.0)}
    elif name == "c":  # 3 zones in a row, 2 receivers
        W, H = 24.0, 8.0
        zones = grid_zones(W, H, 3, 1, ["left", "middle", "right"])
        rx = {"rx-l": (5.0, 4.0), "rx-r": (19.0, 4.0)}
    elif name == "d":  # 8 zones, 8 receivers, 30x20
        W, H = 30.0, 20.0
        zones = grid_zones(W, H, 4, 2, ["z1", "z2", "z3", "z4", "z5", "z6", "z7", "z8"])
        rng = np.random.default_rng(1234)
        rx = {}
        for k, (x0, y0, x1, y1) in enumerate(zones.values()):
            rx[f"rx-{k + 1}"] = (
                float(round(rng.uniform(x0 + 1.5, x1 - 1.5), 1)),
                float(round(rng.uniform(y0 + 2, y1 - 2), 1)),
            )
    elif name == "e":  # L-ish: long aisle at the back, 4 bays in front, 3 receivers (irregular)
        W, H = 20.0, 12.0
        zones = {"aisle": (0.0, 8.0, 20.0, 12.0)}
        zones.update(grid_zones(W, 8.0, 4, 1, ["bay1", "bay2", "bay3", "bay4"]))
        rx = {"rx-x": (2.5, 3.0), "rx-y": (10.0, 10.0), "rx-z": (17.5, 3.0)}
    else:
        raise SystemExit("unknown layout")
    door = (W / 2.0, 0.0)
    return W, H, zones, rx, door


def zone_of(p, zones):
    x, y = p
    if y < 0:
        return "outside"
    for zn, (x0, y0, x1, y1) in zones.items():
        if x0 <= x < x1 and y0 <= y < y1:
            return zn
    return None


class Radio:
    def __init__(self, rng, rx):
        self.rx = rx
        self.names = list(rx)
        self.P0 = {r: rng.uniform(-65, -59) for r in rx}
        self.n = {r: rng.uniform(2.0, 3.0) for r in rx}
        self.sigma = rng.uniform(5, 8)
        self.fast = rng.uniform(2, 4)
        self.loss = rng.uniform(0.05, 0.2)
        ell = 3.0
        M = 300
        self.fw = {r: rng.normal(0, 1 / ell, size=(M, 2)) for r in rx}
        self.fb = {r: rng.uniform(0, 2 * math.pi, size=M) for r in rx}
        self.M = M

    def shadow(self, r, P):
        ph = P @ self.fw[r].T + self.fb[r]
        return self.sigma * math.sqrt(2.0 / self.M) * np.cos(ph).sum(axis=1)

    def rssi(self, rng, r, P, dev_off):
        rp = np.array(self.rx[r])
        d = np.sqrt(((P - rp) ** 2).sum(axis=1) + 2.5**2 * 0 + 1.0)  # receivers ~1 m above handheld height
        d = np.maximum(d, 1.0)
        mean = self.P0[r] - 10 * self.n[r] * np.log10(d) + self.shadow(r, P) + dev_off
        # facade: outside (y<0) loses 8 dB unless within 1.5 m of door line x
        out = P[:, 1] < 0
        mean = mean - np.where(out, 8.0, 0.0)
        v = mean + rng.normal(0, self.fast, size=len(P))
        heard = (v >= -95) & (rng.random(len(P)) > self.loss)
        return np.round(v).astype(int), heard


def rand_in(rng, box, margin=0.7):
    x0, y0, x1, y1 = box
    return np.array([rng.uniform(x0 + margin, x1 - margin), rng.uniform(y0 + margin, y1 - margin)])


def path_segments(rng, waypoints):
    """waypoints: list of (point, dwell_s). Returns function-able arrays: piecewise track sampled later."""
    return waypoints


def track_positions(rng, waypoints, times, t_start, speed=1.0):
    """Build track: at each waypoint dwell (with small jitter), move between at speed. Returns positions at times."""
    # Build keyframes
    kt, kp = [], []
    t = t_start
    prev = None
    for p, dwell in waypoints:
        if prev is not None:
            dist = float(np.linalg.norm(p - prev))
            t += dist / speed
        kt.append(t)
        kp.append(p)
        t += dwell
        kt.append(t)
        kp.append(p)
        prev = p
    kt = np.array(kt)
    kp = np.array(kp)
    x = np.interp(times, kt, kp[:, 0])
    y = np.interp(times, kt, kp[:, 1])
    P = np.stack([x, y], axis=1)
    return P, kt[-1]


def adv_times(rng, t_start, t_end, interval):
    n = int((t_end - t_start) / interval) + 2
    ts = t_start + rng.uniform(0, interval) + np.arange(n) * interval + rng.uniform(0, 0.01, size=n)
    return ts[ts < t_end]


def truth_intervals(device, times, P, zones):
    out = []
    cur, cs, last = None, None, None
    for t, p in zip(times, P, strict=True):
        z = zone_of(p, zones)
        if z != cur:
            if cur is not None:
                out.append({"device": device, "zone": cur, "t_start": round(cs, 3), "t_end": round(last, 3)})
            cur, cs = z, t
        last = t
    if cur is not None:
        out.append({"device": device, "zone": cur, "t_start": round(cs, 3), "t_end": round(last, 3)})
    return [iv for iv in out if iv["zone"] is not None and iv["t_end"] > iv["t_start"]]


def token(secret, t):
    return hmac.new(secret, b"PXT1" + struct.pack(">I", math.floor(t / 300)), hashlib.sha256).digest()[:8]


def rand_addr(rng, static=True):
    b = rng.integers(0, 256, size=6)
    b[0] = (b[0] & 0x3F) | (0xC0 if static else 0x40)
    return ":".join(f"{int(v):02X}" for v in b)


def emit(lines, radio, rng, addr_fn, payload_fn, times, P, dev_off):
    for r in radio.names:
        v, heard = radio.rssi(rng, r, P, dev_off)
        for t, val, h in zip(times, v, heard, strict=True):
            if h:
                rec = {
                    "t": round(float(t), 3),
                    "rx": r,
                    "addr": addr_fn(t),
                    "rssi": int(val),
                    "tx_power": None,
                    "name": None,
                }
                rec.update(payload_fn(t))
                lines.append(rec)


def write_scans(path, store_id, rx, lines):
    lines.sort(key=lambda d: (d["t"], d["rx"]))
    with gzip.open(path, "wt") as f:
        f.write(
            json.dumps(
                {
                    "format": "proximity-scans",
                    "version": 1,
                    "store_id": store_id,
                    "receivers": {r: {"x": x, "y": y} for r, (x, y) in rx.items()},
                    "source": "sweepA gen",
                }
            )
            + "\n"
        )
        for d in lines:
            f.write(json.dumps(d) + "\n")


def generate(lay, seed, out):
    ndev, walk_outside = 10, True
    os.makedirs(out, exist_ok=True)
    _, _, zones, rx, door = layout(lay)
    rng = np.random.default_rng(seed)
    radio = Radio(rng, rx)
    meta = {
        "layout": lay,
        "seed": seed,
        "zones": zones,
        "receivers": rx,
        "P0": radio.P0,
        "n": radio.n,
        "sigma": radio.sigma,
        "fast": radio.fast,
        "loss": radio.loss,
    }

    # ---------- calibration walk: reference tag, static address, offset 0
    tag = rand_addr(rng)
    wp = []
    order = list(zones)
    if walk_outside:
        for _ in range(4):
            wp.append((np.array([rng.uniform(door[0] - 5, door[0] + 5), rng.uniform(-4, -1)]), rng.uniform(10, 20)))
    for zn in order:
        total = rng.uniform(60, 180)
        k = int(rng.integers(3, 6))
        for _ in range(k):
            wp.append((rand_in(rng, zones[zn]), total / k))
    tw0 = T0
    # sample positions at advert times; need end time first
    _, tend = track_positions(rng, wp, np.array([tw0]), tw0)
    interval = 0.3
    times = adv_times(rng, tw0, tend, interval)
    P, _ = track_positions(rng, wp, times, tw0)
    Pt, P = P, P + rng.normal(0, 0.15, size=P.shape)
    lines = []
    mfr = {"76": "0215" + "f7826da64fa24e988024bc5b71e0893e" + "0001" + "0001" + "c5"}
    emit(lines, radio, rng, lambda t: tag, lambda t: {"mfr": mfr, "svc_data": {}, "svc_uuids": []}, times, P, 0.0)
    write_scans(os.path.join(out, "walk.jsonl.gz"), "store-sweep", rx, lines)
    tr = truth_intervals(tag, times, Pt, zones)
    with open(os.path.join(out, "walk-truth.jsonl"), "w") as f:
        for iv in tr:
            f.write(json.dumps(iv) + "\n")
    meta["walk_tag"] = tag
    meta["walk_s"] = tend - tw0

    # ---------- store day
    td0 = T0 + 86400
    lines = []
    truth = []
    customers = []
    devs = {}
    for i in range(ndev):
        cid = f"cust-{i + 1:04d}"
        secret = rng.bytes(16)
        off = float(rng.uniform(-5, 5))
        interval = float(rng.uniform(0.1, 1.0))
        start = td0 + rng.uniform(0, 1200)
        wp = [
            (np.array([rng.uniform(door[0] - 4, door[0] + 4), rng.uniform(-3, -1)]), rng.uniform(5, 60)),
            (np.array([door[0], 0.5]), 0.0),
        ]
        nvis = int(rng.integers(3, 6))
        prevz = None
        for _ in range(nvis):
            zn = rng.choice([z for z in zones if z != prevz])
            prevz = zn
            for _ in range(int(rng.integers(1, 3))):
                wp.append((rand_in(rng, zones[zn]), float(rng.uniform(20, 200))))
        wp.append((np.array([door[0], 0.5]), 0.0))
        wp.append((np.array([rng.uniform(door[0] - 4, door[0] + 4), rng.uniform(-3, -1)]), rng.uniform(5, 40)))
        _, tend = track_positions(rng, wp, np.array([start]), start)
        times = adv_times(rng, start, tend, interval)
        P, _ = track_positions(rng, wp, times, start)
        Pt, P = P, P + rng.normal(0, 0.15, size=P.shape)
        rot_period = 900.0
        addrs = {}
        phase = rng.uniform(0, rot_period)

        def addr_fn(t, addrs=addrs, phase=phase, rot_period=rot_period):
            k = int((t - T0 + phase) // rot_period)
            if k not in addrs:
                addrs[k] = rand_addr(rng, static=False)
            return addrs[k]

        def pay(t, secret=secret):
            return {"mfr": {str(TOKEN_CID): "01" + token(secret, t).hex()}, "svc_data": {}, "svc_uuids": []}

        emit(lines, radio, rng, addr_fn, pay, times, P, off)
        truth += truth_intervals(cid, times, Pt, zones)
        customers.append(
            {
                "customer_id": cid,
                "consent": True,
                "segments": [],
                "identifiers": [{"kind": "token", "secret": secret.hex()}],
            }
        )
        devs[cid] = {"offset": off, "interval": interval, "addrs": addrs}
    # non-customers: 4 phones with apple data, never recognised
    for _ in range(4):
        start = td0 + rng.uniform(0, 1200)
        wp = [(rand_in(rng, zones[z]), float(rng.uniform(30, 200))) for z in rng.choice(list(zones), 3)]
        _, tend = track_positions(rng, wp, np.array([start]), start)
        times = adv_times(rng, start, tend, 0.5)
        P, _ = track_positions(rng, wp, times, start)
        a = rand_addr(rng, static=False)
        emit(
            lines,
            radio,
            rng,
            lambda t, a=a: a,
            lambda t: {"mfr": {"76": "1005031c0a1b2c"}, "svc_data": {}, "svc_uuids": []},
            times,
            P,
            float(rng.uniform(-5, 5)),
        )
    write_scans(os.path.join(out, "day.jsonl.gz"), "store-sweep", rx, lines)
    with open(os.path.join(out, "day-truth.jsonl"), "w") as f:
        for iv in sorted(truth, key=lambda d: d["t_start"]):
            f.write(json.dumps(iv) + "\n")
    with open(os.path.join(out, "customers.jsonl"), "w") as f:
        for c in customers:
            f.write(json.dumps(c) + "\n")
    # address map for own scoring
    amap = {}
    for cid, d in devs.items():
        for a in d["addrs"].values():
            amap[a] = cid
    meta["addr_map"] = amap
    meta["devices"] = {c: {"offset": d["offset"], "interval": d["interval"]} for c, d in devs.items()}
    with open(os.path.join(out, "meta.json"), "w") as f:
        json.dump(meta, f, indent=1)


# ---- baselines ----

MISSING = -105.0


def load_samples(path, addr2dev):
    s = defaultdict(dict)  # (dev,t) -> {rx: rssi}
    with gzip.open(path, "rt") as f:
        hdr = json.loads(f.readline())
        for line in f:
            d = json.loads(line)
            dev = addr2dev.get(d["addr"])
            if dev is None:
                continue
            s[(dev, d["t"])][d["rx"]] = d["rssi"]
    return hdr, s


def load_truth(path):
    tr = defaultdict(list)
    with open(path) as f:
        lines = f.readlines()
    for line in lines:
        d = json.loads(line)
        tr[d["device"]].append((d["t_start"], d["t_end"], d["zone"]))
    for v in tr.values():
        v.sort()
    return tr


def label(tr, dev, t):
    for a, b, z in tr.get(dev, []):
        if a <= t <= b:
            return z
    return None


def windows(samples, rxs, w=2.0):
    """trailing-window mean vector per sample; returns dict key->(vec, heardmask) ; also per-adv vec"""
    bydev = defaultdict(list)
    for (dev, t), v in samples.items():
        bydev[dev].append((t, v))
    out = {}
    for dev, lst in bydev.items():
        lst.sort(key=lambda x: x[0])
        ts = [x[0] for x in lst]
        for i, (t, v) in enumerate(lst):
            j0 = bisect.bisect_right(ts, t - w)
            acc = defaultdict(list)
            for j in range(j0, i + 1):
                for r, x in lst[j][1].items():
                    acc[r].append(x)
            vec = np.array([np.mean(acc[r]) if r in acc else MISSING for r in rxs])
            adv = np.array([v.get(r, MISSING) for r in rxs])
            out[(dev, t)] = (vec, adv)
    return out


def baselines(d):
    with open(f"{d}/meta.json") as f:
        meta = json.load(f)
    rxs = sorted(meta["receivers"])
    _, walk = load_samples(f"{d}/walk.jsonl.gz", {meta["walk_tag"]: meta["walk_tag"]})
    wtr = load_truth(f"{d}/walk-truth.jsonl")
    ww = windows(walk, rxs)
    cnt = defaultdict(Counter)
    zvecs = defaultdict(list)
    for k, (vec, adv) in ww.items():
        z = label(wtr, k[0], k[1])
        if z is None:
            continue
        cnt[rxs[int(np.argmax(adv))]][z] += 1
        zvecs[z].append(vec)
    allz = Counter()
    for c in cnt.values():
        allz.update(c)
    rx2zone = {r: (cnt[r].most_common(1)[0][0] if cnt[r] else allz.most_common(1)[0][0]) for r in rxs}
    cent = {z: np.mean(v, axis=0) for z, v in zvecs.items()}
    zn = sorted(cent)
    C = np.array([cent[z] for z in zn])

    _, day = load_samples(f"{d}/day.jsonl.gz", meta["addr_map"])
    dtr = load_truth(f"{d}/day-truth.jsonl")
    dw = windows(day, rxs)
    n = 0
    ok = Counter()
    conf = defaultdict(Counter)
    for k, (vec, adv) in dw.items():
        z = label(dtr, k[0], k[1])
        if z is None:
            continue
        n += 1
        ps = rx2zone[rxs[int(np.argmax(adv))]]
        pw = rx2zone[rxs[int(np.argmax(vec))]]
        pc = zn[int(np.argmin(((C - vec) ** 2).sum(axis=1)))]
        ok["strongest_adv"] += ps == z
        ok["strongest_2s"] += pw == z
        ok["centroid_2s"] += pc == z
        conf[z][pc] += 1
    return {
        "samples": n,
        **{k: round(v / n, 4) for k, v in ok.items()},
        "rx2zone": rx2zone,
        "centroid_recall": {z: round(c[z] / sum(c.values()), 3) for z, c in conf.items()},
        "centroid_confusion": {z: dict(c.most_common(3)) for z, c in conf.items()},
        "mean_device_offset": round(float(np.mean([v["offset"] for v in meta["devices"].values()])), 2),
    }


# ---- the runner ----


def run_day(lay: str, seed: int, out: Path) -> dict[str, float]:
    d = out / f"{lay}-{seed}"
    generate(lay, seed, str(d))
    cli = [sys.executable, "-m", "gateway"]
    fit = subprocess.run(
        [
            *cli,
            "calibrate",
            "fit",
            "--scans",
            str(d / "walk.jsonl.gz"),
            "--truth",
            str(d / "walk-truth.jsonl"),
            "--out",
            str(d / "zones.toml"),
            "--report",
            str(d / "zones.png"),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    cv = float(fit.stdout.split("cross-validated accuracy ")[1].split(",")[0])
    ev = subprocess.run(
        [
            *cli,
            "calibrate",
            "evaluate",
            "--scans",
            str(d / "day.jsonl.gz"),
            "--truth",
            str(d / "day-truth.jsonl"),
            "--zones",
            str(d / "zones.toml"),
            "--json",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    ours = json.loads(ev.stdout)
    base = baselines(str(d))
    assert base["samples"] == ours["samples"], (base["samples"], ours["samples"])
    return {
        "ours": ours["zone_accuracy"],
        "strongest_2s": base["strongest_2s"],
        "strongest_adv": base["strongest_adv"],
        "centroid_2s": base["centroid_2s"],
        "flaps": ours["flap_rate_per_min"],
        "unknown": ours["unknown_share"],
        "cv": cv,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--layouts", nargs="+", default=list(LAYOUTS), choices=list(LAYOUTS))
    ap.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3, 4, 5, 6])
    ap.add_argument("--out", type=Path, help="keep the generated files here (default: a temporary directory)")
    args = ap.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="outsider-"))
    cols = ("ours", "strongest_2s", "strongest_adv", "centroid_2s", "flaps", "unknown", "cv")
    print("day   " + " ".join(f"{c:>13}" for c in cols))
    by_layout: dict[str, list[dict[str, float]]] = defaultdict(list)
    for lay in args.layouts:
        for seed in args.seeds:
            row = run_day(lay, seed, out)
            by_layout[lay].append(row)
            print(f"{lay}-{seed:<3} " + " ".join(f"{row[c]:>13.3f}" for c in cols), flush=True)
    print("\nmean per layout; 'ahead' = days ours beats every baseline")
    print("layout " + " ".join(f"{c:>13}" for c in cols) + "  ahead")
    for lay, rows in by_layout.items():
        ahead = sum(r["ours"] > max(r["strongest_2s"], r["strongest_adv"], r["centroid_2s"]) for r in rows)
        means = " ".join(f"{statistics.fmean(r[c] for r in rows):>13.3f}" for c in cols)
        print(f"{lay:<6} {means}  {ahead}/{len(rows)}")
    if args.out is None:
        print(f"(files in {out})")


if __name__ == "__main__":
    main()

"""How realistic are the simulator's days? Their RSSI statistics next to the public UCI BLE RSSI data set.

    python benchmarks/realism.py [--seed K] [--shoppers N] [--duration S] [--day DIR] [--out docs/img]

Generates a small store day (or reads --day DIR, made by `proximity-sim generate` on the default store),
writes OUT/realism.png (simulated | public data, four rows of panels) and prints the key figures.

Where the simulated figures come from:
- all readings, readings per second: the day's scans.jsonl.gz (every device, every receiver);
- RSSI against distance: the calibration walk (calibration.jsonl.gz). Its tag's track is not on disk, so it is
  rebuilt from the same seeded draws generate_day makes, and checked: the rebuilt tag's address must be the one
  in calibration-truth.jsonl, else the walk's distances are left out. Percentile bands come from the radio model
  itself (simulator.radio) sampled for phones at random points of the store with every effect switched on;
- RSSI spread at a standing point: the calibration tag's standing intervals (where its track does not move).
The public data has no beacon positions, so it gets RSSI by beacon instead of RSSI against distance.
"""

from __future__ import annotations

import argparse
import csv
import re
import sys
import tempfile
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gateway.sources.recording import RecordingError, RecordingReader
from gateway.truth import TruthError, read_truth
from simulator.generate import CALIBRATION_LEAD_S, DAY_START_EPOCH, calibration_device, generate_day
from simulator.radio import DEFAULT_RADIO, RadioParams, Receivers, fast_fading_db, mean_rssi, receive
from simulator.store import Store, load_store
from simulator.uci import NOT_HEARD, parse_time

UCI_CSV = Path("/work/shared/data/uci-ble-rssi/iBeacon_RSSI_Labeled_until_september.csv")
FloatArray = npt.NDArray[np.float64]

WINDOW_S = 2.0  # the public phone reports about every 2 s: the simulator's "heard" is also judged per 2 s window
WALK_GAP_S = 10.0  # public rows further apart than this are a pause between walks, not listening time
MIN_STAND_READINGS = 5  # a spread needs a few readings; the public cells get the same floor
MIN_CELL_ROWS = 8
STAND_TOLERANCE_M = 0.01
MODEL_SAMPLES = 40_000
RSSI_BINS = np.arange(-105.5, -29.5, 2.0)
STRONG_MARGIN_DB = 12.0  # points this far above a data set's weakest reading are clear of its cut-off


# ---- pure statistics --------------------------------------------------------------------------------


@dataclass
class PublicData:
    beacons: list[str]
    t: FloatArray  # row times, ascending
    cells: list[str]
    rssi: FloatArray  # rows x beacons, NaN = not heard


def parse_public(lines: Iterable[str], name: str = "csv") -> PublicData:
    """The UCI CSV (location, date, b3001..): rows in time order, -200 as NaN. Bad input: one line naming the field."""
    reader = csv.DictReader(lines)
    fields = reader.fieldnames or []
    beacons = [f for f in fields if re.fullmatch(r"b\d+", f)]
    if "location" not in fields or "date" not in fields or not beacons:
        raise ValueError(f"{name}:1: expected columns location, date, b3001..; got {', '.join(fields)}")
    rows: list[tuple[float, int, str, list[float]]] = []
    for n, rec in enumerate(reader, 2):
        try:
            t, _ = parse_time(rec["date"] or "")
        except ValueError as e:
            raise ValueError(f"{name}:{n}: field 'date': {e}") from None
        values: list[float] = []
        for b in beacons:
            try:
                v = float(rec[b] or NOT_HEARD)
            except ValueError:
                raise ValueError(f"{name}:{n}: field '{b}': not a number: {rec[b]!r}") from None
            values.append(float("nan") if v <= NOT_HEARD else v)
        rows.append((t, -n, (rec["location"] or "").strip(), values))  # -n: the file lists newest first
    rows.sort(key=lambda r: (r[0], r[1]))
    return PublicData(
        beacons,
        np.array([r[0] for r in rows], dtype=np.float64),
        [r[2] for r in rows],
        np.array([r[3] for r in rows], dtype=np.float64).reshape(len(rows), len(beacons)),
    )


def listening_time_s(t: FloatArray, gap_s: float = WALK_GAP_S) -> float:
    """Seconds a row-sampled listener was listening: steps between rows up to `gap_s`, plus one typical step per
    run of rows (its last row stands for a step too). Pauses between walks do not count."""
    if len(t) == 0:
        return 0.0
    steps = np.diff(np.sort(t))
    inside = steps[steps <= gap_s]
    typical = float(np.median(inside)) if len(inside) else gap_s
    runs = 1 + int((steps > gap_s).sum())
    return float(inside.sum()) + runs * typical


def spreads(groups: dict[tuple[str, str], list[float]], min_n: int) -> FloatArray:
    """(mean, standard deviation with ddof 1) of each group with at least min_n values, shape (groups, 2): the
    level matters, since readings near the sensitivity are cut off and so spread less."""
    out = [(float(np.mean(v)), float(np.std(v, ddof=1))) for v in groups.values() if len(v) >= max(min_n, 2)]
    return np.array(out, dtype=np.float64).reshape(len(out), 2)


def public_cell_spreads(
    data: PublicData, min_rows: int = MIN_CELL_ROWS, min_heard: int = MIN_STAND_READINGS
) -> FloatArray:
    """RSSI std of each beacon within each grid cell with enough rows: a standing-point proxy (cells span a few
    metres and mix walks of different days, so it overstates the spread at one point)."""
    by_cell: dict[str, list[int]] = defaultdict(list)
    for i, c in enumerate(data.cells):
        by_cell[c].append(i)
    groups: dict[tuple[str, str], list[float]] = {}
    for c, idx in by_cell.items():
        if len(idx) < min_rows:
            continue
        block = data.rssi[idx]
        for j, b in enumerate(data.beacons):
            col = block[:, j]
            groups[(c, b)] = col[~np.isnan(col)].tolist()
    return spreads(groups, min_heard)


def heard_share_per_window(times: FloatArray, t0: float, t1: float, window_s: float = WINDOW_S) -> float:
    """Share of the window_s windows of [t0, t1) holding at least one reading."""
    n = max(1, int(np.ceil((t1 - t0) / window_s)))
    idx = np.floor((times[(times >= t0) & (times < t1)] - t0) / window_s).astype(np.int64)
    return len(np.unique(idx)) / n


def strongest_per_window(times: FloatArray, rssi: FloatArray, t0: float, window_s: float = WINDOW_S) -> FloatArray:
    """The strongest reading of each window_s window holding any: what a listener sampled every few seconds
    sees of its nearest node, whatever the number of nodes."""
    idx = np.floor((times - t0) / window_s).astype(np.int64)
    order = np.lexsort((rssi, idx))
    last = np.r_[idx[order][1:] != idx[order][:-1], True]
    out: FloatArray = rssi[order][last]
    return out


def quartiles(values: FloatArray) -> tuple[float, float, float]:
    q1, med, q3 = np.percentile(values, [25, 50, 75])
    return float(q1), float(med), float(q3)


def standing_runs(x: FloatArray, y: FloatArray, tol_m: float = STAND_TOLERANCE_M) -> list[tuple[int, int]]:
    """[start, end) index ranges of consecutive samples at one spot (within tol_m of the run's first sample)."""
    runs: list[tuple[int, int]] = []
    s = 0
    for i in range(1, len(x) + 1):
        if i == len(x) or np.hypot(x[i] - x[s], y[i] - y[s]) > tol_m:
            if i - s > 1:
                runs.append((s, i))
            s = i
    return runs


# ---- simulated data -----------------------------------------------------------------------------------


@dataclass
class SimData:
    duration_s: float
    rx_ids: list[str]
    day_rssi: FloatArray
    day_rx: npt.NDArray[np.int64]
    link_rates: FloatArray  # readings/s of each (address, receiver) link heard >= 10 times, over its own span
    cal_t: FloatArray
    cal_rx: npt.NDArray[np.int64]
    cal_rssi: FloatArray
    cal_span: tuple[float, float]
    cal_interval_s: float
    cal_dist: FloatArray | None = None  # distance of each calibration reading, when the walk was rebuilt
    stand: FloatArray = field(default_factory=lambda: np.zeros((0, 2)))  # (mean, std) per point x receiver
    notes: list[str] = field(default_factory=list)


def _read(path: Path, rx_index: dict[str, int]) -> tuple[FloatArray, npt.NDArray[np.int64], FloatArray, list[str]]:
    t: list[float] = []
    rx: list[int] = []
    rssi: list[float] = []
    addr: list[str] = []
    with RecordingReader(path) as reader:
        for a in reader:
            t.append(a.t)
            rx.append(rx_index.setdefault(a.rx, len(rx_index)))
            rssi.append(float(a.rssi))
            addr.append(a.addr)
    return np.array(t), np.array(rx, dtype=np.int64), np.array(rssi), addr


def load_sim(day: Path, store: Store, seed: int | None, duration_s: float, radio: RadioParams) -> SimData:
    rx_index = {r.id: i for i, r in enumerate(store.receiver)}
    t, rx, rssi, addr = _read(day / "scans.jsonl.gz", rx_index)
    if len(t) == 0:
        raise ValueError(f"{day / 'scans.jsonl.gz'}: no advertisements")
    links: dict[tuple[str, int], list[float]] = defaultdict(list)
    for ti, ri, a in zip(t.tolist(), rx.tolist(), addr, strict=True):
        links[(a, ri)].append(ti)
    rates = [len(v) / (v[-1] - v[0]) for v in links.values() if len(v) >= 10 and v[-1] > v[0]]
    ct, crx, crssi, _ = _read(day / "calibration.jsonl.gz", rx_index)
    truth = read_truth(day / "calibration-truth.jsonl")
    span = (min(iv.t_start for iv in truth), max(iv.t_end for iv in truth))
    sim = SimData(
        duration_s, list(rx_index), rssi, rx, np.array(rates), ct, crx, crssi, span, 0.2 + 0.005
    )  # 0.2 s interval plus BLE's 0-10 ms advDelay
    if seed is None:
        sim.notes.append("no seed in the recording's source: calibration walk not rebuilt, no distances")
        return sim
    cal_ss = np.random.SeedSequence(seed).spawn(4)[2]  # generate_day: population, day, calibration, campaigns
    tag = calibration_device(store, np.random.default_rng(cal_ss), DAY_START_EPOCH - CALIBRATION_LEAD_S, radio)
    tag_addr, _ = tag.frames.render(0, tag.t_on)
    if {iv.device for iv in truth} != {tag_addr}:
        sim.notes.append("rebuilt calibration tag does not match calibration-truth.jsonl: no distances")
        return sim
    sim.cal_interval_s = tag.interval_s + 0.005
    x, y, _ = tag.track.at(ct)
    rxs = Receivers(store)
    dist = np.sqrt((rxs.x[crx] - x) ** 2 + (rxs.y[crx] - y) ** 2 + radio.height_offset_m**2)
    sim.cal_dist = np.maximum(dist, radio.min_distance_m)
    groups: dict[tuple[str, str], list[float]] = defaultdict(list)
    order = np.argsort(ct, kind="stable")
    for k, (s, e) in enumerate(standing_runs(x[order], y[order])):
        for i in order[s:e].tolist():
            groups[(str(k), str(int(crx[i])))].append(float(crssi[i]))
    sim.stand = spreads(groups, MIN_STAND_READINGS)
    return sim


def model_bands(
    store: Store, rng: np.random.Generator, radio: RadioParams, n: int = MODEL_SAMPLES
) -> tuple[FloatArray, FloatArray, npt.NDArray[np.bool_]]:
    """Reported RSSI of phones at random points and facings of the store, every effect of the radio model on
    (device offsets, body loss, walls, shadowing, Rician fading, loss near the sensitivity): the distance of each
    (sample, receiver) pair, its reported RSSI, and whether it was heard."""
    rx = Receivers(store)
    x = rng.uniform(0, store.width, n)
    y = rng.uniform(0, store.height, n)
    heading = rng.uniform(-np.pi, np.pi, n)
    offset = rng.normal(0.0, radio.device_offset_sigma_db, n)
    power = mean_rssi(rx, x, y, heading, np.ones(n), offset, radio)
    power += rng.standard_normal(power.shape) * radio.shadow_sigma_db
    power += fast_fading_db(power.shape, rng, radio)
    caught, reported = receive(rx, power, rng, radio)
    dist = np.sqrt((rx.x[None, :] - x[:, None]) ** 2 + (rx.y[None, :] - y[:, None]) ** 2 + radio.height_offset_m**2)
    return dist.ravel(), reported.ravel().astype(np.float64), caught.ravel()


def seed_of(source: str | None) -> int | None:
    m = re.search(r"\bseed=(\d+)\b", source or "")
    return int(m.group(1)) if m else None


# ---- figures and table --------------------------------------------------------------------------------


@dataclass
class Figures:
    median: float
    iqr: tuple[float, float]
    heard: float
    heard_range: tuple[float, float]
    rate_rx: float  # median over receivers of readings/s
    rate_link: float  # median readings/s of one device at one receiver
    stand_std: float
    n_stand: int
    strong_stand_std: float  # only points clear of the data set's own cut-off (STRONG_MARGIN_DB above its weakest)
    n_strong: int
    strongest: float  # median strongest reading per 2 s window (sim) / per row (UCI)
    nodes_heard: float  # receivers heard per 2 s window / beacons per row, mean
    nodes: int
    weakest: float


def _median_std(stand: FloatArray, floor_dbm: float) -> tuple[float, int, float, int]:
    """Readings near the cut-off spread less (the weak tail is never reported): the floor comes from the data."""
    strong = stand[stand[:, 0] >= floor_dbm + STRONG_MARGIN_DB, 1]
    return (
        float(np.median(stand[:, 1])) if len(stand) else float("nan"),
        len(stand),
        float(np.median(strong)) if len(strong) else float("nan"),
        len(strong),
    )


def sim_figures(sim: SimData) -> tuple[Figures, FloatArray, FloatArray]:
    q1, med, q3 = quartiles(sim.day_rssi)
    per_rx_heard = np.array(
        [heard_share_per_window(sim.cal_t[sim.cal_rx == r], *sim.cal_span) for r in range(len(sim.rx_ids))]
    )
    day_rates = np.bincount(sim.day_rx, minlength=len(sim.rx_ids)) / sim.duration_s
    cal_rates = np.bincount(sim.cal_rx, minlength=len(sim.rx_ids)) / (sim.cal_span[1] - sim.cal_span[0])
    fig = Figures(
        med,
        (q1, q3),
        float(per_rx_heard.mean()),
        (float(per_rx_heard.min()), float(per_rx_heard.max())),
        float(np.median(day_rates)),
        float(np.median(sim.link_rates)) if len(sim.link_rates) else float("nan"),
        *_median_std(sim.stand, float(sim.day_rssi.min())),
        float(np.median(strongest_per_window(sim.cal_t, sim.cal_rssi, sim.cal_span[0]))),
        float(per_rx_heard.sum()),
        len(sim.rx_ids),
        float(sim.day_rssi.min()),
    )
    return fig, day_rates, cal_rates


def public_figures(data: PublicData) -> tuple[Figures, FloatArray, FloatArray]:
    heard = ~np.isnan(data.rssi)
    values = data.rssi[heard]
    q1, med, q3 = quartiles(values)
    share = heard.mean(axis=0)
    rates = heard.sum(axis=0) / listening_time_s(data.t)
    std = public_cell_spreads(data)
    fig = Figures(
        med,
        (q1, q3),
        float(heard.mean()),
        (float(share.min()), float(share.max())),
        float(np.median(rates)),
        float(np.median(rates)),
        *_median_std(std, float(values.min())),
        float(np.median(np.nanmax(data.rssi, axis=1))),
        float(heard.sum(axis=1).mean()),
        len(data.beacons),
        float(values.min()),
    )
    return fig, rates, std


def table(
    command: str, sim: Figures, pub: Figures, sim_heard_adverts: float, row_step: float, below_floor: float
) -> str:
    def rng_(a: tuple[float, float], fmt: str) -> str:
        return f"{a[0]:{fmt}}..{a[1]:{fmt}}"

    rows = [
        ("", "simulated", "public (UCI)"),
        ("median RSSI (dBm)", f"{sim.median:.0f}", f"{pub.median:.0f}"),
        ("IQR (dBm)", rng_(sim.iqr, ".0f"), rng_(pub.iqr, ".0f")),
        ("weakest reading (dBm)", f"{sim.weakest:.0f}", f"{pub.weakest:.0f}"),
        (f"share of readings below {pub.weakest:.0f} dBm", f"{below_floor:.2f}", "0"),
        ("strongest per 2 s window / per row, median", f"{sim.strongest:.0f} (cal. tag)", f"{pub.strongest:.0f}"),
        (
            "nodes heard per 2 s window / per row, mean",
            f"{sim.nodes_heard:.1f} of {sim.nodes}",
            f"{pub.nodes_heard:.1f} of {pub.nodes}",
        ),
        (
            "heard per 2 s window (sim) / per row (UCI)",
            f"{sim.heard:.2f} ({rng_(sim.heard_range, '.2f')})",
            f"{pub.heard:.2f} ({rng_(pub.heard_range, '.2f')})",
        ),
        ("heard per advertisement (cal. tag)", f"{sim_heard_adverts:.2f}", f"n/a (rows {row_step:.1f} s apart)"),
        ("readings/s per receiver, median", f"{sim.rate_rx:.1f} (all devices)", f"{pub.rate_rx:.3f} (one phone)"),
        ("readings/s, one device at one receiver", f"{sim.rate_link:.2f}", f"{pub.rate_link:.3f}"),
        (
            "RSSI std at a standing point, median (dB)",
            f"{sim.stand_std:.1f} (n={sim.n_stand})",
            f"{pub.stand_std:.1f} (n={pub.n_stand} cell x beacon)",
        ),
        (
            f"  same, points >= {STRONG_MARGIN_DB:.0f} dB above the weakest reading",
            f"{sim.strong_stand_std:.1f} (n={sim.n_strong})",
            f"{pub.strong_stand_std:.1f} (n={pub.n_strong})",
        ),
    ]
    w = [max(len(r[i]) for r in rows) for i in range(3)]
    lines = [f"$ {command}", ""]
    for r in rows:
        lines.append(f"{r[0]:<{w[0]}}  {r[1]:<{w[1]}}  {r[2]}")
    return "\n".join(lines)


def plot(
    path: Path,
    sim: SimData,
    store: Store,
    bands: tuple[FloatArray, FloatArray, npt.NDArray[np.bool_]],
    day_rates: FloatArray,
    cal_rates: FloatArray,
    pub: PublicData,
    pub_rates: FloatArray,
    pub_std: FloatArray,
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    fig, ax = plt.subplots(4, 2, figsize=(11.5, 14.0))
    pub_values = pub.rssi[~np.isnan(pub.rssi)]

    # row 1: all readings
    ax[0, 0].hist(sim.day_rssi, bins=RSSI_BINS, density=True, color="tab:blue", alpha=0.8)
    ax[0, 0].set_title(f"simulated day: RSSI of all {len(sim.day_rssi):,} readings ({len(sim.rx_ids)} receivers)")
    ax[0, 1].hist(pub_values, bins=RSSI_BINS, density=True, color="tab:orange", alpha=0.8)
    ax[0, 1].set_title(f"public data: RSSI of all {len(pub_values):,} readings ({len(pub.beacons)} beacons)")
    for a in ax[0]:
        a.set_xlabel("RSSI (dBm)")
        a.set_ylabel("share per dB")
        a.set_xlim(RSSI_BINS[0], RSSI_BINS[-1])

    # row 2: RSSI against distance (simulated), by beacon (public)
    a = ax[1, 0]
    dist, rep, caught = bands
    edges = np.geomspace(1.5, 35.0, 16)
    mid = np.sqrt(edges[1:] * edges[:-1])
    pct = np.full((len(mid), 3), np.nan)
    for i in range(len(mid)):
        sel = caught & (dist >= edges[i]) & (dist < edges[i + 1])
        if sel.sum() >= 30:
            pct[i] = np.percentile(rep[sel], [10, 50, 90])
    a.fill_between(mid, pct[:, 0], pct[:, 2], color="tab:blue", alpha=0.2, label="model, phones: 10-90 % of heard")
    a.plot(mid, pct[:, 1], color="tab:blue", label="model, phones: median of heard")
    if sim.cal_dist is not None:
        a.scatter(sim.cal_dist, sim.cal_rssi, s=2, color="k", alpha=0.15, label="calibration walk (tag)")
    d = np.geomspace(1.5, 35.0, 50)
    p1m = float(np.mean([r.rssi_at_1m for r in store.receiver]))
    n_exp = float(np.mean([r.path_loss_exponent for r in store.receiver]))
    a.plot(d, p1m - 10 * n_exp * np.log10(d), "r--", label=f"log-distance: {p1m:.0f} dBm at 1 m, n = {n_exp:.2f}")
    a.axhline(float(np.mean([r.sensitivity_dbm for r in store.receiver])), color="grey", lw=0.8, ls=":")
    a.set_xscale("log")
    a.set_xticks([2, 3, 5, 10, 20, 30], ["2", "3", "5", "10", "20", "30"])
    a.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    a.set_xlabel("distance receiver - device (m, log; includes the 1.5 m height difference)")
    a.set_ylabel("RSSI (dBm)")
    a.set_ylim(-105, -30)
    a.set_title("simulated: RSSI against distance")
    a.legend(fontsize=7, loc="upper right")
    a = ax[1, 1]
    cols = [pub.rssi[:, j][~np.isnan(pub.rssi[:, j])] for j in range(len(pub.beacons))]
    share = (~np.isnan(pub.rssi)).mean(axis=0)
    a.boxplot(cols, showfliers=False)
    a.set_xticks(range(1, len(pub.beacons) + 1), [b[-2:] for b in pub.beacons], fontsize=8)
    for j, s in enumerate(share):
        a.text(j + 1, -103, f"{s:.0%}", ha="center", fontsize=7)
    a.set_ylim(-105, -30)
    a.set_xlabel("beacon b30.. (share of rows in which it is heard below)")
    a.set_ylabel("RSSI (dBm)")
    a.set_title("public data: RSSI by beacon (positions unknown)")

    # row 3: readings per second per receiver
    a = ax[2, 0]
    xs = np.arange(len(sim.rx_ids))
    a.bar(xs - 0.2, day_rates, 0.4, label="day: all devices", color="tab:blue")
    a.bar(
        xs + 0.2, cal_rates, 0.4, label=f"calibration tag alone (every {sim.cal_interval_s - 0.005:.1f} s)", color="k"
    )
    if len(sim.link_rates):
        a.axhline(float(np.median(sim.link_rates)), color="tab:green", ls="--", label="day: median of one device")
    a.set_xticks(xs, [r.removeprefix("rx-") for r in sim.rx_ids], fontsize=8)
    a.set_title("simulated: readings per second per receiver")
    a.legend(fontsize=7)
    a = ax[2, 1]
    a.bar(np.arange(len(pub.beacons)), pub_rates, 0.6, color="tab:orange", label="one phone, pauses > 10 s left out")
    a.set_xticks(np.arange(len(pub.beacons)), [b[-2:] for b in pub.beacons], fontsize=8)
    a.set_title("public data: readings per second per beacon (one phone)")
    a.legend(fontsize=7)
    for a in ax[2]:
        a.set_yscale("log")
        a.set_ylim(0.001, 3000)  # headroom above the bars for the legend
        a.set_ylabel("readings / s (log)")

    # row 4: spread at a standing point
    for a, stand, colour, what in (
        (ax[3, 0], sim.stand, "tab:blue", "simulated: RSSI std, standing tag, per receiver"),
        (ax[3, 1], pub_std, "tab:orange", "public data: RSSI std in a grid cell, per beacon"),
    ):
        a.scatter(stand[:, 0], stand[:, 1], s=14, color=colour, alpha=0.7)
        if len(stand):
            a.axhline(float(np.median(stand[:, 1])), color="k", ls="--", lw=0.8, label="median")
        a.set_title(what)
        a.set_xlim(-100, -50)
        a.set_ylim(0, 9)
        a.set_xlabel("mean RSSI at the point (dBm)")
        a.set_ylabel("std of RSSI (dB)")
        a.legend(fontsize=7, loc="upper right")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90, metadata={"Software": None})
    plt.close(fig)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--shoppers", type=int, default=40)
    ap.add_argument("--duration", type=float, default=1800.0)
    ap.add_argument("--day", type=Path, help="a day made by proximity-sim generate on the default store")
    ap.add_argument("--uci", type=Path, default=UCI_CSV)
    ap.add_argument("--out", type=Path, default=Path("docs/img"))
    args = ap.parse_args(argv)
    command = "python benchmarks/realism.py " + " ".join(sys.argv[1:] if argv is None else argv)
    store = load_store(None)
    radio = DEFAULT_RADIO
    try:
        with args.uci.open(encoding="utf-8", newline="") as f:
            pub = parse_public(f, str(args.uci))
    except (OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    try:
        with tempfile.TemporaryDirectory() as tmp:
            if args.day is None:
                day = Path(tmp)
                generate_day(day, store, args.shoppers, args.duration, args.seed, progress=False, plot=False)
                seed: int | None = args.seed
                duration = args.duration
            else:
                day = args.day
                with RecordingReader(day / "scans.jsonl.gz") as r:
                    seed = seed_of(r.header.source)
                    ts = [a.t for a in r]
                duration = max(ts) - min(ts) if ts else 1.0
            sim = load_sim(day, store, seed, duration, radio)
    except (OSError, ValueError, RecordingError, TruthError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    bands = model_bands(store, np.random.default_rng(12345), radio)
    sfig, day_rates, cal_rates = sim_figures(sim)
    pfig, pub_rates, pub_std = public_figures(pub)
    sent = (sim.cal_span[1] - sim.cal_span[0]) / sim.cal_interval_s
    heard_adverts = len(sim.cal_t) / (sent * len(sim.rx_ids))
    steps = np.diff(pub.t)
    row_step = float(np.median(steps[steps <= WALK_GAP_S]))
    png = args.out / "realism.png"
    plot(png, sim, store, bands, day_rates, cal_rates, pub, pub_rates, pub_std)
    below = float((sim.day_rssi < pfig.weakest).mean())
    print(table(command.strip(), sfig, pfig, heard_adverts, row_step, below))
    for note in sim.notes:
        print(f"note: {note}")
    print(f"\nwrote {png} ({png.stat().st_size // 1024} KB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

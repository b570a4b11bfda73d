"""`proximity-sim generate`: a whole synthetic store day on disk, ready to replay and score.

Writes scans.jsonl.gz (streamed slice by slice), truth.jsonl, customers.jsonl, a labelled calibration walk
(calibration.jsonl.gz + calibration-truth.jsonl), config/ (gateway.toml, campaigns.toml, zones.toml fitted
on the walk) and store.png. Same seed, same bytes: every random draw comes from one numpy SeedSequence.
"""

from __future__ import annotations

import json
import math
import os
import queue
import re
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np
import tomli_w

from gateway.sources.recording import Header, RecordingWriter, read_recording
from gateway.truth import OUTSIDE, TruthInterval, write_truth
from gateway.zones.report import glyphs_noted
from simulator import __version__
from simulator.devices import Device, Frames, company_payload
from simulator.engine import SLICE_S, RadioSimulation
from simulator.movement import CALIBRATION_PER_ZONE_S, Track, calibration_track
from simulator.population import Customer, Population, build_population, segment_for_zone
from simulator.radio import DEFAULT_RADIO, RadioParams, radio_note
from simulator.store import Store, load_store

DAY_START_EPOCH = 1772438400.0  # 2026-03-02 08:00 UTC: a fixed clock, so files never depend on when they were made
CALIBRATION_LEAD_S = 2 * 3600.0  # the calibration walk happens before opening
TRUTH_STEP_S = 0.25  # truth boundaries are exact to this
CALIBRATION_TAG_INTERVAL_S = 0.2
# What the staff member carries on the walk: (body factor, packet interval). A tag held in the hand shadows
# half as much as a phone on the body; a phone running the store app in the foreground advertises often.
WALK_DEVICES = {"tag": (0.5, CALIBRATION_TAG_INTERVAL_S), "phone": (1.0, 0.3)}
DEFAULT_STRANGERS_PER_SHOPPER = 4
PLOTTED_TRACKS = 5


@dataclass
class GenerateResult:
    out_dir: Path
    scans: Path
    truth: Path
    customers: Path
    calibration: Path
    calibration_truth: Path
    config_dir: Path
    plot: Path | None
    adverts: int = 0
    calibration_adverts: int = 0
    truth_intervals: int = 0
    n_customers: int = 0
    n_devices: int = 0
    reports_per_receiver: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


class _LineWriter(RecordingWriter):
    """RecordingWriter that accepts lines already rendered by the engine (json.dumps per line would be the
    generator's largest cost) and compresses on a second thread: zlib releases the GIL, so gzip overlaps
    with simulating the next slice. The queue is short, so memory stays bounded by a few slices."""

    QUEUE_SLICES = 3

    def __enter__(self) -> _LineWriter:
        super().__enter__()
        self._queue: queue.Queue[str | None] = queue.Queue(maxsize=self.QUEUE_SLICES)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._drain, name="scans-writer", daemon=True)
        self._thread.start()
        return self

    def _drain(self) -> None:
        while (chunk := self._queue.get()) is not None:
            if self._error is None:
                try:
                    self.write_text(chunk)
                except BaseException as e:  # re-raised on the caller's thread at exit
                    self._error = e

    def write_lines(self, lines: list[str]) -> None:
        if self._error is not None:
            raise self._error
        self._queue.put("".join(lines))
        self.count += len(lines)

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._queue.put(None)
        self._thread.join()
        super().__exit__(exc_type, exc, tb)
        if self._error is not None and exc is None:
            raise self._error


@contextmanager
def _progress(enabled: bool, total: float, label: str) -> Iterator[Any]:
    if not enabled or not sys.stderr.isatty():
        yield None
        return
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    from gateway.cli_console import cli_console

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TimeRemainingColumn(),
        console=cli_console(stderr=True, highlight=True),
        transient=True,
    ) as bar:
        task = bar.add_task(label, total=total)
        yield lambda done: bar.update(task, completed=done)


def simulate_to_file(
    path: Path,
    store: Store,
    devices: list[Device],
    t0: float,
    t1: float,
    rng: np.random.Generator,
    radio: RadioParams,
    source: str,
    progress: bool = False,
    label: str = "",
    header_extra: dict[str, Any] | None = None,
) -> RadioSimulation:
    header = Header(
        store_id=store.store_id, receivers=store.receivers_json(), source=source, extra=dict(header_extra or {})
    )
    sim = RadioSimulation(store, devices, rng, radio)
    writer = _LineWriter(path, header)
    with writer, _progress(progress, t1 - t0, label) as tick:
        n_slices = math.ceil((t1 - t0) / SLICE_S)
        for i in range(n_slices):
            s0 = t0 + i * SLICE_S
            writer.write_lines(sim.slice_lines(s0, min(s0 + SLICE_S, t1)))
            if tick is not None:
                tick(min(s0 + SLICE_S, t1) - t0)
    return sim


def truth_of_track(store: Store, device: str, track: Track, t_on: float, t_off: float) -> list[TruthInterval]:
    """Intervals of the zone the track is in; time in the store outside every zone gets no interval."""
    n = max(1, round((t_off - t_on) / TRUTH_STEP_S))
    ts = t_on + np.arange(n + 1, dtype=np.float64) * ((t_off - t_on) / n)
    x, y, _ = track.at(ts)
    zi = store.zone_of(x, y)
    change = np.flatnonzero(zi[1:] != zi[:-1]) + 1
    starts = np.r_[0, change]
    ends = np.r_[change, len(ts)]
    out = []
    names = store.zone_names
    for s, e in zip(starts.tolist(), ends.tolist(), strict=True):
        z = int(zi[s])
        if z == -2:
            continue
        t_start = float(ts[s]) if s == 0 else float(ts[s - 1] + ts[s]) / 2
        t_end = float(ts[e - 1]) if e == len(ts) else float(ts[e - 1] + ts[e]) / 2
        out.append(TruthInterval(device, OUTSIDE if z == -1 else names[z], round(t_start, 3), round(t_end, 3)))
    return out


def campaign_id_for(zone: str, taken: set[str]) -> str:
    """A campaign id for an offer in `zone`: part of an MQTT topic, so only [a-z0-9._-] ("Baby care" ->
    "baby-care-offer"), and unique among `taken`."""
    base = re.sub(r"[^a-z0-9._-]+", "-", zone.lower()).strip("-") or "zone"
    cid, k = f"{base}-offer", 2
    while cid in taken:
        cid, k = f"{base}-{k}-offer", k + 1
    taken.add(cid)
    return cid


def campaigns_for(store: Store, customers: list[Customer], rng: np.random.Generator) -> list[dict[str, Any]]:
    """A few campaigns on the store's zones, each aimed at a segment that some consenting customers have."""
    present = {s for c in customers if c.consent for s in c.segments}
    shop = [z for z in store.zone_names if z not in (store.door_zone, store.till_zone)] or store.zone_names
    out: list[dict[str, Any]] = []
    taken = {"welcome-back"}
    for zone in shop[:3]:
        seg = segment_for_zone(zone)
        campaign: dict[str, Any] = {
            "id": campaign_id_for(zone, taken),
            "zone": zone,
            "min_dwell_s": int(rng.choice([20, 30, 45, 60])),
            "cooldown_s": 86400,
        }
        if seg in present:
            campaign["segments"] = [seg]
        out.append(campaign)
    biggest = max(store.zone, key=lambda z: z.area_m2).name
    out.append(
        {
            "id": "welcome-back",
            "zone": biggest,
            "min_dwell_s": 60,
            "cooldown_s": 4 * 3600,
            "segments": ["loyalty-gold"] if "loyalty-gold" in present else None,
        }
    )
    return [{k: v for k, v in c.items() if v is not None} for c in out]


def _write_config(
    out: Path,
    store: Store,
    pop: Population,
    rng: np.random.Generator,
    cal_scans: Path,
    cal_truth: list[TruthInterval],
    notes: list[str],
    fit_zones: bool = True,
) -> Path:
    cfg = out / "config"
    cfg.mkdir(parents=True, exist_ok=True)
    gateway = {
        "store_id": store.store_id,
        "gateway_id": "gw-1",
        "state_dir": "state",
        "customers_file": "../customers.jsonl",
        "mqtt": {"url": "mqtt://127.0.0.1:1883"},
    }
    (cfg / "gateway.toml").write_text(tomli_w.dumps(gateway), encoding="utf-8")
    campaigns = {"campaign": campaigns_for(store, pop.customers, rng)}
    (cfg / "campaigns.toml").write_text(tomli_w.dumps(campaigns), encoding="utf-8")
    zones_path = cfg / "zones.toml"
    try:
        from gateway.zones.calibrate import fit
        from gateway.zones.walkcheck import CalibrationError
    except ImportError:
        fit_zones = False
        notes.append("gateway.zones.calibrate is not available: zones.toml lists the zones only")
    if not fit_zones:  # tests that only need the day's files skip the fit (about 2 s)
        zones_path.write_text(tomli_w.dumps({"zones": store.zone_names}), encoding="utf-8")
        return cfg
    header, adverts, _ = read_recording(cal_scans)
    # the same inputs `calibrate fit` reads from this walk's header, so the day's zones.toml is what a user gets
    try:
        result = fit(adverts, cal_truth, receivers=header.receivers, zone_positions=header.zone_geometry())
    except CalibrationError as e:
        # The walk is simulated, so what to change is the store file, not the walk; and the rest of the day is on
        # disk: say both, or "no labelled samples for zone" reads as a fault of files the user never wrote.
        raise CalibrationError(
            f"store {store.store_id!r}: the simulated calibration walk cannot be fitted ({e}), so {zones_path} was "
            f"not written (the day's scans, truth and walk are in {out}); a zone no receiver hears needs a "
            "[[receiver]] in or next to it in the store file"
        ) from None
    result.model.save(zones_path)
    notes.extend(getattr(result, "warnings", []) or [])
    return cfg


def _write_plot(path: Path, store: Store, tracks: list[Track], notes: list[str]) -> Path | None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.patches import Rectangle
    except ImportError:
        notes.append("matplotlib is not installed: no store.png")
        return None
    fig, ax = plt.subplots(figsize=(8, 8 * store.height / store.width + 0.5))
    ax.add_patch(Rectangle((0, 0), store.width, store.height, fill=False, lw=2))
    for z in store.zone:
        ax.fill(*z.vertices.T, alpha=0.15)
        c = z.vertices.mean(axis=0)
        ax.text(c[0], c[1], z.name, ha="center", va="center", fontsize=9)
    for w in store.wall:
        ax.plot([w.start[0], w.end[0]], [w.start[1], w.end[1]], "k-", lw=3)
    for r in store.receiver:
        ax.plot(r.x, r.y, "r^", ms=9)
        ax.annotate(r.id, (r.x, r.y), textcoords="offset points", xytext=(4, 4), fontsize=7, color="r")
    ax.plot(*store.entrance, "gs", ms=10)
    for tr in tracks:
        ax.plot(tr.x, tr.y, lw=0.8, alpha=0.7)
    ax.set_aspect("equal")
    ax.set_xlim(-8, store.width + 8)
    ax.set_ylim(-8, store.height + 8)
    ax.set_title(f"{store.store_id}: zones, receivers (red), entrance (green), {len(tracks)} shopper tracks")
    fig.savefig(path, dpi=90, metadata={"Software": None})
    plt.close(fig)
    return path


def calibration_device(
    store: Store,
    rng: np.random.Generator,
    t0: float,
    radio: RadioParams,
    walk_device: str = "tag",
    per_zone_s: float = CALIBRATION_PER_ZONE_S,
    spot_sets: int | None = None,
) -> Device:
    body, interval = WALK_DEVICES[walk_device]
    # the device before its track: a longer walk, or one at more spots, is walked with the same device, so two
    # walks compare as walks (drawn after, the tag's offset changed with the walk: docs/zones.md, round 15)
    key = rng.bytes(16)
    offset = rng.normal(0.0, radio.device_offset_sigma_db)
    track = calibration_track(store, t0, rng, per_zone_s, spot_sets)
    frames = Frames(key, "static", None, 0.0, company_payload(89, "0201", 4, name="CAL-TAG"))
    dev = Device(
        "reference-tag" if walk_device == "tag" else "reference-phone",
        track,
        interval,
        offset,
        body,
        frames,
        t_on=track.t_start,
        t_off=track.t_end,
    )
    frames.plan(dev.t_on, dev.t_off)
    return dev


@dataclass(frozen=True)
class DayDraws:
    """Who comes on the day made for one seed, and the seeds of the day's other draws. `generate_day` and the
    layout ceiling (simulator/ceiling.py) both start here, so for one seed they see the same people and radio."""

    population: Population
    day: np.random.SeedSequence  # the store day's radio
    calibration: np.random.SeedSequence  # the calibration walk
    campaigns: np.random.SeedSequence


def day_draws(
    store: Store,
    seed: int,
    shoppers: int,
    duration_s: float,
    strangers: int | None = None,
    radio: RadioParams = DEFAULT_RADIO,
) -> DayDraws:
    pop_ss, day_ss, cal_ss, camp_ss = np.random.SeedSequence(seed).spawn(4)
    n_strangers = DEFAULT_STRANGERS_PER_SHOPPER * shoppers if strangers is None else strangers
    pop = build_population(
        store, np.random.default_rng(pop_ss), DAY_START_EPOCH, duration_s, shoppers, n_strangers, radio
    )
    return DayDraws(pop, day_ss, cal_ss, camp_ss)


def generate_day(
    out_dir: Path | str,
    store: Store | Path | str | None = None,
    shoppers: int = 40,
    duration_s: float = 3600.0,
    seed: int = 0,
    strangers: int | None = None,
    progress: bool = True,
    radio: RadioParams = DEFAULT_RADIO,
    plot: bool = True,
    fit_zones: bool = True,
    walk_device: str = "tag",
    walk_seconds_per_zone: float = CALIBRATION_PER_ZONE_S,
    walk_spot_sets: int | None = None,
) -> GenerateResult:
    if shoppers < 0 or duration_s <= 0 or (strangers is not None and strangers < 0):
        raise ValueError("shoppers and strangers must be >= 0 and duration positive")
    if walk_device not in WALK_DEVICES:
        raise ValueError(f"walk device {walk_device!r}: expected one of {', '.join(WALK_DEVICES)}")
    if walk_seconds_per_zone <= 0:
        raise ValueError("walk seconds per zone must be positive")
    if walk_spot_sets is not None and walk_spot_sets < 1:
        raise ValueError("walk spot sets must be at least 1")
    st = store if isinstance(store, Store) else load_store(store)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    draws = day_draws(st, seed, shoppers, duration_s, strangers, radio)
    pop = draws.population
    t0, t1 = DAY_START_EPOCH, DAY_START_EPOCH + duration_s
    res = GenerateResult(
        out,
        out / "scans.jsonl.gz",
        out / "truth.jsonl",
        out / "customers.jsonl",
        out / "calibration.jsonl.gz",
        out / "calibration-truth.jsonl",
        out / "config",
        None,
        n_customers=len(pop.customers),
        n_devices=len(pop.devices),
    )
    source = f"proximity-sim {__version__} seed={seed} store={st.store_id}{radio_note(radio)}"

    # calibration first: the walk is before opening and its files feed the zone fit
    cal_rng = np.random.default_rng(draws.calibration)
    tag = calibration_device(
        st, cal_rng, t0 - CALIBRATION_LEAD_S, radio, walk_device, walk_seconds_per_zone, walk_spot_sets
    )
    # the zone polygons let `calibrate fit` position the walk on the floor plan (header key "zones")
    zones_header = {"zones": {z.name: {"polygon": [[float(x), float(y)] for x, y in z.polygon]} for z in st.zone}}
    cal_sim = simulate_to_file(
        res.calibration,
        st,
        [tag],
        tag.t_on,
        tag.t_off,
        cal_rng,
        radio,
        source + " calibration walk",
        header_extra=zones_header,
    )
    res.calibration_adverts = int(cal_sim.reports.sum())
    tag_addr, _ = tag.frames.render(0, tag.t_on)
    cal_truth = truth_of_track(st, tag_addr, tag.track, tag.t_on, tag.t_off)
    write_truth(res.calibration_truth, cal_truth)

    sim = simulate_to_file(
        res.scans, st, pop.devices, t0, t1, np.random.default_rng(draws.day), radio, source, progress, "store day"
    )
    res.adverts = int(sim.reports.sum())
    res.reports_per_receiver = dict(zip(sim.rx.ids, sim.reports.tolist(), strict=True))

    truth: list[TruthInterval] = []
    for cid, track in pop.tracks.items():
        t_on, t_off = max(track.t_start, t0), min(track.t_end, t1)
        if t_off > t_on:
            truth.extend(truth_of_track(st, cid, track, t_on, t_off))
    truth.sort(key=lambda iv: (iv.t_start, iv.device))
    write_truth(res.truth, truth)
    res.truth_intervals = len(truth)
    # the customers' keys, made up or not: readable by their owner only, as the scans beside them
    fd = os.open(res.customers, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        for c in pop.customers:
            f.write(json.dumps(c.to_json(), separators=(",", ":")) + "\n")

    res.config_dir = _write_config(
        out, st, pop, np.random.default_rng(draws.campaigns), res.calibration, cal_truth, res.notes, fit_zones
    )
    if plot:
        with glyphs_noted(out / "store.png", res.notes):
            res.plot = _write_plot(out / "store.png", st, list(pop.tracks.values())[:PLOTTED_TRACKS], res.notes)
    return res


__all__ = [
    "DAY_START_EPOCH",
    "DayDraws",
    "GenerateResult",
    "day_draws",
    "generate_day",
    "simulate_to_file",
    "truth_of_track",
]

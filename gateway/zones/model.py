"""The fitted zone model and its file, zones.toml (written by `calibrate fit`, editable by a person).

The file keeps everything a person may want to read or adjust in plain keys: zone names, receivers and
their positions, per-receiver path-loss parameters, the decision parameters, and per class and receiver the
fingerprint statistics (mean filtered RSSI, its spread, and how often the receiver hears a device there).
"""

from __future__ import annotations

import contextlib
import difflib
import hashlib
import json
import math
import os
import tomllib
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import tomli_w

from gateway.zones.estimate import OUTSIDE, UNKNOWN

FORMAT_NAME = "proximity-zones"
FORMAT_VERSION = 1
METHODS = ("offset_nb", "nb", "centroid", "strongest", "grid")
SMOOTHINGS = ("median", "kalman", "none")

FloatArray = npt.NDArray[np.float64]
# What a hand-edited file may hold. A store is not 10 km across; an RSSI spread under 0.1 dB or over 100 dB is no
# radio (and 1e-300 underflowed to a division by zero); the grid's memory and time grow with its cells.
COORD_LIMIT_M = 10_000.0
STD_RANGE_DB = (0.1, 100.0)
MAX_GRID_CELLS = 100_000
SENSITIVITY_FLOOR_DBM = -300.0
RSSI_RANGE_DBM = (-150.0, 20.0)
EXPONENT_RANGE = (0.5, 8.0)
HEARD_SLOPE_MAX = 10.0


# Everything `to_toml` writes; any other key is a typo that would be ignored
TOP_LEVEL_KEYS = (
    "format",
    "version",
    "zones",
    "receivers",
    "classes",
    "params",
    "receiver",
    "zone_position",
    "zone_polygon",
    "grid_bias",
    "fingerprint",
)


class ZonesError(Exception):
    """A zones file cannot be used; each of `problems` names the file and the field (str(e): one per line)."""

    def __init__(self, problems: str | list[str]) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))


@dataclass
class Params:
    """How readings become a decision. Every value is chosen by `calibrate fit` (cross-validation) or a default."""

    method: str = "offset_nb"
    smoothing: str = "median"  # per (device, receiver): windowed median in time, scalar Kalman, or none
    window_s: float = 4.0  # readings older than this are forgotten; a receiver silent this long is "not heard"
    kalman_q_db2_per_s: float = 2.0  # how fast the true RSSI may drift (walking), per second
    kalman_r_db2: float = 25.0  # measurement noise of a single reading
    classify_step_s: float = 0.5  # reclassify a device at most this often (advert time): keeps observe() cheap
    offset_sigma_db: float = 6.0  # prior spread of a phone's constant RSSI offset
    likelihood_weight: float = 0.5  # tempers the naive-Bayes likelihood: neighbouring steps share readings
    step_evidence_cap: float = 3.0  # at most this many nats of evidence per step: bounds what one fade can do
    switch_time_s: float = 30.0  # HMM prior: mean time between zone changes; larger = stickier
    confirm_s: float = 0.0  # a new leading zone is reported only after leading this long (hysteresis)
    confidence_threshold: float = 0.5  # below it the zone is reported as unknown
    expire_intervals: float = 6.0  # gone after this many of the device's own advertising intervals...
    expire_min_s: float = 15.0  # ...but never sooner than this
    absent_rssi: float = -105.0  # value of an unheard receiver for the centroid/strongest baselines
    # method "grid" only (gateway/zones/grid.py); ignored otherwise
    grid_cell_m: float = 1.0  # floor cell size
    walk_speed_m_s: float = 1.5  # spread of the motion model per second between steps
    outside_loss_db: float = 0.0  # extra loss of the cells beyond the floor plan (the facade), fitted
    grid_blend: float = 0.0  # weight of the fingerprint posterior averaged into the grid's zone masses
    # The calibration device's packet interval as the tracker saw it (fitted). p_heard was learnt at that rate; a
    # phone advertising 5x slower is heard by a far receiver within the window far less often. 0 = not adapted.
    walk_interval_s: float = 0.0
    # Fixed-lag smoothing: the estimate for a step is reported this many seconds of advert time later, from the
    # forward posterior combined with the evidence of the steps since (tracker.py). 0 = the causal forward filter.
    # The fingerprint method only; "grid" ignores it.
    smoothing_lag_s: float = 0.0
    # Standing devices (tracker.py): a step whose filtered RSSI moved less than `still_motion_db` (mean absolute
    # dB from each receiver's 5 s running mean) weighs its evidence by `still_evidence_weight` more and stretches
    # the switch time by `still_switch_factor`. 0 = off. The fingerprint method only; "grid" ignores it.
    still_motion_db: float = 0.0
    still_evidence_weight: float = 0.25
    still_switch_factor: float = 5.0
    # Once a step is still, the device stays still until its gap exceeds `still_motion_db` times this (a
    # Schmitt trigger): a standing phone's gap hovers around the threshold and would drop the rule every other
    # step. 1 = one threshold, as files without the key run.
    still_exit_factor: float = 1.0
    # Each device's own offset (tracker.py): the tracker keeps a Gaussian belief about how much louder or quieter
    # this phone reads than the calibration device, starting from the prior N(0, offset_sigma_db^2) and updated
    # from the steps where two or more receivers hear it, each step's evidence weighed by this rate. 0 = off (every
    # step integrates the offset afresh). The fingerprint method with offset_sigma_db > 0 only.
    offset_learning_rate: float = 0.0
    # How far one step's overall level may stray from the phone's offset for reasons that are not the phone's: its
    # carrier's body turning, shadowing that every receiver shares, where in the zone it stands. A step then tells
    # the belief at most 1/offset_step_spread_db^2 about the offset, however many receivers heard it (without it,
    # ten receivers made the belief follow the carrier's heading within seconds). 0 = no limit, as files without
    # the key run.
    offset_step_spread_db: float = 0.0
    # The nearest centroid's reading of each step (classify.py, `CentroidTerm`: a silent receiver read as a reading
    # at `absent_rssi`) pooled into the fingerprint score with this weight. 0 = off. The fingerprint method only.
    centroid_blend: float = 0.0

    def to_toml(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class ZoneModel:
    zones: list[str]  # the store's zones (never "outside")
    receivers: list[str]
    classes: list[str]  # what the classifier can say: the zones, plus "outside" when the walk had outside samples
    mean: FloatArray  # (classes, receivers) mean filtered RSSI when heard
    std: FloatArray  # (classes, receivers)
    p_heard: FloatArray  # (classes, receivers) share of steps in which the receiver heard the device
    params: Params = field(default_factory=Params)
    receiver_positions: dict[str, tuple[float, float]] = field(default_factory=dict)
    zone_positions: dict[str, tuple[float, float]] = field(default_factory=dict)
    pathloss: dict[str, tuple[float, float]] = field(default_factory=dict)  # rx -> (rssi at 1 m, exponent)
    zone_polygons: dict[str, list[tuple[float, float]]] = field(default_factory=dict)
    # method "grid": rx -> (spread of RSSI around the path-loss curve in dB, sensitivity in dBm where half the
    # steps hear the device, slope of the heard probability's logit per dB)
    grid_radio: dict[str, tuple[float, float, float]] = field(default_factory=dict)
    # method "grid": class -> rx -> dB the class adds to the path-loss curve (walls, shelving, the facade)
    grid_bias: dict[str, dict[str, float]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        shape = (len(self.classes), len(self.receivers))
        for name in ("mean", "std", "p_heard"):
            arr = np.asarray(getattr(self, name), dtype=np.float64)
            if arr.shape != shape:
                raise ZonesError(f"{name}: shape {arr.shape}, expected {shape}")
            setattr(self, name, arr)

    @property
    def outside_is_class(self) -> bool:
        return OUTSIDE in self.classes

    # ---- file -------------------------------------------------------------------------------------------

    def to_toml(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "format": FORMAT_NAME,
            "version": FORMAT_VERSION,
            "zones": list(self.zones),
            "receivers": list(self.receivers),
            "classes": list(self.classes),
            "params": self.params.to_toml(),
        }
        rx_doc: dict[str, Any] = {}
        for rx in self.receivers:
            entry: dict[str, Any] = {}
            if rx in self.receiver_positions:
                entry["x"], entry["y"] = self.receiver_positions[rx]
            if rx in self.pathloss:
                entry["rssi_at_1m"] = round(self.pathloss[rx][0], 2)
                entry["exponent"] = round(self.pathloss[rx][1], 3)
            if rx in self.grid_radio:
                sigma, sens, slope = self.grid_radio[rx]
                entry["sigma_db"] = round(sigma, 3)
                entry["sensitivity_dbm"] = round(sens, 2)
                entry["heard_slope_per_db"] = round(slope, 4)
            rx_doc[rx] = entry
        doc["receiver"] = rx_doc
        if self.zone_positions:
            doc["zone_position"] = {z: {"x": p[0], "y": p[1]} for z, p in self.zone_positions.items()}
        if self.zone_polygons:
            doc["zone_polygon"] = {z: [[x, y] for x, y in poly] for z, poly in self.zone_polygons.items()}
        if self.grid_bias:
            doc["grid_bias"] = {c: {rx: round(v, 2) for rx, v in per.items()} for c, per in self.grid_bias.items()}
        fp: dict[str, Any] = {}
        for ci, c in enumerate(self.classes):
            fp[c] = {
                rx: {
                    "mean": round(float(self.mean[ci, ri]), 2),
                    "std": round(float(self.std[ci, ri]), 2),
                    "p_heard": round(float(self.p_heard[ci, ri]), 4),
                }
                for ri, rx in enumerate(self.receivers)
            }
        doc["fingerprint"] = fp
        return doc

    def without_receivers(self, names: set[str] | frozenset[str]) -> ZoneModel:
        """The same model as if the walk had never had these receivers: their columns and entries dropped, nothing
        refitted. What the tracker scores with while a receiver hears nothing at all (a dead node or adapter)."""
        keep = [i for i, rx in enumerate(self.receivers) if rx not in names]
        kept = [self.receivers[i] for i in keep]

        def only(d: dict[str, Any]) -> dict[str, Any]:
            return {rx: v for rx, v in d.items() if rx not in names}

        return replace(
            self,
            receivers=kept,
            mean=self.mean[:, keep],
            std=self.std[:, keep],
            p_heard=self.p_heard[:, keep],
            receiver_positions=only(self.receiver_positions),
            pathloss=only(self.pathloss),
            grid_radio=only(self.grid_radio),
            grid_bias={c: only(per) for c, per in self.grid_bias.items()},
        )

    def digest(self) -> str:
        """Names this model's content: what the daemon learnt against it (phone offsets, recall.py) is kept under
        it, so a refitted or edited zones.toml does not inherit offsets relative to another walk's device."""
        text = json.dumps(self.to_toml(), sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def save(self, path: str | os.PathLike[str]) -> None:
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        header = (
            "# Zone model written by `proximity-gateway calibrate fit`. You may edit it; "
            "`calibrate evaluate` scores the result.\n"
            "# fingerprint.<class>.<receiver>: mean/std of the filtered RSSI (dBm) when heard there, "
            "p_heard: how often it is heard there.\n"
        )
        p.write_text(header + tomli_w.dumps(self.to_toml()), encoding="utf-8")

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> ZoneModel:
        p = Path(path)
        try:
            # a byte-order mark opens the file; zone names in one Unicode spelling (NFC), as the truth reader's
            doc = tomllib.loads(unicodedata.normalize("NFC", p.read_text(encoding="utf-8-sig")))
        except FileNotFoundError:
            raise ZonesError(f"{p}: no such zones file") from None
        except (OSError, UnicodeDecodeError) as e:
            raise ZonesError(f"{p}: cannot read: {e}") from None
        except tomllib.TOMLDecodeError as e:
            raise ZonesError(f"{p}: not valid TOML: {e}") from None
        try:
            return cls.from_toml(doc)
        except ZonesError as e:
            raise ZonesError([f"{p}: {problem}" for problem in e.problems]) from None

    @classmethod
    def from_toml(cls, doc: dict[str, Any]) -> ZoneModel:
        if doc.get("format", FORMAT_NAME) != FORMAT_NAME:
            raise ZonesError(f"field 'format' is {doc.get('format')!r}, expected {FORMAT_NAME!r}")
        if doc.get("version", FORMAT_VERSION) != FORMAT_VERSION:
            raise ZonesError(f"field 'version': unsupported version {doc.get('version')!r}")
        zones = _str_list(doc, "zones")
        receivers = _str_list(doc, "receivers")
        classes = _str_list(doc, "classes") if "classes" in doc else list(zones)
        if not zones:
            raise ZonesError("field 'zones' is empty")
        if not receivers:
            raise ZonesError("field 'receivers' is empty")
        if OUTSIDE in zones:
            raise ZonesError(f"field 'zones' must not contain {OUTSIDE!r} (it is implied)")
        if UNKNOWN in zones:
            raise ZonesError(f"field 'zones' must not contain {UNKNOWN!r} (reserved: the estimate when unsure)")
        for c in classes:
            if c not in zones and c != OUTSIDE:
                raise ZonesError(f"field 'classes': {c!r} is not a zone")
        for z in zones:
            if z not in classes:  # no fingerprint: never estimated, yet campaigns on it would validate
                raise ZonesError(f"field 'classes' lacks zone {z!r}: a zone needs its class and fingerprint")
        # From here on each entry is checked on its own, and every problem is named at once (a hand-edited file
        # with six spreads set to 0 took six runs of `config check`).
        problems: list[str] = []

        @contextlib.contextmanager
        def gather() -> Iterator[None]:
            try:
                yield
            except ZonesError as e:
                problems.extend(e.problems)

        # a misspelt table (`[param]`) would silently put every fitted setting back to its default
        expected = ", ".join(TOP_LEVEL_KEYS)
        problems += [f"field {key!r} is unknown (expected: {expected})" for key in doc if key not in TOP_LEVEL_KEYS]
        params = Params()
        with gather():
            params = _params(doc.get("params", {}))
        rx_doc = doc.get("receiver", {})
        if not isinstance(rx_doc, dict):
            problems.append("field 'receiver' is not a table")
            rx_doc = {}
        positions: dict[str, tuple[float, float]] = {}
        pathloss: dict[str, tuple[float, float]] = {}
        grid_radio: dict[str, tuple[float, float, float]] = {}
        for rx, entry in rx_doc.items():
            with gather():
                _receiver_entry(rx, entry, receivers, positions, pathloss, grid_radio)
        zone_pos: dict[str, tuple[float, float]] = {}
        for z, entry in (doc.get("zone_position") or {}).items():
            with gather():
                if not isinstance(entry, dict):
                    raise ZonesError(f"field 'zone_position.{z}' is not a table")
                zone_pos[z] = (_coord(entry, "x", f"zone_position.{z}"), _coord(entry, "y", f"zone_position.{z}"))
        polygons: dict[str, list[tuple[float, float]]] = {}
        with gather():
            polygons = _polygons(doc.get("zone_polygon", {}), zones)
        grid_bias: dict[str, dict[str, float]] = {}
        with gather():
            grid_bias = _bias(doc.get("grid_bias", {}), classes, receivers)
        with gather():
            _grid_fits(params, polygons, pathloss, grid_radio, classes)
        fp = doc.get("fingerprint")
        if not isinstance(fp, dict):
            raise ZonesError([*problems, "field 'fingerprint' missing or not a table"])
        shape = (len(classes), len(receivers))
        mean, std, ph = np.zeros(shape), np.zeros(shape), np.zeros(shape)
        for ci, c in enumerate(classes):
            per = fp.get(c)
            if not isinstance(per, dict):
                problems.append(f"field 'fingerprint.{c}' missing or not a table")
                continue
            for ri, rx in enumerate(receivers):
                with gather():
                    mean[ci, ri], std[ci, ri], ph[ci, ri] = _fingerprint_entry(per.get(rx), f"fingerprint.{c}.{rx}")
        if problems:
            raise ZonesError(problems)
        return cls(
            zones,
            receivers,
            classes,
            mean,
            std,
            ph,
            params,
            positions,
            zone_pos,
            pathloss,
            polygons,
            grid_radio,
            grid_bias,
        )


def _receiver_entry(
    rx: str,
    entry: Any,
    receivers: list[str],
    positions: dict[str, tuple[float, float]],
    pathloss: dict[str, tuple[float, float]],
    grid_radio: dict[str, tuple[float, float, float]],
) -> None:
    """One [receiver.RX] table, into the dicts it fills."""
    if rx not in receivers:
        raise ZonesError(f"field 'receiver.{rx}': not listed in 'receivers'")
    if not isinstance(entry, dict):
        raise ZonesError(f"field 'receiver.{rx}' is not a table")
    where = f"receiver.{rx}"
    if "x" in entry or "y" in entry:
        positions[rx] = (_coord(entry, "x", where), _coord(entry, "y", where))
    if "rssi_at_1m" in entry or "exponent" in entry:
        a = _rssi(entry, "rssi_at_1m", where)
        n = _num(entry, "exponent", where)
        lo, hi = EXPONENT_RANGE
        if not lo <= n <= hi:
            raise ZonesError(f"field '{where}.exponent' = {n} is not a path-loss exponent ({lo:g}..{hi:g})")
        pathloss[rx] = (a, n)
    if "sigma_db" in entry or "sensitivity_dbm" in entry or "heard_slope_per_db" in entry:
        sigma = _num(entry, "sigma_db", where)
        slope = _num(entry, "heard_slope_per_db", where)
        if not (STD_RANGE_DB[0] <= sigma <= STD_RANGE_DB[1] and 0 < slope <= HEARD_SLOPE_MAX):
            raise ZonesError(
                f"field '{where}.sigma_db' must be within {STD_RANGE_DB[0]:g}..{STD_RANGE_DB[1]:g} dB and "
                f"'.heard_slope_per_db' within 0..{HEARD_SLOPE_MAX:g}"
            )
        # a receiver that heard the whole walk extrapolates its soft sensitivity below any spec sheet's
        grid_radio[rx] = (sigma, _rssi(entry, "sensitivity_dbm", where, lo=SENSITIVITY_FLOOR_DBM), slope)


def _grid_fits(
    params: Params,
    polygons: dict[str, list[tuple[float, float]]],
    pathloss: dict[str, tuple[float, float]],
    grid_radio: dict[str, tuple[float, float, float]],
    classes: list[str],
) -> None:
    """method "grid" needs the floor plan and the radio fits, on a floor of a size it can run on."""
    if params.method != "grid":
        return
    if not (polygons and pathloss and grid_radio):
        raise ZonesError("field 'params.method' = 'grid' needs 'zone_polygon' and receiver path-loss fits")
    cells = grid_cells(polygons, params.grid_cell_m, OUTSIDE in classes)
    if cells > MAX_GRID_CELLS:
        raise ZonesError(
            f"field 'params.grid_cell_m' = {params.grid_cell_m:g}: the zone polygons span {cells:,} cells "
            f"of that size, more than the {MAX_GRID_CELLS:,} the grid method runs on"
        )


def _fingerprint_entry(e: Any, where: str) -> tuple[float, float, float]:
    """(mean, std, p_heard) of one [fingerprint.CLASS.RX] table."""
    if not isinstance(e, dict):
        raise ZonesError(f"field '{where}' missing or not a table")
    mean, std, ph = _num(e, "mean", where), _num(e, "std", where), _num(e, "p_heard", where)
    problems = []
    if not -130 <= mean <= 20:
        problems.append(f"field '{where}.mean' = {mean} is not an RSSI in dBm")
    lo, hi = STD_RANGE_DB
    if not lo <= std <= hi:
        problems.append(f"field '{where}.std' = {std:g} is not within {lo:g}..{hi:g} dB")
    if not 0 <= ph <= 1:
        problems.append(f"field '{where}.p_heard' must be within 0..1")
    if problems:
        raise ZonesError(problems)
    return mean, std, ph


def _bias(d: Any, classes: list[str], receivers: list[str]) -> dict[str, dict[str, float]]:
    if not isinstance(d, dict):
        raise ZonesError("field 'grid_bias' is not a table")
    out: dict[str, dict[str, float]] = {}
    for c, per in d.items():
        if c not in classes:
            raise ZonesError(f"field 'grid_bias.{c}': not a class")
        if not isinstance(per, dict):
            raise ZonesError(f"field 'grid_bias.{c}' is not a table")
        for rx in per:
            if rx not in receivers:
                raise ZonesError(f"field 'grid_bias.{c}.{rx}': not a receiver")
        out[c] = {rx: _num(per, rx, f"grid_bias.{c}") for rx in per}
        for rx, v in out[c].items():
            if not -100 <= v <= 100:
                raise ZonesError(f"field 'grid_bias.{c}.{rx}' = {v:g} is not within -100..100 dB")
    return out


def _polygons(d: Any, zones: list[str]) -> dict[str, list[tuple[float, float]]]:
    if not isinstance(d, dict):
        raise ZonesError("field 'zone_polygon' is not a table")
    out: dict[str, list[tuple[float, float]]] = {}
    for z, poly in d.items():
        if z not in zones:
            raise ZonesError(f"field 'zone_polygon.{z}': not a zone")
        ok = isinstance(poly, list) and len(poly) >= 3
        pts: list[tuple[float, float]] = []
        for p in poly if ok else []:
            if not (isinstance(p, list) and len(p) == 2 and all(_is_coord(v) for v in p)):
                ok = False
                break
            pts.append((float(p[0]), float(p[1])))
        if not ok:
            raise ZonesError(
                f"field 'zone_polygon.{z}' must be a list of at least 3 [x, y] points, in metres within "
                f"+-{COORD_LIMIT_M:g}"
            )
        out[z] = pts
    return out


def _str_list(doc: dict[str, Any], key: str) -> list[str]:
    v = doc.get(key)
    if not isinstance(v, list) or not all(isinstance(s, str) and s for s in v):
        raise ZonesError(f"field '{key}' missing or not a list of names")
    if len(set(v)) != len(v):
        raise ZonesError(f"field '{key}' lists a name twice")
    return list(v)


def grid_cells(polygons: dict[str, list[tuple[float, float]]], cell_m: float, with_outside: bool) -> int:
    """How many cells the grid method's floor grid over these polygons has (gateway/zones/grid.py, build_grid)."""
    from gateway.zones.grid import OUTSIDE_BAND_M  # grid.py imports this module's users: imported when needed

    pts = [p for poly in polygons.values() for p in poly]
    if not pts or not cell_m > 0:
        return 0
    band = OUTSIDE_BAND_M if with_outside else 0.0
    w = max(p[0] for p in pts) - min(p[0] for p in pts) + 2 * band
    h = max(p[1] for p in pts) - min(p[1] for p in pts) + 2 * band
    return math.ceil(w / cell_m) * math.ceil(h / cell_m)


def _is_coord(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) and abs(v) <= COORD_LIMIT_M


def _coord(d: dict[str, Any], key: str, where: str) -> float:
    v = _num(d, key, where)
    if not abs(v) <= COORD_LIMIT_M:
        raise ZonesError(f"field '{where}.{key}' = {v:g} is not a position in metres within +-{COORD_LIMIT_M:g}")
    return v


def pathloss_ok(rssi_at_1m: float, exponent: float) -> bool:
    """Whether a receiver's path-loss curve is one the loader takes (a fit extrapolated far enough is not)."""
    return RSSI_RANGE_DBM[0] <= rssi_at_1m <= RSSI_RANGE_DBM[1] and EXPONENT_RANGE[0] <= exponent <= EXPONENT_RANGE[1]


def grid_radio_ok(sigma_db: float, sensitivity_dbm: float, heard_slope_per_db: float) -> bool:
    """Whether a receiver's grid radio entry is one the loader takes."""
    return (
        STD_RANGE_DB[0] <= sigma_db <= STD_RANGE_DB[1]
        and SENSITIVITY_FLOOR_DBM <= sensitivity_dbm <= RSSI_RANGE_DBM[1]
        and 0 < heard_slope_per_db <= HEARD_SLOPE_MAX
    )


def _rssi(d: dict[str, Any], key: str, where: str, lo: float = RSSI_RANGE_DBM[0]) -> float:
    v = _num(d, key, where)
    hi = RSSI_RANGE_DBM[1]
    if not lo <= v <= hi:
        raise ZonesError(f"field '{where}.{key}' = {v:g} is not an RSSI in dBm ({lo:g}..{hi:g})")
    return v


def _num(d: dict[str, Any], key: str, where: str) -> float:
    v = d.get(key)
    if not isinstance(v, int | float) or isinstance(v, bool) or not math.isfinite(v):
        raise ZonesError(f"field '{where}.{key}' missing or not a number")
    return float(v)


_PARAM_RANGES: dict[str, tuple[float, float]] = {
    "window_s": (0.1, 120.0),
    "kalman_q_db2_per_s": (1e-4, 1e4),
    "kalman_r_db2": (1e-2, 1e4),
    "classify_step_s": (0.0, 30.0),
    "offset_sigma_db": (0.0, 40.0),
    "likelihood_weight": (1e-3, 10.0),
    "switch_time_s": (0.1, 1e5),
    "step_evidence_cap": (0.1, 1e6),
    "confidence_threshold": (0.0, 1.0),
    "confirm_s": (0.0, 600.0),
    "expire_intervals": (1.0, 1000.0),
    "expire_min_s": (0.0, 1e5),
    "absent_rssi": (-200.0, 0.0),
    "grid_cell_m": (0.25, 20.0),
    "walk_speed_m_s": (0.01, 20.0),
    "outside_loss_db": (0.0, 60.0),
    "grid_blend": (0.0, 1.0),
    "walk_interval_s": (0.0, 60.0),
    "smoothing_lag_s": (0.0, 10.0),
    "still_motion_db": (0.0, 20.0),
    "still_evidence_weight": (0.01, 1.0),
    "still_switch_factor": (1.0, 100.0),
    "still_exit_factor": (1.0, 10.0),
    "offset_learning_rate": (0.0, 1.0),
    "offset_step_spread_db": (0.0, 30.0),
    "centroid_blend": (0.0, 1.0),
}


def _params(d: Any) -> Params:
    """The [params] table; every key's problem named at once."""
    if not isinstance(d, dict):
        raise ZonesError("field 'params' is not a table")
    p = Params()
    problems = []
    for key, value in d.items():
        if key == "method":
            if value not in METHODS:
                problems.append(f"field 'params.method' = {value!r}, expected one of {', '.join(METHODS)}")
            else:
                p.method = value
        elif key == "smoothing":
            if value not in SMOOTHINGS:
                problems.append(f"field 'params.smoothing' = {value!r}, expected one of {', '.join(SMOOTHINGS)}")
            else:
                p.smoothing = value
        elif key in _PARAM_RANGES:
            lo, hi = _PARAM_RANGES[key]
            try:
                v = _num(d, key, "params")
            except ZonesError as e:
                problems.extend(e.problems)
                continue
            if not lo <= v <= hi:
                problems.append(f"field 'params.{key}' = {v} is outside {lo}..{hi}")
            else:
                setattr(p, key, v)
        else:
            known = [*_PARAM_RANGES, "method", "smoothing"]
            close = difflib.get_close_matches(str(key), known, n=1, cutoff=0.75)
            problems.append(f"field 'params.{key}' is unknown" + (f" (did you mean '{close[0]}'?)" if close else ""))
    if problems:
        raise ZonesError(problems)
    return p

"""What advertises: device kinds with their intervals, addresses and payloads, and the frames they send (pure).

A `Frames` object answers "what does this device put on air at time t": its address (static, or rotated
about every 15 minutes, resolvable with the customer's IRK for `irk` customers) and its payload (a rotating
token frame that changes every 300 s, an iBeacon, Eddystone-UID, or strangers' Apple/Google/Microsoft data
whose random part changes with the address, as real phones do). Frames change only at known boundaries, so
the generator renders each frame's JSON once and reuses it for every advertisement of that frame.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from gateway.adverts import EDDYSTONE_UUID, encode_eddystone_uid, encode_ibeacon, encode_token_frame
from gateway.identity.irk import make_rpa
from gateway.identity.tokens import TOKEN_WINDOW_S, token_for
from simulator.movement import Track

FloatArray = npt.NDArray[np.float64]
ADDRESS_ROTATION_S = (13 * 60.0, 17 * 60.0)  # phones rotate their random address about every 15 minutes
ADV_DELAY_MAX_S = 0.010  # BLE adds a random 0-10 ms advDelay to every advertising interval
TOKEN_COMPANY_ID = 0xFFFF

# Identifiers of other vendors' beacons seen in the wild (Estimote, Kontakt.io, Apple AirLocate defaults)
STRANGER_IBEACON_UUIDS = (
    "b9407f30-f5f8-466e-aff9-25556b57fe6d",
    "f7826da6-4fa2-4e98-8024-bc5b71e0893e",
    "e2c56db5-dffb-48d2-b060-d0f5a71096e0",
)
GOOGLE_FAST_PAIR_UUID = "0000fe2c-0000-1000-8000-00805f9b34fb"
GOOGLE_NEARBY_UUID = "0000fef3-0000-1000-8000-00805f9b34fb"
TILE_UUID = "0000feed-0000-1000-8000-00805f9b34fb"


def derived_bytes(key: bytes, label: str, n: int) -> bytes:
    """Deterministic bytes from a device key: rotation epochs need fresh randomness without shared rng state."""
    out = b""
    counter = 0
    while len(out) < n:
        out += hashlib.blake2b(key + label.encode() + counter.to_bytes(4, "big"), digest_size=32).digest()
        counter += 1
    return out[:n]


def format_address(raw: bytes) -> str:
    return ":".join(f"{b:02X}" for b in raw)


def random_address(raw: bytes, kind: str) -> str:
    """Set the two top bits as the Core spec requires: static 11, resolvable 01, non-resolvable 00."""
    top = {"static": 0xC0, "rpa": 0x40, "nrpa": 0x00, "public": None}[kind]
    if top is None:
        return format_address(raw[:6])
    return format_address(bytes([(raw[0] & 0x3F) | top]) + raw[1:6])


@dataclass(slots=True)
class Frames:
    """The frames of one device. `payload(epoch_bytes, t)` builds the JSON fields for one frame."""

    key: bytes
    address_kind: str  # static | public | rpa | nrpa | irk
    rotation_s: float | None
    phase_s: float
    payload: Callable[[bytes, float], dict[str, object]]
    irk: bytes | None = None
    token_windows: bool = False
    _cache: dict[int, tuple[str, str]] = field(default_factory=dict)
    boundaries: FloatArray = field(default_factory=lambda: np.zeros(0))

    def plan(self, t_on: float, t_off: float) -> None:
        """Precompute the times at which this device's frame changes during its presence."""
        times: list[float] = []
        if self.rotation_s is not None:
            k0 = math.floor((t_on + self.phase_s) / self.rotation_s) + 1
            k1 = math.floor((t_off + self.phase_s) / self.rotation_s)
            times += [k * self.rotation_s - self.phase_s for k in range(k0, k1 + 1)]
        if self.token_windows:
            w0, w1 = math.floor(t_on / TOKEN_WINDOW_S) + 1, math.floor(t_off / TOKEN_WINDOW_S)
            times += [w * float(TOKEN_WINDOW_S) for w in range(w0, w1 + 1)]
        self.boundaries = np.unique(np.array(times, dtype=np.float64))

    def codes(self, t: FloatArray) -> npt.NDArray[np.int64]:
        return np.searchsorted(self.boundaries, t, side="right").astype(np.int64)

    def render(self, code: int, t: float) -> tuple[str, str]:
        """(address, the rest of the JSON line after "rssi") of frame `code`; `t` is any time inside it."""
        cached = self._cache.get(code)
        if cached is not None:
            return cached
        epoch = math.floor((t + self.phase_s) / self.rotation_s) if self.rotation_s else 0
        epoch_bytes = derived_bytes(self.key, f"epoch{epoch}", 32)
        if self.address_kind == "irk":
            assert self.irk is not None
            addr = make_rpa(self.irk, epoch_bytes[:3])
        else:
            addr = random_address(
                derived_bytes(self.key, "static", 6) if self.rotation_s is None else epoch_bytes, self.address_kind
            )
        fields: dict[str, object] = {"tx_power": None, "name": None, "mfr": {}, "svc_data": {}, "svc_uuids": []}
        fields.update(self.payload(epoch_bytes, t))
        rest = "," + json.dumps(fields, separators=(",", ":"))[1:]
        if len(self._cache) > 8:  # frames only move forward in time: keep memory flat
            self._cache.clear()
        self._cache[code] = (addr, rest)
        return addr, rest


@dataclass(slots=True)
class Device:
    kind: str
    track: Track
    interval_s: float
    offset_db: float  # constant: this unit's antenna and tx power relative to the receiver's 1 m figure
    body_factor: float  # 1 = phone carried on the body ... 0 = fixed to a shelf
    frames: Frames
    customer_id: str | None = None  # set for customers' devices (consenting or not)
    t_on: float = 0.0
    t_off: float = 0.0


# --- payload builders: each returns the JSON fields of a frame --------------------------------------------


def token_payload(secret: bytes) -> Callable[[bytes, float], dict[str, object]]:
    def build(_e: bytes, t: float) -> dict[str, object]:
        return {"mfr": encode_token_frame(token_for(secret, math.floor(t / TOKEN_WINDOW_S)), TOKEN_COMPANY_ID)}

    return build


def fixed_payload(fields: dict[str, object]) -> Callable[[bytes, float], dict[str, object]]:
    return lambda _e, _t: fields


def apple_payload(frame_type: int, length: int, name: str | None = None) -> Callable[[bytes, float], dict[str, object]]:
    """Apple Continuity TLV (type, length, then data that changes with every address rotation)."""

    def build(e: bytes, _t: float) -> dict[str, object]:
        return {"mfr": {"76": f"{frame_type:02x}{length:02x}" + e[3 : 3 + length].hex()}, "name": name}

    return build


def company_payload(
    company: int, prefix_hex: str, n_random: int, name: str | None = None, svc_uuids: list[str] | None = None
) -> Callable[[bytes, float], dict[str, object]]:
    def build(e: bytes, _t: float) -> dict[str, object]:
        return {
            "mfr": {str(company): prefix_hex + e[3 : 3 + n_random].hex()},
            "name": name,
            "svc_uuids": svc_uuids or [],
        }

    return build


def service_payload(uuid: str, n_random: int) -> Callable[[bytes, float], dict[str, object]]:
    def build(e: bytes, _t: float) -> dict[str, object]:
        return {"svc_data": {uuid: e[3 : 3 + n_random].hex()}, "svc_uuids": [uuid]}

    return build


def ibeacon_payload(uuid: str, major: int, minor: int) -> Callable[[bytes, float], dict[str, object]]:
    return fixed_payload({"mfr": encode_ibeacon(uuid, major, minor), "tx_power": None})


def eddystone_payload(namespace: str, instance: str) -> Callable[[bytes, float], dict[str, object]]:
    return fixed_payload({"svc_data": encode_eddystone_uid(namespace, instance), "svc_uuids": [EDDYSTONE_UUID]})


def log_uniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(math.exp(rng.uniform(math.log(lo), math.log(hi))))


@dataclass(frozen=True, slots=True)
class Kind:
    """A kind of stranger's device: how often it advertises, how strongly, how the body shadows it."""

    name: str
    weight: float
    interval_s: tuple[float, float]
    offset_db: float
    body_factor: float
    address_kind: str
    rotates: bool
    payload: Callable[[np.random.Generator], Callable[[bytes, float], dict[str, object]]]


def _stranger_ibeacon(rng: np.random.Generator) -> Callable[[bytes, float], dict[str, object]]:
    uuid = STRANGER_IBEACON_UUIDS[int(rng.integers(len(STRANGER_IBEACON_UUIDS)))]
    return ibeacon_payload(uuid, int(rng.integers(1, 65535)), int(rng.integers(1, 65535)))


STRANGER_KINDS: tuple[Kind, ...] = (
    Kind("apple-phone", 30, (0.3, 2.0), 0.0, 1.0, "rpa", True, lambda r: apple_payload(0x10, 5)),
    Kind("apple-phone-handoff", 6, (0.5, 2.0), 0.0, 1.0, "rpa", True, lambda r: apple_payload(0x0C, 14)),
    Kind("android-phone", 14, (0.5, 2.0), 1.0, 1.0, "nrpa", True, lambda r: service_payload(GOOGLE_NEARBY_UUID, 20)),
    Kind("pixel-phone", 5, (0.5, 2.0), 1.0, 1.0, "nrpa", True, lambda r: company_payload(224, "0118", 14)),
    Kind("samsung-phone", 8, (0.5, 2.0), 1.0, 1.0, "nrpa", True, lambda r: company_payload(117, "420981", 22)),
    Kind("windows-laptop", 2, (1.0, 2.0), 2.0, 0.7, "nrpa", True, lambda r: company_payload(6, "01092002", 24)),
    Kind("apple-watch", 10, (1.0, 2.0), -4.0, 0.6, "rpa", True, lambda r: apple_payload(0x10, 5)),
    Kind(
        "garmin-watch",
        4,
        (1.0, 1.5),
        -5.0,
        0.6,
        "static",
        False,
        lambda r: company_payload(135, "", 8, name="Forerunner 255"),
    ),
    Kind("airpods", 8, (0.5, 1.5), -3.0, 0.5, "rpa", True, lambda r: apple_payload(0x07, 25)),
    Kind(
        "sony-headphones",
        3,
        (0.5, 1.5),
        -3.0,
        0.5,
        "static",
        False,
        lambda r: company_payload(301, "0103", 10, name="WH-1000XM4"),
    ),
    Kind("findmy-tag", 6, (2.0, 2.0), -2.0, 0.3, "static", True, lambda r: apple_payload(0x12, 25)),
    Kind(
        "google-fast-pair", 3, (0.5, 1.0), -2.0, 0.5, "nrpa", True, lambda r: service_payload(GOOGLE_FAST_PAIR_UUID, 3)
    ),
    Kind("tile-tag", 3, (25.0, 35.0), -4.0, 0.3, "static", False, lambda r: service_payload(TILE_UUID, 10)),
    Kind("stranger-ibeacon", 3, (0.3, 1.2), -2.0, 0.3, "static", False, _stranger_ibeacon),
)
ACCESSORY_KINDS = ("apple-watch", "garmin-watch", "airpods", "sony-headphones", "findmy-tag", "tile-tag")
FIXED_KINDS: tuple[Kind, ...] = (
    Kind("fridge-sensor", 1, (1.0, 1.5), -6.0, 0.0, "static", False, lambda r: company_payload(1177, "05", 23)),
    Kind("shelf-beacon", 1, (0.5, 1.0), -4.0, 0.0, "static", False, _stranger_ibeacon),
    Kind("esl-label", 1, (28.0, 32.0), -8.0, 0.0, "static", False, lambda r: company_payload(2083, "", 6)),
)


def make_stranger(kind: Kind, track: Track, rng: np.random.Generator, offset_sigma_db: float = 3.0) -> Device:
    frames = Frames(
        key=rng.bytes(16),
        address_kind=kind.address_kind,
        rotation_s=rng.uniform(*ADDRESS_ROTATION_S) if kind.rotates else None,
        phase_s=rng.uniform(0.0, ADDRESS_ROTATION_S[1]),
        payload=kind.payload(rng),
    )
    return Device(
        kind=kind.name,
        track=track,
        interval_s=log_uniform(rng, *kind.interval_s),
        offset_db=kind.offset_db + rng.normal(0.0, offset_sigma_db),
        body_factor=kind.body_factor,
        frames=frames,
    )

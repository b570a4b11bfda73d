"""Who comes to the store on a simulated day: customers (with and without consent), their devices, and
strangers' devices (accessories and companions of shoppers, shoppers without the app, passers-by, fixed
equipment). Pure: everything is drawn from the Generator it is given.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from simulator.devices import (
    ACCESSORY_KINDS,
    ADDRESS_ROTATION_S,
    FIXED_KINDS,
    STRANGER_KINDS,
    Device,
    Frames,
    Kind,
    apple_payload,
    company_payload,
    derived_bytes,
    eddystone_payload,
    ibeacon_payload,
    log_uniform,
    make_stranger,
    random_address,
    token_payload,
)
from simulator.movement import Track, fixed_track, passer_by_track, point_in_zone, shopper_track
from simulator.radio import RadioParams
from simulator.store import Store

CONSENT_SHARE = 0.85  # the rest are in the customers file with consent false: they must never trigger
PASSER_BY_CUSTOMER_SHARE = 0.08  # customers who walk past the door without coming in
TWO_DEVICE_SHARE = 0.1  # a phone with the app and a loyalty key fob
IDENTIFIER_MIX = (("token", 0.45), ("irk", 0.22), ("ibeacon", 0.13), ("eddystone_uid", 0.10), ("address", 0.10))
STRANGER_MIX = (("accessory", 0.35), ("companion", 0.2), ("no-app-shopper", 0.3), ("passer-by", 0.1), ("fixed", 0.05))
GENERIC_SEGMENTS = ("loyalty-gold", "new-customer")


def segment_for_zone(zone: str) -> str:
    return f"{zone}-fan"


@dataclass
class Customer:
    customer_id: str
    consent: bool
    segments: list[str]
    identifiers: list[dict[str, Any]]

    def to_json(self) -> dict[str, Any]:
        return {
            "customer_id": self.customer_id,
            "consent": self.consent,
            "segments": self.segments,
            "identifiers": self.identifiers,
        }


@dataclass
class Population:
    customers: list[Customer] = field(default_factory=list)
    devices: list[Device] = field(default_factory=list)
    tracks: dict[str, Track] = field(default_factory=dict)  # consenting customers' visits, for truth and plots


def store_ibeacon_uuid(store_id: str) -> str:
    """The store chain's own iBeacon UUID for loyalty fobs (stable per store id, distinct from vendors')."""
    h = hashlib.sha256(b"ibeacon:" + store_id.encode()).hexdigest()
    return f"{h[0:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:32]}"


def store_eddystone_namespace(store_id: str) -> str:
    return hashlib.sha256(b"eddystone:" + store_id.encode()).hexdigest()[:20]


def _pick(rng: np.random.Generator, mix: tuple[tuple[str, float], ...]) -> str:
    p = np.array([w for _, w in mix])
    return mix[int(rng.choice(len(mix), p=p / p.sum()))][0]


def _customer_device(
    kind: str, cid: str, n: int, store: Store, track: Track, rng: np.random.Generator, radio: RadioParams
) -> tuple[dict[str, Any], Device]:
    key = rng.bytes(16)
    rotation = rng.uniform(*ADDRESS_ROTATION_S)
    phase = rng.uniform(0.0, ADDRESS_ROTATION_S[1])
    offset = rng.normal(0.0, radio.device_offset_sigma_db)
    if kind == "token":
        secret = rng.bytes(int(rng.choice([16, 32])))
        ident: dict[str, Any] = {"kind": "token", "secret": secret.hex()}
        frames = Frames(key, "rpa", rotation, phase, token_payload(secret), token_windows=True)
        interval, body, dev_kind = log_uniform(rng, 0.1, 1.0), 1.0, "app-phone"
    elif kind == "irk":
        irk = rng.bytes(16)
        ident = {"kind": "irk", "irk": irk.hex()}
        payload = apple_payload(0x10, 5) if rng.random() < 0.6 else company_payload(117, "420981", 22)
        frames = Frames(key, "irk", rotation, phase, payload, irk=irk)
        interval, body, dev_kind = log_uniform(rng, 0.3, 1.5), 1.0, "irk-phone"
    elif kind == "ibeacon":
        uuid, major, minor = store_ibeacon_uuid(store.store_id), 1 + n // 60000, 1 + n % 60000
        ident = {"kind": "ibeacon", "uuid": uuid, "major": major, "minor": minor}
        frames = Frames(key, "static", None, 0.0, ibeacon_payload(uuid, major, minor))
        interval, body, dev_kind, offset = log_uniform(rng, 0.5, 1.2), 0.4, "ibeacon-fob", offset - 4.0
    elif kind == "eddystone_uid":
        namespace, instance = store_eddystone_namespace(store.store_id), rng.bytes(6).hex()
        ident = {"kind": "eddystone_uid", "namespace": namespace, "instance": instance}
        frames = Frames(key, "static", None, 0.0, eddystone_payload(namespace, instance))
        interval, body, dev_kind, offset = log_uniform(rng, 0.5, 1.2), 0.4, "eddystone-tag", offset - 4.0
    else:
        addr = random_address(derived_bytes(key, "static", 6), "static")
        ident = {"kind": "address", "address": addr}
        frames = Frames(key, "static", None, 0.0, company_payload(89, "", 6))
        interval, body, dev_kind, offset = log_uniform(rng, 0.5, 1.5), 0.6, "static-band", offset - 2.0
    dev = Device(dev_kind, track, interval, offset, body, frames, customer_id=cid)
    return ident, dev


def _arrival(rng: np.random.Generator, t0: float, duration_s: float) -> float:
    """Arrivals over the day, with a lunchtime and an after-work peak (a day shorter than 3 h stays uniform)."""
    if duration_s < 3 * 3600 or rng.random() < 0.5:
        return t0 + rng.uniform(0.0, duration_s * 0.97)
    peak = duration_s * (0.4 if rng.random() < 0.5 else 0.8)
    return t0 + float(np.clip(rng.normal(peak, duration_s * 0.06), 0.0, duration_s * 0.97))


def build_population(
    store: Store,
    rng: np.random.Generator,
    t0: float,
    duration_s: float,
    shoppers: int,
    strangers: int,
    radio: RadioParams,
) -> Population:
    pop = Population()
    shop_zones = [z.name for z in store.zone if z.name not in (store.door_zone, store.till_zone)] or store.zone_names
    shopper_tracks: list[Track] = []
    for n in range(shoppers):
        cid = f"cust-{n + 1:04d}"
        consent = bool(rng.random() < CONSENT_SHARE)
        favourites = [
            str(z) for z in rng.choice(shop_zones, size=min(len(shop_zones), int(rng.integers(0, 3))), replace=False)
        ]
        segments = [segment_for_zone(z) for z in favourites]
        segments += [g for g in GENERIC_SEGMENTS if rng.random() < 0.25]
        enters = bool(rng.random() >= PASSER_BY_CUSTOMER_SHARE)
        track = shopper_track(store, _arrival(rng, t0, duration_s), rng, favourites, enters)
        kinds = [_pick(rng, IDENTIFIER_MIX)]
        if rng.random() < TWO_DEVICE_SHARE:
            kinds.append("ibeacon" if kinds[0] != "ibeacon" else "token")
        identifiers = []
        for kind in kinds:
            ident, dev = _customer_device(kind, cid, n, store, track, rng, radio)
            identifiers.append(ident)
            pop.devices.append(dev)
        pop.customers.append(Customer(cid, consent, segments, identifiers))
        if consent:
            pop.tracks[cid] = track
        shopper_tracks.append(track)

    stranger_kinds = list(STRANGER_KINDS)
    weights = np.array([k.weight for k in stranger_kinds])
    accessory = [k for k in stranger_kinds if k.name in ACCESSORY_KINDS]
    acc_w = np.array([k.weight for k in accessory])
    phones = [k for k in stranger_kinds if k.body_factor == 1.0]
    phone_w = np.array([k.weight for k in phones])

    def draw(kinds: list[Kind], w: np.ndarray[Any, Any]) -> Kind:
        return kinds[int(rng.choice(len(kinds), p=w / w.sum()))]

    for _ in range(strangers):
        role = _pick(rng, STRANGER_MIX)
        if role in ("accessory", "companion") and not shopper_tracks:
            role = "no-app-shopper"
        if role == "accessory":
            track = shopper_tracks[int(rng.integers(len(shopper_tracks)))]
            skind = draw(accessory, acc_w)
        elif role == "companion":
            base = shopper_tracks[int(rng.integers(len(shopper_tracks)))]
            angle = rng.uniform(-math.pi, math.pi)
            track = base.shifted(math.cos(angle) * rng.uniform(0.5, 1.5), math.sin(angle) * rng.uniform(0.5, 1.5))
            skind = draw(phones, phone_w)
        elif role == "no-app-shopper":
            track = shopper_track(store, _arrival(rng, t0, duration_s), rng)
            skind = draw(stranger_kinds, weights)
        elif role == "passer-by":
            track = passer_by_track(store, _arrival(rng, t0, duration_s), rng)
            skind = draw(phones, phone_w)
        else:
            fixed = FIXED_KINDS[int(rng.integers(len(FIXED_KINDS)))]
            x, y = point_in_zone(store.zone[int(rng.integers(len(store.zone)))], rng)
            track = fixed_track(x, y, t0, t0 + duration_s)
            skind = fixed
        dev = make_stranger(skind, track, rng, radio.device_offset_sigma_db)
        pop.devices.append(dev)
    for dev in pop.devices:
        dev.t_on = max(dev.track.t_start, t0)
        dev.t_off = min(dev.track.t_end, t0 + duration_s)
        dev.frames.plan(dev.t_on, dev.t_off)
    pop.devices = [d for d in pop.devices if d.t_off > d.t_on]
    return pop

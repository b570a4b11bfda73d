"""bleak's (BLEDevice, AdvertisementData) to an Advert in recording form (pure, no I/O).

This is the one conversion from bytes to the hex-string form the rest of the pipeline uses, so a live
advertisement and the same frame read back from a recording compare equal.
"""

from __future__ import annotations

import functools

from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData
from bleak.uuids import normalize_uuid_str

from gateway.adverts import Advert
from gateway.sources.recording import RSSI_MAX_DBM, RSSI_MIN_DBM

# HCI reports 127 for "RSSI not available" and BlueZ/bleak use -127; the recording format only knows -127.
RSSI_UNKNOWN_DBM = RSSI_MIN_DBM
UUID_CACHE_SIZE = 1024  # a store hears a few dozen distinct service UUIDs; normalising each costs microseconds


@functools.lru_cache(maxsize=UUID_CACHE_SIZE)
def _uuid128(uuid: str) -> str:
    """Service UUIDs as 128-bit lowercase strings; backends other than BlueZ may report 16-bit forms."""
    try:
        return normalize_uuid_str(uuid)
    except ValueError:
        return uuid.lower()


def _rssi(value: int | None) -> int:
    if value is None or not RSSI_MIN_DBM <= value <= RSSI_MAX_DBM:
        return RSSI_UNKNOWN_DBM
    return value


def advert_from_bleak(device: BLEDevice, data: AdvertisementData, t: float, rx: str) -> Advert:
    """The advertisement as a recording line would hold it. `t` is the reception time (epoch seconds)."""
    return Advert(
        t,
        rx,
        device.address,
        _rssi(data.rssi),
        data.tx_power,
        data.local_name,
        {str(company): payload.hex() for company, payload in data.manufacturer_data.items()},
        {_uuid128(uuid): payload.hex() for uuid, payload in data.service_data.items()},
        [_uuid128(uuid) for uuid in data.service_uuids],
    )


def advertisement_data(
    *,
    rssi: int = -60,
    mfr: dict[int, bytes] | None = None,
    svc_data: dict[str, bytes] | None = None,
    svc_uuids: list[str] | None = None,
    name: str | None = None,
    tx_power: int | None = None,
) -> AdvertisementData:
    """An AdvertisementData as a backend builds it; for scripted backends (tests, simulators)."""
    return AdvertisementData(
        local_name=name,
        manufacturer_data=mfr or {},
        service_data=svc_data or {},
        service_uuids=svc_uuids or [],
        tx_power=tx_power,
        rssi=rssi,
        platform_data=(),
    )


def advertisement_data_from_advert(adv: Advert) -> AdvertisementData:
    """The inverse of `advert_from_bleak`: what a backend would have reported for a recorded line."""
    return advertisement_data(
        rssi=adv.rssi,
        mfr={int(company): bytes.fromhex(payload) for company, payload in adv.mfr.items()},
        svc_data={uuid: bytes.fromhex(payload) for uuid, payload in adv.svc_data.items()},
        svc_uuids=list(adv.svc_uuids),
        name=adv.name,
        tx_power=adv.tx_power,
    )

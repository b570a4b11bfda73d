"""The advertisement model and the frame parsers (pure, no I/O).

An `Advert` keeps manufacturer and service data in the recording's own form (company id as a decimal
string key, payloads as lowercase hex strings). Replay is the hot path, and in that form recognition is a
handful of string slices and dict lookups, with no bytes conversion for the strangers who make up most of
the traffic. The live bleak source converts once, at the edge.

Every parser takes untrusted radio input: it returns None for anything malformed and never raises.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Any

APPLE_COMPANY_ID = 76  # 0x004C: iBeacon frames live in Apple's manufacturer data
IBEACON_PREFIX_HEX = "0215"  # type 0x02, remaining length 0x15 (21 bytes)
IBEACON_PAYLOAD_HEX_LEN = 2 * 23  # prefix 2 + uuid 16 + major 2 + minor 2 + tx 1
EDDYSTONE_UUID = "0000feaa-0000-1000-8000-00805f9b34fb"
EDDYSTONE_UID_FRAME_HEX = "00"
EDDYSTONE_UID_MIN_HEX_LEN = 2 * 18  # frame 1 + tx 1 + namespace 10 + instance 6 (2 reserved bytes optional)
TOKEN_FRAME_TYPE_HEX = "01"
TOKEN_PAYLOAD_HEX_LEN = 2 * 9  # frame type 1 + token 8
ADDRESS_RE = re.compile(r"^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}$")  # AA:BB:CC:DD:EE:FF, either case
DEFAULT_TOKEN_COMPANY_ID = 0xFFFF  # "reserved for testing" in the Bluetooth SIG list; configurable
MAX_COMPANY_ID = 0xFFFF  # company identifiers are 16 bits
# BlueZ and bleak report -127 when a packet came without an RSSI (HCI says 127). Such an advertisement says the
# device is there, for recognition and a receiver's liveness; taken as a level it would read 30-40 dB too far away.
NO_RSSI_DBM = -127
BLUETOOTH_BASE_UUID_TAIL = "-0000-1000-8000-00805f9b34fb"  # a 16- or 32-bit service UUID is short for base + it
_UUID128_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_SHORT_UUID_RE = re.compile(r"^(?:[0-9a-f]{4}){1,2}$")
KEY_CACHE_SIZE = 1024  # a store hears a few dozen distinct companies and services; each key is checked once


class Advert:
    """One advertisement as heard by one receiver. `t` is the advertisement's own clock (epoch seconds)."""

    __slots__ = ("addr", "mfr", "name", "rssi", "rx", "svc_data", "svc_uuids", "t", "tx_power")

    def __init__(
        self,
        t: float,
        rx: str,
        addr: str,
        rssi: int,
        tx_power: int | None = None,
        name: str | None = None,
        mfr: dict[str, str] | None = None,
        svc_data: dict[str, str] | None = None,
        svc_uuids: list[str] | None = None,
    ) -> None:
        self.t = t
        self.rx = rx
        self.addr = addr
        self.rssi = rssi
        self.tx_power = tx_power
        self.name = name
        self.mfr: dict[str, str] = mfr if mfr is not None else {}
        self.svc_data: dict[str, str] = svc_data if svc_data is not None else {}
        self.svc_uuids: list[str] = svc_uuids if svc_uuids is not None else []

    def to_json(self) -> dict[str, Any]:
        """The SPEC section 4 line for this advertisement."""
        return {
            "t": self.t,
            "rx": self.rx,
            "addr": self.addr,
            "rssi": self.rssi,
            "tx_power": self.tx_power,
            "name": self.name,
            "mfr": self.mfr,
            "svc_data": self.svc_data,
            "svc_uuids": self.svc_uuids,
        }

    def __repr__(self) -> str:  # addresses of strangers must not end up in logs: keep repr minimal
        return f"Advert(t={self.t:.3f}, rx={self.rx!r}, rssi={self.rssi})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Advert) and self.to_json() == other.to_json()

    __hash__ = None  # type: ignore[assignment]


@dataclass(frozen=True, slots=True)
class IBeacon:
    uuid: str  # lowercase, dashed
    major: int
    minor: int
    tx_power: int  # measured power at 1 m, dBm (signed)

    @property
    def key(self) -> str:
        return ibeacon_key(self.uuid, self.major, self.minor)


@dataclass(frozen=True, slots=True)
class EddystoneUid:
    namespace: str  # 20 hex chars
    instance: str  # 12 hex chars
    tx_power: int  # at 0 m, dBm

    @property
    def key(self) -> str:
        return self.namespace + self.instance


@functools.lru_cache(maxsize=KEY_CACHE_SIZE)
def company_key(key: str) -> str | None:
    """An `mfr` key as SPEC section 4 writes it, the company identifier in decimal without leading zeros
    ("076" -> "76", which the parsers look up), or None if it is not a company identifier."""
    if not (key.isascii() and key.isdigit()):
        return None
    n = int(key)
    return str(n) if n <= MAX_COMPANY_ID else None


@functools.lru_cache(maxsize=KEY_CACHE_SIZE)
def service_key(key: str) -> str | None:
    """An `svc_data` key as SPEC section 4 writes it, the 128-bit UUID in lowercase (UUIDs are read in either
    case; a 16- or 32-bit form is short for the Bluetooth base UUID, as bleak expands it), or None."""
    lower = key.lower()
    if _UUID128_RE.match(lower):
        return lower
    if _SHORT_UUID_RE.match(lower):
        return lower.rjust(8, "0") + BLUETOOTH_BASE_UUID_TAIL
    return None


def _is_hex(s: str) -> bool:
    try:
        bytes.fromhex(s)
    except ValueError:
        return False
    return True


def _signed_byte(hex2: str) -> int:
    v = int(hex2, 16)
    return v - 256 if v > 127 else v


def ibeacon_key(uuid: str, major: int, minor: int) -> str:
    """The lookup key of an iBeacon identity: 32 hex uuid + 4 hex major + 4 hex minor, lowercase."""
    return uuid.replace("-", "").lower() + f"{major:04x}{minor:04x}"


def ibeacon_key_from_mfr(mfr: dict[str, str]) -> str | None:
    """Hot-path variant of `parse_ibeacon`: the identity key only, by slicing."""
    payload = mfr.get("76")
    if payload is None or len(payload) != IBEACON_PAYLOAD_HEX_LEN or not payload.startswith(IBEACON_PREFIX_HEX):
        return None
    return payload[4:44].lower()


def parse_ibeacon(mfr: dict[str, str]) -> IBeacon | None:
    payload = mfr.get(str(APPLE_COMPANY_ID))
    if payload is None or len(payload) != IBEACON_PAYLOAD_HEX_LEN:
        return None
    payload = payload.lower()
    if not payload.startswith(IBEACON_PREFIX_HEX) or not _is_hex(payload):
        return None
    u = payload[4:36]
    uuid = f"{u[0:8]}-{u[8:12]}-{u[12:16]}-{u[16:20]}-{u[20:32]}"
    return IBeacon(uuid, int(payload[36:40], 16), int(payload[40:44], 16), _signed_byte(payload[44:46]))


def encode_ibeacon(uuid: str, major: int, minor: int, tx_power: int = -59) -> dict[str, str]:
    """Manufacturer data of an iBeacon advertisement, in recording form."""
    return {str(APPLE_COMPANY_ID): IBEACON_PREFIX_HEX + ibeacon_key(uuid, major, minor) + f"{tx_power & 0xFF:02x}"}


def eddystone_uid_key_from_svc(svc_data: dict[str, str]) -> str | None:
    payload = svc_data.get(EDDYSTONE_UUID)
    if payload is None or len(payload) < EDDYSTONE_UID_MIN_HEX_LEN or not payload.startswith("00"):
        return None
    return payload[4:36].lower()


def parse_eddystone_uid(svc_data: dict[str, str]) -> EddystoneUid | None:
    payload = svc_data.get(EDDYSTONE_UUID)
    if payload is None or len(payload) not in (EDDYSTONE_UID_MIN_HEX_LEN, EDDYSTONE_UID_MIN_HEX_LEN + 4):
        return None
    payload = payload.lower()
    if not payload.startswith(EDDYSTONE_UID_FRAME_HEX) or not _is_hex(payload):
        return None
    return EddystoneUid(payload[4:24], payload[24:36], _signed_byte(payload[2:4]))


def encode_eddystone_uid(namespace: str, instance: str, tx_power: int = -20) -> dict[str, str]:
    return {EDDYSTONE_UUID: "00" + f"{tx_power & 0xFF:02x}" + namespace.lower() + instance.lower() + "0000"}


def token_from_mfr(mfr: dict[str, str], company_key: str) -> str | None:
    """The 8-byte rotating token (16 hex chars) of a token frame, or None. `company_key` is the decimal id."""
    payload = mfr.get(company_key)
    if payload is None or len(payload) != TOKEN_PAYLOAD_HEX_LEN or not payload.startswith(TOKEN_FRAME_TYPE_HEX):
        return None
    return payload[2:].lower()


def encode_token_frame(token: bytes, company_id: int = DEFAULT_TOKEN_COMPANY_ID) -> dict[str, str]:
    return {str(company_id): TOKEN_FRAME_TYPE_HEX + token.hex()}


def is_resolvable_private(addr: str) -> bool:
    """True for a resolvable private address: the two most significant bits of the address are 01."""
    if len(addr) != 17:
        return False
    top = addr[0]
    if top.isascii():  # the hot path (every stranger's advertisement): no int() and no exception
        return top in "4567"
    try:  # int() also reads non-ASCII decimal digits: keep its answer for them
        return 4 <= int(top, 16) <= 7
    except ValueError:
        return False

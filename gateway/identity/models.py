"""Customer and identifier models (SPEC section 6), validated strictly (pydantic v2).

Secrets (token secrets, IRKs) are kept out of `repr()` and out of every validation message, so a log line or
an import problem can never carry a key. Each identifier knows its `match_key()`: the exact string the
resolver looks up, in the same form the advert parsers of `gateway.adverts` produce.
"""

from __future__ import annotations

import hashlib
import math
import uuid as uuid_mod
from collections.abc import Collection, Iterable
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

from gateway.adverts import ADDRESS_RE, ibeacon_key
from gateway.config import error_text
from gateway.identity.irk import IRK_LEN_BYTES
from gateway.identity.tokens import SECRET_MAX_BYTES, SECRET_MIN_BYTES
from gateway.sources.recording import T_MAX_S

CUSTOMER_ID_PATTERN = r"^[A-Za-z0-9._:@-]{1,128}$"
DEFAULT_PURPOSE = "marketing"
IDENTIFIER_KINDS = ("token", "irk", "ibeacon", "eddystone_uid", "address")


def _hex_of_len(value: object, min_bytes: int, max_bytes: int | None = None) -> str:
    """Lowercase hex of `min_bytes`..`max_bytes` bytes. Messages describe the length, never the value."""
    if not isinstance(value, str):
        raise ValueError("must be a hex string")
    v = value.strip().lower()
    if len(v) % 2 or not all(c in "0123456789abcdef" for c in v):
        raise ValueError("is not valid hex")
    n = len(v) // 2
    hi = min_bytes if max_bytes is None else max_bytes
    if not min_bytes <= n <= hi:
        want = f"{min_bytes} bytes ({2 * min_bytes} hex digits)"
        if hi != min_bytes:
            want = f"{min_bytes}..{hi} bytes ({2 * min_bytes}..{2 * hi} hex digits)"
        raise ValueError(f"must be {want}, got {n} bytes")
    return v


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class TokenIdentifier(_Frozen):
    kind: Literal["token"] = "token"
    secret: str = Field(repr=False)  # 16..32 bytes, lowercase hex

    @field_validator("secret", mode="before")
    @classmethod
    def _check_secret(cls, v: object) -> str:
        return _hex_of_len(v, SECRET_MIN_BYTES, SECRET_MAX_BYTES)

    def secret_bytes(self) -> bytes:
        return bytes.fromhex(self.secret)

    def match_key(self) -> str:
        # Tokens rotate: the resolver derives per-window keys from the secret; this key only detects duplicates.
        return "token:" + hashlib.sha256(self.secret.encode()).hexdigest()

    def public_view(self) -> dict[str, Any]:
        return {"kind": self.kind, "secret": "(held, not shown)", "fingerprint": _fingerprint(self.secret)}


class IrkIdentifier(_Frozen):
    kind: Literal["irk"] = "irk"
    irk: str = Field(repr=False)  # 16 bytes, most significant byte first as the Core spec writes it

    @field_validator("irk", mode="before")
    @classmethod
    def _check_irk(cls, v: object) -> str:
        return _hex_of_len(v, IRK_LEN_BYTES)

    def irk_bytes(self) -> bytes:
        return bytes.fromhex(self.irk)

    def match_key(self) -> str:
        return "irk:" + hashlib.sha256(self.irk.encode()).hexdigest()

    def public_view(self) -> dict[str, Any]:
        return {"kind": self.kind, "irk": "(held, not shown)", "fingerprint": _fingerprint(self.irk)}


class IBeaconIdentifier(_Frozen):
    kind: Literal["ibeacon"] = "ibeacon"
    uuid: str
    major: int = Field(ge=0, le=0xFFFF)
    minor: int = Field(ge=0, le=0xFFFF)

    @field_validator("uuid", mode="before")
    @classmethod
    def _check_uuid(cls, v: object) -> str:
        if not isinstance(v, str):
            raise ValueError("must be a string like f7826da6-4fa2-4e98-8024-bc5b71e0893e")
        try:
            return str(uuid_mod.UUID(v.strip()))
        except ValueError:
            raise ValueError("is not a valid UUID (want 32 hex digits, e.g. f7826da6-4fa2-...)") from None

    @field_validator("major", "minor", mode="before")
    @classmethod
    def _no_bool(cls, v: object) -> object:
        if isinstance(v, bool | float):
            raise ValueError("must be an integer 0..65535")
        return v

    def match_key(self) -> str:
        return ibeacon_key(self.uuid, self.major, self.minor)

    def public_view(self) -> dict[str, Any]:
        return self.model_dump()


class EddystoneUidIdentifier(_Frozen):
    kind: Literal["eddystone_uid"] = "eddystone_uid"
    namespace: str  # 10 bytes hex
    instance: str  # 6 bytes hex

    @field_validator("namespace", mode="before")
    @classmethod
    def _check_ns(cls, v: object) -> str:
        return _hex_of_len(v, 10)

    @field_validator("instance", mode="before")
    @classmethod
    def _check_inst(cls, v: object) -> str:
        return _hex_of_len(v, 6)

    def match_key(self) -> str:
        return self.namespace + self.instance

    def public_view(self) -> dict[str, Any]:
        return self.model_dump()


class AddressIdentifier(_Frozen):
    kind: Literal["address"] = "address"
    address: str  # AA:BB:CC:DD:EE:FF, uppercase

    @field_validator("address", mode="before")
    @classmethod
    def _check_address(cls, v: object) -> str:
        if not isinstance(v, str) or not ADDRESS_RE.match(v.strip()):
            raise ValueError("must look like AA:BB:CC:DD:EE:FF")
        return v.strip().upper()

    def match_key(self) -> str:
        return self.address

    def public_view(self) -> dict[str, Any]:
        return self.model_dump()


Identifier = Annotated[
    TokenIdentifier | IrkIdentifier | IBeaconIdentifier | EddystoneUidIdentifier | AddressIdentifier,
    Field(discriminator="kind"),
]
# each identifier kind's keys (SPEC section 6): the importer ignores and names others, as it does a record's
IDENTIFIER_KEYS: dict[str, frozenset[str]] = {
    m.model_fields["kind"].default: frozenset(m.model_fields)
    for m in (TokenIdentifier, IrkIdentifier, IBeaconIdentifier, EddystoneUidIdentifier, AddressIdentifier)
}


def _fingerprint(hex_key: str) -> str:
    """A short one-way tag so staff can tell two keys apart without seeing either."""
    return hashlib.sha256(bytes.fromhex(hex_key)).hexdigest()[:8]


def parse_timestamp(v: object) -> float | None:
    """Epoch seconds (int/float) or an ISO date/datetime (naive = UTC) -> epoch seconds, 1970..2100."""
    t = _parse_time(v)
    # the recordings' bound: beyond it Python's datetime cannot show the value, and `customers list`/`export`
    # stopped on one such row for the whole registry
    if t is not None and not 0.0 <= t <= T_MAX_S:
        raise ValueError("must be a time between 1970 and 2100 (leave it out for none)")
    return t


def _parse_time(v: object) -> float | None:
    if v is None or v == "":
        return None
    if isinstance(v, bool):
        raise ValueError("must be epoch seconds or an ISO date")
    if isinstance(v, int | float):
        try:
            f = float(v)
        except OverflowError:  # an integer of 400 digits: one line, not a stopped import
            raise ValueError("must be a time between 1970 and 2100 (leave it out for none)") from None
        if not math.isfinite(f):
            raise ValueError("must be a finite number")
        return f
    if isinstance(v, str):
        s = v.strip()
        try:
            f = float(s)
        except ValueError:
            pass
        else:  # "inf", "nan" and "1e999" are floats to Python, not times
            if not math.isfinite(f):
                raise ValueError("must be a finite number")
            return f
        try:
            if len(s) == 10:
                d = date.fromisoformat(s)
                return datetime(d.year, d.month, d.day, tzinfo=UTC).timestamp()
            dt = datetime.fromisoformat(s)
        except ValueError:
            raise ValueError("must be epoch seconds or an ISO date like 2026-12-31") from None
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=UTC)
        return dt.timestamp()
    raise ValueError("must be epoch seconds or an ISO date")


# A customer's devices, and the marketer's segments for them, are few. The bounds keep one record (a consent message
# anyone with the topic's rights can send) from costing the daemon seconds of its event loop and hundreds of MB.
MAX_IDENTIFIERS = 32
MAX_SEGMENTS = 64
MAX_SEGMENT_CHARS = 64


# Validation context of a record read back from the registry: it passed the checks of the version that stored it,
# and a limit added since must not make the registry unreadable (the daemon could not start after an upgrade).
STORED = {"stored": True}


def _stored(info: ValidationInfo) -> bool:
    return bool(info.context and info.context.get("stored"))


def _printable(v: str, allowed: str = "") -> bool:
    """No control characters (but `allowed`): names are printed by `customers list`, and an escape sequence
    would rewrite the staff's terminal."""
    return all(c.isprintable() or c in allowed for c in v)


class Customer(_Frozen):
    """One customer record. `consent=False` with no identifiers is a revocation (or its tombstone)."""

    customer_id: str = Field(pattern=CUSTOMER_ID_PATTERN)
    consent: bool
    segments: frozenset[str] = frozenset()
    identifiers: tuple[Identifier, ...] = ()
    purpose: str = Field(default=DEFAULT_PURPOSE, min_length=1, max_length=64)
    expires_at: float | None = None  # consent ends at this epoch second; None = until revoked
    consented_at: float | None = None  # when the customer granted it; lets a re-grant after revocation through
    revoked_at: float | None = None  # set by the registry on revocation

    @field_validator("consent", mode="before")
    @classmethod
    def _strict_bool(cls, v: object) -> object:
        if not isinstance(v, bool):
            raise ValueError("must be true or false")
        return v

    @field_validator("segments", mode="before")
    @classmethod
    def _check_segments(cls, v: object, info: ValidationInfo) -> object:
        if v is None:
            return frozenset()
        if isinstance(v, str) or not isinstance(v, list | tuple | set | frozenset):
            raise ValueError("must be a list of names")
        new = not _stored(info)
        if new and len(v) > MAX_SEGMENTS:
            raise ValueError(f"{len(v)} names: at most {MAX_SEGMENTS}")
        for s in v:
            if not isinstance(s, str) or not s.strip():
                raise ValueError("must hold non-empty strings")
            if new and (len(s) > MAX_SEGMENT_CHARS or not _printable(s)):
                raise ValueError(f"names of at most {MAX_SEGMENT_CHARS} characters, with no control characters")
        return frozenset(s.strip() for s in v)

    @field_validator("identifiers", mode="before")
    @classmethod
    def _check_identifier_count(cls, v: object, info: ValidationInfo) -> object:
        if isinstance(v, list | tuple) and len(v) > MAX_IDENTIFIERS and not _stored(info):
            raise ValueError(f"{len(v)} given: at most {MAX_IDENTIFIERS} per customer")
        return v

    @field_validator("purpose")
    @classmethod
    def _check_purpose(cls, v: str, info: ValidationInfo) -> str:
        # a purpose is text, and may span lines (a CSV cell, CRLF in a spreadsheet's export; a JSON string with
        # Unicode's line separators)
        if not _printable(v, allowed="\r\n\t\x85\u2028\u2029") and not _stored(info):
            raise ValueError("must hold no control characters")
        return v

    @field_validator("expires_at", "consented_at", "revoked_at", mode="before")
    @classmethod
    def _check_time(cls, v: object) -> float | None:
        return parse_timestamp(v)

    def consents_at(self, t: float) -> bool:
        """True if this customer's consent holds at advertisement time `t`."""
        return self.consent and (self.expires_at is None or t < self.expires_at)

    def public_view(self) -> dict[str, Any]:
        """Everything about the record except key material: safe to print."""
        return {
            "customer_id": self.customer_id,
            "consent": self.consent,
            "purpose": self.purpose,
            "segments": sorted(self.segments),
            "expires_at": self.expires_at,
            "consented_at": self.consented_at,
            "revoked_at": self.revoked_at,
            "identifiers": [i.public_view() for i in self.identifiers],
        }

    def storage_dict(self) -> dict[str, Any]:
        """The full record including secrets: only for the registry file."""
        d = self.model_dump(mode="json")
        d["segments"] = sorted(self.segments)
        return d

    def kind_counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for i in self.identifiers:
            out[i.kind] = out.get(i.kind, 0) + 1
        return out


def format_record_errors(err: ValidationError) -> list[str]:
    """'field: message' lines for a failed record, naming the field the way the file writes it.

    pydantic's own str() embeds the input value; we build messages from `loc` and `msg` only, so a
    rejected secret is never echoed.
    """
    out: list[str] = []
    for e in err.errors(include_input=False, include_url=False):
        parts: list[str] = []
        loc = e["loc"]
        for i, p in enumerate(loc):
            if isinstance(p, int):
                parts.append(f"[{p}]")
            elif p in IDENTIFIER_KINDS and i >= 2 and loc[i - 2] == "identifiers" and isinstance(loc[i - 1], int):
                continue  # the discriminator's branch name: the kind is already known from the record
            else:
                parts.append(("." if parts else "") + str(p))
        field = "".join(parts) or "(record)"
        msg = error_text(e)
        if e["type"] == "union_tag_invalid":
            field += ".kind"
            msg = f"unknown kind (expected one of {', '.join(IDENTIFIER_KINDS)})"
        elif e["type"] == "union_tag_not_found":
            field += ".kind"
            msg = "missing (expected one of " + ", ".join(IDENTIFIER_KINDS) + ")"
        elif e["type"] == "extra_forbidden":
            msg = "unknown field (misspelt?)"
        elif e["type"] == "missing":
            msg = "missing"
        elif e["type"] == "string_pattern_mismatch" and field == "customer_id":
            msg = "must be 1..128 characters of letters, digits and . _ : @ -"
        out.append(f"{field}: {msg}")
    return out


def consents_to(customer: Customer, purposes: Collection[str] | None) -> bool:
    """Whether a gateway recognises the customer: consent given, for one of `purposes` (None: whatever for)."""
    return customer.consent and (purposes is None or customer.purpose in purposes)


def other_purposes_note(customers: Iterable[Customer], purposes: Iterable[str]) -> str | None:
    """Consenting customers a gateway does not recognise because they agreed to something else, or None."""
    wanted = set(purposes)
    others: dict[str, int] = {}
    for c in customers:
        if c.consent and not consents_to(c, wanted):
            others[c.purpose] = others.get(c.purpose, 0) + 1
    if not others:
        return None
    listed = ", ".join(f"{p!r}: {n}" for p, n in sorted(others.items()))
    return (
        f"{sum(others.values())} consenting customers gave consent for another purpose ({listed}) and are not "
        f"recognised: [recognition] purposes is {sorted(wanted)}"
    )


def count_irks(customers: Iterable[Customer]) -> int:
    """The IRKs a gateway would try an address against: consenting customers' (irk.chance_match_note)."""
    return sum(isinstance(i, IrkIdentifier) for c in customers if c.consent for i in c.identifiers)

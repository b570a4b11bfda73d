"""Recognition: which consenting customer sent this advertisement, if any (pure, the hot path).

`Resolver.match` is called for every advertisement heard. Most come from strangers, so each check is
skipped when no customer uses that identifier kind, and a stranger costs a few dict misses. Order:
address, rotating token, iBeacon, Eddystone-UID, then IRK for resolvable private addresses (the only
check that can cost real work, paid once per new address thanks to its caches).

Privacy: an advert that matches nobody returns None and leaves no trace, except the IRK resolver's bounded,
expiring, in-memory negative cache keyed by address (see irk_resolver.py); it is never persisted. The
counters in `stats` hold numbers only, never identifiers.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass

from gateway.adverts import (
    APPLE_COMPANY_ID,
    DEFAULT_TOKEN_COMPANY_ID,
    Advert,
    eddystone_uid_key_from_svc,
    ibeacon_key_from_mfr,
    is_resolvable_private,
    token_from_mfr,
)
from gateway.identity.irk_resolver import IrkResolver
from gateway.identity.models import (
    AddressIdentifier,
    Customer,
    EddystoneUidIdentifier,
    IBeaconIdentifier,
    IrkIdentifier,
    TokenIdentifier,
    consents_to,
)
from gateway.identity.token_table import TokenTable

_APPLE_KEY = str(APPLE_COMPANY_ID)  # iBeacon frames are Apple manufacturer data


@dataclass(slots=True)
class ResolverStats:
    adverts: int = 0
    matched: int = 0  # returned a consenting customer
    dropped: int = 0  # returned None (strangers, non-consenting, expired)
    expired: int = 0  # of `dropped`: a customer's identifier, but the consent had expired at the advert's time
    irk_resolutions: int = 0  # full passes over the IRKs (one per new resolvable address)
    irk_cache_hits: int = 0
    irk_negative_hits: int = 0
    token_table_rebuilds: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


class Resolver:
    __slots__ = (
        "_by_address",
        "_company_key",
        "_eddystone",
        "_expires",
        "_fingerprints",
        "_has_irks",
        "_has_tokens",
        "_ibeacon",
        "_irk",
        "_keys_of",
        "_purposes",
        "_segments",
        "_stats",
        "_tokens",
    )

    def __init__(
        self,
        customers: Iterable[Customer] = (),
        token_company_id: int = DEFAULT_TOKEN_COMPANY_ID,
        purposes: Iterable[str] | None = None,
    ) -> None:
        """`purposes`: if given, only customers whose consent purpose is one of them are recognised."""
        self._company_key = str(token_company_id)
        self._purposes = None if purposes is None else frozenset(purposes)
        self._by_address: dict[str, str] = {}
        self._ibeacon: dict[str, str] = {}
        self._eddystone: dict[str, str] = {}
        self._keys_of: dict[str, list[tuple[dict[str, str], str]]] = {}  # customer -> its exact-match entries
        self._tokens = TokenTable()
        self._irk = IrkResolver()
        self._expires: dict[str, float] = {}
        self._segments: dict[str, frozenset[str]] = {}
        self._fingerprints: dict[str, int] = {}  # hash of the record: re-upserting an unchanged customer is free
        self._stats = ResolverStats()
        # Whether any customer has token secrets / IRKs: plain flags, as `match` asks for every advertisement
        # and len() of those tables is a Python-level call.
        self._has_tokens = False
        self._has_irks = False
        for c in customers:
            self.upsert(c)

    def __len__(self) -> int:
        return len(self._segments)

    def __contains__(self, customer_id: object) -> bool:
        return customer_id in self._segments

    def upsert(self, customer: Customer) -> None:
        """Adds or replaces a customer; a record without consent (or for another purpose) removes it.
        Effective for the next advert."""
        cid = customer.customer_id
        wanted = consents_to(customer, self._purposes)
        fingerprint = hash(customer) if wanted else None
        if fingerprint is not None and self._fingerprints.get(cid) == fingerprint:
            return  # unchanged: keep the token table and the IRK caches as they are
        self.remove(cid)
        if fingerprint is None:
            return
        self._fingerprints[cid] = fingerprint
        entries: list[tuple[dict[str, str], str]] = []
        secrets: list[bytes] = []
        irks: list[bytes] = []
        for ident in customer.identifiers:
            if isinstance(ident, TokenIdentifier):
                secrets.append(ident.secret_bytes())
            elif isinstance(ident, IrkIdentifier):
                irks.append(ident.irk_bytes())
            else:
                table = self._table_for(ident)
                key = ident.match_key()
                table[key] = cid
                entries.append((table, key))
        if entries:
            self._keys_of[cid] = entries
        self._tokens.set_customer(cid, secrets)
        self._irk.set_customer(cid, irks)
        self._has_tokens, self._has_irks = bool(self._tokens), bool(self._irk)
        self._segments[cid] = customer.segments
        self._expires[cid] = math.inf if customer.expires_at is None else customer.expires_at

    def _table_for(self, ident: AddressIdentifier | IBeaconIdentifier | EddystoneUidIdentifier) -> dict[str, str]:
        if isinstance(ident, AddressIdentifier):
            return self._by_address
        if isinstance(ident, IBeaconIdentifier):
            return self._ibeacon
        return self._eddystone

    def remove(self, customer_id: str) -> None:
        """Forgets a customer at once: exact-match keys, token table entries, IRKs and cached addresses."""
        for table, key in self._keys_of.pop(customer_id, ()):
            if table.get(key) == customer_id:
                del table[key]
        self._tokens.remove(customer_id)
        self._irk.remove(customer_id)
        self._has_tokens, self._has_irks = bool(self._tokens), bool(self._irk)
        self._segments.pop(customer_id, None)
        self._expires.pop(customer_id, None)
        self._fingerprints.pop(customer_id, None)

    def customer_ids(self) -> list[str]:
        """The customers this resolver recognises (consenting when added)."""
        return list(self._segments)

    def expired(self, t: float) -> list[str]:
        """The customers held whose consent ended at or before `t` (they are no longer recognised from then on)."""
        return [cid for cid, end in self._expires.items() if not t < end]

    def segments(self, customer_id: str) -> frozenset[str]:
        return self._segments.get(customer_id, frozenset())

    @property
    def stats(self) -> ResolverStats:
        s = self._stats
        s.irk_resolutions = self._irk.resolutions
        s.irk_cache_hits = self._irk.cache_hits
        s.irk_negative_hits = self._irk.negative_hits
        s.token_table_rebuilds = self._tokens.rebuilds
        return s

    def match(self, adv: Advert) -> str | None:
        """The consenting customer who sent `adv` (consent checked at adv.t), or None: then drop the advert."""
        stats = self._stats
        stats.adverts += 1
        cid = self._find(adv)
        if cid is None:
            stats.dropped += 1
            return None
        if not adv.t < self._expires[cid]:
            stats.dropped += 1
            stats.expired += 1
            return None
        stats.matched += 1
        return cid

    def _find(self, adv: Advert) -> str | None:
        addr = adv.addr
        if self._by_address:
            cid = self._by_address.get(addr.upper())
            if cid is not None:
                return cid
        mfr = adv.mfr
        if mfr:
            # `in` first: most advertisements carry neither frame, and a miss then costs no function call
            if self._has_tokens and self._company_key in mfr:
                tok = token_from_mfr(mfr, self._company_key)
                if tok is not None:
                    cid = self._tokens.lookup(tok, adv.t)
                    if cid is not None:
                        return cid
            if self._ibeacon and _APPLE_KEY in mfr:
                key = ibeacon_key_from_mfr(mfr)
                if key is not None:
                    cid = self._ibeacon.get(key)
                    if cid is not None:
                        return cid
        if self._eddystone and adv.svc_data:
            key = eddystone_uid_key_from_svc(adv.svc_data)
            if key is not None:
                cid = self._eddystone.get(key)
                if cid is not None:
                    return cid
        if self._has_irks and is_resolvable_private(addr):
            # the caches key the address's text: a node or tool writing it in lower case is the same address
            return self._irk.resolve(addr.upper(), adv.t)
        return None

"""Resolving resolvable private addresses against many IRKs, with bounded, expiring caches.

A phone keeps one RPA for minutes and advertises it many times a second, so the pass over all keys (one AES
block per IRK) is paid once per new address: the answer, a customer or "nobody", is cached by address.

The negative cache (address -> nobody) is the only trace a stranger leaves: in memory only, never
persisted, bounded to NEGATIVE_CACHE_MAX entries, and an entry goes away once its address has not been
heard for CACHE_TTL_S of advertisement time (RPAs rotate about every 15 minutes).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from typing import Any

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from gateway.identity.irk import address_parts

CACHE_TTL_S = 1800.0  # twice the usual RPA rotation: a live address is always re-seen well within it
POSITIVE_CACHE_MAX = 20_000  # addresses of customers: a store never holds this many at once
NEGATIVE_CACHE_MAX = 50_000  # strangers' addresses; ~150 bytes each, so at most ~8 MB
# Flood defence. A phone repeats its address many times a second for minutes; a radio neighbour can send
# thousands of fresh random addresses a second, each worth a full pass over the keys. So an address is
# resolved on its second sighting only (one advertisement of latency for a customer), and full passes
# draw on a budget of key trials per second of advertisement time.
FIRST_SIGHTINGS_MAX = 50_000
FIRST_SIGHTING_TTL_S = 60.0  # a second sighting later than this counts as a first one again
KEY_TRIALS_PER_S = 200_000  # ~0.3 µs each here (~1.5 µs on a Pi 4): at most ~30 % of a Pi core
_PAD = bytes(13)


class IrkResolver:
    __slots__ = (
        "_budget",
        "_budget_t",
        "_by_customer",
        "_first",
        "_keys",
        "_neg",
        "_pos",
        "cache_hits",
        "deferred",
        "negative_hits",
        "resolutions",
    )

    def __init__(self) -> None:
        # ECB is stateless per block, so one encryptor per key can be reused: creating one costs ~10 µs,
        # reusing it ~0.3 µs, which is what makes 10,000 keys affordable.
        self._by_customer: dict[str, list[Any]] = {}
        self._keys: list[tuple[str, Any]] = []
        self._pos: OrderedDict[str, tuple[str, float]] = OrderedDict()
        self._neg: OrderedDict[str, float] = OrderedDict()
        self._first: OrderedDict[str, float] = OrderedDict()
        self._budget = float(KEY_TRIALS_PER_S)
        self._budget_t: float | None = None
        self.resolutions = 0  # full passes over the keys
        self.cache_hits = 0
        self.negative_hits = 0
        self.deferred = 0  # sightings not resolved (first sighting, or over budget): flood pressure

    def __len__(self) -> int:
        return len(self._keys)

    @property
    def negative_cache_size(self) -> int:
        return len(self._neg)

    def set_customer(self, customer_id: str, irks: Iterable[bytes]) -> None:
        self.remove(customer_id)
        encs = [Cipher(algorithms.AES(k), modes.ECB()).encryptor() for k in irks]
        if not encs:
            return
        self._by_customer[customer_id] = encs
        self._keys.extend((customer_id, e) for e in encs)
        # An address we called "nobody" may belong to this new key.
        self._neg.clear()

    def remove(self, customer_id: str) -> None:
        if self._by_customer.pop(customer_id, None) is None:
            return
        self._keys = [(c, e) for c, e in self._keys if c != customer_id]
        for addr in [a for a, (c, _) in self._pos.items() if c == customer_id]:
            del self._pos[addr]

    def _spend(self, t: float) -> bool:
        """Takes one full pass worth of key trials from the budget, refilled by advertisement time."""
        if self._budget_t is not None and t > self._budget_t:
            self._budget = min(float(KEY_TRIALS_PER_S), self._budget + (t - self._budget_t) * KEY_TRIALS_PER_S)
        if self._budget_t is None or t > self._budget_t:
            self._budget_t = t
        cost = len(self._keys)
        # With more keys than a second's budget, a full bucket still buys one pass (slower, never stuck).
        if self._budget >= min(cost, KEY_TRIALS_PER_S):
            self._budget -= cost
            return True
        return False

    def _resolve_uncached(self, addr: str) -> str | None:
        parts = address_parts(addr)
        if parts is None:
            return None
        prand, hash_ = parts
        block = _PAD + prand
        self.resolutions += 1
        for cid, enc in self._keys:
            if enc.update(block)[13:] == hash_:
                return cid
        return None

    def resolve(self, addr: str, t: float) -> str | None:
        """The customer whose IRK generated `addr`, or None. `t` is the advert's time (for cache expiry)."""
        pos = self._pos.get(addr)
        if pos is not None:
            if abs(t - pos[1]) <= CACHE_TTL_S:
                self.cache_hits += 1
                self._pos[addr] = (pos[0], t)
                self._pos.move_to_end(addr)
                return pos[0]
            del self._pos[addr]
        seen = self._neg.get(addr)
        if seen is not None:
            if abs(t - seen) <= CACHE_TTL_S:
                self.negative_hits += 1
                self._neg[addr] = t
                self._neg.move_to_end(addr)
                return None
            del self._neg[addr]
        if not self._keys:
            return None
        first = self._first.pop(addr, None)
        if first is None or abs(t - first) > FIRST_SIGHTING_TTL_S or not self._spend(t):
            self.deferred += 1
            _remember(self._first, addr, t if first is None else first, FIRST_SIGHTINGS_MAX, FIRST_SIGHTING_TTL_S)
            return None
        cid = self._resolve_uncached(addr)
        if cid is None:
            _remember(self._neg, addr, t, NEGATIVE_CACHE_MAX)
        else:
            _remember(self._pos, addr, (cid, t), POSITIVE_CACHE_MAX)
        return cid


def _remember(cache: OrderedDict[str, Any], addr: str, value: Any, limit: int, ttl_s: float = CACHE_TTL_S) -> None:
    cache[addr] = value
    # Oldest-seen first: evict beyond the bound, and entries not heard for the TTL.
    t = value[1] if isinstance(value, tuple) else value
    while cache:
        first = next(iter(cache))
        old = cache[first]
        old_t = old[1] if isinstance(old, tuple) else old
        if len(cache) > limit or abs(t - old_t) > ttl_s:
            del cache[first]
        else:
            break

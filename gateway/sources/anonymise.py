"""Replaces advertiser addresses by keyed hashes, for recordings that leave the store (pure).

Each recording gets a fresh random key that is never stored, so the same device keeps one pseudonym
within a recording (tracks stay analysable) while nobody, the recorder included, can map a pseudonym
back to an address or link two recordings.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

KEY_BYTES = 32
STATIC_RANDOM_TOP_BITS = 0xC0  # the two most significant bits 11 mark a static random address
MAX_CACHED = 100_000  # phones rotate addresses: bound the speed-up cache, pseudonyms do not depend on it


def pseudonym(key: bytes, addr: str) -> str:
    """A static-random-looking address derived from HMAC-SHA256(key, address)."""
    digest = bytearray(hmac.new(key, addr.upper().encode(), hashlib.sha256).digest()[:6])
    digest[0] = (digest[0] & 0x3F) | STATIC_RANDOM_TOP_BITS
    return ":".join(f"{b:02X}" for b in digest)


class Anonymiser:
    """`anonymiser(addr) -> pseudonym`, with a key drawn at construction and held only in memory."""

    __slots__ = ("_cache", "_key")

    def __init__(self) -> None:
        self._key = secrets.token_bytes(KEY_BYTES)
        self._cache: dict[str, str] = {}

    def __call__(self, addr: str) -> str:
        out = self._cache.get(addr)
        if out is None:
            out = pseudonym(self._key, addr)
            if len(self._cache) >= MAX_CACHED:
                self._cache.clear()
            self._cache[addr] = out
        return out

    def __repr__(self) -> str:  # never show the key
        return f"Anonymiser({len(self._cache)} addresses)"

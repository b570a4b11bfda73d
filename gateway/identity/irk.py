"""Resolvable private addresses: the ah() function of Bluetooth Core Vol 3 Part H, section 2.2.2 (pure).

Byte order is the specification's: the IRK and prand as written most significant byte first, so the
address AA:BB:CC:DD:EE:FF carries prand AABBCC and hash DDEEFF.
"""

from __future__ import annotations

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

IRK_LEN_BYTES = 16
PRAND_LEN_BYTES = 3
_PAD = bytes(13)
HASH_SPACE = 1 << 24  # an RPA's hash is 24 bits: any address matches a given IRK with probability 1 / HASH_SPACE
# Every iPhone in range of a store advertises on resolvable private addresses, several a visit: thousands of
# strangers' addresses a day. From this many IRKs on, about one a day or more matches a customer by chance.
CHANCE_MATCH_NOTE_IRKS = 1000


def ah(irk: bytes, prand: bytes) -> bytes:
    """ah(k, r) = e(k, r') mod 2^24, with r' = 13 zero bytes || r (e = AES-128)."""
    encryptor = Cipher(algorithms.AES(irk), modes.ECB()).encryptor()
    return (encryptor.update(_PAD + prand) + encryptor.finalize())[-3:]


def make_rpa(irk: bytes, prand: bytes) -> str:
    """A resolvable private address for `irk`; prand's two top bits are forced to 01 as the spec requires."""
    prand = bytes([(prand[0] & 0x3F) | 0x40]) + prand[1:3]
    raw = prand + ah(irk, prand)
    return ":".join(f"{b:02X}" for b in raw)


def address_parts(addr: str) -> tuple[bytes, bytes] | None:
    """(prand, hash) of a textual address, or None if it is not a well-formed address."""
    try:
        raw = bytes.fromhex(addr.replace(":", ""))
    except ValueError:
        return None
    if len(raw) != 6:
        return None
    return raw[:3], raw[3:]


def chance_match_note(irks: int) -> str | None:
    """What a store recognising many customers by IRK should know, or None below CHANCE_MATCH_NOTE_IRKS.

    A resolvable private address is a 24-bit random part and a 24-bit hash of it under the owner's IRK; nothing
    else in it can be checked. A stranger's address therefore resolves under one of n keys with probability
    n / 2^24, and does so for its whole lifetime (minutes), which looks exactly like that customer's visit."""
    if irks < CHANCE_MATCH_NOTE_IRKS:
        return None
    return (
        f"{irks:,} consenting customers are recognised by IRK: an address carries a 24-bit hash, so about one "
        f"stranger's resolvable address in {HASH_SPACE // irks:,} matches one of those keys by chance, and that "
        "stranger is tracked and sent coupons as the customer; the app's rotating token (64 bits) has no such "
        "chance matches (README, Recognition)"
    )

"""Pseudonyms: static-random-looking, stable under one key, unlinkable across keys."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from gateway.sources.anonymise import Anonymiser, pseudonym

addresses = st.binary(min_size=6, max_size=6).map(lambda b: ":".join(f"{x:02X}" for x in b))
keys = st.binary(min_size=32, max_size=32)
STATIC_RANDOM_RE = re.compile(r"^[C-F][0-9A-F](:[0-9A-F]{2}){5}$")


@given(key=keys, addr=addresses)
def test_pseudonym_looks_like_a_static_random_address(key: bytes, addr: str) -> None:
    p = pseudonym(key, addr)
    assert STATIC_RANDOM_RE.match(p)
    assert pseudonym(key, addr.lower()) == p  # case of the reported address does not split a device


@given(key=keys, a=addresses, b=addresses)
def test_distinct_addresses_get_distinct_pseudonyms(key: bytes, a: str, b: str) -> None:
    if a != b:
        assert pseudonym(key, a) != pseudonym(key, b)  # 46 bits of HMAC: a collision here would be news


@given(addr=addresses)
def test_each_anonymiser_has_its_own_key(addr: str) -> None:
    one, two = Anonymiser(), Anonymiser()
    assert one(addr) == one(addr)
    assert one(addr) != two(addr)


def test_the_key_never_shows() -> None:
    a = Anonymiser()
    a("AA:BB:CC:DD:EE:FF")
    assert repr(a) == "Anonymiser(1 addresses)"

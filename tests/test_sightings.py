"""Sightings batches between receivers of one store: round trip, limits, and garbage from the network."""

from __future__ import annotations

import contextlib
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.adverts import Advert, encode_ibeacon
from gateway.sources.sightings import MAX_PAYLOAD_BYTES, SightingsBatcher, SightingsError, decode_batch

BEACON = encode_ibeacon("f7826da6-4fa2-4e98-8024-bc5b71e0893e", 1, 7)


def adv(t: float, rssi: int = -60) -> Advert:
    return Advert(t, "local-name", "AA:BB:CC:DD:EE:FF", rssi, None, None, dict(BEACON))


def test_batches_cut_by_size_and_by_advertisement_time() -> None:
    b = SightingsBatcher("rx-coffee", max_adverts=3, max_age_s=10.0)
    assert b.add(adv(0.0)) is None
    assert b.add(adv(1.0)) is None
    payload = b.add(adv(2.0))
    assert payload is not None and len(b) == 0
    batch = decode_batch(payload, "rx-coffee")
    assert [a.t for a in batch.adverts] == [0.0, 1.0, 2.0]
    assert all(a.rx == "rx-coffee" and a.mfr == BEACON for a in batch.adverts)

    b = SightingsBatcher("rx-coffee", max_adverts=100, max_age_s=0.5)
    assert b.add(adv(10.0)) is None
    assert b.add(adv(10.6)) is not None  # old enough: zones need fresh readings
    assert b.take() is None


def test_the_topic_names_the_receiver_not_the_payload() -> None:
    b = SightingsBatcher("rx-a", max_adverts=1)
    payload = b.add(adv(1.0))
    assert payload is not None
    assert decode_batch(payload, "rx-b").adverts[0].rx == "rx-b"


def test_bad_batches_are_refused_with_a_reason_and_bad_lines_counted() -> None:
    with pytest.raises(SightingsError, match="not valid JSON"):
        decode_batch(b"{", "rx")
    with pytest.raises(SightingsError, match="adverts"):
        decode_batch(b'{"rx": "x"}', "rx")
    with pytest.raises(SightingsError, match="limit"):
        decode_batch(b" " * (MAX_PAYLOAD_BYTES + 1), "rx")
    good = adv(1.0).to_json()
    batch = decode_batch(json.dumps({"adverts": [good, {"t": "x"}, 5]}).encode(), "rx")
    assert len(batch.adverts) == 1 and batch.rejected == 2


@given(st.binary(max_size=300))
def test_decoding_never_fails_otherwise(payload: bytes) -> None:
    with contextlib.suppress(SightingsError):
        decode_batch(payload, "rx")

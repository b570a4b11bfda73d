"""Frame parsers: round trips with the encoders, and garbage from any radio neighbour never raises."""

from __future__ import annotations

import uuid as uuidlib

from hypothesis import given
from hypothesis import strategies as st

from gateway.adverts import (
    Advert,
    eddystone_uid_key_from_svc,
    encode_eddystone_uid,
    encode_ibeacon,
    encode_token_frame,
    ibeacon_key,
    ibeacon_key_from_mfr,
    is_resolvable_private,
    parse_eddystone_uid,
    parse_ibeacon,
    token_from_mfr,
)

hexstr = st.binary(max_size=40).map(bytes.hex)
any_text = st.text(max_size=60)
maps = st.dictionaries(st.one_of(any_text, st.integers().map(str)), st.one_of(hexstr, any_text), max_size=4)


@given(st.uuids(), st.integers(0, 0xFFFF), st.integers(0, 0xFFFF), st.integers(-128, 127))
def test_ibeacon_round_trip(u: uuidlib.UUID, major: int, minor: int, tx: int) -> None:
    mfr = encode_ibeacon(str(u), major, minor, tx)
    beacon = parse_ibeacon(mfr)
    assert beacon is not None
    assert (beacon.uuid, beacon.major, beacon.minor, beacon.tx_power) == (str(u), major, minor, tx)
    assert ibeacon_key_from_mfr(mfr) == beacon.key == ibeacon_key(str(u).upper(), major, minor)


@given(st.binary(min_size=10, max_size=10), st.binary(min_size=6, max_size=6), st.integers(-128, 127))
def test_eddystone_uid_round_trip(ns: bytes, inst: bytes, tx: int) -> None:
    svc = encode_eddystone_uid(ns.hex(), inst.hex(), tx)
    frame = parse_eddystone_uid(svc)
    assert frame is not None
    assert (frame.namespace, frame.instance, frame.tx_power) == (ns.hex(), inst.hex(), tx)
    assert eddystone_uid_key_from_svc(svc) == ns.hex() + inst.hex()


@given(st.binary(min_size=8, max_size=8), st.integers(0, 0xFFFF))
def test_token_frame_round_trip(token: bytes, company: int) -> None:
    mfr = encode_token_frame(token, company)
    assert token_from_mfr(mfr, str(company)) == token.hex()
    other = str((company + 1) % 0x10000)
    assert token_from_mfr(mfr, other) is None


@given(st.binary(max_size=30))
def test_token_frame_of_wrong_length_is_ignored(payload: bytes) -> None:
    mfr = {"65535": payload.hex()}
    got = token_from_mfr(mfr, "65535")
    if len(payload) == 9 and payload[0] == 1:
        assert got == payload[1:].hex()
    else:
        assert got is None


@given(maps, maps)
def test_parsers_never_raise_on_garbage(mfr: dict[str, str], svc: dict[str, str]) -> None:
    mfr["76"] = mfr.get("76", "0215zz")
    parse_ibeacon(mfr)
    ibeacon_key_from_mfr(mfr)
    parse_eddystone_uid(svc)
    eddystone_uid_key_from_svc(svc)
    token_from_mfr(mfr, "65535")


def test_truncated_ibeacon_is_not_a_beacon() -> None:
    full = encode_ibeacon("f7826da6-4fa2-4e98-8024-bc5b71e0893e", 1, 7)["76"]
    assert parse_ibeacon({"76": full[:-2]}) is None
    assert ibeacon_key_from_mfr({"76": full + "00"}) is None
    assert parse_ibeacon({"76": "0215" + "zz" * 21}) is None


@given(st.text(max_size=20))
def test_rpa_check_never_raises(addr: str) -> None:
    is_resolvable_private(addr)


def _rpa_reference(addr: str) -> bool:
    # the check as first written: int() on the top nibble
    if len(addr) != 17:
        return False
    try:
        top = int(addr[0], 16)
    except ValueError:
        return False
    return 4 <= top <= 7


@given(
    st.one_of(
        st.text(min_size=17, max_size=17), st.text(alphabet="0123456789abcdefABCDEF:٤٥߇", min_size=17, max_size=17)
    )
)
def test_rpa_check_answers_as_the_int_parse_did(addr: str) -> None:
    assert is_resolvable_private(addr) == _rpa_reference(addr)
    for c in "0123456789abcdefABCDEFxyz :-٤٥߇":  # every top character, including non-ASCII digits int() reads
        assert is_resolvable_private(c + addr[1:]) == _rpa_reference(c + addr[1:])


def test_rpa_top_bits() -> None:
    assert is_resolvable_private("70:81:94:0D:FB:AA")  # Core spec sample: 0b01...
    assert not is_resolvable_private("C0:11:22:33:44:55")  # static random: 0b11
    assert not is_resolvable_private("30:11:22:33:44:55")  # non-resolvable: 0b00


def test_advert_repr_does_not_leak_the_address() -> None:
    adv = Advert(1.0, "rx", "5A:1B:22:33:44:55", -60)
    assert "5A:1B" not in repr(adv)

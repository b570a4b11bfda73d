"""Customer records: what is accepted, how bad fields are named, and that keys never leak through repr/errors."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from identity_helpers import SAMPLE_IRK_HEX, SECRET_HEX, UUID, record
from pydantic import ValidationError

from gateway.identity.importer import RecordError, parse_record, parse_record_noting
from gateway.identity.models import Customer


def problems_of(rec: Any) -> list[str]:
    with pytest.raises(RecordError) as info:
        parse_record(rec)
    return info.value.problems


def test_full_record_is_normalised() -> None:
    c = parse_record(
        record(
            identifiers=[
                {"kind": "token", "secret": SECRET_HEX.upper()},
                {"kind": "irk", "irk": SAMPLE_IRK_HEX},
                {"kind": "ibeacon", "uuid": UUID.upper(), "major": 1, "minor": 7},
                {"kind": "eddystone_uid", "namespace": "AA" * 10, "instance": "bb" * 6},
                {"kind": "address", "address": "aa:bb:cc:dd:ee:ff"},
            ],
            expires_at="2026-12-31",
            purpose="marketing",
        )
    )
    keys = [i.match_key() for i in c.identifiers]
    assert keys[2] == UUID.replace("-", "") + "00010007"
    assert keys[3] == "aa" * 10 + "bb" * 6
    assert keys[4] == "AA:BB:CC:DD:EE:FF"
    assert c.expires_at == datetime(2026, 12, 31, tzinfo=UTC).timestamp()
    assert c.segments == frozenset({"coffee"})


@pytest.mark.parametrize(
    ("ident", "expected"),
    [
        ({"kind": "token", "secret": "ab" * 15}, "identifiers[0].secret: must be 16..32 bytes"),
        ({"kind": "token", "secret": "ab" * 33}, "identifiers[0].secret: must be 16..32 bytes"),
        ({"kind": "token", "secret": "zz" * 16}, "identifiers[0].secret: is not valid hex"),
        ({"kind": "irk", "irk": "ab" * 15}, "identifiers[0].irk: must be 16 bytes"),
        ({"kind": "ibeacon", "uuid": "not-a-uuid", "major": 1, "minor": 2}, "identifiers[0].uuid: is not a valid UUID"),
        ({"kind": "ibeacon", "uuid": UUID, "major": 70000, "minor": 2}, "identifiers[0].major:"),
        (
            {"kind": "eddystone_uid", "namespace": "ab" * 9, "instance": "cd" * 6},
            "identifiers[0].namespace: must be 10",
        ),
        ({"kind": "eddystone_uid", "namespace": "ab" * 10, "instance": "cd" * 5}, "identifiers[0].instance: must be 6"),
        ({"kind": "address", "address": "AA:BB:CC:DD:EE"}, "identifiers[0].address: must look like"),
        ({"kind": "bluetooth"}, "identifiers[0].kind: unknown kind"),
        ({"secret": SECRET_HEX}, "identifiers[0].kind: missing"),
    ],
)
def test_bad_identifier_is_named_by_field(ident: dict[str, Any], expected: str) -> None:
    problems = problems_of(record(identifiers=[ident]))
    assert any(p.startswith(expected) for p in problems), problems


def test_a_key_an_identifier_kind_does_not_have_is_ignored_and_named() -> None:
    """A CRM export's device label beside a token rejected the whole customer (a SPEC sweep), where a key the record
    does not have is ignored and named: the opted-in customer got nothing."""
    extra_key = {"kind": "token", "secret": SECRET_HEX, "label": "iphone"}
    customer, ignored = parse_record_noting(record(identifiers=[extra_key], email="a@example.com"))
    assert [i.kind for i in customer.identifiers] == ["token"]
    assert ignored == ["email", "identifiers[0].label"]
    # what the identifier must have is still checked
    assert any(
        p.startswith("identifiers[0].secret: missing")
        for p in problems_of(record(identifiers=[{"kind": "token", "label": "x"}]))
    )


@pytest.mark.parametrize(
    ("rec", "expected"),
    [
        ({"consent": True}, "customer_id: missing"),
        ({"customer_id": "a b", "consent": True}, "customer_id: must be"),
        ({"customer_id": "c", "consent": "yes"}, "consent: must be true or false"),
        ({"customer_id": "c", "consent": True, "segments": "coffee"}, "segments: must be a list"),
        ({"customer_id": "c", "consent": True, "expires_at": "next tuesday"}, "expires_at: must be epoch seconds"),
        ([1, 2], "(record): must be a JSON object"),
        # `customers list` printed these as they were: an escape sequence rewrote the staff's terminal
        ({"customer_id": "c", "consent": True, "segments": ["\x1b[2Kfake line"]}, "segments: names of at most"),
        ({"customer_id": "c", "consent": True, "purpose": "\x1b[5mblink"}, "purpose: must hold no control"),
        ({"customer_id": "c", "consent": True, "segments": [f"s{i}" for i in range(65)]}, "segments: 65 names"),
    ],
)
def test_bad_record_fields(rec: Any, expected: str) -> None:
    assert any(p.startswith(expected) for p in problems_of(rec))


def test_one_customer_holds_at_most_32_identifiers() -> None:
    """A consent message anyone with the topic's rights can send: 400,000 identifiers cost the daemon half a
    minute of its event loop (a security sweep)."""
    many = [{"kind": "address", "address": f"C0:00:00:00:{i >> 8:02X}:{i & 255:02X}"} for i in range(33)]
    assert "identifiers: 33 given: at most 32 per customer" in problems_of(record(identifiers=many))
    assert len(parse_record(record(identifiers=many[:32])).identifiers) == 32


def test_expiry_at_advert_time() -> None:
    c = parse_record(record(expires_at=1000.0))
    assert c.consents_at(999.9)
    assert not c.consents_at(1000.0)
    assert not parse_record(record(consent=False)).consents_at(0.0)


def test_repr_and_errors_hide_keys() -> None:
    c = parse_record(
        record(identifiers=[{"kind": "token", "secret": SECRET_HEX}, {"kind": "irk", "irk": SAMPLE_IRK_HEX}])
    )
    for text in (repr(c), str(c), str(c.public_view())):
        assert SECRET_HEX not in text
        assert SAMPLE_IRK_HEX not in text
    short = "ab" * 15  # rejected: the message must not echo it
    for bad in ({"kind": "token", "secret": short}, {"kind": "irk", "irk": short}):
        assert all(short not in p for p in problems_of(record(identifiers=[bad])))


def test_models_are_immutable() -> None:
    c = parse_record(record())
    with pytest.raises(ValidationError):
        c.consent = False  # type: ignore[misc]
    assert isinstance(c, Customer)

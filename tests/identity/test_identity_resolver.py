"""Recognition: each identifier kind, consent expiry at the advert's time, immediate removal, caches."""

from __future__ import annotations

import logging

import pytest
from identity_helpers import SAMPLE_IRK_HEX, SAMPLE_RPA, SECRET_HEX, T0, UUID, customer

from gateway.adverts import Advert, encode_eddystone_uid, encode_ibeacon, encode_token_frame
from gateway.identity import irk_resolver
from gateway.identity.irk import ah, make_rpa
from gateway.identity.resolver import Resolver
from gateway.identity.tokens import TOKEN_WINDOW_S, token_for, window_of

STRANGER = "D2:00:00:00:00:01"  # static random (top bits 11): never sent to the IRK path


def adv(addr: str = STRANGER, t: float = T0, **kw: object) -> Advert:
    return Advert(t, "rx-1", addr, -60, **kw)  # type: ignore[arg-type]


def seen(r: Resolver, a: Advert) -> str | None:
    """An RPA is resolved on its second sighting (flood defence): the first one is deferred, never wrong."""
    first = r.match(a)
    second = r.match(a)
    assert first in (None, second)
    return second


def token_adv(secret_hex: str, window: int, t: float = T0, company: int = 0xFFFF) -> Advert:
    return adv(t=t, mfr=encode_token_frame(token_for(bytes.fromhex(secret_hex), window), company))


def everything() -> Resolver:
    c = customer(
        "c1",
        segments=["coffee", "gold"],
        identifiers=[
            {"kind": "token", "secret": SECRET_HEX},
            {"kind": "irk", "irk": SAMPLE_IRK_HEX},
            {"kind": "ibeacon", "uuid": UUID, "major": 1, "minor": 7},
            {"kind": "eddystone_uid", "namespace": "aa" * 10, "instance": "bb" * 6},
            {"kind": "address", "address": "00:11:22:33:44:55"},
        ],
    )
    return Resolver([c, customer("c2")])


def test_spec_sample_irk() -> None:
    assert ah(bytes.fromhex(SAMPLE_IRK_HEX), bytes.fromhex("708194")).hex() == "0dfbaa"
    assert seen(everything(), adv(SAMPLE_RPA)) == "c1"


def test_every_identifier_kind_maps_to_its_customer() -> None:
    r = everything()
    w = window_of(T0)
    assert r.match(token_adv(SECRET_HEX, w)) == "c1"
    assert r.match(adv(mfr=encode_ibeacon(UUID, 1, 7))) == "c1"
    assert r.match(adv(svc_data=encode_eddystone_uid("aa" * 10, "bb" * 6))) == "c1"
    assert r.match(adv("00:11:22:33:44:55")) == "c1"
    assert r.match(adv("00:11:22:33:44:55".lower())) == "c1"
    assert seen(r, adv(SAMPLE_RPA)) == "c1"
    assert r.segments("c1") == {"coffee", "gold"}
    assert r.segments("nobody") == frozenset()


def test_near_misses_are_strangers() -> None:
    r = everything()
    w = window_of(T0)
    assert r.match(adv(mfr=encode_ibeacon(UUID, 1, 8))) is None
    assert r.match(adv(svc_data=encode_eddystone_uid("aa" * 10, "bb" * 5 + "bc"))) is None
    assert r.match(adv("00:11:22:33:44:56")) is None
    assert r.match(adv("70:81:94:0D:FB:AB")) is None  # right prand, wrong hash
    assert r.match(token_adv(SECRET_HEX, w, company=0x004C)) is None  # token frame under another company
    assert r.match(token_adv("00" * 16, w)) is None
    stats = r.stats
    assert stats.matched == 0 and stats.dropped == stats.adverts == 6


def test_token_company_id_is_configurable() -> None:
    r = Resolver([customer("c1", identifiers=[{"kind": "token", "secret": SECRET_HEX}])], token_company_id=0x0ABC)
    w = window_of(T0)
    assert r.match(token_adv(SECRET_HEX, w, company=0x0ABC)) == "c1"
    assert r.match(token_adv(SECRET_HEX, w)) is None


@pytest.mark.parametrize(("offset", "expected"), [(-2, None), (-1, "c1"), (0, "c1"), (1, "c1"), (2, None)])
def test_token_window_tolerance(offset: int, expected: str | None) -> None:
    r = everything()
    w = window_of(T0)
    assert r.match(token_adv(SECRET_HEX, w + offset)) == expected


def test_token_table_follows_the_adverts_clock_not_the_wall_clock() -> None:
    r = everything()
    day_later = T0 + 86_400
    w = window_of(day_later)
    assert r.match(token_adv(SECRET_HEX, w, t=day_later)) == "c1"
    assert r.match(token_adv(SECRET_HEX, window_of(T0), t=day_later)) is None
    # Adverts from two receivers interleave around a window boundary: both sides keep matching.
    boundary = (w + 1) * TOKEN_WINDOW_S
    for t in (boundary - 0.5, boundary + 0.5, boundary - 0.4, boundary + 0.6):
        assert r.match(token_adv(SECRET_HEX, window_of(t), t=t)) == "c1"
    assert r.stats.token_table_rebuilds <= 3


def test_consent_expiry_is_checked_at_the_adverts_time() -> None:
    r = Resolver(
        [customer("c1", expires_at=T0 + 10, identifiers=[{"kind": "address", "address": "00:11:22:33:44:55"}])]
    )
    assert r.match(adv("00:11:22:33:44:55", t=T0 + 9.9)) == "c1"
    assert r.match(adv("00:11:22:33:44:55", t=T0 + 10)) is None
    assert r.stats.expired == 1


def test_the_customers_whose_consent_has_ended_are_named_at_the_same_moment_it_ends() -> None:
    addr = {"kind": "address", "address": "00:11:22:33:44:55"}
    r = Resolver([customer("c1", expires_at=T0 + 10, identifiers=[addr]), customer("c2", identifiers=[])])
    assert r.expired(T0 + 9.9) == []
    assert r.expired(T0 + 10) == ["c1"]  # the same instant match() stops recognising them
    r.remove("c1")
    assert r.expired(T0 + 10) == []


def test_non_consenting_customers_are_not_recognised() -> None:
    r = Resolver([customer("c1", consent=False, identifiers=[{"kind": "address", "address": "00:11:22:33:44:55"}])])
    assert r.match(adv("00:11:22:33:44:55")) is None
    assert len(r) == 0


def test_remove_is_immediate_for_every_kind_and_cache() -> None:
    r = everything()
    w = window_of(T0)
    assert seen(r, adv(SAMPLE_RPA)) == "c1"  # now in the positive cache
    assert r.match(token_adv(SECRET_HEX, w)) == "c1"  # token table built
    r.remove("c1")
    assert r.match(adv(SAMPLE_RPA)) is None
    assert r.match(token_adv(SECRET_HEX, w)) is None
    assert r.match(adv(mfr=encode_ibeacon(UUID, 1, 7))) is None
    assert r.match(adv(svc_data=encode_eddystone_uid("aa" * 10, "bb" * 6))) is None
    assert r.match(adv("00:11:22:33:44:55")) is None
    assert r.segments("c1") == frozenset()
    assert r.customer_ids() == ["c2"]


def test_upsert_replaces_identifiers_and_new_irk_beats_negative_cache() -> None:
    r = Resolver([customer("c2")])
    irk = bytes(range(16))
    rpa = make_rpa(irk, b"\x11\x22\x33")
    assert seen(r, adv(rpa)) is None  # remembered as nobody
    r.upsert(customer("c1", identifiers=[{"kind": "irk", "irk": irk.hex()}]))
    assert seen(r, adv(rpa)) == "c1"
    r.upsert(customer("c1", identifiers=[{"kind": "address", "address": "00:11:22:33:44:55"}]))
    assert r.match(adv(rpa)) is None
    assert r.match(adv("00:11:22:33:44:55")) == "c1"
    r.upsert(customer("c1", consent=False))
    assert r.match(adv("00:11:22:33:44:55")) is None


def test_irk_pass_is_paid_once_per_address() -> None:
    r = Resolver([customer(f"c{i}", identifiers=[{"kind": "irk", "irk": f"{i:032x}"}]) for i in range(50)])
    rpa = make_rpa(bytes.fromhex(f"{7:032x}"), b"\x01\x02\x03")
    stranger = make_rpa(bytes(range(1, 17)), b"\x01\x02\x03")
    assert r.match(adv(rpa)) is None  # first sightings wait for a second one
    assert r.match(adv(stranger)) is None
    for _ in range(10):
        assert r.match(adv(rpa)) == "c7"
        assert r.match(adv(stranger)) is None
    s = r.stats
    assert s.irk_resolutions == 2
    assert s.irk_cache_hits == 9 and s.irk_negative_hits == 9


def test_an_address_written_in_lower_case_is_the_same_address_to_the_irk_caches() -> None:
    """bleak writes addresses in upper case; a node or another tool may write lower case. The caches keyed the
    text, so the same address in the other case was a new first sighting (one more advert lost) and one more pass
    over every key."""
    r = Resolver([customer("c1", identifiers=[{"kind": "irk", "irk": SAMPLE_IRK_HEX}])])
    assert r.match(adv(SAMPLE_RPA.upper())) is None  # a first sighting waits for a second one
    assert r.match(adv(SAMPLE_RPA.lower(), t=T0 + 1)) == "c1"
    assert r.match(adv(SAMPLE_RPA.upper(), t=T0 + 2)) == "c1"
    assert r.stats.irk_resolutions == 1


def test_negative_cache_is_bounded_and_expires(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(irk_resolver, "NEGATIVE_CACHE_MAX", 100)
    r = Resolver([customer("c1", identifiers=[{"kind": "irk", "irk": SAMPLE_IRK_HEX}])])
    for i in range(500):
        seen(r, adv(f"5A:00:00:00:{i // 256:02X}:{i % 256:02X}", t=T0 + i * 0.01))
    assert r._irk.negative_cache_size == 100
    # Long after, one new stranger: everything not heard for the TTL is gone.
    seen(r, adv("5B:00:00:00:00:00", t=T0 + irk_resolver.CACHE_TTL_S + 100))
    assert r._irk.negative_cache_size == 1


def test_stats_and_logs_carry_no_identifiers(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    r = everything()
    r.match(adv(SAMPLE_RPA))
    r.match(adv("7A:BB:CC:DD:EE:FF"))
    text = str(r.stats.as_dict()) + caplog.text + repr(r.stats)
    for needle in ("7A:BB:CC", SAMPLE_RPA, "c1", SECRET_HEX, SAMPLE_IRK_HEX):
        assert needle not in text


@pytest.mark.parametrize(
    "kw",
    [
        {"mfr": {"65535": "01" + "ab" * 7}},  # token frame one byte short
        {"mfr": {"65535": "01" + "ab" * 9}},  # one byte long
        {"mfr": {"65535": "02" + "ab" * 8}},  # another frame type
        {"mfr": {"65535": "zz" * 9}},  # not hex
        {"mfr": {"76": "0215" + "f7826da6"}},  # truncated iBeacon
        {"mfr": {"76": "0215" + "ab" * 200}},  # oversized
        {"svc_data": {"0000feaa-0000-1000-8000-00805f9b34fb": "00"}},  # truncated Eddystone
        {"svc_data": {"0000feaa-0000-1000-8000-00805f9b34fb": "not hex at all, long enough to slice" * 2}},
        {"svc_data": {"garbage": "%%%"}},
    ],
)
def test_malformed_radio_input_is_ignored(kw: dict[str, dict[str, str]]) -> None:
    r = everything()
    assert r.match(adv(**kw)) is None
    assert r.match(adv("5A:BC", **kw)) is None  # and a truncated address


def test_reupserting_an_unchanged_customer_keeps_caches() -> None:
    """The daemon may re-apply every consenting customer after a registry change: that must stay cheap."""
    c = customer("c1", identifiers=[{"kind": "irk", "irk": SAMPLE_IRK_HEX}])
    r = Resolver([c])
    seen(r, adv("7A:BB:CC:DD:EE:FF"))
    r.upsert(customer("c1", identifiers=[{"kind": "irk", "irk": SAMPLE_IRK_HEX}]))
    r.match(adv("7A:BB:CC:DD:EE:FF"))
    assert r.stats.irk_resolutions == 1
    r.upsert(customer("c1", segments=["new"], identifiers=[{"kind": "irk", "irk": SAMPLE_IRK_HEX}]))
    assert r.segments("c1") == {"new"}
    seen(r, adv("7A:BB:CC:DD:EE:FF"))
    assert r.stats.irk_resolutions == 2, "a changed IRK customer may own remembered strangers' addresses"


def test_only_the_configured_purposes_are_recognised() -> None:
    ident = [{"kind": "address", "address": "00:11:22:33:44:55"}]
    analytics = customer("c1", purpose="analytics", identifiers=ident)
    r = Resolver([analytics], purposes=["marketing"])
    assert r.match(adv("00:11:22:33:44:55")) is None
    r.upsert(customer("c1", purpose="marketing", identifiers=ident))
    assert r.match(adv("00:11:22:33:44:55")) == "c1"
    assert Resolver([analytics]).match(adv("00:11:22:33:44:55")) == "c1", "no filter by default"


def test_a_flood_of_fresh_addresses_costs_no_key_passes_and_bounded_memory() -> None:
    """Nothing a radio neighbour transmits may stop or slow the pipeline: 10,000 new RPAs a second."""
    keys = [customer(f"c{i}", identifiers=[{"kind": "irk", "irk": f"{i + 1:032x}"}]) for i in range(2000)]
    r = Resolver(keys)
    customer_rpa = make_rpa(bytes.fromhex(f"{8:032x}"), b"\x0a\x0b\x0c")
    found_at = None
    for i in range(120_000):  # 12 s of advertisement time
        t = T0 + i / 10_000
        raw = (i * 2654435761) & 0xFFFFFF
        r.match(adv(f"5{raw >> 20 & 15:X}:{raw >> 12 & 255:02X}:{raw >> 4 & 255:02X}:AA:BB:{i & 255:02X}", t=t))
        if i % 1000 == 0 and found_at is None and r.match(adv(customer_rpa, t=t)) == "c7":
            found_at = t
    assert r.stats.irk_resolutions <= 2  # single-shot addresses never pay a pass over 2,000 keys
    assert found_at is not None and found_at - T0 < 1.0  # the customer who repeats is still recognised
    assert len(r._irk._first) <= irk_resolver.FIRST_SIGHTINGS_MAX


def test_repeating_floods_are_capped_by_the_key_trial_budget() -> None:
    keys = [customer(f"c{i}", identifiers=[{"kind": "irk", "irk": f"{i + 1:032x}"}]) for i in range(10_000)]
    r = Resolver(keys)
    for i in range(2000):  # every address sent twice, 1,000 new addresses per second
        a = adv(f"6A:00:00:00:{i >> 8:02X}:{i & 255:02X}", t=T0 + i / 1000)
        r.match(a)
        r.match(a)
    # 2 s of advertisement time buy at most 3 seconds' worth of trials (one burst + refills)
    assert r.stats.irk_resolutions * 10_000 <= 3 * irk_resolver.KEY_TRIALS_PER_S

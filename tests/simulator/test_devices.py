"""Customers' devices carry exactly the identifiers of the customers file; strangers carry none of them."""

from __future__ import annotations

import json
import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.adverts import eddystone_uid_key_from_svc, ibeacon_key, ibeacon_key_from_mfr, is_resolvable_private
from gateway.identity.irk import address_parts, ah
from gateway.identity.tokens import token_for, window_of
from gateway.sources.recording import read_recording
from simulator.devices import Frames, token_payload
from simulator.generate import GenerateResult


def _identifier_hits(customers: list[dict], adverts: list) -> dict[str, int]:
    tokens = {a.mfr["65535"][2:] for a in adverts if "65535" in a.mfr}
    windows = {window_of(a.t) for a in adverts}
    ibeacons = {k for a in adverts if (k := ibeacon_key_from_mfr(a.mfr))}
    eddystones = {k for a in adverts if (k := eddystone_uid_key_from_svc(a.svc_data))}
    addrs = {a.addr for a in adverts}
    rpas = [p for a in addrs if is_resolvable_private(a) and (p := address_parts(a))]
    hits: dict[str, int] = {}
    for c in customers:
        n = 0
        for ident in c["identifiers"]:
            kind = ident["kind"]
            if kind == "token":
                secret = bytes.fromhex(ident["secret"])
                n += sum(token_for(secret, w).hex() in tokens for w in windows)
            elif kind == "irk":
                irk = bytes.fromhex(ident["irk"])
                n += sum(ah(irk, prand) == h for prand, h in rpas)
            elif kind == "ibeacon":
                n += ibeacon_key(ident["uuid"], ident["major"], ident["minor"]) in ibeacons
            elif kind == "eddystone_uid":
                n += (ident["namespace"] + ident["instance"]) in eddystones
            else:
                n += ident["address"] in addrs
        hits[c["customer_id"]] = n
    return hits


def test_every_customer_device_decodes_to_its_identifiers(small_day: GenerateResult) -> None:
    customers = [json.loads(x) for x in small_day.customers.read_text().splitlines()]
    _, adverts, _ = read_recording(small_day.scans)
    hits = _identifier_hits(customers, adverts)
    heard = [cid for cid, n in hits.items() if n > 0]
    assert len(heard) >= 0.8 * len(customers), hits
    assert all(len(c["identifiers"]) >= 1 for c in customers)


def test_customers_file_fields_and_a_mix_of_identifier_kinds(tmp_path) -> None:
    from simulator.generate import generate_day

    res = generate_day(
        tmp_path, shoppers=40, strangers=0, duration_s=60, seed=3, progress=False, plot=False, fit_zones=False
    )
    customers = [json.loads(x) for x in res.customers.read_text().splitlines()]
    assert len({c["customer_id"] for c in customers}) == 40
    kinds = {i["kind"] for c in customers for i in c["identifiers"]}
    assert kinds == {"token", "irk", "ibeacon", "eddystone_uid", "address"}
    assert any(not c["consent"] for c in customers) and any(c["consent"] for c in customers)
    for c in customers:
        assert set(c) >= {"customer_id", "consent", "segments", "identifiers"}
        for i in c["identifiers"]:
            if i["kind"] == "token":
                assert 16 <= len(bytes.fromhex(i["secret"])) <= 32
            if i["kind"] == "irk":
                assert len(i["irk"]) == 32


def test_customers_file_imports_with_the_gateway_parser(small_day: GenerateResult) -> None:
    from gateway.identity.importer import read_customers_file

    report = read_customers_file(small_day.customers)
    assert not report.problems
    assert len(report.customers) == len(small_day.customers.read_text().splitlines())


@settings(max_examples=50, deadline=None)
@given(secret=st.binary(min_size=16, max_size=32), t=st.floats(1.7e9, 1.8e9), key=st.binary(min_size=16, max_size=16))
def test_token_frames_carry_the_current_window_token(secret: bytes, t: float, key: bytes) -> None:
    frames = Frames(key, "rpa", 900.0, 0.0, token_payload(secret), token_windows=True)
    frames.plan(t - 1000, t + 1000)
    code = int(frames.codes(np.array([t]))[0])
    addr, rest = frames.render(code, t)
    fields = json.loads("{" + rest[1:])
    assert fields["mfr"] == {"65535": "01" + token_for(secret, math.floor(t / 300)).hex()}
    assert is_resolvable_private(addr)


@settings(max_examples=50, deadline=None)
@given(irk=st.binary(min_size=16, max_size=16), t=st.floats(1.7e9, 1.8e9), key=st.binary(min_size=16, max_size=16))
def test_irk_devices_rotate_addresses_that_resolve_with_their_irk(irk: bytes, t: float, key: bytes) -> None:
    frames = Frames(key, "irk", 900.0, 17.0, lambda _e, _t: {}, irk=irk)
    frames.plan(t, t + 3600)
    times = np.array([t, t + 1000.0])
    codes = frames.codes(times)
    addrs = [frames.render(int(c), float(x))[0] for c, x in zip(codes, times, strict=True)]
    assert addrs[0] != addrs[1], "the address rotates within ~15 minutes"
    for a in addrs:
        parts = address_parts(a)
        assert parts is not None and is_resolvable_private(a)
        assert ah(irk, parts[0]) == parts[1]

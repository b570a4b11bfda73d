"""Whatever a backend reports, the conversion yields a valid recording line that keeps every byte."""

from __future__ import annotations

import json

from bleak.backends.device import BLEDevice
from hypothesis import given
from hypothesis import strategies as st

from gateway.sources.bleak_convert import advert_from_bleak, advertisement_data
from gateway.sources.recording import advert_from_json

addresses = st.binary(min_size=6, max_size=6).map(lambda b: ":".join(f"{x:02X}" for x in b))
uuid128 = st.uuids().map(str)
payloads = st.binary(max_size=31)


@given(
    addr=addresses,
    rssi=st.integers(min_value=-300, max_value=300),
    mfr=st.dictionaries(st.integers(min_value=0, max_value=0xFFFF), payloads, max_size=3),
    svc=st.dictionaries(uuid128, payloads, max_size=3),
    name=st.none() | st.text(max_size=20),
    tx=st.none() | st.integers(min_value=-127, max_value=20),
    t=st.floats(min_value=0, max_value=4e9, allow_nan=False),
)
def test_conversion_is_a_valid_lossless_recording_line(
    addr: str, rssi: int, mfr: dict[int, bytes], svc: dict[str, bytes], name: str | None, tx: int | None, t: float
) -> None:
    data = advertisement_data(rssi=rssi, mfr=mfr, svc_data=svc, name=name, tx_power=tx)
    adv = advert_from_bleak(BLEDevice(addr, name, None), data, t, "rx-1")

    line = json.loads(json.dumps(adv.to_json()))
    back = advert_from_json(line)
    assert not isinstance(back, str), back
    assert back == adv
    assert {int(k): bytes.fromhex(v) for k, v in adv.mfr.items()} == mfr
    assert {k: bytes.fromhex(v) for k, v in adv.svc_data.items()} == {k.lower(): v for k, v in svc.items()}
    assert all(v == v.lower() for v in [*adv.mfr.values(), *adv.svc_data.values()])
    assert adv.rssi == (rssi if -127 <= rssi <= 20 else -127)
    assert adv.addr == addr and adv.t == t and adv.rx == "rx-1"


@given(short=st.integers(min_value=0, max_value=0xFFFF))
def test_16_bit_service_uuids_become_128_bit(short: int) -> None:
    data = advertisement_data(svc_data={f"{short:04x}": b"\x01"}, svc_uuids=[f"{short:04x}"])
    adv = advert_from_bleak(BLEDevice("AA:BB:CC:DD:EE:FF", None, None), data, 1.0, "rx")
    expected = f"0000{short:04x}-0000-1000-8000-00805f9b34fb"
    assert adv.svc_data == {expected: "01"}
    assert adv.svc_uuids == [expected]

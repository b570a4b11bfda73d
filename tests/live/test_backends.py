"""The recording-playing backend and backend loading, through bleak's BleakScanner."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from bleak.backends.device import BLEDevice
from hypothesis import given
from hypothesis import strategies as st

from gateway.adverts import Advert, encode_eddystone_uid, encode_ibeacon, encode_token_frame
from gateway.config import ScannerSettings
from gateway.sources.bleak_convert import advert_from_bleak, advertisement_data_from_advert
from gateway.sources.live import LiveSource, load_backend
from gateway.sources.recording import Header, RecordingWriter
from gateway.sources.scripted_backend import RecordingScanner, ScriptedScanner

T0 = 1_732_450_000.0


def recorded() -> list[Advert]:
    return [
        Advert(
            T0,
            "rx-a",
            "C0:11:22:33:44:55",
            -61,
            None,
            None,
            encode_ibeacon("f7826da6-4fa2-4e98-8024-bc5b71e0893e", 1, 7),
        ),
        Advert(T0 + 0.05, "rx-a", "5A:1B:22:33:44:55", -70, None, "phone", encode_token_frame(bytes(8))),
        Advert(T0 + 0.1, "rx-a", "D0:00:00:00:00:01", -80, -4, None, {}, encode_eddystone_uid("00" * 10, "11" * 6), []),
    ]


@given(
    rssi=st.integers(min_value=-127, max_value=20),
    mfr=st.dictionaries(st.integers(0, 0xFFFF).map(str), st.binary(max_size=27).map(bytes.hex), max_size=2),
)
def test_advert_to_bleak_and_back_is_identity(rssi: int, mfr: dict[str, str]) -> None:
    adv = Advert(T0, "rx", "AA:BB:CC:DD:EE:FF", rssi, None, None, mfr)
    data = advertisement_data_from_advert(adv)
    assert advert_from_bleak(BLEDevice(adv.addr, None, None), data, T0, "rx") == adv


async def test_a_recording_plays_through_bleak_into_the_live_source(tmp_path: Path) -> None:
    path = tmp_path / "scans.jsonl"
    with RecordingWriter(path, Header(source="test")) as w:
        for adv in recorded():
            w.write(adv)
    got: list[Advert] = []
    clock = iter([T0 + 100 + i for i in range(100)])
    source = LiveSource(
        ScannerSettings(),
        got.append,
        backend=RecordingScanner,
        backend_kwargs={"recording": path, "speed": 10.0},
        clock=lambda: next(clock),
        rx_name="gw-1",
    )
    task = asyncio.create_task(source.run())
    for _ in range(200):
        if len(got) == 3:
            break
        await asyncio.sleep(0.01)
    await source.stop()
    await task
    expected = recorded()
    for i, adv in enumerate(expected):  # the radio stamps its own time and receiver name
        adv.t, adv.rx = T0 + 100 + i, "gw-1"
    assert got == expected


def test_load_backend_finds_our_backends_and_refuses_others() -> None:
    assert load_backend("gateway.sources.scripted_backend:ScriptedScanner") is ScriptedScanner
    for bad, words in [
        ("gateway.sources.scripted_backend", "module:Class"),
        ("no.such.module:X", "cannot import"),
        ("gateway.sources.scripted_backend:Script", "not a bleak BaseBleakScanner"),
    ]:
        with pytest.raises(ValueError, match=words):
            load_backend(bad)

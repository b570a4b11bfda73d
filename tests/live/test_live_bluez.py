"""The production path end to end: LiveSource -> bleak's real BlueZ backend -> D-Bus -> a fake org.bluez.

bleak calls SetDiscoveryFilter/StartDiscovery on the fake adapter and turns InterfacesAdded and RSSI
PropertiesChanged signals into callbacks, exactly as with bluetoothd.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from gateway.adverts import Advert, encode_ibeacon
from gateway.config import ScannerSettings
from gateway.sources.live import LiveSource
from live.fake_bluez import FakeBlueZ

UUID = "f7826da6-4fa2-4e98-8024-bc5b71e0893e"
ADDR = "C0:11:22:33:44:55"
WAIT_S = 5.0


async def until(cond: Callable[[], bool], what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT_S
    while not cond():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


@pytest.fixture
def system_bus(private_system_bus: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in private_system_bus.items():
        monkeypatch.setenv(key, value)


@pytest.mark.usefixtures("system_bus")
async def test_scanning_through_bluez_survives_in_progress_and_reports_rssi_updates() -> None:
    bluez = FakeBlueZ(start_errors=["org.bluez.Error.InProgress"])
    await bluez.start()
    got: list[Advert] = []
    started: list[bool] = []
    source = LiveSource(
        ScannerSettings(restart_backoff_max_s=0.05),
        got.append,
        rx_name="gw-1",
        clock=lambda: 1_732_450_000.0,
        on_started=lambda: started.append(True),
        backoff_initial_s=0.01,
    )
    task = asyncio.create_task(source.run())
    try:
        await until(lambda: source.state == "scanning", "scanning")
        assert source.failed_starts == 1 and source.restarts == 1 and started == [True]
        assert bluez.discovering

        mfr = {int(k): bytes.fromhex(v) for k, v in encode_ibeacon(UUID, 1, 7).items()}
        device = bluez.add_device(ADDR, -60, mfr)
        await until(lambda: len(got) >= 1, "the device to be reported")
        device.set_rssi(-72)
        await until(lambda: any(a.rssi == -72 for a in got), "the RSSI update")
    finally:
        await source.stop()
        await task
        bluez.stop()

    first = got[0]
    assert first.to_json() == {
        "t": 1_732_450_000.0,
        "rx": "gw-1",
        "addr": ADDR,
        "rssi": -60,
        "tx_power": None,
        "name": None,  # BlueZ's address-derived alias is not a name
        "mfr": encode_ibeacon(UUID, 1, 7),
        "svc_data": {},
        "svc_uuids": [],
    }
    assert bluez.calls[:3] == ["SetDiscoveryFilter", "StartDiscovery", "SetDiscoveryFilter"]
    assert "StopDiscovery" in bluez.calls
    assert not bluez.discovering


@pytest.mark.usefixtures("system_bus")
async def test_no_adapter_is_reported_and_retried() -> None:
    bluez = FakeBlueZ(adapters=())
    await bluez.start()
    source = LiveSource(ScannerSettings(restart_backoff_max_s=0.05), lambda a: None, backoff_initial_s=0.01)
    task = asyncio.create_task(source.run())
    try:
        await until(lambda: source.failed_starts >= 2, "two failed starts")
        assert source.last_error == "no Bluetooth adapter found"
        assert source.state in ("backoff", "starting")
    finally:
        await source.stop()
        await task
        bluez.stop()


@pytest.mark.usefixtures("system_bus")
async def test_passive_mode_on_a_bluez_without_experimental_says_so() -> None:
    bluez = FakeBlueZ()  # exports no AdvertisementMonitorManager1, like bluetoothd without --experimental
    await bluez.start()
    source = LiveSource(
        ScannerSettings(mode="passive", restart_backoff_max_s=0.05), lambda a: None, backoff_initial_s=0.01
    )
    task = asyncio.create_task(source.run())
    try:
        await until(lambda: source.failed_starts >= 1, "a failed start")
        assert source.last_error is not None and "--experimental" in source.last_error
    finally:
        await source.stop()
        await task
        bluez.stop()

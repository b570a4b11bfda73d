"""`check_bluetooth_available` names the first missing piece: bus socket, BlueZ, adapter."""

from __future__ import annotations

from pathlib import Path

import pytest
from bleak.exc import BleakBluetoothNotAvailableError, BleakBluetoothNotAvailableReason, BleakDBusError, BleakError

from gateway.sources.bluez_errors import check_bluetooth_available, describe_scan_error, system_bus_socket
from live.fake_bluez import start_fake_bluez


def test_missing_bus_socket_is_named(tmp_path: Path) -> None:
    sock = tmp_path / "nothing-here"
    problem = check_bluetooth_available(environ={"DBUS_SYSTEM_BUS_ADDRESS": f"unix:path={sock}"})
    assert problem is not None
    assert str(sock) in problem and "D-Bus" in problem and "\n" not in problem


def test_default_socket_path_when_no_address_is_set() -> None:
    assert system_bus_socket({}) == Path("/run/dbus/system_bus_socket")
    assert system_bus_socket({"DBUS_SYSTEM_BUS_ADDRESS": "unix:abstract=/tmp/x"}) is None


@pytest.mark.parametrize(
    ("exc", "words"),
    [
        (FileNotFoundError(2, "No such file"), "D-Bus"),
        (BleakDBusError("org.bluez.Error.InProgress", []), "already in progress"),
        (BleakDBusError("org.bluez.Error.NotReady", []), "not ready"),
        (BleakDBusError("org.freedesktop.DBus.Error.ServiceUnknown", []), "bluetoothd"),
        (BleakBluetoothNotAvailableError("x", BleakBluetoothNotAvailableReason.NO_BLUETOOTH), "no Bluetooth adapter"),
        (BleakBluetoothNotAvailableError("x", BleakBluetoothNotAvailableReason.POWERED_OFF), "powered off"),
        (BleakError("adapter 'hci3' not found"), "hci3"),
        (TimeoutError(), "did not answer"),
    ],
)
def test_scan_errors_read_as_one_actionable_line(exc: BaseException, words: str) -> None:
    key, message = describe_scan_error(exc)
    assert words in message
    assert "\n" not in message
    assert key


def test_bus_without_bluez_says_bluetoothd_is_not_running(private_system_bus: dict[str, str]) -> None:
    problem = check_bluetooth_available(environ=private_system_bus)
    assert problem is not None and "bluetoothd" in problem and "not running" in problem


@pytest.mark.parametrize(
    ("adapters", "wanted", "expected"),
    [
        ((), None, "no Bluetooth adapter"),
        (("hci0",), None, None),
        (("hci0",), "hci0", None),
        (("hci0",), "hci1", "'hci1' not found (BlueZ has: hci0)"),
    ],
)
def test_adapters_are_checked(
    private_system_bus: dict[str, str], adapters: tuple[str, ...], wanted: str | None, expected: str | None
) -> None:
    fake = start_fake_bluez(private_system_bus, *adapters)
    try:
        problem = check_bluetooth_available(wanted, environ=private_system_bus)
    finally:
        fake.terminate()
        fake.wait(timeout=5)
    if expected is None:
        assert problem is None
    else:
        assert problem is not None and expected in problem


async def test_run_waits_for_a_bluez_or_adapter_that_comes_up_late_and_says_what_it_waits_for() -> None:
    """At boot `run` gave up in 0.6 s when bluetoothd or the adapter was not there yet; with the unit's start limit
    (10 restarts in 600 s, 5 s apart) a late adapter left the service failed until someone came."""
    from gateway.sources.bluez_errors import wait_for_bluetooth

    answers = iter(["BlueZ (bluetoothd) is not running", "no Bluetooth adapter", "no Bluetooth adapter", None])
    now = [0.0]
    said: list[str] = []

    async def sleep(s: float) -> None:
        now[0] += s

    got = await wait_for_bluetooth(
        "hci0", timeout_s=60, poll_s=2, on_wait=said.append, check=lambda _a: next(answers), sleep=sleep,
        clock=lambda: now[0],
    )  # fmt: skip
    assert got is None and now[0] == 6.0
    assert said == ["BlueZ (bluetoothd) is not running", "no Bluetooth adapter"]  # each change once

    now[0] = 0.0
    got = await wait_for_bluetooth(
        None, timeout_s=10, poll_s=2, check=lambda _a: "no Bluetooth adapter", sleep=sleep, clock=lambda: now[0]
    )
    assert got == "no Bluetooth adapter" and now[0] == 10.0  # gives up at the bound, naming what was missing

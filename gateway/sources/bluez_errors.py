"""What went wrong with Bluetooth, in one line a store technician can act on.

`describe_scan_error` turns the exceptions bleak raises at start into (key, message): the key groups
repeats so each kind of failure is logged once. `check_bluetooth_available` looks, before scanning, for
the three things bleak needs on Linux: the D-Bus system bus, BlueZ on it, and an adapter.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path

from bleak.exc import BleakBluetoothNotAvailableError, BleakBluetoothNotAvailableReason, BleakDBusError, BleakError

DEFAULT_SYSTEM_BUS_SOCKET = Path("/run/dbus/system_bus_socket")
BLUEZ_BUS_NAME = "org.bluez"
CHECK_TIMEOUT_S = 3.0  # a healthy bus answers in milliseconds; a hung one must not hang `run`

_DBUS_HINTS = {
    "org.bluez.Error.InProgress": "BlueZ says a discovery is already in progress (another scanner on this adapter?)",
    "org.bluez.Error.NotReady": "BlueZ says the adapter is not ready (powered off or rfkill-blocked?)",
    "org.bluez.Error.NotPermitted": "BlueZ refused to scan (passive mode needs bluetoothd --experimental)",
    "org.bluez.Error.NotSupported": "BlueZ does not support this scan (passive mode needs bluetoothd --experimental)",
    "org.bluez.Error.Failed": "BlueZ failed to start scanning",
    "org.freedesktop.DBus.Error.ServiceUnknown": "BlueZ (bluetoothd) is not running on the D-Bus system bus",
    "org.freedesktop.DBus.Error.AccessDenied": "D-Bus denied access to BlueZ (is the user in the 'bluetooth' group?)",
    "org.freedesktop.DBus.Error.UnknownObject": "the Bluetooth adapter disappeared from BlueZ",
}


def describe_scan_error(exc: BaseException) -> tuple[str, str]:
    """(key, one-line message) for an exception raised by starting or stopping a bleak scanner."""
    if isinstance(exc, FileNotFoundError):
        return "no-dbus", "no D-Bus system bus (is dbus running? bleak found no socket to connect to)"
    if isinstance(exc, TimeoutError):  # an OSError too: test it first
        return "timeout", "BlueZ did not answer in time (bluetoothd hung or restarting?)"
    if isinstance(exc, BleakBluetoothNotAvailableError):
        if exc.reason is BleakBluetoothNotAvailableReason.POWERED_OFF:
            return "powered-off", "the Bluetooth adapter is powered off (bluetoothctl power on; check rfkill)"
        if exc.reason is BleakBluetoothNotAvailableReason.NO_BLUETOOTH:
            return "no-adapter", "no Bluetooth adapter found"
        return f"not-available-{exc.reason.name.lower()}", f"Bluetooth is not available ({exc.reason.name.lower()})"
    if isinstance(exc, BleakDBusError):
        hint = _DBUS_HINTS.get(exc.dbus_error)
        detail = exc.dbus_error_details
        message = hint or f"BlueZ D-Bus error {exc.dbus_error}"
        if detail and hint is None:
            message += f": {detail}"
        return exc.dbus_error, message
    if isinstance(exc, BleakError):
        text = str(exc) or exc.__class__.__name__
        return f"bleak:{text}", f"bleak: {text}"
    if isinstance(exc, OSError):
        return f"os:{exc.errno}", f"operating system error talking to D-Bus: {exc.strerror or exc}"
    return exc.__class__.__name__, f"unexpected {exc.__class__.__name__}: {exc}"


def system_bus_socket(environ: Mapping[str, str] | None = None) -> Path | None:
    """The filesystem socket of the system bus, or None when the address is not a unix path (abstract, tcp)."""
    env = os.environ if environ is None else environ
    address = env.get("DBUS_SYSTEM_BUS_ADDRESS")
    if not address:
        return DEFAULT_SYSTEM_BUS_SOCKET
    for part in address.split(";")[0].split(":", 1)[-1].split(","):
        key, _, value = part.partition("=")
        if key == "path":
            return Path(value)
    return None


async def _query_bluez(adapter: str | None, bus_address: str | None) -> str | None:
    # dbus_fast comes with bleak on Linux only: import it where the Linux-only check needs it
    from dbus_fast import BusType, Message, MessageType
    from dbus_fast.aio import MessageBus

    try:
        bus = await MessageBus(bus_address=bus_address, bus_type=BusType.SYSTEM).connect()
    except (OSError, ValueError) as e:
        return f"cannot connect to the D-Bus system bus: {e}"
    try:
        reply = await bus.call(
            Message(
                destination="org.freedesktop.DBus",
                path="/org/freedesktop/DBus",
                interface="org.freedesktop.DBus",
                member="NameHasOwner",
                signature="s",
                body=[BLUEZ_BUS_NAME],
            )
        )
        if reply is None or reply.message_type is MessageType.ERROR or not reply.body[0]:
            return "BlueZ (bluetoothd) is not running on the D-Bus system bus (apt install bluez, start bluetooth)"
        reply = await bus.call(
            Message(
                destination=BLUEZ_BUS_NAME,
                path="/",
                interface="org.freedesktop.DBus.ObjectManager",
                member="GetManagedObjects",
            )
        )
        if reply is None or reply.message_type is MessageType.ERROR:
            detail = reply.error_name if reply is not None else "no reply"
            return f"BlueZ did not list its objects ({detail})"
        adapters = sorted(
            path.rsplit("/", 1)[-1] for path, ifaces in reply.body[0].items() if "org.bluez.Adapter1" in ifaces
        )
        if not adapters:
            return "no Bluetooth adapter: BlueZ is running but lists none (check `bluetoothctl list`, rfkill)"
        if adapter is not None and adapter not in adapters:
            return f"Bluetooth adapter {adapter!r} not found (BlueZ has: {', '.join(adapters)})"
        return None
    finally:
        bus.disconnect()


def check_bluetooth_available(adapter: str | None = None, environ: Mapping[str, str] | None = None) -> str | None:
    """One line naming what is missing for live scanning (bus socket, BlueZ, adapter), or None if all is there.

    Synchronous so the CLI can call it before starting anything; the D-Bus query runs on its own event
    loop in a worker thread, so it also works when called from inside a running loop.
    """
    sock = system_bus_socket(environ)
    if sock is not None and not sock.exists():
        return f"no D-Bus system bus socket at {sock} (is dbus running?)"
    env = os.environ if environ is None else environ
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)
    future = pool.submit(asyncio.run, _query_bluez(adapter, env.get("DBUS_SYSTEM_BUS_ADDRESS") or None))
    try:
        return future.result(timeout=CHECK_TIMEOUT_S)
    except concurrent.futures.TimeoutError:
        return f"the D-Bus system bus did not answer within {CHECK_TIMEOUT_S:.0f} s"
    finally:
        pool.shutdown(wait=False)  # a hung bus must not hang the caller too


# At boot bluetoothd, or a USB adapter, may come up after the gateway's unit (After= orders the start, not
# readiness): `run` waits this long for them, inside the unit's TimeoutStartSec=90, before it gives up. Ten
# restarts of a minute's wait each outlast the unit's start limit (10 in 600 s), so a store whose adapter is
# late is retried until it appears rather than left failed.
BLUETOOTH_WAIT_S = 60.0
BLUETOOTH_POLL_S = 2.0


async def wait_for_bluetooth(
    adapter: str | None,
    *,
    timeout_s: float = BLUETOOTH_WAIT_S,
    poll_s: float = BLUETOOTH_POLL_S,
    on_wait: Callable[[str], None] = lambda _problem: None,
    check: Callable[[str | None], str | None] = check_bluetooth_available,
    sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> str | None:
    """None once live scanning has what it needs; else, after `timeout_s`, the last thing missing. `on_wait` is
    told the first problem (and each different one after it) so the journal says what is awaited.

    The daemon waits here with its publisher running, so the check (a D-Bus round trip, up to CHECK_TIMEOUT_S on
    a hung bus) runs in a worker thread, off the event loop that delivers the outbox. Cancel to stop waiting."""
    deadline = clock() + timeout_s
    said = None
    while (problem := await asyncio.to_thread(check, adapter)) is not None:
        if clock() >= deadline:
            return problem
        if problem != said:
            on_wait(problem)
            said = problem
        await sleep(poll_s)
    return None

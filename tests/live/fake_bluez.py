"""A stand-in org.bluez on a private D-Bus daemon, enough for bleak's real BlueZ backend to scan.

In-process (`FakeBlueZ`): an Adapter1 whose StartDiscovery can fail with scripted BlueZ errors, and Device1
objects whose appearance (InterfacesAdded) and RSSI changes (PropertiesChanged) bleak turns into callbacks.
As a script (`python fake_bluez.py hci0 hci1`) it only exports adapters and prints "ready": the
synchronous `check_bluetooth_available` would block an in-process service.
"""

import asyncio
import os
import subprocess
import sys
from pathlib import Path
from typing import Annotated

from dbus_fast import BusType, PropertyAccess, Variant
from dbus_fast.aio import MessageBus
from dbus_fast.annotations import DBusBool, DBusDict, DBusInt16, DBusObjectPath, DBusSignature, DBusStr
from dbus_fast.errors import DBusError
from dbus_fast.service import ServiceInterface, dbus_method, dbus_property

DBusStrList = Annotated[list[str], DBusSignature("as")]
DBusMfrDict = Annotated[dict[int, Variant], DBusSignature("a{qv}")]


class FakeAdapter(ServiceInterface):
    def __init__(self, bluez: "FakeBlueZ", name: str) -> None:
        super().__init__("org.bluez.Adapter1")
        self.bluez = bluez
        self.adapter_name = name  # not `name`: ServiceInterface keeps the interface name there

    @dbus_property(access=PropertyAccess.READ)
    def Address(self) -> DBusStr:
        return "00:11:22:33:44:55"

    @dbus_property(access=PropertyAccess.READ)
    def Powered(self) -> DBusBool:
        return self.bluez.powered

    @dbus_property(access=PropertyAccess.READ)
    def Discovering(self) -> DBusBool:
        return self.bluez.discovering

    @dbus_property(access=PropertyAccess.READ)
    def Roles(self) -> DBusStrList:
        return ["central", "peripheral"]

    @dbus_method()
    def SetDiscoveryFilter(self, filters: DBusDict) -> None:
        self.bluez.calls.append("SetDiscoveryFilter")

    @dbus_method()
    def StartDiscovery(self) -> None:
        self.bluez.calls.append("StartDiscovery")
        if self.bluez.start_errors:
            raise DBusError(self.bluez.start_errors.pop(0), "scripted failure")
        self.bluez.discovering = True

    @dbus_method()
    def StopDiscovery(self) -> None:
        self.bluez.calls.append("StopDiscovery")
        self.bluez.discovering = False


class FakeDevice(ServiceInterface):
    def __init__(self, adapter_path: str, address: str, rssi: int, mfr: dict[int, bytes], alias: str | None) -> None:
        super().__init__("org.bluez.Device1")
        self.adapter_path = adapter_path
        self.address = address
        self.rssi = rssi
        self.mfr = mfr
        self.alias = alias or address.replace(":", "-")  # BlueZ's alias when a device has no name

    @dbus_property(access=PropertyAccess.READ)
    def Address(self) -> DBusStr:
        return self.address

    @dbus_property(access=PropertyAccess.READ)
    def AddressType(self) -> DBusStr:
        return "random"

    @dbus_property(access=PropertyAccess.READ)
    def Alias(self) -> DBusStr:
        return self.alias

    @dbus_property(access=PropertyAccess.READ)
    def Adapter(self) -> DBusObjectPath:
        return self.adapter_path

    @dbus_property(access=PropertyAccess.READ)
    def RSSI(self) -> DBusInt16:
        return self.rssi

    @dbus_property(access=PropertyAccess.READ)
    def ManufacturerData(self) -> DBusMfrDict:
        return {k: Variant("ay", v) for k, v in self.mfr.items()}

    @dbus_property(access=PropertyAccess.READ)
    def UUIDs(self) -> DBusStrList:
        return []

    @dbus_property(access=PropertyAccess.READ)
    def Paired(self) -> DBusBool:
        return False

    @dbus_property(access=PropertyAccess.READ)
    def Connected(self) -> DBusBool:
        return False

    def set_rssi(self, rssi: int) -> None:
        self.rssi = rssi
        self.emit_properties_changed({"RSSI": rssi})


class FakeBlueZ:
    """Owns org.bluez on the bus that $DBUS_SYSTEM_BUS_ADDRESS names."""

    def __init__(self, adapters: tuple[str, ...] = ("hci0",), start_errors: list[str] | None = None) -> None:
        self.adapter_names = adapters
        self.start_errors = list(start_errors or [])
        self.powered = True
        self.discovering = False
        self.calls: list[str] = []
        self.bus: MessageBus | None = None

    async def start(self) -> None:
        self.bus = await MessageBus(bus_type=BusType.SYSTEM).connect()
        for name in self.adapter_names:
            self.bus.export(f"/org/bluez/{name}", FakeAdapter(self, name))
        await self.bus.request_name("org.bluez")

    def add_device(
        self, address: str, rssi: int, mfr: dict[int, bytes], adapter: str = "hci0", alias: str | None = None
    ) -> FakeDevice:
        assert self.bus is not None
        adapter_path = f"/org/bluez/{adapter}"
        device = FakeDevice(adapter_path, address, rssi, mfr, alias)
        self.bus.export(f"{adapter_path}/dev_{address.replace(':', '_')}", device)
        return device

    def stop(self) -> None:
        if self.bus is not None:
            self.bus.disconnect()
            self.bus = None


def start_fake_bluez(env: dict[str, str], *adapters: str) -> "subprocess.Popen[str]":
    """This script in its own process, on the bus `env` names; returns once org.bluez is owned."""
    proc = subprocess.Popen(
        [sys.executable, str(Path(__file__)), *adapters],
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    return proc


async def _serve(adapters: list[str]) -> None:
    bluez = FakeBlueZ(tuple(adapters))
    await bluez.start()
    print("ready", flush=True)
    assert bluez.bus is not None
    await bluez.bus.wait_for_disconnect()


if __name__ == "__main__":
    asyncio.run(_serve(sys.argv[1:]))

"""A stand-in org.bluez for a private D-Bus daemon: owns the name and exports the given adapters.

Run as a subprocess (`python fake_bluez.py hci0 hci1`); prints "ready" when the name is owned.
The tests call the synchronous `check_bluetooth_available`, which would block an in-process service.
"""

from __future__ import annotations

import asyncio
import sys

from dbus_fast import BusType
from dbus_fast.aio import MessageBus
from dbus_fast.constants import PropertyAccess
from dbus_fast.service import ServiceInterface, dbus_property


class Adapter1(ServiceInterface):
    def __init__(self, name: str) -> None:
        super().__init__("org.bluez.Adapter1")
        self._name = name

    @dbus_property(access=PropertyAccess.READ)
    def Address(self) -> s:  # type: ignore[name-defined]  # noqa: F821 - D-Bus signature annotation
        return "00:11:22:33:44:55"


async def main(adapters: list[str]) -> None:
    bus = await MessageBus(bus_type=BusType.SYSTEM).connect()
    for name in adapters:
        bus.export(f"/org/bluez/{name}", Adapter1(name))
    await bus.request_name("org.bluez")
    print("ready", flush=True)
    await bus.wait_for_disconnect()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))

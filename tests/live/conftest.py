"""A private D-Bus daemon standing in for the system bus (bleak and the Bluetooth check connect to it)."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

DBUS_START_TIMEOUT_S = 5.0


@pytest.fixture
def private_system_bus(tmp_path: Path) -> Iterator[dict[str, str]]:
    """{"DBUS_SYSTEM_BUS_ADDRESS": ...} of a fresh dbus-daemon; skips if dbus-daemon is not installed."""
    daemon = shutil.which("dbus-daemon")
    if daemon is None:
        pytest.skip("dbus-daemon is not installed (apt-get install dbus)")
    sock = tmp_path / "system_bus_socket"
    address = f"unix:path={sock}"
    # --session: its policy lets our own user own any name, which org.bluez needs
    proc = subprocess.Popen(
        [daemon, "--session", "--nofork", "--nopidfile", f"--address={address}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + DBUS_START_TIMEOUT_S
    while not sock.exists():
        if time.monotonic() > deadline or proc.poll() is not None:
            proc.kill()
            proc.wait()
            pytest.skip("private dbus-daemon did not start")
        time.sleep(0.01)
    try:
        yield {"DBUS_SYSTEM_BUS_ADDRESS": address}
    finally:
        proc.terminate()
        proc.wait(timeout=5)

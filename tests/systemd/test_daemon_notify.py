"""`proximity-gateway run` as systemd runs it: READY=1 after the scanner starts, WATCHDOG=1 pings,
STOPPING=1 and exit 0 on SIGTERM. The radio is a recording played through bleak (no Bluetooth here)
and the broker a private Mosquitto.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from simulator.localbroker import Mosquitto

READY_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 20.0
WATCHDOG_USEC = 1_000_000  # pings every 0.5 s, so the test need not wait long
WATCHDOG_WAIT_S = 10.0  # generous: CI machines can be loaded


@pytest.fixture(scope="module")
def store_day(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("day")
    subprocess.run(
        [sys.executable, "-m", "simulator", "generate", "--out", str(out), "--shoppers", "3", "--duration", "60"],
        check=True,
        capture_output=True,
        timeout=120,
    )
    return out


@pytest.fixture
def notify_socket(tmp_path: Path) -> Iterator[tuple[socket.socket, str]]:
    path = str(tmp_path / "notify")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    yield sock, path
    sock.close()


def wait_for(sock: socket.socket, wanted: str, timeout_s: float, seen: list[str]) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            message = sock.recv(4096).decode()
        except TimeoutError:
            break
        seen.append(message)
        if wanted in message.splitlines():
            return
    raise AssertionError(f"no {wanted} within {timeout_s} s; got {seen}")


def test_run_speaks_the_systemd_notify_protocol(
    store_day: Path, notify_socket: tuple[socket.socket, str], mosquitto: Mosquitto, tmp_path: Path
) -> None:
    sock, path = notify_socket
    env = {
        **os.environ,
        "NOTIFY_SOCKET": path,
        "WATCHDOG_USEC": str(WATCHDOG_USEC),
        "PROXIMITY_MQTT__URL": mosquitto.url,
        "PROXIMITY_STATE_DIR": str(tmp_path / "state"),
        "RECORDING_SCANNER_FILE": str(store_day / "scans.jsonl.gz"),
        "RECORDING_SCANNER_SPEED": "50",
    }
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "gateway", "run", "--config", str(store_day / "config"),
            "--scanner-backend", "gateway.sources.scripted_backend:RecordingScanner",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    seen: list[str] = []
    try:
        wait_for(sock, "READY=1", READY_TIMEOUT_S, seen)
        wait_for(sock, "WATCHDOG=1", WATCHDOG_WAIT_S, seen)
        wait_for(sock, "WATCHDOG=1", WATCHDOG_WAIT_S, seen)
        proc.send_signal(signal.SIGTERM)
        wait_for(sock, "STOPPING=1", STOP_TIMEOUT_S, seen)
        _, stderr = proc.communicate(timeout=STOP_TIMEOUT_S)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, stderr
    assert "Traceback" not in stderr

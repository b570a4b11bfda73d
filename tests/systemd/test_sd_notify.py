"""sd_notify against a real unix datagram socket, as systemd would listen on it."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.sd_notify import READY, WATCHDOG, notify, status, watchdog_interval_s


@pytest.fixture
def listener(tmp_path: Path) -> Iterator[tuple[socket.socket, str]]:
    path = tmp_path / "notify"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(2)
    yield sock, str(path)
    sock.close()


def test_ready_reaches_the_socket(listener: tuple[socket.socket, str]) -> None:
    sock, path = listener
    assert notify(READY, {"NOTIFY_SOCKET": path}) is True
    assert sock.recv(4096) == b"READY=1"
    assert notify(WATCHDOG, {"NOTIFY_SOCKET": path})
    assert sock.recv(4096) == b"WATCHDOG=1"


def test_status_is_one_line(listener: tuple[socket.socket, str]) -> None:
    sock, path = listener
    assert status("scanning\n12 adverts/s", {"NOTIFY_SOCKET": path})
    assert sock.recv(4096) == b"STATUS=scanning 12 adverts/s"


def test_abstract_namespace_socket() -> None:
    name = f"pg-test-{uuid.uuid4().hex}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(b"\0" + name.encode())
        sock.settimeout(2)
        assert notify("READY=1\nSTATUS=up", {"NOTIFY_SOCKET": "@" + name})
        assert sock.recv(4096) == b"READY=1\nSTATUS=up"


def test_without_systemd_nothing_is_sent_and_nothing_raises(tmp_path: Path) -> None:
    assert notify(READY, {}) is False
    assert notify(READY, {"NOTIFY_SOCKET": str(tmp_path / "gone")}) is False


def test_environment_is_read_when_not_given(
    listener: tuple[socket.socket, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    sock, path = listener
    monkeypatch.setenv("NOTIFY_SOCKET", path)
    assert notify(READY)
    assert sock.recv(4096) == b"READY=1"


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"WATCHDOG_USEC": "30000000"}, 15.0),
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(os.getpid())}, 15.0),
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}, None),  # someone else's watchdog
        ({"WATCHDOG_USEC": "0"}, None),
        ({"WATCHDOG_USEC": "soon"}, None),
        ({}, None),
    ],
)
def test_watchdog_interval_is_half_the_timeout(env: dict[str, str], expected: float | None) -> None:
    assert watchdog_interval_s(env) == expected

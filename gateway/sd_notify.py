"""systemd's notify protocol without a library: one datagram to $NOTIFY_SOCKET per state change.

Outside systemd (no $NOTIFY_SOCKET) every call is a cheap no-op returning False, so the daemon calls
these unconditionally.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping

READY = "READY=1"
STOPPING = "STOPPING=1"
RELOADING = "RELOADING=1"
WATCHDOG = "WATCHDOG=1"
USEC_PER_S = 1_000_000


def _address(raw: str) -> str | bytes:
    # A leading "@" names a socket in Linux's abstract namespace, written with a leading NUL byte.
    if raw.startswith("@"):
        return b"\0" + raw[1:].encode()
    return raw


def notify(state: str, environ: Mapping[str, str] | None = None) -> bool:
    """Sends `state` ("READY=1", "WATCHDOG=1", "STATUS=scanning, 12 adverts/s", ...; several lines allowed).

    Returns True if the datagram went out, False when not under systemd or the socket is gone; never raises,
    because a failed notification must not take the gateway down.
    """
    env = os.environ if environ is None else environ
    raw = env.get("NOTIFY_SOCKET")
    if not raw:
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(_address(raw))
            sock.sendall(state.encode())
    except OSError:
        return False
    return True


def status(text: str, environ: Mapping[str, str] | None = None) -> bool:
    """The one-line status `systemctl status` shows; newlines would split it into several assignments."""
    return notify("STATUS=" + text.replace("\n", " "), environ)


def watchdog_interval_s(environ: Mapping[str, str] | None = None) -> float | None:
    """How often to send WATCHDOG=1: half of WATCHDOG_USEC, as sd_watchdog_enabled(3) advises; None if off.

    WATCHDOG_PID, when set, must be our pid: otherwise the watchdog belongs to another process (a parent).
    """
    env = os.environ if environ is None else environ
    usec = env.get("WATCHDOG_USEC")
    if not usec:
        return None
    pid = env.get("WATCHDOG_PID")
    if pid and pid != str(os.getpid()):
        return None
    try:
        value = int(usec)
    except ValueError:
        return None
    if value <= 0:
        return None
    return value / USEC_PER_S / 2

"""What in a gateway's health document someone should act on (pure): `status` exits 1 on it, and the daemon's
retained status on MQTT carries it, so that a fleet's dashboard need not log in to each store."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# Connections in a row the broker closed within a minute (gateway.delivery.publisher) before they are named: one or
# two are a broker restart, more are another client taking the id, or an ACL refusing the gateway's topics.
SHORT_CONNECTIONS_NAMED = 3


def health_problems(health: Mapping[str, Any], age: float) -> list[str]:
    """What a person (or a monitoring check) should act on, in a few words each; [] for a healthy gateway."""
    if (written_by := health.get("written_by", "run")) != "run":
        return [f"the daemon is not running: a {written_by} wrote this health file"]
    if not health["running"]:
        if health.get("holder_alive"):  # stopped (SIGSTOP), wedged: the watchdog's case, not systemctl start's
            stopped = [f"not responding: the health file is {age:.0f} s old, and its process is alive"]
        else:
            stopped = [f"not running (last update {age:.0f} s ago)"]
        if isinstance(why := health.get("scanner"), str) and why.startswith("cannot scan"):
            stopped.append(why)  # `run` gave up waiting for Bluetooth (gateway.daemon)
        if queued := health.get("outbox_depth"):
            stopped.append(f"{queued} messages queued, sent when the gateway runs again")
        return stopped
    out = []
    if (scanner := health.get("scanner")) not in ("scanning", "starting", "idle", None):
        out.append(f"scanner {scanner}")
    if not health.get("broker_connected", True):
        out.append("broker disconnected")
    if (short := health.get("short_connections_in_a_row") or 0) >= SHORT_CONNECTIONS_NAMED:  # the log says it in full
        out.append(f"the broker closed {short} connections in a row within a minute: another client as "
                   f"{health.get('mqtt_client_id')!r}?")  # fmt: skip
    # since this start: the outbox keeps what it set aside for good, and an old one is not today's alarm
    if set_aside := health.get("dead_lettered_since_start"):
        out.append(f"{set_aside} messages set aside since the start")
    for key, what in (
        ("nodes_offline", "receiver nodes offline"),
        ("receivers_absent", "receivers left out"),
        # a standalone gateway whose own radio the walk never heard does nothing until the zones are refitted
        ("receivers_not_in_zones", "receivers not in zones.toml, their readings ignored"),
    ):
        if isinstance(named := health.get(key), list) and named:
            out.append(f"{what}: {', '.join(map(str, named))}")
    level = health.get("device_level")
    if isinstance(level, dict) and level.get("warning"):
        out.append("devices vs walk")
    return out

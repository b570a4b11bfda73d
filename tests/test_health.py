"""What `status` and the daemon's retained MQTT status call a problem (gateway/health.py)."""

from __future__ import annotations

from gateway.health import health_problems

RUNNING = {"running": True, "scanner": "scanning", "broker_connected": True}


def test_a_healthy_gateway_has_no_problem_and_each_cause_is_named() -> None:
    assert health_problems(RUNNING, 1.0) == []
    assert health_problems({**RUNNING, "scanner": "backoff"}, 1.0) == ["scanner backoff"]
    taken = health_problems({**RUNNING, "short_connections_in_a_row": 4, "mqtt_client_id": "s1-gw1"}, 1.0)
    assert taken == ["the broker closed 4 connections in a row within a minute: another client as 's1-gw1'?"]
    assert health_problems({**RUNNING, "dead_letters": 5, "dead_lettered_since_start": 0}, 1.0) == []


def test_a_stopped_gateway_is_told_from_a_wedged_one_and_its_queue_is_named() -> None:
    """A daemon stopped with SIGSTOP read as "not running", sending the operator to `systemctl start`; messages
    left queued when it stopped (revocation notices among them) were not a problem at all (a fleet re-check)."""
    stopped = {"running": False, "holder_alive": False, "outbox_depth": 110}
    assert health_problems(stopped, 22.0) == [
        "not running (last update 22 s ago)",
        "110 messages queued, sent when the gateway runs again",
    ]
    wedged = {"running": False, "holder_alive": True, "outbox_depth": 0}
    assert health_problems(wedged, 22.0) == ["not responding: the health file is 22 s old, and its process is alive"]


def test_a_radio_the_zones_do_not_know_is_a_problem() -> None:
    """A standalone gateway whose own radio is not in zones.toml ignores what it hears, and status said "none"."""
    got = health_problems({**RUNNING, "receivers_not_in_zones": ["gw-1"]}, 1.0)
    assert got == ["receivers not in zones.toml, their readings ignored: gw-1"]

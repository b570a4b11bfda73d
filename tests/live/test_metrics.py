"""Metrics are opt-in, served on loopback, and carry no customer ids or addresses."""

from __future__ import annotations

import logging
import re
import socket
import sys
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from gateway.config import MetricsSettings
from gateway.metrics import MAX_RECEIVER_LABELS, Metrics, PrometheusMetrics, start_metrics_server


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


ADDRESS_RE = re.compile(r"([0-9A-Fa-f]{2}:){5}[0-9A-Fa-f]{2}")


def samples(text: bytes) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text.decode()):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def drive(m: Metrics) -> None:
    for _ in range(3):
        m.advert("rx-entrance")
    m.advert("rx-coffee")
    m.recognised()
    m.dropped()
    m.dropped()
    m.trigger("coffee-10")
    m.publish_error()
    m.set_outbox_depth(4)
    m.scanner({"state": "scanning", "restarts": 2, "last_advert_at": 1732450000.5, "last_error": "x"})
    m.scanner({"state": "backoff", "restarts": 3, "last_advert_at": None})
    m.receivers_left_out(["rx-entrance", "rx-coffee"], {"rx-entrance"})
    m.receivers_left_out(["rx-entrance", "rx-coffee"], {"rx-coffee"})  # the entrance hears again, the coffee not


def test_disabled_by_default_and_then_a_cheap_no_op() -> None:
    m = start_metrics_server(MetricsSettings())
    assert not m.enabled
    drive(m)
    assert m.render() == b""
    m.close()


def test_served_on_loopback_with_the_counts_a_user_would_look_for() -> None:
    port = free_port()
    m = start_metrics_server(MetricsSettings(enabled=True, port=port))
    try:
        assert m.enabled
        drive(m)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
            body = resp.read()
    finally:
        m.close()
    got = samples(body)
    assert got[("proximity_adverts_total", (("receiver", "rx-entrance"),))] == 3
    assert got[("proximity_adverts_total", (("receiver", "rx-coffee"),))] == 1
    assert got[("proximity_recognised_total", ())] == 1
    assert got[("proximity_dropped_total", ())] == 2
    assert got[("proximity_triggers_total", (("campaign", "coffee-10"),))] == 1
    assert got[("proximity_publish_errors_total", ())] == 1
    assert got[("proximity_outbox_depth", ())] == 4
    assert got[("proximity_scanner_restarts_total", ())] == 3
    assert got[("proximity_scanner_scanning", ())] == 0
    assert got[("proximity_scanner_last_advert_timestamp_seconds", ())] == 1732450000.5
    assert got[("proximity_receiver_left_out", (("receiver", "rx-entrance"),))] == 0
    assert got[("proximity_receiver_left_out", (("receiver", "rx-coffee"),))] == 1


def test_server_is_closed_by_close() -> None:
    port = free_port()
    m = start_metrics_server(MetricsSettings(enabled=True, port=port))
    m.close()
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
        pass


def test_labels_never_carry_customers_or_addresses() -> None:
    m = PrometheusMetrics()
    drive(m)
    text = m.render()
    label_names = {name for (_, labels) in samples(text) for name, _ in labels}
    assert label_names <= {"receiver", "campaign"}
    assert not ADDRESS_RE.search(text.decode())
    assert b"cust-" not in text


def test_receiver_labels_are_capped() -> None:
    m = PrometheusMetrics()
    for i in range(MAX_RECEIVER_LABELS + 10):
        m.advert(f"rx-{i}")
    receivers = {
        dict(labels)["receiver"] for (name, labels) in samples(m.render()) if name == "proximity_adverts_total"
    }
    assert len(receivers) == MAX_RECEIVER_LABELS + 1
    assert "other" in receivers


def test_port_in_use_leaves_metrics_off_but_the_gateway_running(caplog: pytest.LogCaptureFixture) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with caplog.at_level(logging.ERROR, logger="gateway.metrics"):
            m = start_metrics_server(MetricsSettings(enabled=True, port=port))
    assert not m.enabled
    assert any(str(port) in r.getMessage() for r in caplog.records)


def test_without_prometheus_client_metrics_are_off(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setitem(sys.modules, "prometheus_client", None)
    with caplog.at_level(logging.WARNING, logger="gateway.metrics"):
        m = start_metrics_server(MetricsSettings(enabled=True, port=free_port()))
    assert not m.enabled
    assert any("prometheus_client is not installed" in r.getMessage() for r in caplog.records)

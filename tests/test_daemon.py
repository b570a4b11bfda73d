"""`proximity-gateway run` as a store runs it, through bleak with a backend that plays a scripted walk.

One process, every promise of the daemon: it publishes presence and coupons; a broker that dies and comes
back delays a coupon but never loses it (same trigger_id); SIGHUP reloads campaigns without forgetting who
has been standing where; a broken campaigns file on SIGHUP is refused and the old rules keep running;
SIGTERM drains and leaves "offline" retained; `status` tells all of it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest

from gateway.adverts import Advert
from gateway.sources.recording import Header, RecordingWriter
from simulator.localbroker import Mosquitto, free_port

CUSTOMER_ADDR = "C0:11:22:33:44:01"
STRANGER_ADDR = "C0:99:99:99:99:99"
WALK_S = 36  # the customer stands at the counter for this long (seconds, played in real time)
STORE = """
store_id = "kiosk-1"
width = 10.0
height = 6.0
entrance = [0.0, 3.0]
[[zone]]
name = "door"
polygon = [[0, 0], [5, 0], [5, 6], [0, 6]]
[[zone]]
name = "counter"
polygon = [[5, 0], [10, 0], [10, 6], [5, 6]]
[[receiver]]
id = "gw-1"
x = 9.5
y = 3.0
rssi_at_1m = -59.0
path_loss_exponent = 2.5
sensitivity_dbm = -95.0
"""
CAMPAIGNS = """
[caps]
min_interval_s = 5  # the default (10 minutes between two coupons) would hold the second one back
[presence]
settle_s = 1
[[campaign]]
id = "counter-early"
zone = "counter"
min_dwell_s = 12
"""
LATE = """
[[campaign]]
id = "counter-late"
zone = "counter"
min_dwell_s = 22
"""


class Collector:
    """A consumer on the broker, like the store's marketing platform; reconnects across outages."""

    def __init__(self, port: int) -> None:
        self.messages: list[tuple[str, dict[str, Any], bool]] = []
        self.lock = threading.Lock()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="daemon-test", clean_session=False)
        self.client.on_connect = lambda c, *_: c.subscribe("proximity/#", qos=1)
        self.client.on_message = self._on_message
        self.client.reconnect_delay_set(0.1, 0.5)
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def _on_message(self, _c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
        with self.lock:
            self.messages.append((msg.topic, json.loads(msg.payload), bool(msg.retain)))

    def of(self, suffix: str) -> list[dict[str, Any]]:
        with self.lock:
            return [p for t, p, _ in self.messages if t.endswith(suffix)]

    def wait(self, suffix: str, timeout_s: float, count: int = 1) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            got = self.of(suffix)
            if len(got) >= count:
                return got
            time.sleep(0.05)
        raise AssertionError(f"no {suffix} within {timeout_s} s; got {[t for t, _, _ in self.messages]}")

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


@pytest.fixture(scope="module")
def kiosk(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A one-receiver kiosk generated and calibrated by the simulator; our own walk and campaigns on top."""
    root = tmp_path_factory.mktemp("kiosk")
    (root / "store.toml").write_text(STORE)
    subprocess.run(
        [sys.executable, "-m", "simulator", "generate", "--out", str(root / "day"), "--store", str(root / "store.toml"),
         "--shoppers", "2", "--duration", "120", "--seed", "4"],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    config = root / "day" / "config"
    (config / "campaigns.toml").write_text(CAMPAIGNS)
    people = root / "customers.jsonl"
    people.write_text(
        json.dumps(
            {
                "customer_id": "cust-1",
                "consent": True,
                "segments": [],
                "identifiers": [{"kind": "address", "address": CUSTOMER_ADDR}],
            }
        )
        + "\n"
    )
    gw = config / "gateway.toml"
    lines = [ln for ln in gw.read_text().splitlines() if not ln.startswith("customers_file")]
    gw.write_text("\n".join([f'customers_file = "{people}"', *lines]) + "\n")
    with RecordingWriter(root / "walk.jsonl", Header("kiosk-1")) as w:
        for i in range(WALK_S * 2):  # two advertisements a second, a metre or two from the receiver
            w.write(Advert(1000.0 + i / 2, "gw-1", CUSTOMER_ADDR, -62 + (i * 7 % 5) - 2))
            w.write(Advert(1000.0 + i / 2 + 0.1, "gw-1", STRANGER_ADDR, -70))
    return root


@pytest.fixture
def collector(mosquitto: Mosquitto) -> Iterator[Collector]:
    c = Collector(mosquitto.port)
    try:
        yield c
    finally:
        c.close()


def test_daemon_keeps_every_promise(kiosk: Path, tmp_path: Path, mosquitto: Mosquitto, collector: Collector) -> None:
    broker = mosquitto  # the fixture stops it whatever happens; the test kills and restarts it on the same port
    config = kiosk / "day" / "config"
    env = {
        **os.environ,
        "PROXIMITY_MQTT__URL": broker.url,
        "PROXIMITY_MQTT__RECONNECT_MAX_S": "0.5",
        "PROXIMITY_STATE_DIR": str(tmp_path / "state"),
        "RECORDING_SCANNER_FILE": str(kiosk / "walk.jsonl"),
        "RECORDING_SCANNER_SPEED": "1",
        "PROXIMITY_METRICS__ENABLED": "true",
        "PROXIMITY_METRICS__PORT": str(metrics_port := free_port()),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "gateway", "run", "--config", str(config),
         "--scanner-backend", "gateway.sources.scripted_backend:RecordingScanner"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    stderr = ""
    try:
        status = collector.wait("/gw-1/status", 20)
        assert status[-1]["state"] == "online"
        enter = collector.wait("/presence", 20)[0]
        assert (enter["customer_id"], enter["zone"], enter["event"]) == ("cust-1", "counter", "enter")

        # The broker dies before the 12 s coupon is due and comes back after it: delayed, not lost.
        broker.kill()
        time.sleep(10)
        (config / "campaigns.toml").write_text(CAMPAIGNS + LATE)
        proc.send_signal(signal.SIGHUP)  # reload while the customer keeps standing there
        broker.start()
        early = collector.wait("/triggers/counter-early", 20)
        late = collector.wait("/triggers/counter-late", 30)
        # the new rule counted the dwell from the start of the stay, not from the reload
        assert late[0]["dwell_s"] >= 22 and late[0]["observed_at"] - early[0]["observed_at"] < 15

        (config / "campaigns.toml").write_text("[[campaign]]\nid = 'broken'\nzone = 'nowhere'\n")
        proc.send_signal(signal.SIGHUP)  # refused: the running rules stay
        time.sleep(1)
        assert proc.poll() is None

        # status, like a person would run it; the health file is rewritten every 2 s, and an exit event may
        # be on its way to the broker at that moment, so look until the outbox has been seen empty
        deadline = time.monotonic() + 15
        while True:
            health = subprocess.run(
                [sys.executable, "-m", "gateway", "status", "--config", str(config), "--json"],
                env=env, capture_output=True, text=True, timeout=30, check=False,
            )  # fmt: skip
            assert health.returncode == 0, health.stderr
            h = json.loads(health.stdout)
            if h["outbox_depth"] == 0 or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert h["running"] and h["broker_connected"] and h["outbox_depth"] == 0
        assert h["adverts"] > 0 and h["dropped_adverts"] > 0
        assert h["device_level"] is None  # one customer's visit says nothing yet of the walk's device
        assert h["receivers_absent"] == []

        # what a monitoring system scrapes: the receiver's adverts, and that the zones still use it
        with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5) as resp:
            scraped = resp.read().decode()
        assert 'proximity_receiver_left_out{receiver="gw-1"} 0.0' in scraped
        assert 'proximity_adverts_total{receiver="gw-1"}' in scraped

        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            _, stderr = proc.communicate()
    assert proc.returncode == 0, stderr
    assert "Traceback" not in stderr
    assert "reload refused" in stderr and "campaigns.toml" in stderr
    time.sleep(0.5)
    assert collector.of("/gw-1/status")[-1]["state"] == "offline"
    triggers = collector.of("/triggers/counter-early") + collector.of("/triggers/counter-late")
    # at-least-once: a redelivery carries the same id, never a new one
    assert len({p["trigger_id"] for p in triggers}) == 2
    everything = json.dumps(collector.messages)
    assert STRANGER_ADDR not in everything and STRANGER_ADDR not in stderr

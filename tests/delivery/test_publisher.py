"""The publisher against a real Mosquitto: outages, restarts, status and will, inbound messages."""

from __future__ import annotations

import asyncio
import json
import logging
import random
import signal
import subprocess
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import aiomqtt
import pytest
from delivery_helpers import Collector, running, statuses, trigger
from hypothesis import given
from hypothesis import strategies as st

from gateway.config import MqttSettings
from gateway.delivery.outbox import Outbox, OutboxEntry
from gateway.delivery.publisher import Publisher, backoff_s
from simulator.localbroker import Mosquitto

HERE = Path(__file__).parent
TEST_TIMEOUT_S = 40


def make_publisher(broker: Mosquitto, box: Outbox, **kw: Any) -> Publisher:
    settings = MqttSettings(url=broker.url, reconnect_max_s=0.5, keepalive_s=5)
    return Publisher(settings, box, "s1", "gw1", "1.2.3", **kw)


def fill(box: Outbox, n: int, customers: int = 20) -> list[str]:
    entries = [OutboxEntry(*trigger(i, f"c{i % customers}"), customer_id=f"c{i % customers}") for i in range(n)]
    box.put_many(entries)
    return [e.msg_id for e in entries]


def assert_customer_order(collector: Collector) -> None:
    """Per customer, triggers arrive in put order; a resend may repeat the latest one, never an older one."""
    last: dict[str, int] = defaultdict(lambda: -1)
    for topic, payload, _ in collector.snapshot():
        if "/triggers/" in topic:
            msg = json.loads(payload)
            assert msg["seq"] >= last[msg["customer_id"]], msg
            last[msg["customer_id"]] = msg["seq"]


@pytest.fixture
def collector(mosquitto: Mosquitto) -> Any:
    c = Collector(mosquitto.port, "proximity/#")
    c.subscribe()
    yield c
    c.close()


async def test_drains_the_outbox_and_announces_itself(
    mosquitto: Mosquitto, collector: Collector, tmp_path: Path
) -> None:
    box = Outbox(tmp_path / "o.db")
    ids = fill(box, 200)
    pub = make_publisher(mosquitto, box)
    async with asyncio.timeout(TEST_TIMEOUT_S), running(pub):
        assert await pub.drain(10) == 0
        assert await collector.wait_async(lambda _m: set(collector.ids()) == set(ids), 5)
        assert pub.connected and pub.published == 200 and pub.last_publish_at is not None
        assert_customer_order(collector)
    online = statuses(collector.snapshot())[0]
    assert online["state"] == "online" and online["version"] == "1.2.3"
    # stop() published the retained offline status: a newcomer sees it.
    late = Collector(mosquitto.port, "proximity/s1/gw1/status")
    late.subscribe()
    assert late.wait(lambda m: bool(m) and statuses(m)[-1]["state"] == "offline" and m[-1][2], 5)
    late.close()


async def test_messages_put_while_the_broker_is_down_arrive_after_it_starts(
    mosquitto: Mosquitto, collector: Collector, tmp_path: Path
) -> None:
    collector.close()
    mosquitto.stop()
    box = Outbox(tmp_path / "o.db")
    pub = make_publisher(mosquitto, box)
    async with asyncio.timeout(TEST_TIMEOUT_S), running(pub):
        await asyncio.sleep(0.5)
        for i in range(50):
            msg_id, topic, payload = trigger(i, "c1")
            box.put(msg_id, topic, payload, "c1")
            pub.notify()
        assert not pub.connected
        assert pub.last_error is not None and "\n" not in pub.last_error
        assert await pub.drain(0.3) == 50
        assert pub.health()["queued"] == 50 and pub.health()["oldest_age_s"] > 0
        # Blocking on purpose: the publisher cannot reconnect before the collector listens again.
        mosquitto.start()
        collector.subscribe()
        assert await pub.drain(15) == 0
        assert await collector.wait_async(lambda _m: len(set(collector.ids())) == 50, 5)
        assert pub.last_error is None
        assert_customer_order(collector)
        health = pub.health()
        assert health["connected"] and health["queued"] == 0 and health["published"] == 50


async def test_broker_killed_mid_drain_loses_nothing(
    mosquitto: Mosquitto, collector: Collector, tmp_path: Path
) -> None:
    box = Outbox(tmp_path / "o.db")
    ids = fill(box, 3000)
    pub = make_publisher(mosquitto, box, max_in_flight=8)
    async with asyncio.timeout(TEST_TIMEOUT_S), running(pub):
        assert await collector.wait_async(lambda _m: len(collector.ids()) >= 100, 10)
        assert mosquitto.proc is not None
        mosquitto.proc.send_signal(signal.SIGKILL)
        mosquitto.proc.wait()
        mosquitto.proc = None
        assert box.depth() > 0, "the test must kill the broker mid-drain"
        await asyncio.sleep(0.3)
        assert not pub.connected
        mosquitto.start()
        collector.subscribe()
        assert await pub.drain(20) == 0
        assert await collector.wait_async(lambda _m: set(collector.ids()) == set(ids), 5)
    assert pub.connects >= 2
    for _topic, payload, _ in collector.snapshot():
        msg = json.loads(payload)
        if "trigger_id" in msg:
            assert msg == {"trigger_id": msg["trigger_id"], "customer_id": msg["customer_id"], "seq": msg["seq"]}
    assert_customer_order(collector)


async def test_inbound_consent_and_redemptions_reach_callbacks_and_garbage_is_counted(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    consents: list[dict[str, Any]] = []
    redemptions: list[dict[str, Any]] = []

    def on_consent(msg: dict[str, Any]) -> None:
        if msg.get("boom"):
            raise ValueError("secret-material-in-message")
        consents.append(msg)

    async def on_redemption(msg: dict[str, Any]) -> None:
        redemptions.append(msg)

    pub = make_publisher(mosquitto, Outbox(tmp_path / "o.db"), on_consent=on_consent, on_redemption=on_redemption)
    async with asyncio.timeout(TEST_TIMEOUT_S), running(pub):
        while not pub.connected:
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.2)  # subscribed right after connect
        async with aiomqtt.Client("127.0.0.1", mosquitto.port) as client:
            deep = b"[" * 100_000 + b"]" * 100_000  # past the JSON parser's recursion limit
            for garbage in (b"\xff\xfe", b"not json", b"[1, 2]", b"", deep):
                await client.publish("proximity/s1/consent", garbage, qos=1)
            await client.publish("proximity/s1/consent", json.dumps({"boom": True}), qos=1)
            await client.publish("proximity/s1/consent", json.dumps({"customer_id": "c9", "consent": False}), qos=1)
            red = {"trigger_id": "t1", "customer_id": "c9", "campaign_id": "coffee-10", "at": 1.0}
            await client.publish("proximity/s1/redemptions", json.dumps(red), qos=1)
            await client.publish("proximity/other-store/consent", json.dumps({"customer_id": "x"}), qos=1)
        for _ in range(250):
            if consents and redemptions:
                break
            await asyncio.sleep(0.02)
        assert consents == [{"customer_id": "c9", "consent": False}]
        assert redemptions == [red]
        assert pub.inbound_bad == 5 and pub.callback_errors == 1
        assert pub.connected  # nothing above dropped the connection


def test_the_handler_error_log_never_quotes_the_message(caplog: pytest.LogCaptureFixture, tmp_path: Path) -> None:
    pub = Publisher(MqttSettings(), Outbox(tmp_path / "o.db"), "s1", "gw1", "v")

    def bad(_m: dict[str, Any]) -> None:
        raise ValueError("SECRET-8f1c")

    asyncio.run(pub._dispatch("consent", bad, json.dumps({"secret": "SECRET-8f1c"}).encode()))
    asyncio.run(pub._dispatch("consent", bad, b'"SECRET-8f1c'))
    assert caplog.records and "SECRET" not in caplog.text


def test_a_consent_message_too_big_for_any_customer_is_ignored_before_it_is_decoded(
    caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    """A security sweep sent one customer with 400,000 addresses (21 MB) on the consent topic: the daemon's event
    loop was busy with it for 32 s, past the unit's 30 s watchdog, and grew by 230 MB."""
    pub = Publisher(MqttSettings(), Outbox(tmp_path / "o.db"), "s1", "gw1", "v")
    seen: list[dict[str, Any]] = []
    ids = [{"kind": "address", "address": f"C0:00:00:{i >> 16 & 255:02X}:{i >> 8 & 255:02X}:{i & 255:02X}"}
           for i in range(2_000)]  # fmt: skip
    big = json.dumps({"customer_id": "bulk-1", "consent": True, "identifiers": ids}).encode()
    assert len(big) > 64 * 1024
    asyncio.run(pub._dispatch("consent", seen.append, big))
    asyncio.run(pub._dispatch("consent", seen.append, json.dumps({"customer_id": "c1", "consent": False}).encode()))
    assert seen == [{"customer_id": "c1", "consent": False}] and pub.inbound_bad == 1
    assert f"ignored a message of {len(big)} bytes" in caplog.text


async def test_last_will_is_published_when_the_gateway_dies(mosquitto: Mosquitto, tmp_path: Path) -> None:
    watch = Collector(mosquitto.port, "proximity/s1/gw-will/status")
    watch.subscribe()
    proc = subprocess.Popen(
        [
            sys.executable,
            str(HERE / "publisher_proc.py"),
            "--db",
            str(tmp_path / "o.db"),
            "--url",
            mosquitto.url,
            "--gateway",
            "gw-will",
        ],
        stdout=subprocess.DEVNULL,
    )
    try:
        assert await watch.wait_async(lambda m: any(s["state"] == "online" for s in statuses(m)), 15)
    finally:
        proc.kill()
        proc.wait()
    assert await watch.wait_async(lambda m: statuses(m)[-1]["state"] == "offline", 5)
    watch.close()
    late = Collector(mosquitto.port, "proximity/s1/gw-will/status")
    late.subscribe()
    assert late.wait(lambda m: bool(m) and m[-1][2] and statuses(m)[-1]["state"] == "offline", 5)
    late.close()


@given(st.integers(0, 200), st.floats(0.1, 120))
def test_backoff_grows_and_stays_under_the_cap(attempt: int, cap: float) -> None:
    rng = random.Random(attempt)
    d = backoff_s(attempt, cap, rng)
    assert 0 < d <= cap
    assert d >= min(cap, 0.25 * 2**attempt) / 2


async def test_revoked_customers_queued_triggers_are_never_sent(
    mosquitto: Mosquitto, collector: Collector, tmp_path: Path
) -> None:
    collector.close()
    mosquitto.stop()
    box = Outbox(tmp_path / "o.db")
    for i in range(10):
        customer = "alice" if i % 2 else "bob"
        box.put(*trigger(i, customer), customer_id=customer)
    pub = make_publisher(mosquitto, box)
    async with asyncio.timeout(TEST_TIMEOUT_S), running(pub):
        await asyncio.sleep(0.2)
        assert box.delete_customer("alice") == 5  # revoked while the broker was unreachable
        mosquitto.start()
        collector.subscribe()
        assert await pub.drain(15) == 0
        await asyncio.sleep(0.2)
    customers = {json.loads(p)["customer_id"] for t, p, _ in collector.snapshot() if "/triggers/" in t}
    assert customers == {"bob"}


async def test_consent_sent_while_the_gateway_was_offline_arrives_when_it_returns(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    received: list[dict[str, Any]] = []
    box = Outbox(tmp_path / "o.db")
    first = make_publisher(mosquitto, box)
    async with asyncio.timeout(TEST_TIMEOUT_S):
        async with running(first):
            while not first.connected:
                await asyncio.sleep(0.02)
            await asyncio.sleep(0.2)
        async with aiomqtt.Client("127.0.0.1", mosquitto.port) as client:
            await client.publish("proximity/s1/consent", json.dumps({"customer_id": "c7", "consent": False}), qos=1)
        second = make_publisher(mosquitto, box, on_consent=received.append)
        async with running(second):
            for _ in range(250):
                if received:
                    break
                await asyncio.sleep(0.02)
    assert received == [{"customer_id": "c7", "consent": False}]


async def test_a_message_mqtt_cannot_carry_is_set_aside_and_does_not_block_its_customer(
    mosquitto: Mosquitto, collector: Collector, tmp_path: Path
) -> None:
    box = Outbox(tmp_path / "o.db")
    box.put("bad", "proximity/s1/triggers/a+b", {"trigger_id": "bad"}, "c1")  # a wildcard: never publishable
    box.put(*trigger(1, "c1"), customer_id="c1")
    pub = make_publisher(mosquitto, box)
    async with asyncio.timeout(TEST_TIMEOUT_S), running(pub):
        assert await pub.drain(10) == 0
        assert await collector.wait_async(lambda _m: collector.ids() == ["trg-000001"], 5)
        assert pub.connected and pub.connects == 1
    assert pub.dead_lettered == 1 and box.dead_letters() == 1
    assert box.delete_customer("c1") == 0 and box.dead_letters() == 0  # revocation reaches the set-aside too


async def test_a_consent_message_the_broker_kept_is_told_apart_from_a_new_one(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    """A retained grant comes back at every subscription: the runtime must know it is the broker's copy, or it
    re-grants a customer revoked since (runtime.on_retained_consent)."""
    live: list[dict[str, Any]] = []
    kept: list[dict[str, Any]] = []
    async with asyncio.timeout(TEST_TIMEOUT_S):
        async with aiomqtt.Client("127.0.0.1", mosquitto.port) as client:
            await client.publish("proximity/s1/consent", json.dumps({"customer_id": "old"}), qos=1, retain=True)
        pub = make_publisher(
            mosquitto, Outbox(tmp_path / "o.db"), on_consent=live.append, on_retained_consent=kept.append
        )
        async with running(pub):
            while not pub.connected:
                await asyncio.sleep(0.02)
            await asyncio.sleep(0.2)  # subscribed: the kept copy arrives
            async with aiomqtt.Client("127.0.0.1", mosquitto.port) as client:
                await client.publish("proximity/s1/consent", json.dumps({"customer_id": "new"}), qos=1)
            for _ in range(250):
                if live:
                    break
                await asyncio.sleep(0.02)
    assert kept == [{"customer_id": "old"}] and live == [{"customer_id": "new"}]


def test_a_new_broker_error_is_named_within_the_minute_a_repeat_is_held_back(
    caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    """A broker that came back with an expired certificate after a disconnect logged only "Disconnected during
    message iteration" for 90 s: the repeat filter keyed every line on the template "mqtt %s"."""
    from gateway.logs import RateLimitFilter

    pub = Publisher(MqttSettings(), Outbox(tmp_path / "o.db"), "s1", "gw1", "v")
    caplog.set_level(logging.DEBUG, logger="gateway.delivery.publisher")
    dropped = aiomqtt.MqttError("Disconnected during message iteration")
    expired = aiomqtt.MqttError("[SSL: CERTIFICATE_VERIFY_FAILED] certificate has expired")
    for e in (dropped, expired, expired, dropped):
        pub._record_error("connection", e)
    gate = RateLimitFilter(interval_s=60.0)
    shown = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING and gate.filter(r)]
    assert shown == [
        "mqtt connection: MqttError: Disconnected during message iteration",
        "mqtt connection: MqttError: [SSL: CERTIFICATE_VERIFY_FAILED] certificate has expired",
    ]


async def test_two_gateways_with_one_id_are_named_and_back_off(
    mosquitto: Mosquitto, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A cloned SD card: two gateways with the same store and gateway id took the broker connection from each other
    243 times in 50 s, and each logged only "Disconnected during message iteration" (a fleet sweep)."""
    settings = MqttSettings(url=mosquitto.url, reconnect_max_s=2, keepalive_s=5)
    first = Publisher(settings, Outbox(tmp_path / "a.db"), "s1", "gw1", "1.2.3")
    second = Publisher(settings, Outbox(tmp_path / "b.db"), "s1", "gw1", "1.2.3")
    with caplog.at_level(logging.WARNING, logger="gateway.delivery.publisher"):
        async with asyncio.timeout(TEST_TIMEOUT_S), running(first), running(second):
            for _ in range(400):
                if "is another client connected as 's1-gw1'" in caplog.text:
                    break
                await asyncio.sleep(0.05)
            connects = first.connects + second.connects
            await asyncio.sleep(3)
            later = first.connects + second.connects - connects
            short = max(first.health()["short_connections"], second.health()["short_connections"])
    assert "is another client connected as 's1-gw1' (two gateways with one gateway_id" in caplog.text
    assert later <= 10  # backing off to 1-2 s between tries, not four tries a second each
    assert short >= 3  # what `status` and the retained status name as a problem while the fight lasts


async def test_every_reconnection_is_logged_past_the_repeat_filter(
    mosquitto: Mosquitto, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The repeat filter held back "mqtt connected" within a minute of the last one, so after a broker restart the
    log ended on "Connection refused" while the gateway was connected again (a fleet re-check)."""
    from gateway.logs import RateLimitFilter

    pub = make_publisher(mosquitto, Outbox(tmp_path / "o.db"))
    with caplog.at_level(logging.INFO, logger="gateway.delivery.publisher"):
        async with asyncio.timeout(TEST_TIMEOUT_S), running(pub):
            while pub.connects < 1:
                await asyncio.sleep(0.05)
            mosquitto.kill()
            while pub.connected:
                await asyncio.sleep(0.05)
            mosquitto.start()
            while pub.connects < 2:
                await asyncio.sleep(0.05)
    shown = RateLimitFilter()  # what the daemon's log handler lets through
    said = [r for r in caplog.records if r.getMessage().startswith("mqtt connected") and shown.filter(r)]
    assert len(said) == 2

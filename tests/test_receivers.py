"""A store with several receivers: nodes share what they recognise, the primary decides on all of it."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from gateway.adverts import Advert
from gateway.config import CalibrationSettings
from gateway.identity.registry import Registry
from gateway.runtime import Runtime
from gateway.setup import LoadedConfig, load_config_dir
from gateway.sources.sightings import decode_batch, encode_batch
from gateway.zones.level import MIN_DEVICES
from simulator.localbroker import Mosquitto

EXAMPLE = Path(__file__).resolve().parent.parent / "config"
CUSTOMER_ADDR = "C0:11:22:33:44:01"
STRANGER_ADDR = "C0:99:99:99:99:99"


def loaded_as(config: Path, state: Path, gateway_id: str, role: str) -> LoadedConfig:
    loaded = load_config_dir(config)
    gw = loaded.gateway.model_copy(update={"gateway_id": gateway_id, "role": role, "state_dir": state})
    loaded.gateway = gw
    return loaded


async def wait_until(cond: object, timeout_s: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not cond():  # type: ignore[operator]
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


def status_table(config: Path, state: Path) -> str:
    """What `proximity-gateway status` prints for the gateway whose state is in `state`."""
    return subprocess.run(
        [sys.executable, "-m", "gateway", "status", "--config", str(config)],
        env={**os.environ, "PROXIMITY_STATE_DIR": str(state), "COLUMNS": "400"},
        capture_output=True, text=True, check=False,  # exit 1: it found a problem (a node offline, ...)
    ).stdout  # fmt: skip


@contextlib.asynccontextmanager
async def running(*runtimes: Runtime) -> AsyncIterator[None]:
    """The runtimes as the daemon runs them (publisher and housekeeping), connected to the test broker; stopped
    and closed afterwards."""
    stop = asyncio.Event()
    tasks = [asyncio.create_task(rt.publisher.run()) for rt in runtimes]
    tasks += [asyncio.create_task(rt.housekeeping(stop)) for rt in runtimes]
    try:
        await wait_until(lambda: all(rt.publisher.connected for rt in runtimes))
        await asyncio.sleep(0.2)  # subscriptions are in place once connected; give them a moment
        yield
    finally:
        stop.set()
        for rt in runtimes:
            await rt.publisher.stop()
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for rt in runtimes:
            rt.close()


@pytest.fixture
def config(tmp_path: Path, mosquitto: Mosquitto, monkeypatch: pytest.MonkeyPatch) -> Path:
    d = tmp_path / "config"
    shutil.copytree(EXAMPLE, d, ignore=shutil.ignore_patterns("state"))
    people = tmp_path / "customers.jsonl"
    people.write_text(
        json.dumps(
            {
                "customer_id": "cust-1",
                "consent": True,
                "segments": ["coffee"],
                "identifiers": [{"kind": "address", "address": CUSTOMER_ADDR}],
            }
        )
        + "\n"
    )
    gw = d / "gateway.toml"
    gw.write_text(gw.read_text().replace('# customers_file = "customers.jsonl"', f'customers_file = "{people}"'))
    monkeypatch.setenv("PROXIMITY_MQTT__URL", mosquitto.url)
    return d


async def test_a_node_shares_only_consenting_customers_and_the_primary_uses_them(config: Path, tmp_path: Path) -> None:
    node = Runtime(loaded_as(config, tmp_path / "node", "rx-coffee", "node"))
    primary = Runtime(loaded_as(config, tmp_path / "primary", "gw-1", "primary"))
    async with running(node, primary):
        t0 = time.time()  # the primary takes sightings stamped near its own clock only
        for i in range(30):
            node.handle(Advert(t0 + i / 10, "rx-coffee", CUSTOMER_ADDR, -60))
            node.handle(Advert(t0 + i / 10, "rx-coffee", STRANGER_ADDR, -50))
        await wait_until(lambda: primary.sightings_in >= 30)
        await asyncio.sleep(0.3)
        assert primary.sightings_in == 30  # the stranger never left the node
        assert primary.pipeline.stats.recognised == 30
        assert primary.pipeline.tracker.tracked() == 1
        assert node.pipeline.stats.dropped == 30
        assert node.publisher.sightings_sent >= 1
        health = primary.health()
        assert health["role"] == "primary" and health["sightings_in"] == 30


async def test_garbage_on_the_sightings_topic_is_counted_not_fatal(config: Path, tmp_path: Path) -> None:
    primary = Runtime(loaded_as(config, tmp_path / "primary", "gw-1", "primary"))
    primary.on_sightings("rx-x", b"{not json")
    primary.on_sightings("rx-x", json.dumps({"adverts": [{"t": "late"}]}).encode())
    primary.on_sightings("rx-x", b"[" * 100_000 + b"]" * 100_000)  # nested past the parser's limit
    assert primary.sightings_rejected == 3
    assert primary.pipeline.stats.adverts == 0
    primary.close()


async def test_a_node_forwards_the_stores_calibration_tags_and_nothing_else_of_strangers(
    config: Path, tmp_path: Path
) -> None:
    tag = "D4:00:00:00:00:07"
    loaded = loaded_as(config, tmp_path / "node", "rx-coffee", "node")
    loaded.gateway = loaded.gateway.model_copy(update={"calibration": CalibrationSettings(tags=[tag.lower()])})
    node = Runtime(loaded)
    got: list[bytes] = []
    node.publisher.publish_sighting = lambda payload: got.append(payload) or True  # type: ignore[method-assign]
    for i in range(3):
        node.handle(Advert(1000.0 + i, "rx-coffee", tag, -70))
        node.handle(Advert(1000.0 + i, "rx-coffee", STRANGER_ADDR, -50))
    node.handle(Advert(1010.0, "rx-coffee", tag, -70))  # older than MAX_BATCH_AGE_S after the batch began: sent
    sent = [a for p in got for a in decode_batch(p, "rx-coffee").adverts]
    assert [a.addr for a in sent] == [tag] * 4
    assert node.calibration_sent == 4 and node.pipeline.stats.dropped == 3
    assert node.pipeline.stats.recognised == 0  # a tag is not a customer
    assert node.health()["calibration_adverts_sent"] == 4
    node.close()


async def test_a_receiver_the_zone_model_does_not_know_is_logged_once(
    config: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A node added or renamed since the calibration: its readings are ignored, and the IT team is told once."""
    primary = Runtime(loaded_as(config, tmp_path / "primary", "gw-1", "primary"))
    try:
        assert "rx-new-node" not in primary.pipeline.tracker.model.receivers
        for i in range(20):
            primary.handle(Advert(1000.0 + i, "rx-new-node", CUSTOMER_ADDR, -60))
        with caplog.at_level("WARNING", logger="gateway.runtime"):
            primary.report_unknown_receivers()
            primary.report_unknown_receivers()
        named = [r.getMessage() for r in caplog.records if "rx-new-node" in r.getMessage()]
        assert named == [
            "receiver 'rx-new-node' is not in zones.toml: its readings are ignored until the zones are refitted"
        ]
    finally:
        primary.close()


async def test_customers_far_louder_than_the_walks_device_are_logged_once_and_shown_in_the_health_file(
    config: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The walk was done with a device much quieter than the customers' phones (zones/level.py): the IT team is
    told once, and `status` keeps showing it."""
    primary = Runtime(loaded_as(config, tmp_path / "primary", "gw-1", "primary"))
    try:
        assert primary.health()["device_level"] is None  # no visit yet
        for _ in range(MIN_DEVICES):
            primary.pipeline.tracker.level.add(6.0, 1.0)  # what departing visits' learnt offsets would leave
        with caplog.at_level("WARNING", logger="gateway.runtime"):
            primary.report_level()
            primary.report_level()
        named = [r.getMessage() for r in caplog.records if "calibration walk's device" in r.getMessage()]
        assert len(named) == 1 and named[0].startswith("customers' devices read 6.0 dB louder"), named
        level = primary.health()["device_level"]
        assert level["median_db"] == 6.0 and level["devices"] == MIN_DEVICES and level["warning"] == named[0]
        primary.write_health()
    finally:
        primary.close()
    shown = status_table(config, tmp_path / "primary")
    assert "devices vs walk" in shown and f"+6.0 dB (median of {MIN_DEVICES} visits)" in shown


async def test_a_revocation_on_the_primarys_cli_reaches_the_nodes(config: Path, tmp_path: Path) -> None:
    """SPEC 6: a revocation takes effect within seconds. Nodes hear consent only on the consent topic, so a
    customer revoked with the primary's CLI used to stay in the node's sightings until the node restarted."""
    node = Runtime(loaded_as(config, tmp_path / "node", "rx-coffee", "node"))
    primary = Runtime(loaded_as(config, tmp_path / "primary", "gw-1", "primary"))
    async with running(node, primary):
        node.handle(Advert(1000.0, "rx-coffee", CUSTOMER_ADDR, -60))
        assert node.pipeline.stats.recognised == 1
        with Registry(primary.registry.path) as cli:  # what `customers revoke cust-1` does, in another process
            assert cli.revoke("cust-1")
        await wait_until(lambda: node.registry.get("cust-1") is not None and not node.registry.get("cust-1").consent)
        await asyncio.sleep(0.2)
        node.handle(Advert(1001.0, "rx-coffee", CUSTOMER_ADDR, -60))
        assert node.pipeline.stats.recognised == 1 and node.pipeline.stats.dropped == 1
        assert primary.registry.get("cust-1") is not None and not primary.registry.get("cust-1").consent


async def test_a_revocation_queued_while_the_broker_is_away_reaches_the_nodes_after_a_restart(
    config: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The notice waited in the outbox filed under customer '', and the start's erasure of revoked customers took
    '' for one of them: the notice was deleted, and the node went on forwarding the customer."""
    primary = Runtime(loaded_as(config, tmp_path / "primary", "gw-1", "primary"))
    try:
        with Registry(primary.registry.path) as cli:  # `customers revoke cust-1` with the broker away
            assert cli.revoke("cust-1")
        primary.poll_registry()
        assert primary.outbox.depth() == 1
    finally:
        primary.close()
    node = Runtime(loaded_as(config, tmp_path / "node", "rx-coffee", "node"))
    with caplog.at_level("INFO", logger="gateway.privacy"):
        primary = Runtime(loaded_as(config, tmp_path / "primary", "gw-1", "primary"))
    assert not any("revoked while the gateway was stopped" in r.getMessage() for r in caplog.records)
    # The node runs, subscribed, while the primary restarts. Started together, the primary could drain its outbox
    # before the node's first subscription existed, and the broker keeps a QoS 1 message only for a session that
    # has subscribed: the test failed once that way on a loaded machine (session 28).
    async with running(node), running(primary):
        await wait_until(lambda: node.registry.get("cust-1") is not None and not node.registry.get("cust-1").consent)
        node.handle(Advert(1000.0, "rx-coffee", CUSTOMER_ADDR, -60))
        assert node.pipeline.stats.recognised == 0 and node.pipeline.stats.dropped == 1


async def test_a_node_that_first_connects_after_a_revocation_was_sent_still_gets_it(
    config: Path, tmp_path: Path
) -> None:
    """The broker keeps a QoS 1 message only for a session already subscribed: a revocation the primary sent before
    a node's first session (a new node, or a broker that lost its sessions in a restart) never reached it, and the
    node went on forwarding the customer. The primary sends revocations again when a node begins a session."""
    primary = Runtime(loaded_as(config, tmp_path / "primary", "gw-1", "primary"))
    async with running(primary):
        with Registry(primary.registry.path) as cli:
            assert cli.revoke("cust-1")
        await wait_until(lambda: (primary.poll_registry(), primary.outbox.depth() == 0)[1])  # sent, and gone
        node = Runtime(loaded_as(config, tmp_path / "node", "rx-coffee", "node"))
        async with running(node):
            await wait_until(
                lambda: node.registry.get("cust-1") is not None and not node.registry.get("cust-1").consent
            )
            node.handle(Advert(1000.0, "rx-coffee", CUSTOMER_ADDR, -60))
            assert node.pipeline.stats.recognised == 0 and node.pipeline.stats.dropped == 1
        # the node's next session (a restart) gets them again; the one it has already applied changes nothing
        again = Runtime(loaded_as(config, tmp_path / "node", "rx-coffee", "node"))
        async with running(again):
            await wait_until(lambda: primary.outbox.depth() == 0)
            assert again.registry.get("cust-1") is not None and not again.registry.get("cust-1").consent


async def test_the_retained_status_carries_the_daemons_problems(
    config: Path, tmp_path: Path, mosquitto: Mosquitto
) -> None:
    """A fleet's dashboard saw only "online" or "offline": a gateway online with its scanner in backoff, or a
    receiver left out, looked healthy until someone logged in to the store (a fleet sweep)."""
    import aiomqtt

    rt = Runtime(loaded_as(config, tmp_path / "gw", "gw-1", "standalone"))
    seen: list[dict[str, object]] = []

    async def watch() -> None:
        async with aiomqtt.Client("127.0.0.1", mosquitto.port) as client:
            await client.subscribe("proximity/store-042/gw-1/status", qos=1)
            async for message in client.messages:
                seen.append(json.loads(bytes(message.payload)))  # type: ignore[arg-type]

    watcher = asyncio.create_task(watch())
    try:
        async with running(rt):
            await wait_until(lambda: any(s.get("problems") == [] for s in seen))
            rt.scanner_state = "backoff"  # what the watchdog copies from a scanner BlueZ keeps refusing
            await wait_until(lambda: any(s.get("problems") == ["scanner backoff"] for s in seen))
            assert seen[-1]["state"] == "online"
    finally:
        watcher.cancel()
        await asyncio.gather(watcher, return_exceptions=True)


def test_a_nodes_receiver_is_counted_in_the_adverts_metric(config: Path, tmp_path: Path) -> None:
    """`proximity_adverts_total` per receiver counted only the primary's own radio, so a dashboard could not see
    a node's receiver go quiet (a code-reading review)."""
    pytest.importorskip("prometheus_client")
    from prometheus_client.parser import text_string_to_metric_families

    from gateway.metrics import PrometheusMetrics

    metrics = PrometheusMetrics()
    clock = [100_000.0]
    primary = Runtime(loaded_as(config, tmp_path / "primary", "gw-1", "primary"), metrics=metrics, now=lambda: clock[0])
    try:
        for i in range(3):
            primary.on_sightings("rx-coffee", batch_of(Advert(clock[0] + i, "rx-coffee", CUSTOMER_ADDR, -60)))
    finally:
        primary.close()
    counted = {
        s.labels["receiver"]: s.value
        for family in text_string_to_metric_families(metrics.render().decode())
        for s in family.samples
        if s.name == "proximity_adverts_total"
    }
    assert counted == {"rx-coffee": 3.0}


async def test_only_a_consenting_customers_redemption_is_stored(config: Path, tmp_path: Path) -> None:
    """SPEC 6: nothing is kept about people who did not consent; anyone who can publish could otherwise grow
    the history with made-up ids."""
    rt = Runtime(loaded_as(config, tmp_path / "gw", "gw-1", "standalone"))
    try:
        for customer_id in ("cust-1", "nobody-we-know"):
            await rt.on_redemption({"trigger_id": f"t-{customer_id}", "customer_id": customer_id,
                                    "campaign_id": "coffee", "at": 1000.0})  # fmt: skip
        rt.flush()
        assert rt.history.customer_ids() == {"cust-1"}
        assert rt.pipeline.engine.stats["redemptions_ignored"] == 1
        rt.registry.revoke("cust-1")
        rt.poll_registry()
        await rt.on_redemption({"trigger_id": "t-2", "customer_id": "cust-1", "campaign_id": "coffee", "at": 1001.0})
        rt.flush()
        assert rt.history.customer_ids() == set()  # the revocation erased it, and nothing new came in
    finally:
        rt.close()


def batch_of(adv: Advert) -> bytes:
    return encode_batch(adv.rx, [{**adv.to_json(), "rx": adv.rx}])


@pytest.mark.parametrize(("off_s", "said"), [(86_400, "86400 s ahead of"), (-7_200, "7200 s behind")])
async def test_sightings_off_the_primarys_clock_are_ignored_and_named(
    config: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture, off_s: float, said: str
) -> None:
    """One sighting stamped a day ahead used to hide that customer from the primary for the rest of the visit;
    one from two hours ago (a node booted without a real-time clock, before NTP set it) took the primary's time
    back with it."""
    clock = [100_000.0]
    primary = Runtime(loaded_as(config, tmp_path / "primary", "gw-1", "primary"), now=lambda: clock[0])
    try:
        off = Advert(clock[0] + off_s, "rx-coffee", CUSTOMER_ADDR, -60)
        with caplog.at_level("WARNING", logger="gateway.runtime"):
            primary.on_sightings("rx-coffee", batch_of(off))
        assert primary.pipeline.stats.adverts == 0 and primary.sightings_rejected == 1
        assert any(f"sightings from rx-coffee are up to {said} this gateway" in r.getMessage() for r in caplog.records)
        for i in range(5):  # the customer's real sightings still count
            primary.on_sightings("rx-coffee", batch_of(Advert(clock[0] + i, "rx-coffee", CUSTOMER_ADDR, -60)))
        assert primary.pipeline.stats.recognised == 5
        assert primary.health()["sightings_rejected"] == 1
    finally:
        primary.close()


def test_two_processes_cannot_share_a_state_directory(config: Path, tmp_path: Path) -> None:
    """Two daemons (or a replay next to a running daemon) on one config knocked each other off the broker
    and sent presence events twice."""
    first = Runtime(loaded_as(config, tmp_path / "state", "gw-1", "standalone"))
    try:
        script = (
            "import sys; from pathlib import Path; from tests.test_receivers import loaded_as\n"
            "from gateway.runtime import Runtime, StateInUseError\n"
            f"try: Runtime(loaded_as(Path({str(config)!r}), Path({str(tmp_path / 'state')!r}), 'gw-1', 'standalone'))\n"
            "except StateInUseError as e: print(e); sys.exit(3)\n"
        )
        other = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False)
        assert other.returncode == 3, other.stderr
        assert other.stdout.strip() == (
            f"{tmp_path / 'state'}: another proximity-gateway process (pid {os.getpid()}) is using this state "
            "directory; stop it first"
        )
    finally:
        first.close()
    again = Runtime(loaded_as(config, tmp_path / "state", "gw-1", "standalone"))  # released on close
    again.close()


async def test_a_second_deciding_gateway_in_the_store_is_named(
    config: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Two primaries (or standalones) for one store sent every coupon twice, under different trigger ids."""
    one = Runtime(loaded_as(config, tmp_path / "one", "gw-1", "primary"))
    two = Runtime(loaded_as(config, tmp_path / "two", "gw-2", "standalone"))
    node = Runtime(loaded_as(config, tmp_path / "node", "rx-coffee", "node"))
    async with running(one, two, node):
        with caplog.at_level("WARNING", logger="gateway.delivery.publisher"):
            await wait_until(
                lambda: one.publisher.other_deciders == {"gw-2"} and two.publisher.other_deciders == {"gw-1"}
            )
            await asyncio.sleep(0.3)
        assert node.publisher.other_deciders == set()  # a node decides nothing and may share the store
        warned = [r.getMessage() for r in caplog.records if "decides too" in r.getMessage()]
        assert sorted(warned) == [
            "gateway 'gw-1' of this store is online as primary and decides too: every coupon would be sent twice; "
            'make all but one of them role = "node"',
            "gateway 'gw-2' of this store is online as standalone and decides too: every coupon would be sent twice; "
            'make all but one of them role = "node"',
        ]


async def test_a_decider_that_came_and_went_while_this_gateway_was_away_is_not_named(
    config: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The broker queued the other gateway's statuses for this one's persistent session: back online, it was
    told 'gw-2 ... is online ... every coupon would be sent twice' of a gateway whose retained status was offline."""
    async with running(Runtime(loaded_as(config, tmp_path / "one", "gw-1", "standalone"))):
        pass
    async with running(Runtime(loaded_as(config, tmp_path / "two", "gw-2", "standalone"))):
        pass
    again = Runtime(loaded_as(config, tmp_path / "one", "gw-1", "standalone"))
    with caplog.at_level("WARNING", logger="gateway.delivery.publisher"):
        async with running(again):
            await asyncio.sleep(0.5)
            assert again.publisher.other_deciders == set()
    assert not [r for r in caplog.records if "decides too" in r.getMessage()]


async def test_a_revocation_heard_on_the_consent_topic_is_not_sent_again(
    config: Path, tmp_path: Path, mosquitto: Mosquitto
) -> None:
    """Only a revocation made with a receiver's own CLI goes out on the consent topic. One the CRM sent there was
    sent again by the primary and by every node (the CRM saw its message come back once per receiver)."""
    import aiomqtt

    node = Runtime(loaded_as(config, tmp_path / "node", "rx-coffee", "node"))
    primary = Runtime(loaded_as(config, tmp_path / "primary", "gw-1", "primary"))
    topic = f"proximity/{primary.cfg.store_id}/consent"
    seen: list[bytes] = []
    async with (
        running(node, primary),
        aiomqtt.Client(mosquitto.host, mosquitto.port, identifier="crm") as crm,
    ):
        await crm.subscribe(topic, qos=1)

        async def collect() -> None:
            async for m in crm.messages:
                seen.append(bytes(m.payload))  # type: ignore[arg-type]

        collector = asyncio.create_task(collect())
        await crm.publish(topic, json.dumps({"customer_id": "cust-1", "consent": False}), qos=1)
        await wait_until(lambda: not any(c.customer_id == "cust-1" for c in node.registry.consenting()))
        await wait_until(lambda: not any(c.customer_id == "cust-1" for c in primary.registry.consenting()))
        await asyncio.sleep(2.5)  # housekeeping polls the registry once a second
        collector.cancel()
        await asyncio.gather(collector, return_exceptions=True)
    assert len(seen) == 1, seen  # the CRM's own message, nothing more


async def test_the_primary_says_when_a_receiver_node_goes_offline_and_when_it_is_back(
    config: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A node that stops (its will, or a clean stop): the store's IT team should hear it from the primary, and see it
    in `status`, rather than find it in the coupons; and the zones stop reading its silence as evidence."""
    primary = Runtime(loaded_as(config, tmp_path / "primary", "gw-1", "primary"))
    with caplog.at_level("INFO", logger="gateway.delivery.publisher"):
        async with running(primary):
            async with running(Runtime(loaded_as(config, tmp_path / "node", "rx-bakery", "node"))):
                await wait_until(lambda: "rx-bakery" not in primary.publisher.nodes_offline)
            await wait_until(lambda: primary.publisher.nodes_offline == {"rx-bakery"})
            assert primary.health()["nodes_offline"] == ["rx-bakery"]
            # its receiver is left out of the zones at once, not after its silence has been weighed
            await wait_until(lambda: primary.pipeline.tracker.absent == {"rx-bakery"})
            assert primary.health()["receivers_absent"] == ["rx-bakery"]
            primary.write_health()
            shown = status_table(config, tmp_path / "primary")
            assert "receiver nodes offline" in shown and "rx-bakery" in shown
            async with running(Runtime(loaded_as(config, tmp_path / "node", "rx-bakery", "node"))):
                await wait_until(lambda: primary.publisher.nodes_offline == set())
                assert primary.health()["nodes_offline"] == []
                await wait_until(lambda: primary.pipeline.tracker.absent == frozenset())
    # (the second node's own stop at the end may be heard too, before the primary stops)
    said = [r.getMessage() for r in caplog.records if "'rx-bakery'" in r.getMessage()][:2]
    assert said[0].startswith("receiver node 'rx-bakery' of this store is offline: zones are estimated without it")
    assert said[1] == "receiver node 'rx-bakery' of this store is back online"

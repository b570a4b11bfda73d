"""Consent changes over MQTT reach a gateway that is in the middle of a store day.

The advertisements are fed in recording order through the same Runtime that `replay` and `run` use; the
revocation travels the real way: a message on {prefix}/{store}/consent through a private Mosquitto.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import shutil
from pathlib import Path
from typing import Any

import aiomqtt
import pytest

from gateway.logs import setup_logging
from gateway.runtime import Runtime
from gateway.setup import load_config_dir
from gateway.sources.recording import read_recording
from simulator.localbroker import Mosquitto

DEMO = Path(__file__).resolve().parent.parent / "demo"
KINDS = {"token", "irk", "ibeacon", "eddystone_uid", "address"}


def event_time(p: dict[str, Any]) -> float:
    return float(p.get("observed_at", p.get("at", 0.0)))


async def run_day(
    config: Path, cut: tuple[str, float] | None, mosquitto: Mosquitto
) -> tuple[list[tuple[str, dict[str, Any]]], Runtime]:
    """Feeds the demo day; with `cut` = (customer, t), revokes that customer over MQTT when the day reaches t."""
    loaded = load_config_dir(config)
    runtime = Runtime(loaded)
    stop = asyncio.Event()
    tasks = [asyncio.create_task(runtime.publisher.run()), asyncio.create_task(runtime.housekeeping(stop))]
    got: list[tuple[str, dict[str, Any]]] = []
    ready = asyncio.Event()

    async def consume() -> None:
        async with aiomqtt.Client(mosquitto.host, mosquitto.port, identifier="consent-test") as c:
            await c.subscribe("proximity/#", qos=1)
            ready.set()
            async for m in c.messages:
                got.append((str(m.topic), json.loads(bytes(m.payload))))  # type: ignore[arg-type]

    consumer = asyncio.create_task(consume())
    await asyncio.wait_for(ready.wait(), 5)
    while not runtime.publisher.connected:
        await asyncio.sleep(0.01)
    _, adverts, _ = read_recording(DEMO / "scans.jsonl.gz")
    revoked = False
    try:
        for adv in adverts:
            if cut is not None and not revoked and adv.t >= cut[1]:
                async with aiomqtt.Client(mosquitto.host, mosquitto.port, identifier="crm") as crm:
                    await crm.publish(
                        f"proximity/{loaded.gateway.store_id}/consent",
                        json.dumps({"customer_id": cut[0], "consent": False}),
                        qos=1,
                    )
                for _ in range(200):  # "within a second"
                    if cut[0] not in runtime.pipeline.resolver.customer_ids():
                        break
                    await asyncio.sleep(0.005)
                revoked = True
            runtime.handle(adv)
        runtime.finish()
        runtime.flush()
        assert await runtime.publisher.drain(20) == 0
        await asyncio.sleep(0.3)
    finally:
        stop.set()
        await runtime.publisher.stop()
        for t in [*tasks, consumer]:
            t.cancel()
        await asyncio.gather(*tasks, consumer, return_exceptions=True)
    return got, runtime


@pytest.fixture
def config(tmp_path: Path, mosquitto: Mosquitto, monkeypatch: pytest.MonkeyPatch) -> Path:
    shutil.copytree(DEMO, tmp_path / "demo")
    monkeypatch.setenv("PROXIMITY_MQTT__URL", mosquitto.url)
    return tmp_path / "demo" / "config"


async def test_every_identifier_kind_is_recognised_end_to_end(config: Path, mosquitto: Mosquitto) -> None:
    got, rt = await run_day(config, None, mosquitto)
    rt.close()
    customers = {
        json.loads(line)["customer_id"]: json.loads(line) for line in (config.parent / "customers.jsonl").open()
    }
    present = {p["customer_id"] for t, p in got if t.endswith("/presence")}
    kinds = {i["kind"] for cid in present for i in customers[cid]["identifiers"]}
    assert kinds == KINDS
    assert all(customers[cid]["consent"] for cid in present)


async def test_revocation_over_mqtt_mid_day_stops_that_customer_from_that_moment(
    config: Path, mosquitto: Mosquitto, tmp_path: Path
) -> None:
    control, rt = await run_day(config, None, mosquitto)
    rt.close()
    triggers = sorted((p for t, p in control if "/triggers/" in t), key=event_time)
    victim = triggers[-1]["customer_id"]
    first_seen = min(event_time(p) for t, p in control if p.get("customer_id") == victim)
    cut_t = (first_seen + event_time(triggers[-1])) / 2  # seen before the cut, coupon due after it

    shutil.rmtree(config / "state")
    got, rt = await run_day(config, (victim, cut_t), mosquitto)
    try:
        mine = [p for _, p in got if p.get("customer_id") == victim]
        assert mine, "the customer was seen before the revocation"
        assert max(event_time(p) for p in mine) <= cut_t
        assert not [p for t, p in got if "/triggers/" in t and p["customer_id"] == victim]
        others_before = {p["trigger_id"] for t, p in control if "/triggers/" in t and p["customer_id"] != victim}
        others_after = {p["trigger_id"] for t, p in got if "/triggers/" in t and p["customer_id"] != victim}
        assert others_after == others_before  # nobody else is affected
        assert victim not in rt.history.customer_ids()
    finally:
        rt.close()


async def test_each_consent_change_and_problem_reaches_the_log(tmp_path: Path) -> None:
    # The journal's repeat filter keyed these lines by their template: a second revocation (or a second, different
    # problem) within a minute of the first never reached the log.
    shutil.copytree(DEMO, tmp_path / "demo")
    stream = io.StringIO()
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    setup_logging(logging.INFO, stream=stream, environ={})
    runtime = Runtime(load_config_dir(tmp_path / "demo" / "config"))
    try:
        consenting = sorted(c.customer_id for c in runtime.registry.consenting())[:3]
        for cid in consenting:
            await runtime.on_consent({"customer_id": cid, "consent": False})
        await runtime.on_consent({"customer_id": "never-here", "consent": False})
        await runtime.on_consent({"customer_id": consenting[0]})
        await runtime.on_consent({"customer_id": consenting[0], "consent": "no"})
        runtime.pipeline.engine.on_redemption({"customer_id": "c", "campaign_id": "k", "at": 1.0})
        runtime.pipeline.engine.on_redemption({"trigger_id": "t", "customer_id": "c", "campaign_id": "k"})
    finally:
        runtime.close()
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
    lines = stream.getvalue()
    for cid in consenting:
        assert f"consent revoked: {cid} " in lines
    assert "never-here" not in lines  # a "no" from someone the gateway never had is no consent change of theirs
    assert lines.count("consent message ignored: ") == 2
    assert lines.count("ignored redemption message: ") == 2


async def test_a_restart_keeps_what_the_consent_topic_changed_since_the_file(tmp_path: Path) -> None:
    """The customers file was imported again at every start: a tag changed on the consent topic went back to the
    file's, and a customer the file had as revoked but who opted in again was revoked again, with their history
    erased (a review sweep). The file is applied again only when it changes."""
    shutil.copytree(DEMO, tmp_path / "demo")
    config = tmp_path / "demo" / "config"
    people = tmp_path / "demo" / "customers.jsonl"
    rows = [json.loads(line) for line in people.read_text().splitlines()]
    rows[1]["consent"] = False  # the file's word on cust-0002: no
    people.write_text("".join(json.dumps(r) + "\n" for r in rows))
    new_tag = {"kind": "address", "address": "C0:FF:EE:00:00:01"}
    first = Runtime(load_config_dir(config))
    try:
        assert first.registry.get("cust-0002") is None  # never consented: not even the id is kept
        await first.on_consent({**rows[0], "identifiers": [new_tag]})  # a new tag for cust-0001
        await first.on_consent({**rows[1], "consent": True})  # cust-0002 opts in again
    finally:
        first.close()
    again = Runtime(load_config_dir(config))
    try:
        one, two = again.registry.get("cust-0001"), again.registry.get("cust-0002")
        assert one is not None and [i.model_dump() for i in one.identifiers] == [new_tag]
        assert two is not None and two.consent
    finally:
        again.close()
    fresh = {**rows[2], "customer_id": "cust-new", "identifiers": [{"kind": "address", "address": "C0:FF:EE:00:00:03"}]}
    people.write_text(people.read_text() + json.dumps(fresh) + "\n")
    changed = Runtime(load_config_dir(config))  # a new export of the CRM: applied
    try:
        assert changed.registry.get("cust-new") is not None
    finally:
        changed.close()


async def test_a_retained_grant_replayed_by_the_broker_does_not_undo_a_revocation(tmp_path: Path) -> None:
    """A grant the back office published with the retain flag came back at every reconnection and re-granted a
    customer the store had revoked with `customers revoke` since (a review sweep). Replayed, it is old news: it still
    adds a customer the gateway never had, as a file row would, but does not re-grant."""
    shutil.copytree(DEMO, tmp_path / "demo")
    rows = [json.loads(line) for line in (tmp_path / "demo" / "customers.jsonl").read_text().splitlines()]
    runtime = Runtime(load_config_dir(tmp_path / "demo" / "config"))
    try:
        assert runtime.registry.revoke("cust-0003")
        await runtime.on_retained_consent(rows[2])
        assert not runtime.registry.get("cust-0003").consent  # type: ignore[union-attr]
        late = {"kind": "address", "address": "C0:FF:EE:00:00:02"}
        await runtime.on_retained_consent({**rows[2], "customer_id": "cust-late", "identifiers": [late]})
        assert runtime.registry.get("cust-late").consent  # type: ignore[union-attr]
        await runtime.on_consent(rows[2])  # the app's word now, not the broker's copy: re-granted
        assert runtime.registry.get("cust-0003").consent  # type: ignore[union-attr]
    finally:
        runtime.close()

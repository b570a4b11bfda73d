"""The whole product, end to end: a shipped store recording replayed into a real Mosquitto.

Asserts what a store would notice: the coupons the gateway decides, each delivered by the broker, all of them ones the
ground truth implies;
nobody else's device in anything published, stored or logged; a revoked customer gets nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import shutil
from pathlib import Path
from typing import Any

import aiomqtt
import pytest

from gateway.campaigns.events import Trigger
from gateway.identity.registry import Registry
from gateway.pipeline import Pipeline
from gateway.replay import replay
from gateway.setup import load_config_dir
from gateway.sources.recording import read_recording
from gateway.truth import read_truth
from simulator.expected import expected_triggers
from simulator.localbroker import Mosquitto

DEMO = Path(__file__).resolve().parent.parent / "demo"


def customers_file(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.fixture
def demo_copy(tmp_path: Path, mosquitto: Mosquitto, monkeypatch: pytest.MonkeyPatch) -> Path:
    shutil.copytree(DEMO, tmp_path / "demo")
    monkeypatch.setenv("PROXIMITY_MQTT__URL", mosquitto.url)
    return tmp_path / "demo"


async def collect(
    mosquitto: Mosquitto, topic: str, got: list[tuple[str, dict[str, Any]]], ready: asyncio.Event
) -> None:
    async with aiomqtt.Client(mosquitto.host, mosquitto.port, identifier="e2e-consumer") as client:
        await client.subscribe(topic, qos=1)
        ready.set()
        async for msg in client.messages:
            got.append((str(msg.topic), json.loads(bytes(msg.payload))))  # type: ignore[arg-type]


async def replay_and_collect(
    config: Path, scans: Path, mosquitto: Mosquitto
) -> tuple[Any, list[tuple[str, dict[str, Any]]]]:
    loaded = load_config_dir(config)
    got: list[tuple[str, dict[str, Any]]] = []
    ready = asyncio.Event()
    sub = asyncio.create_task(collect(mosquitto, "proximity/#", got, ready))
    await asyncio.wait_for(ready.wait(), 5)
    result = await replay(loaded, scans, drain_timeout_s=20)
    await asyncio.sleep(0.5)
    sub.cancel()
    with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
        await sub
    return result, got


async def test_demo_replay_delivers_the_triggers_it_decides_and_the_truth_implies(
    demo_copy: Path, mosquitto: Mosquitto, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    config = demo_copy / "config"
    loaded = load_config_dir(config)
    result, got = await replay_and_collect(config, demo_copy / "scans.jsonl.gz", mosquitto)
    assert result.still_queued == 0

    triggers = [p for topic, p in got if "/triggers/" in topic]
    delivered = {(p["customer_id"], p["campaign_id"]) for p in triggers}
    customers = customers_file(demo_copy / "customers.jsonl")
    truth = read_truth(demo_copy / "truth.jsonl")
    _, adverts, _ = read_recording(demo_copy / "scans.jsonl.gz")
    expected = {(e.customer_id, e.campaign_id) for e in expected_triggers(loaded, customers, truth, adverts)}
    assert expected, "the demo must show some coupons"
    # Every coupon delivered is one the truth implies: the right customer, for a stay that happened
    assert delivered <= expected
    # and the zones miss at most one stay of the day. Until session 25 all six came, one of them (cust-0007's,
    # decided at confidence 0.61) only because its packets' lines came in the order the simulator wrote them:
    # reversed, it was lost (docs/zones.md, round 26).
    assert len(delivered) >= len(expected) - 1
    # What the gateway decides is what the broker delivers, each once: the pure pipeline over the same recording
    pipeline = Pipeline.from_config_dir(config)
    decided = [e for adv in adverts for e in pipeline.process(adv) if isinstance(e, Trigger)]
    decided += [e for e in pipeline.finish() if isinstance(e, Trigger)]
    assert sorted(p["trigger_id"] for p in triggers) == sorted(e.trigger_id for e in decided)

    for p in triggers:  # SPEC section 7 required keys
        for key in (
            "trigger_id",
            "store_id",
            "gateway_id",
            "customer_id",
            "campaign_id",
            "zone",
            "dwell_s",
            "observed_at",
            "created_at",
        ):
            assert key in p, key
    # A consumer deduplicates on trigger_id: one id per (customer, campaign, occurrence)
    assert len({p["trigger_id"] for p in triggers}) == len(
        {(p["customer_id"], p["campaign_id"], p["observed_at"]) for p in triggers}
    )

    # Privacy: nobody but consenting customers anywhere
    consenting = {c["customer_id"] for c in customers if c.get("consent")}
    others = {c["customer_id"] for c in customers if not c.get("consent")}
    assert others, "the demo must include customers without consent"
    published_ids = {p.get("customer_id") for _, p in got if "customer_id" in p}
    assert published_ids <= consenting
    stranger_addrs = {a.addr for a in adverts} - _customer_addresses(adverts, loaded, customers)
    stored = b"".join(p.read_bytes() for p in (loaded.gateway.state_dir).glob("*") if p.is_file())
    logged = caplog.text
    for cid in others:
        assert cid.encode() not in stored and cid not in logged
    leaked = [a for a in list(stranger_addrs)[:500] if a.encode() in stored or a in logged]
    assert not leaked


def _customer_addresses(adverts: list[Any], loaded: Any, customers: list[dict[str, Any]]) -> set[str]:
    from gateway.identity.models import Customer
    from gateway.identity.resolver import Resolver

    resolver = Resolver(
        [Customer.model_validate(c) for c in customers if c.get("consent")],
        token_company_id=loaded.gateway.recognition.token_company_id,
    )
    return {a.addr for a in adverts if resolver.match(a) is not None}


async def test_revoked_customer_gets_nothing(demo_copy: Path, mosquitto: Mosquitto) -> None:
    config = demo_copy / "config"
    loaded = load_config_dir(config)
    _first, got_before = await replay_and_collect(config, demo_copy / "scans.jsonl.gz", mosquitto)
    triggered = sorted({p["customer_id"] for t, p in got_before if "/triggers/" in t})
    assert triggered
    victim = triggered[0]
    # a fresh state: the same store day again, with the customer revoked through the registry
    shutil.rmtree(loaded.gateway.state_dir)
    registry = Registry(_mkstate(loaded.gateway.state_dir) / "registry.db")
    assert loaded.gateway.customers_file is not None
    registry.import_file(loaded.gateway.customers_file)
    assert registry.revoke(victim)
    registry.close()
    # the customers file still says "consent": re-importing it at start must not silently re-grant
    _, got = await replay_and_collect(config, demo_copy / "scans.jsonl.gz", mosquitto)
    assert victim not in {p.get("customer_id") for _, p in got}
    assert {p["customer_id"] for t, p in got if "/triggers/" in t} == set(triggered) - {victim}


def _mkstate(p: Path) -> Path:
    p.mkdir(parents=True, exist_ok=True)
    return p


def test_the_shipped_zones_are_what_calibrate_fit_makes_of_the_shipped_walk(tmp_path: Path) -> None:
    """The demo's config/zones.toml must come from today's fit: a change to the fit that alters the model
    must regenerate the demo (its README says how), or the demo would show an older product."""
    from typer.testing import CliRunner

    from gateway.cli_calibrate import calibrate_app

    out = tmp_path / "zones.toml"
    args = ["fit", "--scans", str(DEMO / "calibration.jsonl.gz"), "--truth", str(DEMO / "calibration-truth.jsonl")]
    r = CliRunner().invoke(calibrate_app, [*args, "--out", str(out)])
    assert r.exit_code == 0, r.output

    def body(p: Path) -> list[str]:
        return [line for line in p.read_text().splitlines() if not line.startswith("#")]

    assert body(out) == body(DEMO / "config" / "zones.toml")

"""The demo: a shipped store recording through the whole gateway into a private Mosquitto.

What a visitor sees is what a store's marketing platform would see: the coupon triggers and presence
events as the broker delivered them, subscribed to like any consumer would.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiomqtt
from rich.console import Console
from rich.table import Table

from gateway.replay import ReplayResult, replay
from gateway.setup import load_config_dir
from simulator.localbroker import Mosquitto

DEMO_DIR = Path(__file__).resolve().parent.parent / "demo"
SETTLE_S = 1.0  # after the replay, how long the subscriber keeps listening for stragglers


@dataclass
class Received:
    triggers: list[dict[str, Any]] = field(default_factory=list)
    presence: list[dict[str, Any]] = field(default_factory=list)
    status: list[dict[str, Any]] = field(default_factory=list)


async def _subscribe(url_host: str, port: int, prefix: str, store: str, got: Received, ready: asyncio.Event) -> None:
    async with aiomqtt.Client(url_host, port, identifier="demo-subscriber") as client:
        await client.subscribe(f"{prefix}/{store}/#", qos=1)
        ready.set()
        async for msg in client.messages:
            topic = str(msg.topic)
            try:
                payload = json.loads(bytes(msg.payload))
            except ValueError:
                continue
            if "/triggers/" in topic:
                got.triggers.append(payload)
            elif topic.endswith("/presence"):
                got.presence.append(payload)
            elif topic.endswith("/status"):
                got.status.append(payload)


def _clock(t: float) -> str:
    return datetime.fromtimestamp(t, tz=UTC).strftime("%H:%M:%S")


async def run_demo(demo_dir: Path, speed: float | None, console: Console) -> tuple[ReplayResult, Received]:
    work = Path(tempfile.mkdtemp(prefix="proximity-demo-"))  # the broker and the state; the config is read in place
    try:
        config = demo_dir / "config"  # so that a problem names the user's file, not a deleted copy
        with Mosquitto(work / "broker") as broker:
            os.environ["PROXIMITY_MQTT__URL"] = broker.url  # the shipped config's broker is replaced, not edited
            os.environ["PROXIMITY_STATE_DIR"] = str(work / "state")
            loaded = load_config_dir(config)
            console.print(
                f"[bold]Broker[/] private Mosquitto at {broker.url}; [bold]store[/] {loaded.gateway.store_id}; "
                f"{len(loaded.zones.zones)} zones; {len(loaded.campaigns)} campaigns"
            )
            got = Received()
            ready = asyncio.Event()
            sub = asyncio.create_task(
                _subscribe(
                    broker.host, broker.port, loaded.gateway.mqtt.topic_prefix, loaded.gateway.store_id, got, ready
                )
            )
            await asyncio.wait_for(ready.wait(), timeout=5)
            started = time.perf_counter()
            result = await replay(loaded, demo_dir / "scans.jsonl.gz", speed=speed)
            await asyncio.sleep(SETTLE_S)
            sub.cancel()
            with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
                await sub
            console.print(f"replay took {time.perf_counter() - started:.2f} s of wall time")
            return result, got
    finally:
        os.environ.pop("PROXIMITY_MQTT__URL", None)
        os.environ.pop("PROXIMITY_STATE_DIR", None)
        shutil.rmtree(work, ignore_errors=True)


def print_report(result: ReplayResult, got: Received, console: Console) -> None:
    table = Table(title="Coupon triggers delivered by the broker (recording clock, UTC)")
    for col in ("observed", "customer", "campaign", "zone", "dwell s", "confidence", "trigger id"):
        table.add_column(col)
    seen: set[str] = set()
    for trig in sorted(got.triggers, key=lambda p: p.get("observed_at", 0)):
        tid = str(trig.get("trigger_id"))
        if tid in seen:  # at-least-once delivery: a consumer deduplicates on trigger_id, and so do we
            continue
        seen.add(tid)
        conf = trig.get("confidence")
        table.add_row(
            _clock(float(trig.get("observed_at", 0))),
            str(trig.get("customer_id")),
            str(trig.get("campaign_id")),
            str(trig.get("zone")),
            f"{float(trig.get('dwell_s', 0)):.0f}",
            f"{conf:.2f}" if isinstance(conf, (int, float)) else "-",
            tid[:12],
        )
    console.print(table)
    customers = sorted({str(p.get("customer_id")) for p in got.presence})
    console.print(
        f"{result.adverts:,} advertisements replayed, {result.recognised:,} from opted-in customers; every other "
        f"device dropped in memory. {len(seen)} triggers and {len(got.presence)} presence events "
        f"({len(customers)} customers) delivered; {result.still_queued} still queued."
    )

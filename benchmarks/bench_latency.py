"""Latency from the advertisement that completes a rule to the trigger's delivery, against a local broker.

    python benchmarks/bench_latency.py [--speed 30] [--day demo]

Plays a store day through the same Runtime the daemon uses, one advertisement at a time and paced at
`--speed` times real time (as live scanning delivers them). For each event it records when the advertisement
that produced it was handed to the pipeline, and when a subscriber on the same broker received the message.
That is later than PUBACK, so it is an upper bound on advertisement-to-PUBACK latency.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import aiomqtt

from gateway.campaigns.events import stable_id
from gateway.runtime import Runtime
from gateway.setup import load_config_dir
from gateway.sources.recording import read_recording
from simulator.localbroker import Mosquitto

DEMO = Path(__file__).resolve().parent.parent / "demo"


async def measure(day: Path, speed: float) -> list[float]:
    work = Path(tempfile.mkdtemp(prefix="bench-latency-"))
    try:
        shutil.copytree(day, work / "day")
        with Mosquitto(work / "broker") as broker:
            os.environ["PROXIMITY_MQTT__URL"] = broker.url
            loaded = load_config_dir(work / "day" / "config")
            runtime = Runtime(loaded)
            created: dict[str, float] = {}
            arrived: dict[str, float] = {}
            original = runtime.pipeline.process

            def process(adv):  # type: ignore[no-untyped-def]
                start = time.perf_counter()
                events = original(adv)
                for e in events:
                    created.setdefault(e.message_id, start)
                return events

            runtime.pipeline.process = process  # type: ignore[method-assign]
            ready = asyncio.Event()

            async def consume() -> None:
                async with aiomqtt.Client(broker.host, broker.port, identifier="latency") as c:
                    await c.subscribe("proximity/#", qos=1)
                    ready.set()
                    async for m in c.messages:
                        now = time.perf_counter()
                        p = json.loads(bytes(m.payload))
                        if "trigger_id" in p:
                            arrived.setdefault(p["trigger_id"], now)
                        elif "event" in p:  # presence: its message id is derived from the payload
                            store = str(m.topic).split("/")[1]
                            key = stable_id("presence", store, p["customer_id"], p["zone"], p["event"], float(p["at"]))
                            arrived.setdefault(key, now)

            stop = asyncio.Event()
            tasks = [
                asyncio.create_task(runtime.publisher.run()),
                asyncio.create_task(runtime.housekeeping(stop)),
                asyncio.create_task(consume()),
            ]
            await ready.wait()
            _, adverts, _ = read_recording(work / "day" / "scans.jsonl.gz")
            wall0, t0 = time.monotonic(), adverts[0].t
            for adv in adverts:
                ahead = (adv.t - t0) / speed - (time.monotonic() - wall0)
                if ahead > 0.002:
                    await asyncio.sleep(ahead)
                runtime.handle(adv)
            await runtime.publisher.drain(10)
            await asyncio.sleep(0.5)
            stop.set()
            await runtime.publisher.stop()
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            runtime.close()
        return [arrived[k] - created[k] for k in created if k in arrived]
    finally:
        os.environ.pop("PROXIMITY_MQTT__URL", None)
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--day", type=Path, default=DEMO)
    ap.add_argument("--speed", type=float, default=30.0)
    args = ap.parse_args()
    lat = sorted(asyncio.run(measure(args.day, args.speed)))
    if not lat:
        print("no events matched")
        return
    p99 = lat[min(len(lat) - 1, int(0.99 * len(lat)))]
    print(
        f"{len(lat)} triggers and presence events delivered; advertisement -> subscriber: "
        f"p50 {statistics.median(lat) * 1e3:.1f} ms, "
        f"p99 {p99 * 1e3:.1f} ms, max {lat[-1] * 1e3:.1f} ms (speed x{args.speed:g})"
    )


if __name__ == "__main__":
    main()

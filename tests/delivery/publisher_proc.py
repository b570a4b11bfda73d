"""A small gateway stand-in for crash tests: fills an outbox and publishes it; the test SIGKILLs it."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from delivery_helpers import trigger

from gateway.config import MqttSettings
from gateway.delivery.outbox import Outbox, OutboxEntry
from gateway.delivery.publisher import Publisher


def put_loop(db: Path) -> None:
    box = Outbox(db)
    i = 0
    while True:
        msg_id, topic, payload = trigger(i, f"c{i % 7}")
        box.put(msg_id, topic, payload, payload["customer_id"])
        print(msg_id, flush=True)  # only after put() returned: the test checks these survived the kill
        i += 1


async def publish(db: Path, url: str, count: int, max_in_flight: int, gateway: str) -> None:
    box = Outbox(db)
    box.put_many(OutboxEntry(*trigger(i, f"c{i % 50}"), customer_id=f"c{i % 50}") for i in range(count))
    pub = Publisher(MqttSettings(url=url, reconnect_max_s=0.5), box, "s1", gateway, "test", max_in_flight=max_in_flight)
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, lambda: asyncio.ensure_future(pub.stop()))
    print("running", flush=True)
    await pub.run()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--db", type=Path, required=True)
    ap.add_argument("--put-loop", action="store_true")
    ap.add_argument("--url", default="")
    ap.add_argument("--count", type=int, default=0)
    ap.add_argument("--max-in-flight", type=int, default=8)
    ap.add_argument("--gateway", default="gw1")
    args = ap.parse_args()
    if args.put_loop:
        put_loop(args.db)
    else:
        asyncio.run(publish(args.db, args.url, args.count, args.max_in_flight, args.gateway))


if __name__ == "__main__":
    main()

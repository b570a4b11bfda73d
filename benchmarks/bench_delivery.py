"""Delivery throughput and latency through the outbox, QoS 1, against a private Mosquitto on a free port.

    python benchmarks/bench_delivery.py [--messages 20000] [--rate 500] [--duration 5]

Throughput: a backlog put with put_many (as after an outage), drained with different in-flight windows, over many
customers (pipelined) and over one customer (one at a time, to keep its order). Latency: put() at a steady rate,
measured from the call to put() until the message's PUBACK was recorded (ack in the outbox).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from gateway.config import MqttSettings
from gateway.delivery.outbox import Outbox, OutboxEntry
from gateway.delivery.publisher import Publisher
from simulator.localbroker import Mosquitto


class TimedOutbox(Outbox):
    """Stamps each message at put() and at ack (right after its PUBACK)."""

    def __init__(self, db_path: Path, power_safe: bool) -> None:
        super().__init__(db_path, power_safe=power_safe)
        self.put_at: dict[str, float] = {}
        self.acked_at: dict[str, float] = {}

    def ack_many(self, msg_ids: Sequence[str]) -> None:
        t = time.perf_counter()
        for m in msg_ids:
            self.acked_at.setdefault(m, t)
        super().ack_many(msg_ids)


def settings(broker: Mosquitto) -> MqttSettings:
    return MqttSettings(url=broker.url)


async def throughput(broker: Mosquitto, work: Path, n: int, window: int, customers: int) -> float:
    box = Outbox(work / f"tp-{window}-{customers}.db")
    box.put_many(
        OutboxEntry(f"m{i}", "bench/s1/triggers/c", {"trigger_id": f"m{i}", "pad": "x" * 200}, f"c{i % customers}")
        for i in range(n)
    )
    pub = Publisher(settings(broker), box, "s1", f"gw-{window}-{customers}", "bench", max_in_flight=window)
    task = asyncio.create_task(pub.run())
    t0 = time.perf_counter()
    left = await pub.drain(120)
    dt = time.perf_counter() - t0
    await pub.stop()
    await task
    box.close()
    assert left == 0, f"{left} messages left"
    return n / dt


async def latency(
    broker: Mosquitto, work: Path, rate: float, duration_s: float, window: int, power_safe: bool
) -> tuple[float, float, float]:
    box = TimedOutbox(work / f"lat-{rate}-{power_safe}.db", power_safe)
    pub = Publisher(settings(broker), box, "s1", f"gw-lat-{rate}", "bench", max_in_flight=window)
    task = asyncio.create_task(pub.run())
    while not pub.connected:
        await asyncio.sleep(0.01)
    n = int(rate * duration_s)
    start = time.perf_counter()
    put_costs = []
    for i in range(n):
        due = start + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        msg_id = f"l{i}"
        t = time.perf_counter()
        box.put(msg_id, "bench/s1/triggers/c", {"trigger_id": msg_id, "pad": "x" * 200}, f"c{i % 100}")
        put_costs.append(time.perf_counter() - t)
        box.put_at[msg_id] = t
        pub.notify()
    left = await pub.drain(60)
    await pub.stop()
    await task
    assert left == 0
    lat = sorted((box.acked_at[m] - box.put_at[m]) * 1000 for m in box.put_at)
    p50 = lat[len(lat) // 2]
    p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))]
    return p50, p99, statistics.median(put_costs) * 1000


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--messages", type=int, default=20000)
    ap.add_argument("--rate", type=float, nargs="+", default=[100.0, 500.0])
    ap.add_argument("--duration", type=float, default=5.0)
    ap.add_argument("--windows", type=int, nargs="+", default=[1, 8, 32, 128])
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        with Mosquitto(work / "broker") as broker:
            print(f"mosquitto on 127.0.0.1:{broker.port}; {args.messages} messages of ~250 bytes, QoS 1, via outbox")
            print("throughput (backlog drain), messages/s:")
            print(f"  {'in-flight':>9}  {'1000 customers':>14}  {'1 customer':>10}")
            for w in args.windows:
                many = await throughput(broker, work, args.messages, w, 1000)
                one = await throughput(broker, work, args.messages // 4, w, 1)
                print(f"  {w:>9}  {many:>14.0f}  {one:>10.0f}")
            print("latency put() -> PUBACK recorded, steady rate, 100 customers, in-flight 32:")
            for power_safe in (True, False):
                label = "fsync per put (default)" if power_safe else "power_safe=False"
                for rate in args.rate:
                    p50, p99, put_ms = await latency(broker, work, rate, args.duration, 32, power_safe)
                    print(
                        f"  {label:<23} {rate:>5.0f} msg/s: p50 {p50:7.2f} ms  p99 {p99:7.2f} ms"
                        f"  (put() alone: median {put_ms:.2f} ms)"
                    )


if __name__ == "__main__":
    asyncio.run(main())

"""Throughput of the campaign engine on a synthetic store day (not collected by pytest; run it directly).

python tests/campaigns/bench_engine.py
"""

from __future__ import annotations

import random
import tempfile
import time
from pathlib import Path

from gateway.campaigns import Campaign, CampaignEngine, Caps, MemoryHistory, SqliteHistory
from gateway.campaigns.history import History
from gateway.zones.estimate import UNKNOWN, ZoneEstimate

T0 = 1_767_225_600.0
ZONES = ["produce", "bakery", "coffee", "dairy", "checkout"]
CUSTOMERS = 500


def stream(seed: int = 1) -> list[tuple[float, str, str]]:
    rng = random.Random(seed)
    out = []
    for c in range(CUSTOMERS):
        t = T0 + rng.uniform(0, 36_000)
        for _ in range(rng.randint(2, 6)):
            zone = rng.choice([*ZONES, UNKNOWN])
            for _ in range(rng.randint(10, 120)):
                out.append((t, f"cust-{c}", zone))
                t += 1.0
    return sorted(out)


def main() -> None:
    campaigns = [
        Campaign(id=f"{z}-{k}", zone=z, min_dwell_s=20 * (k + 1), cooldown_s=3600 * k) for z in ZONES for k in range(3)
    ]
    campaigns += [Campaign(id="exit-co", zone="checkout", on="exit"), Campaign(id="ent", zone="bakery", on="enter")]
    data = stream()
    tmp = Path(tempfile.mkdtemp())
    histories: list[tuple[str, History]] = [("memory", MemoryHistory()), ("sqlite", SqliteHistory(tmp / "h.db"))]
    for name, history in histories:
        engine = CampaignEngine(
            campaigns, history, "s", "g", lambda _: frozenset(), timezone="Europe/Berlin",
            caps=Caps(max_per_visit=3, min_interval_s=60),
        )  # fmt: skip
        start = time.perf_counter()
        events = 0
        for t, customer, zone in data:
            events += len(engine.on_estimate(customer, ZoneEstimate(zone, 0.9, t)))
        for c in range(CUSTOMERS):
            events += len(engine.on_gone(f"cust-{c}", T0 + 40_000))
        engine.flush()
        dt = time.perf_counter() - start
        print(
            f"{name}: {len(data):,} estimates, {events:,} events ({engine.stats['triggers']:,} triggers) "
            f"in {dt:.2f} s = {len(data) / dt:,.0f} estimates/s"
        )


if __name__ == "__main__":
    main()

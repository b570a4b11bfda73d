"""Nothing a radio neighbour transmits may grow the gateway's memory: 10,000 new random addresses a second."""

from __future__ import annotations

import gc
import random
import tracemalloc
from pathlib import Path

from gateway.adverts import Advert
from gateway.pipeline import Pipeline

DEMO_CONFIG = Path(__file__).resolve().parent.parent / "demo" / "config"
RATE_PER_S = 10_000


def flood(pipeline: Pipeline, rng: random.Random, t0: float, seconds: int) -> None:
    for i in range(seconds * RATE_PER_S):
        raw = rng.getrandbits(48)
        kind = i % 3
        if kind == 0:  # resolvable private addresses: the expensive kind to look up
            raw = (raw & ~(0b11 << 46)) | (0b01 << 46)
        addr = ":".join(f"{(raw >> s) & 0xFF:02X}" for s in range(40, -8, -8))
        mfr = (
            {"76": "1005" + rng.randbytes(6).hex()} if kind == 1 else {str(rng.getrandbits(16)): rng.randbytes(9).hex()}
        )
        pipeline.process(Advert(t0 + i / RATE_PER_S, "rx-entrance", addr, -40 - rng.getrandbits(5), mfr=mfr))


def test_a_flood_of_random_addresses_keeps_memory_bounded() -> None:
    pipeline = Pipeline.from_config_dir(DEMO_CONFIG)
    rng = random.Random(7)
    gc.collect()
    tracemalloc.start()
    flood(pipeline, rng, 1_000_000.0, 10)  # caches fill up
    gc.collect()
    after_fill = tracemalloc.get_traced_memory()[0]
    flood(pipeline, rng, 1_000_010.0, 20)  # and then stay put
    gc.collect()
    after_more = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    assert pipeline.stats.recognised == 0 and pipeline.tracker.tracked() == 0
    assert after_fill < 40e6, after_fill
    assert after_more - after_fill < 5e6, (after_fill, after_more)  # twice the traffic, no more memory

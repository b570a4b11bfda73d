"""A step of the wall clock in the running gateway: visits end before it, and tracking goes on after it."""

from __future__ import annotations

import json
from pathlib import Path

from gateway.adverts import Advert
from gateway.runtime import Runtime
from tests.test_receivers import CUSTOMER_ADDR, STRANGER_ADDR, config, loaded_as

__all__ = ["config"]  # the fixture, imported to be used here

T0 = 1_772_438_400.0  # 2026-03-02 08:00 UTC


def presence(rt: Runtime) -> list[dict[str, object]]:
    return [json.loads(i.payload) for i in rt.outbox.pending(1000) if i.topic.endswith("/presence")]


def shop(rt: Runtime, t0: float, seconds: int, customer: bool = True) -> float:
    """Half a second apart: the customer (if `customer`) and a stranger by the entrance; returns the last time."""
    t = t0
    for i in range(2 * seconds):
        t = t0 + i / 2
        if customer:
            rt.handle(Advert(t, "rx-entrance", CUSTOMER_ADDR, -52))
        rt.handle(Advert(t, "rx-entrance", STRANGER_ADDR, -60))
    rt.flush()
    return t


def test_a_clock_stepped_back_ends_the_visit_before_the_step_and_the_next_one_is_seen_to_end(
    config: Path, tmp_path: Path
) -> None:
    rt = Runtime(loaded_as(config, tmp_path / "gw", "gw-1", "standalone"), now=lambda: T0)
    try:
        last = shop(rt, T0, 120)
        entered = presence(rt)
        assert entered and entered[-1]["event"] == "enter"
        rt.clock_stepped(last, -3600.0)  # what the live source reports before the first time of the new clock
        ended = presence(rt)[len(entered) :]
        assert [e["event"] for e in ended] == ["exit"] * len(ended) and ended
        assert all(e["at"] <= last for e in ended)
        assert all(0 <= e["dwell_s"] <= 120 for e in ended)

        # an hour back: the customer shops on, then leaves while the stranger stays
        back = T0 - 3600 + 1
        shop(rt, shop(rt, back, 120) + 0.5, 120, customer=False)
        after = presence(rt)[len(entered) + len(ended) :]
        assert after and after[0]["event"] == "enter" and after[-1]["event"] == "exit"
        assert all(back <= e["at"] <= back + 240 for e in after)
        assert all(0 <= e["dwell_s"] <= 120 for e in after if e["event"] == "exit")
    finally:
        rt.close()

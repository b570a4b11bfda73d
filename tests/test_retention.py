"""history.db lets go of what gateway.toml's retention says is old, by advertisement time, but never a trigger a
campaign's cooldown still reads, and not on the word of a wall clock that has just stepped."""

from __future__ import annotations

from pathlib import Path

from gateway.adverts import Advert
from gateway.campaigns.history import TriggerRecord
from gateway.runtime import PRUNE_EVERY_S, Runtime
from tests.test_recall_restart import ADDRS, T0, config, loaded, shop

__all__ = ["config"]  # the fixture, imported to be used here

DAY = 86_400.0


def retention_of_a_day(config: Path) -> None:
    gw = config / "gateway.toml"
    gw.write_text(gw.read_text().replace("retention_days = 90", "retention_days = 1"))


def walk_past(rt: Runtime, t0: float, seconds: float) -> None:
    """Someone recognised passes the entrance every 10 s: advertisement time moves on, and the runtime flushes."""
    rx = rt.loaded.zones.receivers[0]
    t = t0
    while t < t0 + seconds:
        rt.handle(Advert(t, rx, ADDRS["cust-2"], -60))
        rt.flush()
        t += 10.0


def test_what_the_retention_lets_go_leaves_history_and_what_a_cooldown_needs_stays(
    config: Path, tmp_path: Path
) -> None:
    retention_of_a_day(config)
    rt = Runtime(loaded(config, tmp_path / "state"))
    try:
        shop(rt, "cust-1", -8.0, T0)  # stays and a learnt phone offset
        # coupons of a campaign: the longest cooldown in config/campaigns.toml is a week
        for k, days in enumerate((0.0, 5.0)):
            rt.history.add_trigger(TriggerRecord(f"t{k}", "cust-1", "produce-then-checkout", T0 + days * DAY, "v", "d"))
        before = rt.history.export_customer("cust-1")
        assert before["stays"] and before["phone_offset"] is not None

        walk_past(rt, T0 + 8 * DAY, 120.0)
        after = rt.history.export_customer("cust-1")
        assert after["stays"] == [] and after["phone_offset"] is None  # eight days old, the retention is one
        # eight days old: past the week's cooldown too; three days old: kept, or the coupon could go out again
        assert [r["trigger_id"] for r in after["triggers"]] == ["t1"]
        assert rt.pipeline.tracker.recall.recall("cust-1") is None  # nor is it kept in memory
    finally:
        rt.close()


def test_a_step_of_the_wall_clock_holds_pruning_back_for_an_hour(config: Path, tmp_path: Path) -> None:
    retention_of_a_day(config)
    rt = Runtime(loaded(config, tmp_path / "state"))
    try:
        shop(rt, "cust-1", -8.0, T0)
        assert rt.pipeline.last_t is not None
        rt.clock_stepped(rt.pipeline.last_t, 30 * DAY)  # e.g. a Pi whose clock was a month behind catches up
        walk_past(rt, T0 + 30 * DAY, PRUNE_EVERY_S - 60.0)
        assert rt.history.export_customer("cust-1")["stays"]  # not yet: the new clock has not run an hour
        walk_past(rt, T0 + 30 * DAY + PRUNE_EVERY_S, 60.0)
        assert rt.history.export_customer("cust-1")["stays"] == []
    finally:
        rt.close()

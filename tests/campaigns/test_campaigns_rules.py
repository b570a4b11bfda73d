"""Each rule kind on scripted walks, with the exact triggers a store manager would expect."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from campaign_script import NO_CAPS, T0, leg, make_engine, triggers, walk

from gateway.zones.estimate import OUTSIDE, UNKNOWN, ZoneEstimate


def fired(events: list[object]) -> list[tuple[str, float]]:
    return [(t.campaign_id, t.observed_at - T0) for t in triggers(events)]  # type: ignore[arg-type]


# --- enter / exit ---------------------------------------------------------------------------------------


def test_enter_trigger_fires_when_presence_is_established() -> None:
    h = make_engine([{"id": "hello", "zone": "bakery", "on": "enter"}])
    assert fired(h.feed("c1", walk(leg("coffee", 0, 30), leg("bakery", 31, 60)))) == [("hello", 41.0)]


def test_exit_trigger_fires_when_customer_is_confidently_elsewhere() -> None:
    h = make_engine([{"id": "bye", "zone": "coffee", "on": "exit", "min_dwell_s": 20}])
    events = h.feed("c1", walk(leg("coffee", 0, 30), leg(UNKNOWN, 31, 50), leg("bakery", 51, 60)))
    assert fired(events) == [("bye", 51.0)]  # not on the UNKNOWN estimate that ended the stay
    assert triggers(events)[0].dwell_s == 30.0 and triggers(events)[0].zone == "coffee"


def test_exit_trigger_cancelled_when_customer_comes_back() -> None:
    h = make_engine([{"id": "bye", "zone": "coffee", "on": "exit"}])
    assert fired(h.feed("c1", walk(leg("coffee", 0, 30), leg(UNKNOWN, 31, 50), leg("coffee", 51, 60)))) == []


def test_exit_trigger_on_gone_and_min_dwell() -> None:
    h = make_engine([{"id": "bye", "zone": "coffee", "on": "exit", "min_dwell_s": 60}])
    assert fired(h.feed("c1", leg("coffee", 0, 30), gone_at=40)) == []  # stayed only 30 s
    assert fired(h.feed("c1", leg("coffee", 100, 200), gone_at=210)) == [("bye", 210.0)]


def test_exit_to_outside_fires() -> None:
    h = make_engine([{"id": "bye", "zone": "checkout", "on": "exit"}])
    assert fired(h.feed("c1", walk(leg("checkout", 0, 30), leg(OUTSIDE, 31, 50)))) == [("bye", 41.0)]


# --- sequences ------------------------------------------------------------------------------------------


def test_sequence_needs_the_zones_in_order() -> None:
    rule = {"id": "seq", "sequence": ["produce", "checkout"], "min_dwell_s": 10}
    in_order = make_engine([rule]).feed("c1", walk(leg("produce", 0, 30), leg("checkout", 31, 60)))
    assert fired(in_order) == [("seq", 41.0)]
    no_produce = make_engine([rule]).feed("c1", walk(leg("bakery", 0, 30), leg("checkout", 31, 60)))
    assert fired(no_produce) == []
    flicker = walk(leg("bakery", 0, 30), leg("produce", 31, 32), leg("bakery", 33, 40), leg("checkout", 41, 80))
    assert fired(make_engine([rule]).feed("c1", flicker)) == []  # a 2 s flicker is not a visit to produce


def test_sequence_with_zones_in_between() -> None:
    rule = {"id": "seq", "sequence": ["produce", "dairy", "checkout"], "on": "enter"}
    stream = walk(leg("produce", 0, 30), leg("bakery", 31, 60), leg("dairy", 61, 90), leg("checkout", 91, 120))
    assert fired(make_engine([rule]).feed("c1", stream)) == [("seq", 101.0)]
    reversed_order = walk(leg("dairy", 0, 30), leg("produce", 31, 60), leg("checkout", 61, 90))
    assert fired(make_engine([rule]).feed("c1", reversed_order)) == []


# --- segments -------------------------------------------------------------------------------------------


def test_segments_any_all_none() -> None:
    campaigns = [
        {"id": "any", "zone": "z", "min_dwell_s": 5, "segments": ["gold", "silver"]},
        {"id": "all", "zone": "z", "min_dwell_s": 5, "segments_all": ["gold", "coffee"]},
        {"id": "none", "zone": "z", "min_dwell_s": 5, "segments_none": ["staff"]},
    ]
    segs = {"gold": {"gold"}, "goldcoffee": {"gold", "coffee"}, "staff": {"staff", "silver"}, "nobody": set()}
    h = make_engine(campaigns, segments=segs)
    got = {c: sorted(t.campaign_id for t in triggers(h.feed(c, leg("z", 0, 10)))) for c in segs}
    assert got == {
        "gold": ["any", "none"],
        "goldcoffee": ["all", "any", "none"],
        "staff": ["any"],
        "nobody": ["none"],
    }


# --- priorities and caps --------------------------------------------------------------------------------


def test_priority_decides_when_caps_leave_one_slot() -> None:
    campaigns = [
        {"id": "low", "zone": "z", "min_dwell_s": 10, "priority": 1},
        {"id": "high", "zone": "z", "min_dwell_s": 10, "priority": 5},
        {"id": "mid", "zone": "z", "min_dwell_s": 10, "priority": 3},
    ]
    h = make_engine(campaigns, caps={**NO_CAPS, "max_per_visit": 2})
    assert [t.campaign_id for t in triggers(h.feed("c1", leg("z", 0, 60)))] == ["high", "mid"]


def test_max_per_visit_across_campaigns() -> None:
    campaigns = [{"id": z, "zone": z, "min_dwell_s": 10} for z in ("a", "b", "c")]
    h = make_engine(campaigns, caps={**NO_CAPS, "max_per_visit": 2})
    stream = walk(leg("a", 0, 30), leg("b", 31, 60), leg("c", 61, 90))
    assert fired(h.feed("c1", stream, gone_at=100)) == [("a", 10.0), ("b", 41.0)]
    assert fired(h.feed("c1", leg("c", 200, 230))) == [("c", 210.0)]  # a new visit has new slots


def test_min_interval_between_any_two_triggers() -> None:
    campaigns = [{"id": z, "zone": z, "min_dwell_s": 10} for z in ("a", "b")]
    h = make_engine(campaigns, caps={**NO_CAPS, "min_interval_s": 120})
    stream = walk(leg("a", 0, 30), leg("b", 31, 200))
    # b is due at 41 but waits until 120 s after a's trigger (t=10), while the customer still dwells there
    assert fired(h.feed("c1", stream)) == [("a", 10.0), ("b", 130.0)]


def test_max_per_day_counts_store_local_days() -> None:
    # 2026-01-01 00:00 UTC is 19:00 on Dec 31 in New York: the store's day changes at 05:00 UTC
    h = make_engine(
        [{"id": "a", "zone": "a", "min_dwell_s": 10}],
        caps={**NO_CAPS, "max_per_day": 1},
        timezone="America/New_York",
    )
    got = []
    for start in (0, 3600, 4 * 3600, 5 * 3600 + 60):
        got += fired(h.feed("c1", leg("a", start, start + 20), gone_at=start + 30))
    assert got == [("a", 10.0), ("a", 5 * 3600 + 70.0)]


def test_campaign_budget_per_store_day() -> None:
    h = make_engine([{"id": "a", "zone": "a", "min_dwell_s": 10, "budget_per_day": 2}], timezone="Europe/Paris")
    got = [len(triggers(h.feed(f"c{i}", leg("a", 60 * i, 60 * i + 20)))) for i in range(4)]
    assert got == [1, 1, 0, 0]
    # 2026-01-01 23:00 UTC is already Jan 2 in Paris: the budget is fresh
    assert len(triggers(h.feed("c9", leg("a", 23 * 3600, 23 * 3600 + 20)))) == 1


def test_redemption_blocks_the_campaign_for_that_customer() -> None:
    h = make_engine([{"id": "a", "zone": "a", "min_dwell_s": 10}])
    (t,) = triggers(h.feed("c1", leg("a", 0, 20), gone_at=30))
    h.engine.on_redemption({"trigger_id": t.trigger_id, "customer_id": "c1", "campaign_id": "a", "at": T0 + 40})
    assert triggers(h.feed("c1", leg("a", 100, 200), gone_at=210)) == []
    assert len(triggers(h.feed("c2", leg("a", 100, 200)))) == 1


def test_bad_redemptions_are_counted_and_ignored() -> None:
    h = make_engine([{"id": "a", "zone": "a", "min_dwell_s": 10}])
    for bad in ([], {"customer_id": "c1", "campaign_id": "a", "at": 1.0}, {"trigger_id": "x", "customer_id": "c1",
                "campaign_id": "a", "at": "yesterday"}, {"trigger_id": "x", "customer_id": "", "campaign_id": "a",
                "at": 1}):  # fmt: skip
        h.engine.on_redemption(bad)
    assert h.engine.stats["redemptions_ignored"] == 4
    assert len(triggers(h.feed("c1", leg("a", 0, 20)))) == 1


@pytest.mark.parametrize("at", ["2026-11-30T10:00:00Z", "1796033556.5", 1796033556])
def test_a_redemption_stamped_as_a_point_of_sale_writes_it_blocks_the_campaign(at: object) -> None:
    """SPEC 7 fixes `at` but not its form: ISO 8601 text, or a number in quotes, dropped the redemption, and the
    coupon already used kept being offered (a review sweep)."""
    h = make_engine([{"id": "a", "zone": "a", "min_dwell_s": 10}])
    (t,) = triggers(h.feed("c1", leg("a", 0, 20), gone_at=30))
    h.engine.on_redemption({"trigger_id": t.trigger_id, "customer_id": "c1", "campaign_id": "a", "at": at})
    assert h.engine.stats["redemptions_ignored"] == 0
    assert triggers(h.feed("c1", leg("a", 100, 200), gone_at=210)) == []


@pytest.mark.parametrize("at", [float("nan"), float("inf"), 10**400, "tomorrowish", True, None])
def test_a_redemption_whose_at_is_no_time_is_ignored_and_counted(at: object) -> None:
    """NaN was stored as NULL and then stopped `customers export` for that customer; 10**400 raised OverflowError."""
    h = make_engine([{"id": "a", "zone": "a", "min_dwell_s": 10}])
    h.engine.on_redemption({"trigger_id": "x", "customer_id": "c1", "campaign_id": "a", "at": at})
    assert h.engine.stats["redemptions_ignored"] == 1


def test_forget_drops_the_customer_state() -> None:
    h = make_engine([{"id": "a", "zone": "a", "min_dwell_s": 30}])
    h.feed("c1", leg("a", 0, 20))
    h.engine.forget("c1")
    assert fired(h.feed("c1", leg("a", 21, 40))) == []  # the dwell starts over: nothing is remembered
    assert fired(h.feed("c1", leg("a", 41, 60))) == [("a", 51.0)]


def test_reload_keeps_presence_and_caps() -> None:
    from gateway.campaigns import Campaign

    h = make_engine([{"id": "a", "zone": "a", "min_dwell_s": 10}], caps={**NO_CAPS, "max_per_visit": 1})
    assert fired(h.feed("c1", leg("a", 0, 20))) == [("a", 10.0)]
    h.engine.reload([Campaign(id="b", zone="a", min_dwell_s=25)])
    assert fired(h.feed("c1", leg("a", 21, 40))) == []  # the visit's one slot is used
    h2 = make_engine([{"id": "a", "zone": "x", "min_dwell_s": 100}])
    h2.feed("c1", leg("a", 0, 20))
    h2.engine.reload([Campaign(id="b", zone="a", min_dwell_s=25)])
    assert fired(h2.feed("c1", leg("a", 21, 40))) == [("b", 25.0)]  # dwell counted from before the reload


def test_disabled_campaign_never_fires() -> None:
    h = make_engine([{"id": "a", "zone": "a", "min_dwell_s": 10, "enabled": False}])
    assert triggers(h.feed("c1", leg("a", 0, 60))) == []


def test_injected_wall_clock_only_sets_created_at() -> None:
    from gateway.campaigns import Campaign, CampaignEngine, MemoryHistory

    e = CampaignEngine(
        [Campaign(id="a", zone="a", min_dwell_s=10)], MemoryHistory(), "s", "g", lambda _: frozenset(), now=lambda: 42.0
    )
    out = []
    for t in range(21):
        out += e.on_estimate("c1", ZoneEstimate("a", 0.9, T0 + t))
    (t,) = triggers(out)
    assert t.created_at == 42.0 and t.observed_at == T0 + 10


# --- schedules ------------------------------------------------------------------------------------------


def local(tz: str, *args: int) -> float:
    return datetime(*args, tzinfo=ZoneInfo(tz)).timestamp()  # type: ignore[misc]


def dwell_at(campaign: dict[str, object], tz: str, start: float) -> list[float]:
    h = make_engine([{"id": "s", "zone": "a", "min_dwell_s": 10, **campaign}], timezone=tz)
    stream = [ZoneEstimate("a", 0.9, start + i) for i in range(31)]
    out = []
    for est in stream:
        out += h.engine.on_estimate("c1", est)
    return [t.observed_at - start for t in triggers(out)]


def test_schedule_hours_in_store_time_across_dst() -> None:
    tz = "Europe/Berlin"
    sched = {"schedule": {"hours": ["09:00-17:00"]}}
    # 29 March 2026: clocks go from 02:00 to 03:00; 09:00 local is 07:00 UTC that day and 08:00 UTC the day before
    for day in (28, 29, 30):
        opens = local(tz, 2026, 3, day, 9, 0)
        assert dwell_at(sched, tz, opens - 5) == [10.0]  # 09:00:05: open, dwell done
        assert dwell_at(sched, tz, opens - 30) == [30.0]  # fires the second the store window opens
        assert dwell_at(sched, tz, local(tz, 2026, 3, day, 8, 59) - 31) == []
    closes = local(tz, 2026, 10, 25, 17, 0)  # autumn change day
    assert dwell_at(sched, tz, closes - 5) == []  # 16:59:55 is open, but dwell completes after 17:00
    assert dwell_at(sched, tz, closes - 25) == [10.0]


def test_schedule_hours_inside_the_skipped_hour_never_match_that_day() -> None:
    tz = "Europe/Berlin"
    sched = {"schedule": {"hours": ["02:00-03:00"]}}
    assert dwell_at(sched, tz, local(tz, 2026, 3, 29, 1, 59)) == []  # 01:59 -> 03:00 directly
    assert dwell_at(sched, tz, local(tz, 2026, 3, 30, 2, 0)) == [10.0]


def test_schedule_days_and_dates() -> None:
    tz = "America/New_York"
    weekend = {"schedule": {"days": ["sat", "sun"]}}
    assert dwell_at(weekend, tz, local(tz, 2026, 1, 3, 12, 0)) == [10.0]  # a Saturday
    assert dwell_at(weekend, tz, local(tz, 2026, 1, 5, 12, 0)) == []  # a Monday
    # Saturday 00:30 UTC is still Friday evening in New York
    assert dwell_at(weekend, tz, datetime(2026, 1, 3, 0, 30, tzinfo=ZoneInfo("UTC")).timestamp()) == []
    dates = {"schedule": {"start_date": "2026-02-01", "end_date": "2026-02-28"}}
    assert dwell_at(dates, tz, local(tz, 2026, 1, 31, 23, 0)) == []
    assert dwell_at(dates, tz, local(tz, 2026, 2, 28, 23, 0)) == [10.0]
    assert dwell_at(dates, tz, local(tz, 2026, 3, 1, 0, 0)) == []


def test_overnight_hours_window() -> None:
    tz = "UTC"
    late = {"schedule": {"hours": ["22:00-02:00"]}}
    assert dwell_at(late, tz, local(tz, 2026, 1, 1, 23, 0)) == [10.0]
    assert dwell_at(late, tz, local(tz, 2026, 1, 1, 1, 0)) == [10.0]
    assert dwell_at(late, tz, local(tz, 2026, 1, 1, 12, 0)) == []


def test_a_window_past_midnight_belongs_to_the_day_it_starts() -> None:
    """ "Monday night" as a marketer writes it (and opening hours are read): Monday 22:00 to Tuesday 02:00. A sweep
    found it running Monday 00:00-02:00 (the tail of Sunday night) and 22:00-24:00 instead."""
    tz = "Europe/Berlin"
    monday_night = {"schedule": {"days": ["mon"], "hours": ["22:00-02:00"]}}
    assert dwell_at(monday_night, tz, local(tz, 2026, 3, 2, 23, 0)) == [10.0]  # Monday 23:00
    assert dwell_at(monday_night, tz, local(tz, 2026, 3, 3, 1, 0)) == [10.0]  # Tuesday 01:00, still Monday night
    assert dwell_at(monday_night, tz, local(tz, 2026, 3, 2, 1, 0)) == []  # Monday 01:00 is Sunday night
    assert dwell_at(monday_night, tz, local(tz, 2026, 3, 3, 23, 0)) == []  # Tuesday night
    # dates go by the night's first day too: a campaign ending on Monday runs its Monday night to the end
    last_night = {"schedule": {"hours": ["22:00-02:00"], "end_date": "2026-03-02"}}
    assert dwell_at(last_night, tz, local(tz, 2026, 3, 3, 1, 0)) == [10.0]
    first_day = {"schedule": {"hours": ["22:00-02:00"], "start_date": "2026-03-03"}}
    assert dwell_at(first_day, tz, local(tz, 2026, 3, 3, 1, 0)) == []  # the night before it starts
    assert dwell_at(first_day, tz, local(tz, 2026, 3, 4, 1, 0)) == [10.0]


def test_daily_cap_follows_the_25_hour_day_of_the_autumn_change() -> None:
    tz = "Europe/Berlin"
    h = make_engine([{"id": "a", "zone": "a", "min_dwell_s": 10}], caps={**NO_CAPS, "max_per_day": 1}, timezone=tz)
    got = []
    for hour_minute in ((0, 30), (23, 30)):  # both on Sunday 25 October 2026, 24 + 1 hours apart
        start = local(tz, 2026, 10, 25, *hour_minute)
        out = []
        for i in range(21):
            out += h.engine.on_estimate("c1", ZoneEstimate("a", 0.9, start + i))
        out += h.engine.on_gone("c1", start + 30)
        got.append(len(triggers(out)))
    start = local(tz, 2026, 10, 26, 0, 30)
    out = []
    for i in range(21):
        out += h.engine.on_estimate("c1", ZoneEstimate("a", 0.9, start + i))
    got.append(len(triggers(out)))
    assert got == [1, 0, 1]

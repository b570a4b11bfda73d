"""For any estimate stream: never more triggers than the caps allow, never on UNKNOWN, presence well-formed."""

from __future__ import annotations

import itertools
from collections import Counter, defaultdict
from datetime import datetime
from zoneinfo import ZoneInfo

from campaign_script import T0
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.campaigns import Campaign, CampaignEngine, Caps, MemoryHistory, PresenceSettings
from gateway.campaigns.events import Event, PresenceEvent, Trigger
from gateway.zones.estimate import OUTSIDE, UNKNOWN, ZoneEstimate

ZONES = ["a", "b", "c"]
TZ = "Europe/Berlin"

campaign_st = st.builds(
    lambda i, zone, on, dwell, cooldown, prio, budget: Campaign(
        id=f"k{i}",
        zone=zone,
        on=on,
        min_dwell_s=0 if on == "enter" else dwell,
        cooldown_s=cooldown,
        priority=prio,
        budget_per_day=budget,
    ),
    st.integers(0, 10_000),
    st.sampled_from(ZONES),
    st.sampled_from(["dwell", "enter", "exit"]),
    st.sampled_from([0, 5, 20, 60]),
    st.sampled_from([0, 100, 3600]),
    st.integers(0, 3),
    st.one_of(st.none(), st.integers(0, 3)),
)
caps_st = st.builds(
    Caps,
    max_per_visit=st.one_of(st.none(), st.integers(0, 3)),
    min_interval_s=st.sampled_from([0.0, 30.0, 300.0]),
    max_per_day=st.one_of(st.none(), st.integers(0, 4)),
)
# a leg: gap before it, customer, zone or "gone", number of estimates, seconds between them, confidence
leg_st = st.tuples(
    st.sampled_from([0.0, 1.0, 5.0, 15.0, 400.0, 4000.0]),
    st.sampled_from(["c1", "c2"]),
    st.sampled_from([*ZONES, UNKNOWN, OUTSIDE, "gone"]),
    st.integers(1, 40),
    st.sampled_from([0.5, 1.0, 2.0, 5.0]),
    st.floats(0.0, 1.0),
)


@settings(max_examples=150, deadline=None)
@given(
    campaigns=st.lists(campaign_st, max_size=5, unique_by=lambda c: c.id),
    caps=caps_st,
    legs=st.lists(leg_st, max_size=30),
    restart_at=st.one_of(st.none(), st.integers(0, 300)),
)
def test_caps_hold_and_unknown_never_fires(
    campaigns: list[Campaign],
    caps: Caps,
    legs: list[tuple],  # type: ignore[type-arg]
    restart_at: int | None,
) -> None:
    """Also across a gateway restart at a random point: a new engine over the same history."""
    history = MemoryHistory()

    def new_engine() -> CampaignEngine:
        return CampaignEngine(
            campaigns, history, "s", "g", lambda _: frozenset(), timezone=TZ, caps=caps,
            presence=PresenceSettings(gap_tolerance_s=10, settle_s=3, visit_timeout_s=900),
        )  # fmt: skip

    engine = new_engine()
    by_id = {c.id: c for c in campaigns}
    t = T0
    fired: list[Trigger] = []
    presence: dict[tuple[int, str], list[PresenceEvent]] = defaultdict(list)  # per (engine run, customer)
    run = 0
    stream: list[tuple[float, str, str, float]] = []
    for gap, customer, zone, n, every, conf in legs:
        t += gap
        for _ in range(1 if zone == "gone" else n):
            stream.append((t, customer, zone, conf))
            t += every
    for i, (t, customer, zone, conf) in enumerate(stream):
        if i == restart_at:
            engine, run = new_engine(), 1
        events: list[Event]
        if zone == "gone":
            events = engine.on_gone(customer, t)
        else:
            events = engine.on_estimate(customer, ZoneEstimate(zone, conf, t))
        for e in events:
            if isinstance(e, Trigger):
                assert zone != UNKNOWN, "a trigger fired on an UNKNOWN estimate"
                assert e.zone in ZONES
                rule = by_id[e.campaign_id]
                if rule.on != "exit":
                    assert e.zone == zone and e.dwell_s >= rule.min_dwell_s
                fired.append(e)
            else:
                assert e.zone in ZONES
                presence[(run, e.customer_id)].append(e)

    assert len({e.trigger_id for e in fired}) == len(fired)
    tz = ZoneInfo(TZ)

    def day(x: float) -> str:
        return datetime.fromtimestamp(x, tz).date().isoformat()

    for customer in ("c1", "c2"):
        mine = [e for e in fired if e.customer_id == customer]
        if caps.max_per_visit is not None:
            assert max(Counter(e.visit_id for e in mine).values(), default=0) <= caps.max_per_visit
        if caps.max_per_day is not None:
            assert max(Counter(day(e.observed_at) for e in mine).values(), default=0) <= caps.max_per_day
        for a, b in itertools.pairwise(mine):
            assert b.observed_at - a.observed_at >= caps.min_interval_s
        for c in campaigns:
            times = [e.observed_at for e in mine if e.campaign_id == c.id]
            assert all(y - x >= c.cooldown_s for x, y in itertools.pairwise(times))
            assert len({e.visit_id for e in mine if e.campaign_id == c.id}) == len(times)  # once per visit
        for r in (0, 1):
            kinds = [e.event for e in presence[(r, customer)]]
            assert kinds == ["enter", "exit"] * (len(kinds) // 2) + ["enter"] * (len(kinds) % 2)
    for c in campaigns:
        if c.budget_per_day is not None:
            per_day = Counter(day(e.observed_at) for e in fired if e.campaign_id == c.id)
            assert max(per_day.values(), default=0) <= c.budget_per_day


@settings(max_examples=200, deadline=None)
@given(
    start=st.tuples(st.integers(0, 23), st.integers(0, 59)),
    end=st.tuples(st.integers(0, 24), st.integers(0, 59)).filter(lambda e: e[0] < 24 or e[1] == 0),
    when=st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2027, 12, 31)),
    tz=st.sampled_from(["UTC", "Europe/Berlin", "America/New_York", "Australia/Sydney"]),
)
def test_hours_window_matches_the_shop_clock(
    start: tuple[int, int], end: tuple[int, int], when: datetime, tz: str
) -> None:
    from gateway.campaigns.schedule import Schedule, is_active, parse_window

    text = f"{start[0]:02d}:{start[1]:02d}-{end[0]:02d}:{end[1]:02d}"
    a, b = parse_window(text)
    assert (a, b) == (start[0] * 60 + start[1], end[0] * 60 + end[1])
    zone = ZoneInfo(tz)
    t = when.replace(tzinfo=zone).timestamp()
    local = datetime.fromtimestamp(t, zone)  # a wall time in a DST gap normalises to a real one
    minute = local.hour * 60 + local.minute
    inside = a <= minute < b if a <= b else (minute >= a or minute < b)
    assert is_active(Schedule(hours=(text,)), t, zone) == inside


@given(text=st.text(max_size=15))
def test_hours_parser_rejects_garbage_with_a_reason(text: str) -> None:
    from gateway.campaigns.schedule import parse_window

    try:
        a, b = parse_window(text)
    except ValueError as e:
        assert text in str(e)
    else:
        assert 0 <= a < 24 * 60 and 0 <= b <= 24 * 60

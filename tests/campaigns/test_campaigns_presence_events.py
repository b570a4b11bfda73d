"""Enter/exit presence events: one per real stay, none for flicker or UNKNOWN, in advertisement time."""

from __future__ import annotations

from campaign_script import T0, leg, make_engine, presence, walk

from gateway.zones.estimate import OUTSIDE, UNKNOWN


def summary(h_events: list[object]) -> list[tuple[str, str, float, float]]:
    return [(e.event, e.zone, e.at - T0, e.dwell_s) for e in presence(h_events)]  # type: ignore[arg-type]


def test_enter_then_exit_on_gone() -> None:
    h = make_engine([])
    events = h.feed("c1", leg("coffee", 0, 60), gone_at=90)
    assert summary(events) == [("enter", "coffee", 0.0, 5.0), ("exit", "coffee", 60.0, 60.0)]
    assert presence(events)[0].payload() == {
        "customer_id": "c1",
        "zone": "coffee",
        "event": "enter",
        "at": T0,
        "dwell_s": 5.0,
    }


def test_moving_between_zones_gives_non_overlapping_stays() -> None:
    h = make_engine([])
    events = h.feed("c1", walk(leg("coffee", 0, 60), leg("bakery", 61, 120)), gone_at=130)
    # bakery is announced once coffee has been unheard for the gap tolerance (10 s)
    assert summary(events) == [
        ("enter", "coffee", 0.0, 5.0),
        ("exit", "coffee", 60.0, 60.0),
        ("enter", "bakery", 61.0, 10.0),
        ("exit", "bakery", 120.0, 59.0),
    ]
    enter_bakery = presence(events)[2]
    assert enter_bakery.message_id != presence(events)[0].message_id


def test_flicker_and_unknown_produce_no_presence_noise() -> None:
    h = make_engine([])
    stream = walk(leg("coffee", 0, 20), leg("bakery", 21, 21), leg(UNKNOWN, 22, 25), leg("coffee", 26, 60))
    events = h.feed("c1", stream, gone_at=70)
    assert summary(events) == [("enter", "coffee", 0.0, 5.0), ("exit", "coffee", 60.0, 60.0)]


def test_unknown_only_customer_has_no_presence() -> None:
    h = make_engine([])
    assert presence(h.feed("c1", leg(UNKNOWN, 0, 300), gone_at=310)) == []


def test_outside_ends_the_stay_after_tolerance() -> None:
    h = make_engine([])
    events = h.feed("c1", walk(leg("coffee", 0, 30), leg(OUTSIDE, 31, 60)))
    assert summary(events) == [("enter", "coffee", 0.0, 5.0), ("exit", "coffee", 30.0, 30.0)]


def test_long_absence_ends_the_visit() -> None:
    h = make_engine([{"id": "c", "zone": "coffee", "min_dwell_s": 10}], presence={"visit_timeout_s": 300})
    first = h.feed("c1", leg("coffee", 0, 30))
    second = h.feed("c1", leg("coffee", 1000, 1030))
    trig = [e for e in first + second if hasattr(e, "visit_id")]
    assert len(trig) == 2 and trig[0].visit_id != trig[1].visit_id  # type: ignore[attr-defined]


def test_stays_are_recorded_for_export() -> None:
    h = make_engine([])
    h.feed("c1", walk(leg("coffee", 0, 60), leg("bakery", 61, 120)), gone_at=130)
    stays = h.engine.history.export_customer("c1")["stays"]
    assert [(s["zone"], s["start"] - T0, s["end"] - T0) for s in stays] == [("coffee", 0, 60), ("bakery", 61, 120)]

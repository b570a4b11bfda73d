"""Dwell rules: the coupon arrives when the customer has stayed long enough, in advertisement time."""

from __future__ import annotations

from campaign_script import T0, leg, make_engine, triggers, walk

from gateway.zones.estimate import UNKNOWN, ZoneEstimate

COFFEE_30 = {"id": "coffee-10", "zone": "coffee", "min_dwell_s": 30, "offer": "COFFEE10"}


def test_dwell_completes_exactly_at_min_dwell() -> None:
    h = make_engine([COFFEE_30])
    fired = triggers(h.feed("c1", leg("coffee", 0, 60)))
    assert [(t.campaign_id, t.observed_at, t.dwell_s) for t in fired] == [("coffee-10", T0 + 30, 30.0)]


def test_one_second_short_of_min_dwell_does_not_fire() -> None:
    h = make_engine([COFFEE_30])
    assert triggers(h.feed("c1", leg("coffee", 0, 29))) == []


def test_trigger_payload_carries_spec_keys() -> None:
    h = make_engine([COFFEE_30])
    (t,) = triggers(h.feed("c1", leg("coffee", 0, 40, conf=0.8)))
    p = t.payload()
    assert {k: p[k] for k in ("store_id", "gateway_id", "customer_id", "campaign_id", "zone", "offer")} == {
        "store_id": "store-042",
        "gateway_id": "gw-1",
        "customer_id": "c1",
        "campaign_id": "coffee-10",
        "zone": "coffee",
        "offer": "COFFEE10",
    }
    assert p["observed_at"] == T0 + 30 and p["dwell_s"] == 30.0 and p["confidence"] == 0.8
    assert p["trigger_id"] == t.message_id and t.topic_suffix == "triggers/coffee-10"
    assert isinstance(p["visit_id"], str) and p["created_at"] == T0 + 30  # no wall clock injected


def test_short_reception_gap_keeps_the_dwell() -> None:
    h = make_engine([COFFEE_30])
    fired = triggers(h.feed("c1", walk(leg("coffee", 0, 10), leg("coffee", 15, 40))))  # 5 s of silence
    assert [t.observed_at for t in fired] == [T0 + 30]


def test_long_reception_gap_restarts_the_dwell() -> None:
    h = make_engine([COFFEE_30])
    fired = triggers(h.feed("c1", walk(leg("coffee", 0, 20), leg("coffee", 60, 100))))  # 40 s > 30 s of silence
    assert [(t.observed_at, t.dwell_s) for t in fired] == [(T0 + 90, 30.0)]


def test_silence_tolerance_is_configurable() -> None:
    h = make_engine([COFFEE_30], presence={"unknown_tolerance_s": 10})
    fired = triggers(h.feed("c1", walk(leg("coffee", 0, 20), leg("coffee", 40, 80))))
    assert [(t.observed_at, t.dwell_s) for t in fired] == [(T0 + 70, 30.0)]
    h = make_engine([COFFEE_30], presence={"unknown_tolerance_s": 60})
    fired = triggers(h.feed("c1", walk(leg("coffee", 0, 20), leg("coffee", 70, 80))))
    assert [(t.observed_at, t.dwell_s) for t in fired] == [(T0 + 70, 70.0)]  # first advert after 30 s of dwell


def test_being_seen_elsewhere_ends_the_dwell_sooner_than_silence() -> None:
    h = make_engine([COFFEE_30])
    stream = walk(leg("coffee", 0, 20), leg("bakery", 21, 35), leg("coffee", 36, 80))  # 15 s in bakery
    assert [t.observed_at for t in triggers(h.feed("c1", stream))] == [T0 + 66]


def test_a_phone_heard_every_30_s_can_still_dwell() -> None:
    h = make_engine([{"id": "long", "zone": "coffee", "min_dwell_s": 120}])
    stream = leg("coffee", 0, 300, step=30)
    assert [(t.observed_at, t.dwell_s) for t in triggers(h.feed("c1", stream))] == [(T0 + 120, 120.0)]


def test_a_slow_phone_heard_by_three_receivers_can_still_dwell() -> None:
    h = make_engine([{"id": "long", "zone": "coffee", "min_dwell_s": 120}])
    stream = [ZoneEstimate("coffee", 0.9, T0 + t + rx * 0.3) for t in range(0, 301, 45) for rx in range(3)]
    assert [t.observed_at for t in triggers(h.feed("c1", stream))] == [T0 + 135]  # adverts at 0, 45, 90, 135


def test_a_slow_phone_seen_twice_elsewhere_has_moved() -> None:
    h = make_engine([{"id": "long", "zone": "coffee", "min_dwell_s": 120}])
    # one estimate in bakery between coffee ones is a flicker; two in a row (60 s) are a move
    flicker = walk(leg("coffee", 0, 90, step=30), leg("bakery", 120, 120), leg("coffee", 150, 300, step=30))
    assert [t.observed_at for t in triggers(h.feed("c1", flicker))] == [T0 + 150]
    h = make_engine([{"id": "long", "zone": "coffee", "min_dwell_s": 120}])
    moved = walk(leg("coffee", 0, 90, step=30), leg("bakery", 120, 150, step=30), leg("coffee", 180, 300, step=30))
    assert [t.observed_at for t in triggers(h.feed("c1", moved))] == [T0 + 300]


def test_one_estimate_flicker_to_the_neighbour_does_not_reset() -> None:
    h = make_engine([COFFEE_30, {"id": "bakery", "zone": "bakery", "min_dwell_s": 1}])
    stream = walk(leg("coffee", 0, 14), leg("bakery", 15, 15), leg(UNKNOWN, 16, 17), leg("coffee", 18, 40))
    fired = triggers(h.feed("c1", stream))
    assert [(t.campaign_id, t.observed_at) for t in fired] == [("coffee-10", T0 + 30)]


def test_moving_to_another_zone_starts_a_new_dwell_there() -> None:
    h = make_engine([{"id": "bakery-20", "zone": "bakery", "min_dwell_s": 20}])
    fired = triggers(h.feed("c1", walk(leg("coffee", 0, 100), leg("bakery", 101, 200))))
    assert [(t.zone, t.observed_at) for t in fired] == [("bakery", T0 + 121)]


def test_unknown_never_fires() -> None:
    h = make_engine([COFFEE_30, {"id": "any", "zone": "bakery", "on": "enter"}])
    assert triggers(h.feed("c1", leg(UNKNOWN, 0, 600), gone_at=601)) == []


def test_unknown_stretch_longer_than_tolerance_restarts_the_dwell() -> None:
    h = make_engine([COFFEE_30])
    fired = triggers(h.feed("c1", walk(leg("coffee", 0, 20), leg(UNKNOWN, 21, 60), leg("coffee", 61, 100))))
    assert [t.observed_at for t in fired] == [T0 + 91]


def test_unknown_stretch_within_tolerance_keeps_the_dwell() -> None:
    h = make_engine([COFFEE_30])
    fired = triggers(h.feed("c1", walk(leg("coffee", 0, 10), leg(UNKNOWN, 11, 30), leg("coffee", 31, 80))))
    assert [t.observed_at for t in fired] == [T0 + 31]  # 20 s of UNKNOWN say nothing about leaving


def test_min_confidence_waits_for_a_confident_estimate() -> None:
    h = make_engine([{**COFFEE_30, "min_confidence": 0.7}])
    stream = walk(leg("coffee", 0, 35, conf=0.5), leg("coffee", 36, 40, conf=0.9))
    fired = triggers(h.feed("c1", stream))
    assert [(t.observed_at, t.dwell_s) for t in fired] == [(T0 + 36, 36.0)]


def test_fires_once_per_visit_then_again_next_visit_without_cooldown() -> None:
    h = make_engine([COFFEE_30])
    first = triggers(h.feed("c1", walk(leg("coffee", 0, 100), leg("bakery", 101, 200)), gone_at=210))
    again_same_visit = triggers(h.feed("c1", leg("coffee", 300, 400)))
    assert len(first) == 1 and len(again_same_visit) == 1  # gone ended the visit
    h2 = make_engine([COFFEE_30])
    stream = walk(leg("coffee", 0, 100), leg("bakery", 101, 200), leg("coffee", 201, 300))
    assert len(triggers(h2.feed("c1", stream))) == 1


def test_cooldown_forbids_the_next_visit() -> None:
    h = make_engine([{**COFFEE_30, "cooldown_s": 3600}])
    a = triggers(h.feed("c1", leg("coffee", 0, 60), gone_at=70))
    b = triggers(h.feed("c1", leg("coffee", 1000, 1100), gone_at=1110))
    c = triggers(h.feed("c1", leg("coffee", 4000, 4100)))
    assert [len(a), len(b), len(c)] == [1, 0, 1]


def test_trigger_ids_are_stable_across_runs() -> None:
    stream = walk(leg("coffee", 0, 60), leg("bakery", 61, 120))

    def run() -> list[dict[str, object]]:
        h = make_engine([COFFEE_30, {"id": "b", "zone": "bakery", "min_dwell_s": 5}])
        return [e.payload() for e in h.feed("c1", stream, gone_at=130)]

    first, second = run(), run()
    assert first == second and len({str(p.get("trigger_id")) for p in first if "trigger_id" in p}) == 2


def test_trigger_ids_differ_per_customer_and_occurrence() -> None:
    h = make_engine([COFFEE_30])
    a = triggers(h.feed("c1", leg("coffee", 0, 40), gone_at=50))
    b = triggers(h.feed("c2", leg("coffee", 0, 40)))
    c = triggers(h.feed("c1", leg("coffee", 100, 140)))
    assert len({t.trigger_id for t in a + b + c}) == 3


def test_interleaved_receivers_do_not_move_time_backwards() -> None:
    h = make_engine([COFFEE_30])
    stream = [ZoneEstimate("coffee", 0.9, T0 + t) for t in (0, 2, 1, 4, 3, 10, 9, 20, 19, 29, 31, 30)]
    fired = triggers(h.feed("c1", stream))
    assert [t.observed_at for t in fired] == [T0 + 31]

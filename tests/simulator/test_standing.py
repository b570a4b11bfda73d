"""Phones standing still in simulated stores (simulator.standing): the standing rule and each phone's offset belief,
both as the fit writes them, make them change zone less often, without placing them worse."""

from __future__ import annotations

import copy
from functools import cache
from pathlib import Path

import numpy as np
import pytest

from gateway.sources.recording import read_recording
from gateway.truth import read_truth
from gateway.zones.calibrate import FIT_OFFSET_LEARNING_RATE, FIT_STILL_EXIT_FACTOR, FIT_STILL_MOTION_DB, fit
from gateway.zones.evaluate import evaluate
from gateway.zones.tracker import ZoneTracker
from simulator.standing import standing_phones

STORES = Path(__file__).resolve().parents[2] / "simulator" / "stores"


@cache
def _standing(store: str, tmp: Path) -> dict[tuple[bool, bool, float], tuple[float, float]]:
    """(rule on, offset learning on, the rule's exit factor) -> (flaps per minute, accuracy), means over four seeds
    of four phones per zone. The rule is on with the fit's exit factor, and once more with one threshold.

    As many phones as `bench_standing.py` stands: with two seeds of two phones per zone, the kiosk's accuracy with
    and without the belief swung by -11 to +7 points from seed to seed (session 6), too coarse for a one-point
    claim."""
    written = FIT_STILL_EXIT_FACTOR
    combos = [(a, b, written) for a in (False, True) for b in (False, True)] + [(True, True, 1.0)]
    out = dict.fromkeys(combos, (0.0, 0.0))
    seeds = (1, 2, 3, 4)
    for seed in seeds:
        day = standing_phones(STORES / f"{store}.toml", seed, 4, 4.0, tmp / str(seed))
        assert day.model.params.still_motion_db == FIT_STILL_MOTION_DB
        assert day.model.params.offset_learning_rate == FIT_OFFSET_LEARNING_RATE
        assert day.model.params.still_exit_factor == FIT_STILL_EXIT_FACTOR
        for rule, learn, exit_factor in out:
            model = copy.deepcopy(day.model)
            model.params.still_motion_db = FIT_STILL_MOTION_DB if rule else 0.0
            model.params.offset_learning_rate = FIT_OFFSET_LEARNING_RATE if learn else 0.0
            model.params.still_exit_factor = exit_factor
            result = evaluate(model, day.adverts, day.truth)
            flaps, acc = out[rule, learn, exit_factor]
            n = len(seeds)
            out[rule, learn, exit_factor] = (flaps + result["flap_rate_per_min"] / n, acc + result["zone_accuracy"] / n)
    return out


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("standing")


@pytest.mark.parametrize("store", ["example", "small-kiosk"])
def test_standing_phones_change_zone_less_often_with_the_rule(store: str, work: Path) -> None:
    r = _standing(store, work / store)
    w = FIT_STILL_EXIT_FACTOR
    (off, acc_off), (on, acc_on) = r[False, False, w], r[True, False, w]  # the rule alone
    # without the rule these phones do flap (session 13's walk: example 0.359, kiosk 0.474 per minute): not vacuous
    assert off > 0.3
    assert on < 0.75 * off
    assert acc_on > acc_off - 0.01


def test_learning_each_phones_offset_keeps_standing_phones_steady(work: Path) -> None:
    """Pooled over the two stores: on one store alone the belief's share has become small as the walk improved.
    Flaps per minute, rule alone -> with the belief: session 11 (half the walk's outside spots by the door) example
    0.321 -> 0.302, kiosk 0.448 -> 0.375; session 12 (exit factor) 0.185 -> 0.169 and 0.354 -> 0.250; session 13
    (the walk at the install guide's pace, its device drawn first) 0.149 -> 0.141 and 0.235 -> 0.192; session 15 (a
    step's say limited, rate 0.3) 0.149 -> 0.125 and 0.235 -> 0.203. Session 25 (a packet classified once every
    receiver's reading of it is in): 0.146 -> 0.138 and 0.271 -> 0.286, the kiosk's standing accuracy 0.527 -> 0.592.
    The belief no longer steadies them further on the pooled count; it must not unsteady them or cost accuracy."""
    w = FIT_STILL_EXIT_FACTOR
    rule_only = both = 0.0
    for store in ("example", "small-kiosk"):
        r = _standing(store, work / store)
        (f_rule, acc_rule), (f_both, acc_both) = r[True, False, w], r[True, True, w]
        assert acc_both > acc_rule - 0.01, store
        rule_only, both = rule_only + f_rule, both + f_both
    assert both < 1.1 * rule_only


@pytest.mark.parametrize("store", ["example", "small-kiosk"])
def test_a_standing_phone_stays_judged_standing_until_it_clearly_moves(store: str, work: Path) -> None:
    """The exit factor (a Schmitt trigger on the rule): with one threshold a standing phone's gap hovers about it and
    the rule held on only a fifth to two thirds of its steps (docs/zones.md, round 14). Measured here: example 0.302
    -> 0.169 per minute, kiosk 0.375 -> 0.250 with session 12's walk; 0.190 -> 0.141 and 0.250 -> 0.192 with session
    13's."""
    r = _standing(store, work / store)
    (single, acc_single), (written, acc_written) = r[True, True, 1.0], r[True, True, FIT_STILL_EXIT_FACTOR]
    assert written < 0.85 * single
    assert acc_written > acc_single - 0.01


def test_the_learnt_offsets_follow_the_phones_true_offsets(tmp_path: Path) -> None:
    """The belief learns what it claims to: over phones standing in a seven-receiver store, the offsets the tracker
    ends with rise with the phones' true offsets (the simulator knows them). Each phone's fixed facing adds its
    own body loss on top, so the two are correlated, not equal."""
    true, learnt = [], []
    for seed in (1, 2):
        day = standing_phones(STORES / "hypermarket.toml", seed, 4, 3.0, tmp_path / str(seed))
        tracker = ZoneTracker(day.model)
        for a in day.adverts:
            tracker.observe(a.addr, a.rx, a.rssi, a.t)
        for addr, offset in day.offsets.items():
            belief = tracker._devices[addr].offset
            assert belief is not None  # every phone is heard by two receivers or more at some point
            true.append(offset)
            learnt.append(belief[0])
    assert len(true) == 72
    assert float(np.corrcoef(true, learnt)[0, 1]) > 0.45


@pytest.mark.parametrize("store", ["corner-shop", "small-kiosk"])
def test_a_switch_time_the_walk_could_not_tell_apart_from_a_stickier_one_does_not_make_standing_phones_flap(
    store: str, tmp_path: Path
) -> None:
    """Seed 1 of both stores: the walk scored a shorter switch time best (corner shop 10 s, kiosk 30 s) by less than
    one standard error over its truth intervals, and the fit writes the stickier 90 s. Session 25's fit wrote the
    shorter one, and these phones changed zone 0.65 and 0.32 times a minute; with 90 s, 0.23 and 0.10, placed about
    as well (corner shop 0.555 -> 0.535, kiosk 0.591 -> 0.599; docs/zones.md, round 27)."""
    day = standing_phones(STORES / f"{store}.toml", 1, 4, 5.0, tmp_path)
    walk = tmp_path / "walk"
    header, adverts, _ = read_recording(walk / "calibration.jsonl.gz")
    truth = read_truth(walk / "calibration-truth.jsonl")
    note = fit(adverts, truth, header.receivers, zone_positions=header.zone_geometry()).report["switch_time_one_se"]
    assert note is not None and note["chosen_s"] == day.model.params.switch_time_s
    eager = copy.deepcopy(day.model)
    eager.params.switch_time_s = note["best_scoring_s"]
    chosen, best_scoring = evaluate(day.model, day.adverts, day.truth), evaluate(eager, day.adverts, day.truth)
    assert chosen["flap_rate_per_min"] < 0.5 * best_scoring["flap_rate_per_min"]
    assert chosen["flap_rate_per_min"] < 0.5  # the aim
    assert chosen["zone_accuracy"] > best_scoring["zone_accuracy"] - 0.03

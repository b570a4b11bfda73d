"""Scoring: triggers are matched one to one within the tolerance, and a wrong truth shows up as lower scores."""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from gateway.truth import TruthInterval, read_truth, write_truth
from simulator.evaluate import TRIGGER_TOLERANCE_S, evaluate_day, match_triggers
from simulator.generate import GenerateResult


def test_triggers_match_per_customer_and_campaign_within_the_tolerance() -> None:
    expected = [("c1", "coffee", 100.0), ("c1", "bakery", 100.0), ("c2", "coffee", 500.0)]
    predicted = [
        ("c1", "coffee", 130.0),  # 30 s late: matched
        ("c1", "bakery", 100.0 + TRIGGER_TOLERANCE_S + 1),  # too late: a different visit, not this trigger
        ("c2", "bakery", 500.0),  # right time, wrong campaign
        ("c2", "coffee", 505.0),
        ("c2", "coffee", 506.0),  # a duplicate cannot match the same expected trigger twice
    ]
    pairs = match_triggers(predicted, expected, TRIGGER_TOLERANCE_S)
    assert sorted(pairs) == [(130.0, 100.0), (505.0, 500.0)]


@given(
    st.lists(st.tuples(st.sampled_from(["a", "b"]), st.sampled_from(["x", "y"]), st.floats(0, 1000)), max_size=20),
    st.lists(st.tuples(st.sampled_from(["a", "b"]), st.sampled_from(["x", "y"]), st.floats(0, 1000)), max_size=20),
)
def test_matching_is_one_to_one(
    predicted: list[tuple[str, str, float]], expected: list[tuple[str, str, float]]
) -> None:
    pairs = match_triggers(predicted, expected, 60.0)
    assert len(pairs) <= min(len(predicted), len(expected))
    assert all(abs(p - e) <= 60.0 for p, e in pairs)
    assert len(match_triggers(expected, expected, 0.0)) == len(expected)  # everything matches itself


def test_a_wrong_truth_scores_lower(small_day: GenerateResult, tmp_path: Path) -> None:
    right = evaluate_day(small_day.scans, small_day.truth, small_day.config_dir)
    zones = sorted({iv.zone for iv in read_truth(small_day.truth)})
    shifted = {z: zones[(i + 1) % len(zones)] for i, z in enumerate(zones)}
    wrong_truth = tmp_path / "wrong.jsonl"
    write_truth(
        wrong_truth,
        [TruthInterval(iv.device, shifted[iv.zone], iv.t_start, iv.t_end) for iv in read_truth(small_day.truth)],
    )
    wrong = evaluate_day(small_day.scans, wrong_truth, small_day.config_dir)
    assert right["samples"] == wrong["samples"] > 0
    assert wrong["zone_accuracy"] < right["zone_accuracy"] - 0.3
    json.dumps(right)  # the --json output is plain JSON

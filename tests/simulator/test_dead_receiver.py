"""A receiver that dies halfway through a simulated day: noticed, left out of the zones, and said."""

from __future__ import annotations

import functools
import gzip
import json
import math
from pathlib import Path

import pytest

import gateway.zones.liveness
from gateway.adverts import Advert
from gateway.pipeline import Pipeline
from gateway.zones.liveness import ReceiverLiveness
from simulator.evaluate import evaluate_day
from simulator.generate import GenerateResult

DEAD = "rx-produce"


def _kill(day: GenerateResult, rx: str, out: Path) -> tuple[Path, float]:
    """The day's recording with `rx`'s lines removed from its second half; returns it and the time it died."""
    with gzip.open(day.scans, "rt", encoding="utf-8") as f:
        header, *lines = f.read().splitlines()
    times = [json.loads(line)["t"] for line in (lines[0], lines[-1])]
    died = (times[0] + times[1]) / 2
    kept = [line for line in lines if not (f'"rx":"{rx}"' in line and json.loads(line)["t"] >= died)]
    assert len(kept) < len(lines) - 100
    path = out / "scans.jsonl"
    path.write_text("\n".join([header, *kept]) + "\n", encoding="utf-8")
    return path, died


def _evaluate(day: GenerateResult, scans: Path) -> tuple[dict[str, object], list[str]]:
    problems: list[str] = []
    return evaluate_day(scans, day.truth, day.config_dir, on_problem=problems.append), problems


def test_an_intact_day_leaves_no_receiver_out(small_day: GenerateResult) -> None:
    scores, problems = _evaluate(small_day, small_day.scans)
    assert scores["receivers_left_out_s"] == {}
    assert not [p for p in problems if "went silent" in p]


def test_a_receiver_that_dies_is_left_out_within_a_minute_and_the_zones_recover(
    small_day: GenerateResult, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scans, died = _kill(small_day, DEAD, tmp_path)
    scores, problems = _evaluate(small_day, scans)
    left_out = scores["receivers_left_out_s"]
    assert isinstance(left_out, dict) and set(left_out) == {DEAD}
    t_end = max(iv["t_end"] for iv in map(json.loads, small_day.truth.read_text().splitlines()))
    # left out from at most a minute after it died until the customers' last readings
    assert t_end - died - 60.0 - 30.0 <= left_out[DEAD] <= t_end - died
    assert [p for p in problems if "went silent" in p and DEAD in p]

    # the same day with the test switched off reads the dead receiver's silence as evidence, and does worse
    never = functools.partial(ReceiverLiveness, threshold_nats=math.inf)
    monkeypatch.setattr(gateway.zones.liveness, "ReceiverLiveness", never)
    blind, _ = _evaluate(small_day, scans)
    assert blind["receivers_left_out_s"] == {}
    assert isinstance(scores["zone_accuracy"], float) and isinstance(blind["zone_accuracy"], float)
    assert scores["zone_accuracy"] > blind["zone_accuracy"] + 0.01  # over the whole day: the first half is alike


def test_a_node_that_says_it_is_offline_is_left_out_from_that_moment(small_day: GenerateResult, tmp_path: Path) -> None:
    scans, died = _kill(small_day, DEAD, tmp_path)

    def told_at_death(pipeline: Pipeline, adv: Advert) -> None:
        if adv.t >= died:
            pipeline.receivers_offline([DEAD])  # what the primary does when the node's status says offline

    told = evaluate_day(scans, small_day.truth, small_day.config_dir, before_advert=told_at_death)
    detected, _ = _evaluate(small_day, scans)
    left_told, left_detected = told["receivers_left_out_s"], detected["receivers_left_out_s"]
    assert isinstance(left_told, dict) and isinstance(left_detected, dict)
    assert left_told[DEAD] > left_detected[DEAD] + 10.0  # no silence to weigh first
    assert isinstance(told["zone_accuracy"], float) and isinstance(detected["zone_accuracy"], float)
    assert told["zone_accuracy"] >= detected["zone_accuracy"] - 0.005

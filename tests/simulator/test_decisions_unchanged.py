"""A simulated day through the pipeline gives the same decisions with the tracker's fast classification step as
with the numpy reference it replaced: every estimate (zone, time; confidence to rounding) and every event."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from gateway.pipeline import Pipeline
from gateway.sources.recording import RecordingReader
from gateway.zones.tracker import ZoneTracker
from simulator.generate import GenerateResult
from tests.zones.reference import ReferenceTracker

Estimate = tuple[str, str, float, float]


def _run(day: GenerateResult, tracker_cls: type[ZoneTracker], **params: Any) -> tuple[list[Estimate], list[Any]]:
    pipeline = Pipeline.from_config_dir(day.config_dir)
    model = copy.deepcopy(pipeline.tracker.model)
    for k, v in params.items():
        setattr(model.params, k, v)
    pipeline.tracker = tracker_cls(model)
    estimates: list[Estimate] = []
    pipeline.on_estimate = lambda cid, est: estimates.append((cid, est.zone, est.confidence, est.t))
    events = []
    with RecordingReader(day.scans) as reader:
        for adv in reader:
            events.extend(pipeline.process(adv))
    events.extend(pipeline.finish())
    return estimates, [(e.customer_id, e.message_id, e.topic_suffix, e.payload()) for e in events]


@pytest.mark.parametrize(
    "params", [{}, {"smoothing": "median"}, {"smoothing": "none"}, {"offset_sigma_db": 0.0, "confirm_s": 3.0}]
)
@pytest.mark.parametrize("which", ["small_day", "kiosk_day"])
def test_same_estimates_and_events_as_the_numpy_reference(
    which: str, params: dict[str, Any], request: pytest.FixtureRequest
) -> None:
    day: GenerateResult = request.getfixturevalue(which)
    fast_est, fast_events = _run(day, ZoneTracker, **params)
    ref_est, ref_events = _run(day, ReferenceTracker, **params)
    assert len(fast_est) == len(ref_est) > 1000
    for a, b in zip(fast_est, ref_est, strict=True):
        assert (a[0], a[1], a[3]) == (b[0], b[1], b[3])
        assert abs(a[2] - b[2]) < 1e-9
    assert fast_events == ref_events
    assert fast_events  # the day does trigger something: the comparison is not vacuous

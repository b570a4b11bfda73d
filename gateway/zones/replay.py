"""Drives a ZoneTracker over readings exactly as the live pipeline does (observe each, expire as time passes)."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from gateway.zones.estimate import ZoneEstimate
from gateway.zones.samples import Reading
from gateway.zones.tracker import ZoneTracker

EXPIRE_CHECK_S = 1.0  # the daemon sweeps for silent devices about once a second of advert time


def drive(
    tracker: ZoneTracker,
    readings: Iterable[Reading],
    on_estimate: Callable[[Reading, ZoneEstimate], None] | None = None,
) -> None:
    last_sweep = float("-inf")
    latest = float("-inf")
    for r in readings:
        latest = max(latest, r.t)
        if latest - last_sweep >= EXPIRE_CHECK_S:
            tracker.expire(latest)
            last_sweep = latest
        est = tracker.observe(r.device, r.rx, r.rssi, r.t)
        if on_estimate is not None:
            on_estimate(r, est)

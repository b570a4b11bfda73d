"""Scripted estimate streams for the campaign engine: a customer's walk, written as (zone, from, to) legs.

A plain module, not a conftest.py: other test packages import the root conftest by name.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from gateway.campaigns import Campaign, CampaignEngine, Caps, MemoryHistory, PresenceSettings
from gateway.campaigns.events import Event, PresenceEvent, Trigger
from gateway.campaigns.history import History
from gateway.zones.estimate import ZoneEstimate

T0 = 1_767_225_600.0  # 2026-01-01 00:00 UTC, a Thursday
NO_CAPS: dict[str, Any] = {"max_per_visit": None, "min_interval_s": 0, "max_per_day": None}


def leg(zone: str, start: float, end: float, step: float = 1.0, conf: float = 0.9) -> list[ZoneEstimate]:
    """One estimate every `step` seconds from start to end inclusive (times relative to T0)."""
    out = []
    t = start
    while t <= end + 1e-9:
        out.append(ZoneEstimate(zone, conf, T0 + t))
        t += step
    return out


def walk(*legs: Iterable[ZoneEstimate]) -> list[ZoneEstimate]:
    return [e for lg in legs for e in lg]


def triggers(events: Iterable[Event]) -> list[Trigger]:
    return [e for e in events if isinstance(e, Trigger)]


def presence(events: Iterable[Event]) -> list[PresenceEvent]:
    return [e for e in events if isinstance(e, PresenceEvent)]


class Harness:
    def __init__(self, engine: CampaignEngine) -> None:
        self.engine = engine

    def feed(self, customer: str, stream: Iterable[ZoneEstimate], gone_at: float | None = None) -> list[Event]:
        out: list[Event] = []
        for est in stream:
            out += self.engine.on_estimate(customer, est)
        if gone_at is not None:
            out += self.engine.on_gone(customer, T0 + gone_at)
        return out


def make_engine(
    campaigns: list[dict[str, Any]],
    caps: dict[str, Any] | None = None,
    presence: dict[str, Any] | None = None,
    segments: dict[str, set[str]] | None = None,
    history: History | None = None,
    timezone: str = "UTC",
) -> Harness:
    segs = segments or {}
    engine = CampaignEngine(
        [Campaign.model_validate(c) for c in campaigns],
        history if history is not None else MemoryHistory(),
        "store-042",
        "gw-1",
        lambda cid: frozenset(segs.get(cid, set())),
        timezone=timezone,
        caps=Caps.model_validate(NO_CAPS if caps is None else caps),
        presence=PresenceSettings.model_validate(presence or {}),
    )
    return Harness(engine)

"""What the campaign stage hands to delivery: coupon triggers and presence events (pure values).

Ids are deterministic hashes, so replaying the same recording, or a resend after a crash, carries the same id
and the outbox/subscribers can deduplicate.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Literal

ID_HEX_CHARS = 32  # 128 bits: collisions are not a practical concern


def stable_id(*parts: str | float) -> str:
    # a float occurrence is rounded to the millisecond so that re-reading a recording gives the same text
    text = "\x1f".join(f"{p:.3f}" if isinstance(p, float) else p for p in parts)
    return hashlib.sha256(text.encode()).hexdigest()[:ID_HEX_CHARS]


def trigger_id_for(store_id: str, customer_id: str, campaign_id: str, occurrence: float) -> str:
    """One id per (store, customer, campaign, occurrence); occurrence = start of the episode that fired."""
    return stable_id("trigger", store_id, customer_id, campaign_id, float(occurrence))


@dataclass(frozen=True, slots=True)
class Trigger:
    trigger_id: str
    store_id: str
    gateway_id: str
    customer_id: str
    campaign_id: str
    zone: str
    dwell_s: float
    observed_at: float  # t of the advertisement that completed the rule
    created_at: float  # the injected wall clock (the daemon, replay); observed_at for the pure pipeline alone
    confidence: float
    visit_id: str
    offer: str | None
    priority: int

    @property
    def message_id(self) -> str:
        return self.trigger_id

    @property
    def topic_suffix(self) -> str:
        return f"triggers/{self.campaign_id}"

    def payload(self) -> dict[str, object]:
        return {
            "trigger_id": self.trigger_id,
            "store_id": self.store_id,
            "gateway_id": self.gateway_id,
            "customer_id": self.customer_id,
            "campaign_id": self.campaign_id,
            "zone": self.zone,
            "dwell_s": round(self.dwell_s, 3),
            "observed_at": self.observed_at,
            "created_at": self.created_at,
            "confidence": round(self.confidence, 3),
            "visit_id": self.visit_id,
            "offer": self.offer,
            "priority": self.priority,
        }


@dataclass(frozen=True, slots=True)
class PresenceEvent:
    store_id: str
    customer_id: str
    zone: str
    event: Literal["enter", "exit"]
    at: float  # enter: when the stay began; exit: the last sighting in the zone
    dwell_s: float  # enter: how long the stay had lasted when it was established; exit: its whole length

    @property
    def message_id(self) -> str:
        return stable_id("presence", self.store_id, self.customer_id, self.zone, self.event, float(self.at))

    @property
    def topic_suffix(self) -> str:
        return "presence"

    def payload(self) -> dict[str, object]:
        return {
            "customer_id": self.customer_id,
            "zone": self.zone,
            "event": self.event,
            "at": self.at,
            "dwell_s": round(self.dwell_s, 3),
        }


Event = Trigger | PresenceEvent

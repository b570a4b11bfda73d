"""The value that flows from the zone stage to the campaign stage."""

from __future__ import annotations

from dataclasses import dataclass

OUTSIDE = "outside"  # not in the store (or not heard any more)
UNKNOWN = "unknown"  # heard, but the estimate is not confident enough to act on: rules never fire on it


@dataclass(frozen=True, slots=True)
class ZoneEstimate:
    zone: str  # a zone of the model, OUTSIDE or UNKNOWN
    confidence: float  # 0..1
    t: float  # advertisement time the estimate refers to

"""Sightings: advertisements of recognised devices shared between the receivers of one store (SPEC section 7).

A store with several receivers runs one gateway that decides (role "primary") and any number of receiver
nodes (role "node") that scan, recognise, and publish what they heard of consenting customers on
`{prefix}/{store}/sightings/{receiver}`. Only advertisements that matched a consenting customer are ever
put in a batch, so strangers stay in the memory of the node that heard them. The primary recognises them
again with its own registry (consent may have changed in between) and feeds them to the same pipeline.

Payload (JSON): {"rx": RECEIVER, "adverts": [SPEC section 4 line, ...]}; QoS 0, because a sighting is only
worth something fresh: a lost batch costs a few RSSI readings, a delayed one would distort the zone.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from gateway.adverts import Advert
from gateway.sources.recording import advert_from_json

MAX_BATCH_ADVERTS = 200  # keeps one MQTT message well under a kilobyte per advert and brokers' limits
MAX_BATCH_AGE_S = 0.5  # a batch leaves at least this often (advertisement time) so zones stay current
MAX_PAYLOAD_BYTES = 256 * 1024  # anything bigger from the network is refused before it is decoded


class SightingsError(ValueError):
    """A sightings message that cannot be used; the message says why (never the payload itself)."""


@dataclass
class SightingsBatcher:
    """Collects a receiver's recognised advertisements and cuts them into batches (pure; time from adverts)."""

    rx: str
    max_adverts: int = MAX_BATCH_ADVERTS
    max_age_s: float = MAX_BATCH_AGE_S
    _lines: list[dict[str, Any]] = field(default_factory=list)
    _first_t: float | None = None

    def add(self, adv: Advert) -> bytes | None:
        """Adds one advertisement; returns a payload when a batch is complete."""
        line = adv.to_json()
        line["rx"] = self.rx
        self._lines.append(line)
        if self._first_t is None:
            self._first_t = adv.t
        if len(self._lines) >= self.max_adverts or adv.t - self._first_t >= self.max_age_s:
            return self.take()
        return None

    def take(self) -> bytes | None:
        """The batch so far (even if not full), or None when empty."""
        if not self._lines:
            return None
        payload = encode_batch(self.rx, self._lines)
        self._lines = []
        self._first_t = None
        return payload

    def __len__(self) -> int:
        return len(self._lines)


def encode_batch(rx: str, lines: list[dict[str, Any]]) -> bytes:
    return json.dumps({"rx": rx, "adverts": lines}, separators=(",", ":")).encode()


@dataclass
class DecodedBatch:
    rx: str
    adverts: list[Advert]
    rejected: int  # malformed advertisements inside an otherwise good batch: counted, skipped


def decode_batch(payload: bytes, topic_receiver: str) -> DecodedBatch:
    """A batch from the network. The receiver named in the topic wins over anything inside the payload, so a
    node cannot speak for another receiver by accident."""
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise SightingsError(f"batch of {len(payload)} bytes is over the {MAX_PAYLOAD_BYTES} byte limit")
    try:
        obj = json.loads(payload)
    except (ValueError, RecursionError):  # RecursionError: nested past the parser's stack
        raise SightingsError("not valid JSON") from None
    if not isinstance(obj, dict) or not isinstance(obj.get("adverts"), list):
        raise SightingsError("not an object with an 'adverts' list")
    adverts: list[Advert] = []
    rejected = 0
    for raw in obj["adverts"]:
        adv = advert_from_json({**raw, "rx": topic_receiver} if isinstance(raw, dict) else raw)
        if isinstance(adv, str):
            rejected += 1
            continue
        adverts.append(adv)
    return DecodedBatch(topic_receiver, adverts, rejected)
